#!/usr/bin/env python3
"""Issue 10, docs/domain.md, "Minimisation" and "Minimisation", over the wire: what each partner is told, and how much.

A SOCIAL pathway delegated to a CCAS (registered by the CAF for an RSA recipient), its referent
and contrat d'engagement, appointments, a Cap emploi member, then an employer joined and placed
in a job, a suspension decided and lifted by the DEPARTEMENT, the employer's own job events and
the exit. Every partner subscribes before the first event and the test waits, after each event,
for the notifications the need-to-know rule gives, so that each notification's pathway is the
pathway right after its event.

- The employer receives only its MemberJoined and the job and exit events of others, with the
  event minimised (no partner_id, event_id, expected_version) and the minimised view; neither
  the decoded frames nor their raw bytes carry anything else (no other partner's id, no
  professional_ref, no plan_action_ref...).
- The employer may not send OrientationRequested nor AppointmentRecorded; a training provider
  member's TrainingEntered on a pathway not yet oriented gets exactly the blind sentence.
- The views of the others: a member that is not the referent's partner sees neither the
  suspension nor the episode and is not told of the suspension; the referent's partner sees
  the suspension, not the episode; the territory-wide partners see everything.
"""

import unittest

from rules_wire import (BLIND_SENTENCE, PARTNERS_FULL, T0, Findings, fmt, make_event, pb,
                        RawSubscriber, set_fields, start_daemon, watchdog, Wire, wire_field,
                        wire_fields)

B = "B-min-1"
B2 = "B-min-2"
SUBSCRIBERS = ("employer93", "trainer93", "caf93", "cap93", "ccas93", "cd93", "ft93")
MINIMISED_VIEW = {"beneficiary_id", "territory", "version", "training", "last_training_outcome",
                  "employment", "last_job_end_reason", "exit", "phase"}
MINIMISED_VIEW_NUMBERS = {pb.Pathway.DESCRIPTOR.fields_by_name[n].number for n in MINIMISED_VIEW}
MINIMISED_PHASES = {pb.PHASE_UNSPECIFIED, pb.PHASE_IN_TRAINING, pb.PHASE_EMPLOYED,
                    pb.PHASE_EXITED}
SECRETS = [b"ccas93", b"cap93", b"caf93", b"cd93", b"ft93", b"PRO-CCAS-77", b"PLAN-ACT-42"]
TW = {"cd93", "ft93"}


def appointment():
    return pb.AppointmentRecorded(kind=pb.APPOINTMENT_KIND_INDIVIDUAL,
                                  status=pb.APPOINTMENT_STATUS_SEEN, at=T0)


# (sender, type, payload, send expected_version, recipients by the spec)
STEPS = [
    ("caf93", "beneficiary_registered", pb.BeneficiaryRegistered(rsa_recipient=True), False, TW),
    ("cd93", "orientation_decided", pb.OrientationDecided(
        pathway_type=pb.PATHWAY_TYPE_SOCIAL, referent_body=pb.REFERENT_BODY_DELEGATED,
        structure_id="ccas93", notified_at=T0), False, {"ft93", "caf93", "ccas93"}),
    ("ccas93", "referent_assigned", pb.ReferentAssigned(
        referent_partner_id="ccas93", professional_ref="PRO-CCAS-77"), False, TW | {"caf93"}),
    ("ccas93", "contract_signed", pb.ContractSigned(
        kind=pb.CONTRACT_KIND_CONTRAT_ENGAGEMENT, start=T0, plan_action_ref="PLAN-ACT-42",
        weekly_hours=20), False, TW | {"caf93"}),
    ("ccas93", "appointment_recorded", appointment(), False, TW | {"caf93"}),
    ("ccas93", "member_joined", pb.MemberJoined(member_id="cap93"), False,
     TW | {"caf93", "cap93"}),
    ("ccas93", "member_joined", pb.MemberJoined(member_id="employer93"), True,
     TW | {"caf93", "cap93", "employer93"}),
    ("ccas93", "job_placed", pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_CDI,
                                          employer_partner_id="employer93", start=T0), True,
     TW | {"caf93", "cap93", "employer93"}),
    ("cd93", "suspension_decided", pb.SuspensionDecided(
        reason=pb.SUSPENSION_REASON_APPOINTMENT_MISSED), False, {"ft93", "ccas93"}),
    ("cd93", "appointment_recorded", appointment(), False, {"ft93", "caf93", "cap93", "ccas93"}),
    ("ccas93", "appointment_recorded", appointment(), False, TW | {"caf93", "cap93"}),
    ("cd93", "suspension_lifted", pb.SuspensionLifted(
        reason=pb.SUSPENSION_LIFT_REASON_REMOBILISED_NOT_PAID_BACK), False, {"ft93", "ccas93"}),
    ("ft93", "appointment_recorded", appointment(), False, {"cd93", "caf93", "cap93", "ccas93"}),
    ("employer93", "job_ended", pb.JobEnded(reason=pb.JOB_END_REASON_TERM_REACHED), False,
     TW | {"caf93", "cap93", "ccas93"}),
    ("employer93", "job_placed", pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_CDD,
                                              employer_partner_id="employer93", start=T0 + 1),
     False, TW | {"caf93", "cap93", "ccas93"}),
    ("cd93", "pathway_exited", pb.PathwayExited(reason=pb.EXIT_REASON_SUSTAINED_EMPLOYMENT), True,
     {"ft93", "caf93", "cap93", "ccas93", "employer93"}),
]
S_SUSPENDED_APPT_BY_CD, S_APPT_BY_CCAS, S_AFTER_LIFT = 9, 10, 12  # indexes in STEPS


class MinimisationTest(unittest.TestCase):
    def test_minimisation_and_views(self):
        daemon = start_daemon(PARTNERS_FULL)
        try:
            self.findings = Findings()
            self.run_scenario(daemon)
            self.assertEqual(daemon.stop(), 0)
        except BaseException:
            print(daemon.log()[-3000:])
            raise
        finally:
            daemon.cleanup()
        if self.findings:
            self.fail(self.findings.report(examples=12))

    def run_scenario(self, daemon):
        F = self.findings
        wire = Wire(daemon)
        subs = {p: RawSubscriber(daemon, p) for p in SUBSCRIBERS}
        for p, s in subs.items():
            self.assertTrue(s.wait_subscribed() and s.subscribed, f"harness: {p} not subscribed")
        expected = {p: set() for p in SUBSCRIBERS}  # (beneficiary, seq)
        seq_of = {}   # step index -> seq
        event_ids = {}  # seq -> (sender, event_id)
        version = 0
        n = 0
        for i, (sender, t, payload, with_version, recipients) in enumerate(STEPS):
            n += 1
            e = make_event(f"min-{n:03d}-x", sender, B, t, payload,
                           expected_version=version if with_version else 0)
            a = wire.one(e)
            if a.status != pb.ACK_STATUS_ACCEPTED:
                F.add("scenario (the spec's transition table and rights)",
                      f"step {i + 1}, {t} by {sender}: {fmt(a)}")
                continue
            version = a.version
            seq_of[i] = a.seq
            event_ids[a.seq] = (sender, e.event_id)
            for p in recipients:
                expected[p].add((B, a.seq))
                if not subs[p].wait_seq(a.seq, timeout=5):
                    F.add("need to know: recipients (domain.md [Minimisation, Minimisation], 7)",
                          f"{p} was not told of step {i + 1}, {t} by {sender}")

        self.second_pathway(daemon, wire, subs, expected, event_ids)

        for s in subs.values():
            s.poll(0.5)
        # Exactly the need-to-know recipients.
        for p, s in subs.items():
            got = {(n.event.beneficiary_id or n.pathway.beneficiary_id, n.seq)
                   for _, _, n in s.notifications}
            step_of = {v: k for k, v in seq_of.items()}
            for b, seq in sorted(got - expected[p], key=lambda x: x[1]):
                what = (f"step {step_of[seq] + 1}, {STEPS[step_of[seq]][1]} by "
                        f"{STEPS[step_of[seq]][0]}" if b == B and seq in step_of else f"seq {seq}")
                rule = ("domain.md [Minimisation]: an employer or trainer receives only training, job and exit "
                        "events and the MemberJoined/MemberLeft naming it"
                        if p in ("employer93", "trainer93") else
                        "domain.md [The 2023 law]: a suspension is told to the territory-wide partners and the "
                        "referent's partner only" if "suspension" in what else
                        "need to know: recipients")
                F.add(rule, f"{p} was told of {b} {what}")

        self.check_minimised(subs["employer93"], "employer93", event_ids)
        self.check_minimised(subs["trainer93"], "trainer93", event_ids)
        self.check_views(subs, seq_of)
        for s in subs.values():
            s.close()
        wire.close()

    def second_pathway(self, daemon, wire, subs, expected, event_ids):
        """B2: the employer and a trainer as members of a pathway not yet oriented."""
        F = self.findings
        setup = [make_event("min2-reg", "cd93", B2, "beneficiary_registered",
                            pb.BeneficiaryRegistered()),
                 make_event("min2-emp", "cd93", B2, "member_joined",
                            pb.MemberJoined(member_id="employer93")),
                 make_event("min2-trn", "cd93", B2, "member_joined",
                            pb.MemberJoined(member_id="trainer93"))]
        acks = wire.run(setup, conn="setup")
        for e, a in zip(setup, acks):
            if a.status != pb.ACK_STATUS_ACCEPTED:
                F.add("scenario (the spec's transition table and rights)",
                      f"{B2}: {e.WhichOneof('payload')} by cd93: {fmt(a)}")
                continue
            event_ids[a.seq] = ("cd93", e.event_id)
            for p in ("ft93",):
                expected[p].add((B2, a.seq))
        if acks[1].status == pb.ACK_STATUS_ACCEPTED:
            expected["employer93"].add((B2, acks[1].seq))
            subs["employer93"].wait_seq(acks[1].seq)
        if acks[2].status == pb.ACK_STATUS_ACCEPTED:
            expected["trainer93"].add((B2, acks[2].seq))
            subs["trainer93"].wait_seq(acks[2].seq)
        subs["ft93"].wait_seq(acks[2].seq)

        for who in ("employer93", "trainer93"):
            for t, payload in (("orientation_requested", pb.OrientationRequested(
                    reason=pb.ORIENTATION_REQUEST_REASON_BENEFICIARY_REQUEST)),
                    ("appointment_recorded", appointment())):
                a = wire.one(make_event(f"min2-{who}-{t}", who, B2, t, payload))
                if (a.status, a.code) != (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED):
                    F.add("domain.md [Minimisation]: an EMPLOYER or TRAINING_ORG may not send "
                          "OrientationRequested nor AppointmentRecorded (NOT_AUTHORISED)",
                          f"{who} (a member of {B2}) {t}: {fmt(a)}")
                    if a.status == pb.ACK_STATUS_ACCEPTED:
                        expected["ft93"].add((B2, a.seq))
                        expected["cd93"].add((B2, a.seq))
                        event_ids[a.seq] = (who, f"min2-{who}-{t}")

        # A training provider member, a pathway not yet oriented: the blind sentence, exactly
        # the reply it gets about a beneficiary it may not see.
        te = pb.TrainingEntered(programme_code="RNCP34567", start=T0)
        member = wire.one(make_event("min2-te", "trainer93", B2, "training_entered", te))
        blind = wire.one(make_event("min2-te-blind", "trainer93", "B-min-none", "training_entered",
                                    te))
        other = wire.one(make_event("min2-te-b", "trainer93b", B2, "training_entered", te))
        rule = ("domain.md [Minimisation]: a rejection sent to a TRAINING_ORG never depends on a fact outside its "
                "view (TrainingEntered, not oriented: the blind sentence)")
        want = (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED,
                BLIND_SENTENCE.format("trainer93"), 0, 0)
        if (member.status, member.code, member.message, member.version, member.seq) != want:
            F.add(rule, f"trainer93 (member) on {B2}: {fmt(member, 400)}; the blind sentence is "
                        f"{want[2]!r}")
        if (member.status, member.code, member.message) != (blind.status, blind.code, blind.message):
            F.add(rule, f"trainer93 on {B2} {fmt(member)} differs from trainer93 about a "
                        f"beneficiary it may not see: {fmt(blind)}")
        if (other.status, other.code) != (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED):
            F.add(rule, f"trainer93b (not a member) on {B2}: {fmt(other)}")
        if member.status == pb.ACK_STATUS_ACCEPTED:
            F.add(rule, "TrainingEntered accepted on a pathway not yet oriented")

    def check_minimised(self, sub, partner, event_ids):
        F = self.findings
        others = [s for s in SECRETS if s != partner.encode()] + \
            ([b"employer93"] if partner != "employer93" else [])
        for raw, raw_e, n in sub.notifications:
            t = n.event.WhichOneof("payload")
            where = f"{partner}, {n.event.beneficiary_id} seq {n.seq} ({t})"
            sender, eid = event_ids.get(n.seq, ("?", None))
            if sender != partner:
                leaked = {"partner_id", "event_id", "expected_version"} & set_fields(n.event)
                if leaked:
                    F.add("domain.md [What is forwarded, Minimisation]: an employer or trainer receives others' events without "
                          "partner_id, event_id and expected_version",
                          f"{where}: event carries {sorted(leaked)}")
                if eid and eid.encode() in raw:
                    F.add("domain.md [What is forwarded, Minimisation]: another partner's event_id never reaches an employer "
                          "or trainer", f"{where}: raw bytes contain {eid!r}")
            extra = set_fields(n.pathway) - MINIMISED_VIEW
            if extra:
                F.add("domain.md [Minimisation]: an employer's or trainer's view is only beneficiary_id, "
                      "territory, version, training, last_training_outcome, employment, "
                      "last_job_end_reason, exit, phase",
                      f"{where}: view carries {sorted(extra)}")
            if n.pathway.phase not in MINIMISED_PHASES:
                F.add("domain.md [Minimisation]: the phase only when IN_TRAINING, EMPLOYED or EXITED",
                      f"{where}: phase {pb.Phase.Name(n.pathway.phase)}")
            # The same on the bytes: the pathway's field numbers, as sent.
            raw_view = (wire_field(wire_field(raw, 2)[0], 4) or [b""])[0]
            numbers = {f for f, _, _ in wire_fields(raw_view)} - MINIMISED_VIEW_NUMBERS
            if numbers:
                names = sorted(pb.Pathway.DESCRIPTOR.fields_by_number[f].name
                               if f in pb.Pathway.DESCRIPTOR.fields_by_number else str(f)
                               for f in numbers)
                F.add("domain.md [Minimisation]: nothing outside the minimised view in the raw bytes",
                      f"{where}: the pathway's bytes carry fields {names}")
            for needle in others:
                if needle in raw:
                    F.add("domain.md [Minimisation]: nothing outside the minimised view in the raw bytes",
                          f"{where}: the frame contains {needle.decode()!r}")

    def check_views(self, subs, seq_of):
        F = self.findings

        def view(p, step):
            if step not in seq_of:
                return None
            got = subs[p].for_seq(seq_of[step])
            return got[0][2].pathway if got else None

        rule_members = ("domain.md [Minimisation]: other members see all but episode, suspension and "
                        "last_suspension_lift_reason")
        for p in ("caf93", "cap93"):
            for _, _, n in subs[p].notifications:
                hidden = {"episode", "suspension", "last_suspension_lift_reason"} & \
                    set_fields(n.pathway)
                if hidden:
                    F.add(rule_members, f"{p} (member, not the referent's partner), seq {n.seq}: "
                                        f"view carries {sorted(hidden)}")
            v = view(p, S_SUSPENDED_APPT_BY_CD)
            if v is not None:
                missing = {"orientation", "contract", "referent", "members", "last_appointment",
                           "rsa_recipient", "created_at"} - set_fields(v)
                if missing:
                    F.add(rule_members + " (and everything else)",
                          f"{p}: view lacks {sorted(missing)}")
        for _, _, n in subs["ccas93"].notifications:
            if n.pathway.episode:
                F.add("domain.md [Minimisation]: the referent's partner sees all but the episode",
                      f"ccas93 seq {n.seq}: episode {n.pathway.episode}")
        v = view("ccas93", S_SUSPENDED_APPT_BY_CD)
        if v is not None and not v.HasField("suspension"):
            F.add("domain.md [Minimisation]: the referent's partner sees the suspension",
                  "ccas93's view after the suspension has none")
        v = view("ccas93", S_AFTER_LIFT)
        if v is not None and not v.last_suspension_lift_reason:
            F.add("domain.md [Minimisation]: the referent's partner sees last_suspension_lift_reason",
                  "ccas93's view after the lift has none")
        for p, step in (("ft93", S_SUSPENDED_APPT_BY_CD), ("cd93", S_APPT_BY_CCAS)):
            v = view(p, step)
            if v is None:
                continue
            if v.episode != 1 or not v.HasField("suspension") or not v.rsa_recipient or \
                    not v.created_at or not v.HasField("contract") or not v.HasField("referent"):
                F.add("domain.md [Minimisation]: territory-wide partners see the whole pathway",
                      f"{p}'s view while suspended: episode {v.episode}, fields "
                      f"{sorted(set_fields(v))}")
            elif v.contract.plan_action_ref != "PLAN-ACT-42" or v.contract.weekly_hours != 20:
                F.add("domain.md [The 2023 law]: the pathway's Contract keeps plan_action_ref and weekly_hours",
                      f"{p}: {v.contract}")
        v = view("cd93", S_AFTER_LIFT)
        if v is not None and not v.last_suspension_lift_reason:
            F.add("domain.md [Minimisation]: territory-wide partners see the whole pathway",
                  "cd93's view after the lift has no last_suspension_lift_reason")


if __name__ == "__main__":
    watchdog(90)
    unittest.main(verbosity=2)
