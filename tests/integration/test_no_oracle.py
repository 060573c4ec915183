#!/usr/bin/env python3
"""Issue 10, docs/domain.md, "No oracle": the no-oracle property, exhaustively, over the wire.

Partners of every kind in territory 93 and four of territory 75. Pathways are built with real
events, one beneficiary per state (every phase, an exited pathway with a past episode, a
reopened episode, a suspension, a member that left, pathways of territory 75). Then, for every
sender that is blind to a state (computed here from the spec: not registered for the pathway's
territory, or neither territory-wide nor a member of its follow-up group, membership tracked as
the spec says it evolves), every one of the 17 event types and expected_version 0, 1, 7 and 999
or expect_no_pathway ("new"),
the Ack must equal the one the same sender gets for the same event about a beneficiary with no
pathway: status, code, message and version, and seq (0 for a rejection; an accepted
registration is compared without its seq, which must be the next log position). A registration
on an open pathway, from a kind that may register, must equal that sender's blind reply to a
non-registration type.

Also: nobody is all-seeing in a two-territory file, so even the territory-wide partners get the
blind sentence for a missing pathway; with a partners file of territory 93 only, its DEPARTEMENT
and France Travail get UNKNOWN_BENEFICIARY.
"""

import collections
import time
import unittest

from rules_wire import (BLIND_SENTENCE, KIND, PARTNER_LIST, PARTNERS_93_ONLY, PARTNERS_FULL,
                        REGISTERING_KINDS, T0, TERRITORY, TERRITORY_WIDE_KINDS, TYPES, Findings,
                        fmt, Ids, key, make_event, NEW, pb, start_daemon, watchdog, Wire)

VERSIONS = (0, 1, 7, 999, NEW)
# What expect_no_pathway on anything but a registration gets, whoever sends it about whomever.
NEW_ONLY_REGISTERS = ("expect_no_pathway says a registration must not find a pathway: it goes "
                      "with BeneficiaryRegistered and expected_version 0 only.")


def missing_pathway_reply(s, v, blind_sentence):
    """The reply to a non-registration about a missing pathway: the blind one, or MALFORMED for
    expect_no_pathway (refused at the boundary, before any pathway counts)."""
    if v == NEW:
        return (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_MALFORMED, NEW_ONLY_REGISTERS, 0, 0)
    return blind_sentence
SENDERS = [p for p, _, _ in PARTNER_LIST]
NON_REG = [t for t in TYPES if t != "beneficiary_registered"]
REG = "beneficiary_registered"
REFERENCE_TYPE = "appointment_recorded"  # "a non-registration type" of the exception


def reg(rsa=False):
    return ("beneficiary_registered", pb.BeneficiaryRegistered(rsa_recipient=rsa))


def decided(ptype, body, structure):
    return ("orientation_decided", pb.OrientationDecided(
        pathway_type=ptype, referent_body=body, structure_id=structure, notified_at=T0))


def referent(partner):
    return ("referent_assigned", pb.ReferentAssigned(referent_partner_id=partner))


def joined(partner):
    return ("member_joined", pb.MemberJoined(member_id=partner))


def left(partner):
    return ("member_left", pb.MemberLeft(member_id=partner))


EXIT = ("pathway_exited", pb.PathwayExited(reason=pb.EXIT_REASON_RIGHT_ENDED))
REQUEST = ("orientation_requested", pb.OrientationRequested(
    reason=pb.ORIENTATION_REQUEST_REASON_FIRST_ORIENTATION))
CEJ = ("contract_signed", pb.ContractSigned(kind=pb.CONTRACT_KIND_CEJ, start=T0))
TRAINING = ("training_entered", pb.TrainingEntered(provider_id="trainer93",
                                                   programme_code="RNCP12345", start=T0))
JOB = ("job_placed", pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_CDD, employer_partner_id="employer93",
                                  start=T0))
SUSPEND = ("suspension_decided", pb.SuspensionDecided(reason=pb.SUSPENSION_REASON_OTHER))
E, SP, SO = pb.PATHWAY_TYPE_EMPLOI, pb.PATHWAY_TYPE_SOCIO_PRO, pb.PATHWAY_TYPE_SOCIAL
RB = pb

# name -> (steps [(sender, (type, payload))], phase expected). Episode-1 members of the
# re-registered states are only their registrant, so that a follow-up group that starts again
# with a new episode and one that carries over give the same membership.
STATES = collections.OrderedDict([
    ("REFERRED", ([("cd93", reg())], pb.PHASE_REFERRED)),
    ("ORIENTATION_REQUESTED", ([("caf93", reg(True)), ("caf93", REQUEST)],
                               pb.PHASE_ORIENTATION_REQUESTED)),
    ("ORIENTED", ([("cd93", reg()),
                   ("cd93", decided(E, RB.REFERENT_BODY_MISSION_LOCALE, "ml93"))],
                  pb.PHASE_ORIENTED)),
    ("ACCOMPANIED", ([("ft93", reg()), ("ft93", decided(SO, RB.REFERENT_BODY_DELEGATED, "ccas93")),
                      ("ccas93", referent("ccas93"))], pb.PHASE_ACCOMPANIED)),
    ("CONTRACTED", ([("ml93", reg()), ("cd93", decided(E, RB.REFERENT_BODY_MISSION_LOCALE, "ml93")),
                     ("ml93", referent("ml93")), ("ml93", CEJ)], pb.PHASE_CONTRACTED)),
    ("IN_TRAINING", ([("cap93", reg()), ("cd93", decided(E, RB.REFERENT_BODY_CAP_EMPLOI, "cap93")),
                      ("cap93", referent("cap93")), ("cap93", TRAINING)], pb.PHASE_IN_TRAINING)),
    ("EMPLOYED", ([("cd93", reg()), ("cd93", decided(E, RB.REFERENT_BODY_FRANCE_TRAVAIL, "ft93")),
                   ("ft93", referent("ft93")), ("ft93", JOB)], pb.PHASE_EMPLOYED)),
    ("EXITED", ([("cd93", reg()), ("cd93", decided(SP, RB.REFERENT_BODY_DELEGATED, "asso93")),
                 ("cd93", joined("trainer93b")), ("cd93", EXIT)], pb.PHASE_EXITED)),
    ("EXITED_PAST_EPISODE", ([("ml93", reg()), ("cd93", EXIT), ("ml93", reg()),
                              ("cd93", joined("employer93b")), ("cd93", EXIT)], pb.PHASE_EXITED)),
    ("REOPENED", ([("caf93", reg(True)), ("cd93", EXIT), ("caf93", reg(True))], pb.PHASE_REFERRED)),
    ("SUSPENDED", ([("caf93", reg(True)), ("cd93", joined("asso93")), ("cd93", SUSPEND)],
                   pb.PHASE_REFERRED)),
    ("MEMBER_LEFT", ([("cd93", reg()), ("cd93", joined("ccas93")), ("cd93", joined("employer93b")),
                      ("cd93", left("ccas93"))], pb.PHASE_REFERRED)),
    ("T75_REFERRED", ([("cd75", reg())], pb.PHASE_REFERRED)),
    ("T75_ORIENTED", ([("caf75", reg(True)),
                       ("cd75", decided(E, RB.REFERENT_BODY_MISSION_LOCALE, "ml75"))],
                      pb.PHASE_ORIENTED)),
    ("T75_EXITED", ([("ml75", reg()), ("ft75", EXIT)], pb.PHASE_EXITED)),
])


def track(steps):
    """The pathway as the spec says the steps leave it: (territory, members, open, version)."""
    territory, members, is_open, version = None, [], False, 0
    for sender, (t, p) in steps:
        if t not in ("suspension_decided", "suspension_lifted"):  # told to few, counted by none
            version += 1
        if t == REG:
            territory, members, is_open, version = TERRITORY[sender], [sender], True, 1
        elif t == "orientation_decided":
            members.append(p.structure_id)
        elif t == "referent_assigned":
            members.append(p.referent_partner_id)
        elif t == "training_entered" and (p.provider_id or KIND[sender] == "TRAINING_ORG"):
            members.append(p.provider_id or sender)
        elif t == "job_placed" and p.employer_partner_id:
            members.append(p.employer_partner_id)
        elif t == "member_joined":
            members.append(p.member_id)
        elif t == "member_left":
            members.remove(p.member_id)
        elif t == "pathway_exited":  # the group ends with the exit
            is_open, members = False, []
        members = list(dict.fromkeys(members))
    return territory, set(members), is_open, version


def blind(sender, territory, members):
    if TERRITORY[sender] != territory:
        return True
    return KIND[sender] not in TERRITORY_WIDE_KINDS and sender not in members


class NoOracleTest(unittest.TestCase):
    def setUp(self):
        self.findings = Findings()

    def finding(self, rule, text, group=None):
        self.findings.add(rule, text, group)

    def report(self):
        if self.findings:
            self.fail(self.findings.report())

    # ------------------------------------------------------------------------------------------
    def build(self, daemon, wire, ids, plans):
        """plans: {beneficiary: steps}. Applied in rounds (step k of every beneficiary, acks
        awaited, then step k+1), so that each beneficiary's events apply in order."""
        rounds = max(len(s) for s in plans.values())
        for k in range(rounds):
            batch, who = [], []
            for b, steps in plans.items():
                if k < len(steps):
                    sender, (t, p) = steps[k]
                    batch.append(make_event(ids(), sender, b, t, p))
                    who.append((b, k, sender, t))
            for (b, step, sender, t), a in zip(who, wire.run(batch, conn="build")):
                if a.status != pb.ACK_STATUS_ACCEPTED:
                    self.finding("state building (the transition table of the spec)",
                                 f"{b}: step {step + 1}, {t} by {sender}, was {fmt(a)}")

    def check_built(self, daemon, b, steps, phase):
        territory, members, _, version = track(steps)
        p = daemon.pathway(b)
        rule = "state building (phase, version restarting per episode, follow-up group)"
        if p is None:
            self.finding(rule, f"{b}: no pathway")
            return
        # Territory-wide partners see the pathway whether members or not (the spec does not say
        # whether deciding makes them members): compare the others only.
        def others(ms):
            return {m for m in ms if not (KIND.get(m) in TERRITORY_WIDE_KINDS and
                                          TERRITORY.get(m) == territory)}
        got = (pb.Phase.Name(p.phase), p.version, p.territory, sorted(others(p.members)))
        want = (pb.Phase.Name(phase), version, territory, sorted(others(members)))
        if got != want:
            self.finding(rule, f"{b}: (phase, version, territory, members but territory-wide) is "
                               f"{got}, the spec gives {want}", group=b.split("-copy-")[0])

    # ------------------------------------------------------------------------------------------
    def test_no_oracle_exhaustive(self):
        started = time.monotonic()
        daemon = start_daemon(PARTNERS_FULL)
        try:
            self.run_property(daemon)
        except BaseException:
            print(daemon.log()[-4000:])
            raise
        finally:
            daemon.cleanup()
        self.second_daemon_93_only()
        print(f"(no-oracle run: {time.monotonic() - started:.1f}s)")
        self.report()

    def run_property(self, daemon):
        wire = Wire(daemon)
        ids = Ids("no")
        # States, and for each exited state one copy per blind registering sender and version
        # (an accepted registration opens a new episode and changes the state).
        plans, info = collections.OrderedDict(), {}
        copies = {}  # (state, sender, version) -> beneficiary
        for name, (steps, phase) in STATES.items():
            b = f"NO-{name}"
            plans[b] = steps
            territory, members, is_open, _ = track(steps)
            info[name] = (b, territory, members, is_open)
            if not is_open:
                for s in SENDERS:
                    if KIND[s] in REGISTERING_KINDS and blind(s, territory, members):
                        for v in VERSIONS:
                            copies[(name, s, v)] = f"NO-{name}-copy-{s}-v{v}"
                            plans[copies[(name, s, v)]] = steps
        self.build(daemon, wire, ids, plans)
        for b, steps in plans.items():
            phase = STATES[b[3:].split("-copy-")[0]][1]
            self.check_built(daemon, b, steps, phase)

        none = "NO-none"
        compared = 0
        pairs = set()

        # Phase A: every rejection expected (nothing changes state).
        probes = []  # (event, state, sender, type, version)
        for s in SENDERS:
            for t in NON_REG:
                for v in VERSIONS:
                    probes.append((make_event(ids(), s, none, t, expected_version=v), None, s, t, v))
        for name, (b, territory, members, is_open) in info.items():
            for s in SENDERS:
                if not blind(s, territory, members):
                    continue
                pairs.add((name, s))
                for t in TYPES:
                    if t == REG and not is_open:
                        continue  # phase B, on copies
                    for v in VERSIONS:
                        probes.append((make_event(ids(), s, b, t, expected_version=v), name, s, t, v))
        acks_a = wire.run([p[0] for p in probes])

        # Phase B: registrations that open a new episode when accepted: fresh beneficiaries.
        before = daemon.status().last_seq
        probes_b = []
        for s in SENDERS:
            for v in VERSIONS:
                probes_b.append((make_event(ids(), s, f"NO-none-reg-{s}-v{v}", REG,
                                            expected_version=v), None, s, REG, v))
        for name, (b, territory, members, is_open) in info.items():
            if is_open:
                continue
            for s in SENDERS:
                if not blind(s, territory, members):
                    continue
                for v in VERSIONS:
                    target = copies.get((name, s, v), b)  # non-registering kinds: rejected anyway
                    probes_b.append((make_event(ids(), s, target, REG, expected_version=v),
                                     name, s, REG, v))
        acks_b = wire.run([p[0] for p in probes_b])
        after = daemon.status().last_seq
        wire.close()

        baseline, baseline_bid = {}, {}
        for (e, state, s, t, v), a in list(zip(probes, acks_a)) + list(zip(probes_b, acks_b)):
            if state is None:
                baseline[(s, t, v)] = a
                baseline_bid[(s, t, v)] = e.beneficiary_id

        # Every reply: it answers the sender's own event_id, names no beneficiary.
        for (e, state, s, t, v), a in list(zip(probes, acks_a)) + list(zip(probes_b, acks_b)):
            if a.event_id != e.event_id:
                self.finding("Ack.event_id (the sender's own)",
                             f"{s} {t} about {state or 'none'}: event_id {a.event_id!r}, sent "
                             f"{e.event_id!r}")
            if e.beneficiary_id in a.message:
                self.finding("domain.md [Identifiers]: rejection sentences never name the beneficiary",
                             f"{s} {t} v{v} about {state or 'none'}: {a.message!r}",
                             group=a.code)

        # The absolute replies for a missing pathway (nobody is all-seeing in this file).
        for s in SENDERS:
            for t in NON_REG:
                for v in VERSIONS:
                    a = baseline[(s, t, v)]
                    want = missing_pathway_reply(s, v, (pb.ACK_STATUS_REJECTED,
                                                        pb.ERROR_CODE_NOT_AUTHORISED,
                                                        BLIND_SENTENCE.format(s), 0, 0))
                    if key(a) != want:
                        rule = ("domain.md [No oracle]: no all-seeing sender in a multi-territory file: "
                                "territory-wide partners get NOT_AUTHORISED for a missing pathway"
                                if KIND[s] in TERRITORY_WIDE_KINDS else
                                "domain.md [No oracle]: the one blind sentence for a missing pathway")
                        self.finding(rule, f"{s} {t} v{v} (no pathway): {fmt(a)}", group=(s, a.code))
            for v in VERSIONS:
                a = baseline[(s, REG, v)]
                if KIND[s] not in REGISTERING_KINDS:
                    ok = (a.status, a.code) == (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED)
                elif v in (0, NEW):
                    ok = (a.status, a.version, a.code) == (pb.ACK_STATUS_ACCEPTED, 1, 0) and a.seq
                else:
                    ok = (a.status, a.code, a.seq, a.version) == (
                        pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_VERSION_CONFLICT, 0, 0)
                if not ok:
                    self.finding("domain.md [No oracle]: registration with no pathway (version seen is 0)",
                                 f"{s} BeneficiaryRegistered v{v} (no pathway): {fmt(a)}",
                                 group=(s, v))

        # The property.
        for (e, state, s, t, v), a in list(zip(probes, acks_a)) + list(zip(probes_b, acks_b)):
            if state is None:
                continue
            compared += 1
            is_open = info[state][3]
            with_seq = True
            if t == REG and is_open and KIND[s] in REGISTERING_KINDS and \
                    baseline[(s, REG, v)].status == pb.ACK_STATUS_ACCEPTED:
                # Only where no pathway would accept it: with expected_version != 0 the blind
                # sender compares against version 0 first, and gets the conflict it would get
                # with no pathway (the check cannot tell an open pathway from none).
                ref_type = REFERENCE_TYPE
                rule = ("domain.md [No oracle] (no oracle): a blind registration on an open pathway, which "
                        "no pathway would have accepted, equals the sender's blind reply to any "
                        "other type")
            elif t == REG and pb.ACK_STATUS_ACCEPTED in (a.status, baseline[(s, REG, v)].status):
                ref_type, with_seq = REG, False
                rule = ("domain.md [No oracle] (no oracle): a blind registration on an exited pathway is a new "
                        "episode whose Ack equals the one for no pathway (version 1), seq apart")
            else:
                ref_type = t
                rule = "domain.md [No oracle] (no oracle): the blind reply equals the reply for no pathway"
            # expect_no_pathway makes a non-registration MALFORMED for all: the blind reply it
            # "could get without a pathway" is then the one of expected_version 0.
            ref_v = 0 if (ref_type != t and v == NEW) else v
            ref = baseline[(s, ref_type, ref_v)]
            if key(a, with_seq) != key(ref, with_seq):
                if key(a, with_seq, e.beneficiary_id) == key(ref, with_seq,
                                                             baseline_bid[(s, ref_type, ref_v)]):
                    rule += " -- differing only by naming the beneficiary (domain.md [Identifiers])"
                self.finding(rule, f"sender {s} blind to {state}, {t}, expected_version {v}: got "
                                   f"{fmt(a)}; with no pathway {fmt(ref)}", group=(state, t))
            if t != REG and a.status == pb.ACK_STATUS_REJECTED and v != NEW and \
                    a.message != BLIND_SENTENCE.format(s):
                self.finding("domain.md [No oracle]: the one blind sentence (P = sender, nothing else varies)",
                             f"{s} blind to {state}, {t}, v{v}: {a.message!r}", group=s)

        # Accepted registrations of phase B took exactly the next log positions.
        seqs = sorted(a.seq for a in acks_b if a.status == pb.ACK_STATUS_ACCEPTED)
        if seqs != list(range(before + 1, after + 1)):
            self.finding("Ack.seq of accepted registrations is the next log position",
                         f"accepted seqs {seqs[:10]}... ({len(seqs)}), log went {before}->{after}")
        for a in acks_a + acks_b:
            if a.status == pb.ACK_STATUS_REJECTED and (a.seq or a.version):
                self.finding("a rejection carries seq 0 and version 0", fmt(a))
                break

        states = len(STATES)
        print(f"no-oracle: {compared} replies compared over {len(SENDERS)} senders x "
              f"{len(TYPES)} types x {states} states x {len(VERSIONS)} versions "
              f"({len(pairs)} blind sender/state pairs, {len(baseline)} replies for no pathway)")

    def second_daemon_93_only(self):
        """With territory 93 only, its DEPARTEMENT and France Travail are all-seeing."""
        daemon = start_daemon(PARTNERS_93_ONLY)
        try:
            wire = Wire(daemon)
            ids = Ids("no2")
            probes = [(make_event(ids(), s, "NO2-none", t, expected_version=v), s, t, v)
                      for s in ("cd93", "ft93", "ml93", "employer93")
                      for t in NON_REG for v in VERSIONS]
            for (e, s, t, v), a in zip(probes, wire.run([p[0] for p in probes])):
                if v == NEW:
                    rule = "expect_no_pathway on anything but a registration: MALFORMED, for all"
                    ok = key(a) == missing_pathway_reply(s, v, None)
                elif KIND[s] in TERRITORY_WIDE_KINDS:
                    rule = ("domain.md [No oracle]: an all-seeing sender (territory-wide, registered for every "
                            "territory of the file) gets UNKNOWN_BENEFICIARY for a missing pathway")
                    ok = (a.status, a.code, a.seq, a.version) == (
                        pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_UNKNOWN_BENEFICIARY, 0, 0)
                else:
                    rule = "domain.md [No oracle]: the one blind sentence for a missing pathway (93-only file)"
                    ok = key(a) == (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED,
                                    BLIND_SENTENCE.format(s), 0, 0)
                if not ok:
                    self.finding(rule, f"{s} {t} v{v} (93-only file, no pathway): {fmt(a)}",
                                 group=(s, a.code))
                if "NO2-none" in a.message:
                    self.finding("domain.md [Identifiers]: rejection sentences never name the beneficiary",
                                 f"{s} {t} v{v} (93-only file): {a.message!r}", group=a.code)
            wire.close()
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


if __name__ == "__main__":
    watchdog(90)
    unittest.main(verbosity=2)
