#!/usr/bin/env python3
"""Issue 10, docs/domain.md, "Events" and "The 2023 law", over the wire: the divergences fixed and the 2023 law.

- Contrat d'engagement: plan_action_ref required, weekly_hours 0 (stored 15) or 1..48, a
  reduced_hours_reason below 15 only; these fields on another kind are MALFORMED.
- CER and PPAE starting on or after [rules] legacy_contracts_refused_from (default 2025-01-01)
  are INVALID_TRANSITION; before, accepted; with the date set to 2030-01-01, accepted in 2026;
  the migration (ContractEnded MIGRATION, then a contrat d'engagement).
- OrientationDecided.notified_at is required and kept.
- Suspensions: the DEPARTEMENT for an RSA recipient, France Travail otherwise, nobody else;
  none twice, lifted once; told to the territory-wide partners and the referent's partner only.
- A reorientation to another structure ends the referent and the contract (REORIENTATION), and
  the old structure is told; MemberLeft refusals; the referent body / kind fit; the exit ends
  the facts in force; the version restarts at 1 with a new episode; Status (admin,
  parcoursctl status --json) counts pathways per territory and phase.
"""

import json
import re
import subprocess
import unittest

from harness import PARCOURSCTL, Daemon
from rules_wire import (CUTOVER_2025, DAY, PARTNERS_FULL, T0, Y2030, Findings, Ids, RawSubscriber,
                        RulesTestCase, Wire, fmt, make_event, now_ms, pb, set_fields, watchdog)

ACC, REJ = pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_REJECTED
MALFORMED, INVALID = pb.ERROR_CODE_MALFORMED, pb.ERROR_CODE_INVALID_TRANSITION
NOT_AUTH = pb.ERROR_CODE_NOT_AUTHORISED
CE = pb.CONTRACT_KIND_CONTRAT_ENGAGEMENT
BODY = {"cd93": pb.REFERENT_BODY_DEPARTEMENT, "ft93": pb.REFERENT_BODY_FRANCE_TRAVAIL,
        "ml93": pb.REFERENT_BODY_MISSION_LOCALE, "cap93": pb.REFERENT_BODY_CAP_EMPLOI,
        "ccas93": pb.REFERENT_BODY_DELEGATED, "asso93": pb.REFERENT_BODY_DELEGATED}
IN_2026 = T0 + 150 * DAY


def decided(structure, body=None, ptype=pb.PATHWAY_TYPE_EMPLOI, notified_at=T0):
    return pb.OrientationDecided(pathway_type=ptype, referent_body=body or BODY[structure],
                                 structure_id=structure, notified_at=notified_at)


def contract(kind, start=IN_2026, **kw):
    return pb.ContractSigned(kind=kind, start=start, **kw)


def appointment():
    return pb.AppointmentRecorded(kind=pb.APPOINTMENT_KIND_PHONE,
                                  status=pb.APPOINTMENT_STATUS_SEEN, at=T0)


class Law(RulesTestCase):
    n = 0

    def fresh(self, name):
        Law.n += 1
        return f"B-law-{name}-{Law.n}"

    def ev(self, sender, b, t, payload, version=0, occurred_at=None):
        return make_event(self.ids(), sender, b, t, payload, expected_version=version,
                          occurred_at=occurred_at)

    def setup(self, events, rule, soft=False):
        """Events that the spec accepts, applied in order; a refusal fails the test here (or,
        soft, is recorded and False returned, so that the next cases still run)."""
        acks = self.wire.run(events, conn="setup")
        for e, a in zip(events, acks):
            if a.status != ACC:
                text = (f"setup step {e.WhichOneof('payload')} by {e.partner_id} on "
                        f"{e.beneficiary_id} was refused: {fmt(a)}")
                if not soft:
                    self.fail(f"{rule}: {text}")
                self.findings.add(rule + " (setup)", text)
                return False
        return acks

    def expect(self, e, status, code, rule, what):
        a = self.wire.one(e)
        if (a.status, a.code if status == REJ else 0) != (status, code if status == REJ else 0):
            want = pb.AckStatus.Name(status) + (f"/{pb.ErrorCode.Name(code)}" if status == REJ else "")
            self.findings.add(rule, f"{what}: {fmt(a)}, expected {want}")
        return a

    def registered(self, b, sender="cd93", rsa=False):
        return [self.ev(sender, b, "beneficiary_registered", pb.BeneficiaryRegistered(rsa_recipient=rsa))]

    def accompanied(self, b, structure="ml93", registrant="cd93", rsa=False):
        return self.registered(b, registrant, rsa) + [
            self.ev("cd93", b, "orientation_decided", decided(structure)),
            self.ev(structure, b, "referent_assigned",
                    pb.ReferentAssigned(referent_partner_id=structure))]


class Law2023Test(Law):
    # -------------------------------------------------------------------------- domain.md [The 2023 law]
    def test_contrat_engagement(self):
        rule = ("domain.md [The 2023 law]: contrat d'engagement (plan_action_ref, weekly_hours, "
                "reduced_hours_reason, hours_exempted)")
        R = pb
        accepted = [
            ("weekly_hours 0 is stored as 15", dict(plan_action_ref="PA-0001"), (15, 0)),
            ("weekly_hours 20", dict(plan_action_ref="PA-0002", weekly_hours=20), (20, 0)),
            ("weekly_hours 48", dict(plan_action_ref="PA-0003", weekly_hours=48), (48, 0)),
            ("weekly_hours 15", dict(plan_action_ref="PA-0004", weekly_hours=15), (15, 0)),
            ("10 hours for health", dict(plan_action_ref="PA-0005", weekly_hours=10,
                                         reduced_hours_reason=R.REDUCED_HOURS_REASON_HEALTH),
             (10, R.REDUCED_HOURS_REASON_HEALTH)),
            ("1 hour, lone parent", dict(
                plan_action_ref="PA-0006", weekly_hours=1,
                reduced_hours_reason=R.REDUCED_HOURS_REASON_LONE_PARENT_WITHOUT_CHILDCARE),
             (1, R.REDUCED_HOURS_REASON_LONE_PARENT_WITHOUT_CHILDCARE)),
            ("exempted (weekly_hours 0, stored 0), family carer", dict(
                plan_action_ref="PA-0007", hours_exempted=True,
                reduced_hours_reason=R.REDUCED_HOURS_REASON_FAMILY_CARER),
             (0, R.REDUCED_HOURS_REASON_FAMILY_CARER)),
        ]
        for what, fields, (hours, reason) in accepted:
            b = self.fresh("ce")
            self.setup(self.accompanied(b), rule)
            a = self.expect(self.ev("ml93", b, "contract_signed", contract(CE, **fields)), ACC, 0,
                            rule, what)
            if a.status != ACC:
                continue
            c = self.daemon.pathway(b).contract
            got = (pb.ContractKind.Name(c.kind), c.plan_action_ref, c.weekly_hours,
                   c.reduced_hours_reason, c.hours_exempted, c.signed_with)
            want = ("CONTRACT_KIND_CONTRAT_ENGAGEMENT", fields["plan_action_ref"], hours, reason,
                    fields.get("hours_exempted", False), "ml93")
            if got != want:
                self.findings.add("domain.md [The 2023 law]: the pathway's Contract keeps plan_action_ref, "
                                  "weekly_hours (15 when 0 was sent without exemption), "
                                  "reduced_hours_reason, hours_exempted",
                                  f"{what}: stored (kind, plan_action_ref, weekly_hours, "
                                  f"reduced_hours_reason, hours_exempted, signed_with) {got}, "
                                  f"expected {want}")
        refused = [
            ("no plan_action_ref", contract(CE, weekly_hours=20)),
            ("plan_action_ref not an identifier", contract(CE, plan_action_ref="PA 0001")),
            ("10 hours without a reason", contract(CE, plan_action_ref="PA-1", weekly_hours=10)),
            ("14 hours without a reason", contract(CE, plan_action_ref="PA-1", weekly_hours=14)),
            ("a reason at 15 hours", contract(CE, plan_action_ref="PA-1", weekly_hours=15,
                                              reduced_hours_reason=R.REDUCED_HOURS_REASON_HEALTH)),
            ("a reason at 30 hours", contract(CE, plan_action_ref="PA-1", weekly_hours=30,
                                              reduced_hours_reason=R.REDUCED_HOURS_REASON_DISABILITY)),
            ("a reason with weekly_hours 0 (= 15)", contract(
                CE, plan_action_ref="PA-1", reduced_hours_reason=R.REDUCED_HOURS_REASON_HEALTH)),
            ("49 hours", contract(CE, plan_action_ref="PA-1", weekly_hours=49)),
            ("exempted without a reason", contract(CE, plan_action_ref="PA-1",
                                                   hours_exempted=True)),
            ("exempted with weekly_hours 10", contract(
                CE, plan_action_ref="PA-1", hours_exempted=True, weekly_hours=10,
                reduced_hours_reason=R.REDUCED_HOURS_REASON_HEALTH)),
            ("hours_exempted on a CEJ", contract(
                pb.CONTRACT_KIND_CEJ, hours_exempted=True,
                reduced_hours_reason=R.REDUCED_HOURS_REASON_HEALTH)),
            ("plan_action_ref on a CEJ", contract(pb.CONTRACT_KIND_CEJ, plan_action_ref="PA-1")),
            ("weekly_hours on a CEJ", contract(pb.CONTRACT_KIND_CEJ, weekly_hours=20)),
            ("reduced_hours_reason on a PACEA", contract(
                pb.CONTRACT_KIND_PACEA, reduced_hours_reason=R.REDUCED_HOURS_REASON_HEALTH)),
            ("weekly_hours on an OTHER", contract(pb.CONTRACT_KIND_OTHER, weekly_hours=35)),
        ]
        for what, payload in refused:  # each on its own pathway: one wrongly accepted spoils none
            b = self.fresh("ce-bad")
            if self.setup(self.accompanied(b), rule, soft=True):
                self.expect(self.ev("ml93", b, "contract_signed", payload), REJ, MALFORMED, rule,
                            what)
        self.check()

    def test_legacy_contracts_cut_over_default(self):
        rule = ("domain.md [The 2023 law]: CER and PPAE starting on or after legacy_contracts_refused_from "
                "(default 2025-01-01) are INVALID_TRANSITION")
        cases = [
            ("CER starting 2025-01-01T00:00Z", pb.CONTRACT_KIND_CER, CUTOVER_2025, REJ),
            ("CER starting in 2026", pb.CONTRACT_KIND_CER, IN_2026, REJ),
            ("PPAE starting 2025-01-01T00:00Z", pb.CONTRACT_KIND_PPAE, CUTOVER_2025, REJ),
            ("PPAE starting in 2026", pb.CONTRACT_KIND_PPAE, IN_2026, REJ),
            ("CER starting 2024-12-31T23:59:59.999Z", pb.CONTRACT_KIND_CER, CUTOVER_2025 - 1, ACC),
            ("PPAE starting 2024-06-01", pb.CONTRACT_KIND_PPAE, CUTOVER_2025 - 214 * DAY, ACC),
            ("CEJ starting in 2026", pb.CONTRACT_KIND_CEJ, IN_2026, ACC),
            ("PACEA starting in 2026", pb.CONTRACT_KIND_PACEA, IN_2026, ACC),
            ("OTHER starting in 2026", pb.CONTRACT_KIND_OTHER, IN_2026, ACC),
        ]
        for what, kind, start, status in cases:
            b = self.fresh("legacy")
            self.setup(self.accompanied(b), rule)
            a = self.expect(self.ev("ml93", b, "contract_signed", contract(kind, start)), status,
                            INVALID, rule, what)
            if status == REJ and a.status == REJ and a.code == INVALID and \
                    "contrat d'engagement" not in a.message.lower():
                self.findings.add(rule + " (the sentence says to sign a contrat d'engagement)",
                                  f"{what}: {a.message!r}")
            if b in a.message:
                self.findings.add("domain.md [Identifiers]: rejection sentences never name the beneficiary",
                                  f"{what}: {a.message!r}")
        # Migration: the CER in force ends (MIGRATION), a contrat d'engagement follows.
        b = self.fresh("migration")
        self.setup(self.accompanied(b) + [self.ev("ml93", b, "contract_signed", contract(
            pb.CONTRACT_KIND_CER, CUTOVER_2025 - 100 * DAY))], rule + " (a CER from 2024)")
        self.expect(self.ev("ml93", b, "contract_ended",
                            pb.ContractEnded(reason=pb.CONTRACT_END_REASON_MIGRATION)), ACC, 0,
                    "domain.md [The 2023 law]: migration", "ContractEnded MIGRATION")
        self.expect(self.ev("ml93", b, "contract_signed",
                            contract(CE, plan_action_ref="PA-MIG-1")), ACC, 0,
                    "domain.md [The 2023 law]: migration", "then ContractSigned CONTRAT_ENGAGEMENT")
        p = self.daemon.pathway(b)
        if (p.contract.kind, p.last_contract_end_reason) != (CE, pb.CONTRACT_END_REASON_MIGRATION):
            self.findings.add("domain.md [The 2023 law]: migration",
                              f"contract {pb.ContractKind.Name(p.contract.kind)}, last end reason "
                              f"{pb.ContractEndReason.Name(p.last_contract_end_reason)}")
        self.check()

    def test_orientation_notified_at(self):
        rule = "domain.md [The 2023 law]: OrientationDecided.notified_at is required (> 0) and kept"
        b = self.fresh("notified")
        self.setup(self.registered(b), rule)
        self.expect(self.ev("cd93", b, "orientation_decided", decided("ml93", notified_at=0)),
                    REJ, MALFORMED, rule, "without notified_at")
        self.expect(self.ev("cd93", b, "orientation_decided", decided("ml93", notified_at=-5)),
                    REJ, MALFORMED, rule, "notified_at negative")
        when = T0 + 3 * DAY
        a = self.expect(self.ev("cd93", b, "orientation_decided", decided("ml93", notified_at=when)),
                        ACC, 0, rule, "with notified_at")
        if a.status == ACC and self.daemon.pathway(b).orientation.notified_at != when:
            self.findings.add(rule, f"Orientation.notified_at is "
                                    f"{self.daemon.pathway(b).orientation.notified_at}, sent {when}")
        self.check()

    def test_suspensions(self):
        F = self.findings
        rights = "domain.md [The 2023 law]: SuspensionDecided/Lifted rights (DEPARTEMENT for RSA, else FRANCE_TRAVAIL)"
        pre = "domain.md [The 2023 law]: suspension preconditions (none in force / one in force)"
        told = ("domain.md [The 2023 law]: a suspension is told to the territory-wide partners and the referent's "
                "partner only (minus the sender)")
        subs = {p: RawSubscriber(self.daemon, p) for p in ("cd93", "ft93", "ml93", "caf93", "cap93")}
        for s in subs.values():
            self.addCleanup(s.close)
        for p, s in subs.items():
            self.assertTrue(s.wait_subscribed() and s.subscribed, f"harness: {p} subscribe")
        # An RSA recipient registered by the CAF, ml93 its referent, cap93 a member.
        r = self.fresh("rsa")
        self.setup(self.accompanied(r, registrant="caf93", rsa=True) + [
            self.ev("cd93", r, "member_joined", pb.MemberJoined(member_id="cap93"))], rights)
        if not self.daemon.pathway(r).rsa_recipient:
            F.add("domain.md [The 2023 law]: BeneficiaryRegistered.rsa_recipient is kept on the pathway",
                  f"{r}: rsa_recipient false after a CAF registration with rsa_recipient")
        sd = pb.SuspensionDecided(reason=pb.SUSPENSION_REASON_CONTRACT_NOT_DRAWN_UP)
        sl = pb.SuspensionLifted(reason=pb.SUSPENSION_LIFT_REASON_DECISION_WITHDRAWN)
        self.expect(self.ev("cd93", r, "suspension_lifted", sl), REJ, INVALID, pre,
                    "lifted with none in force")
        for who in ("ft93", "ml93", "caf93", "cap93"):
            self.expect(self.ev(who, r, "suspension_decided", sd), REJ, NOT_AUTH, rights,
                        f"{who} deciding a suspension for an RSA recipient")
        occurred = now_ms()
        a = self.expect(self.ev("cd93", r, "suspension_decided", sd, occurred_at=occurred), ACC, 0,
                        rights, "the DEPARTEMENT deciding a suspension for an RSA recipient")
        if a.status == ACC:
            p = self.daemon.pathway(r)
            got = (p.suspension.reason, p.suspension.decided_by, p.suspension.decided_at)
            if got != (pb.SUSPENSION_REASON_CONTRACT_NOT_DRAWN_UP, "cd93", occurred):
                F.add("domain.md [The 2023 law]: the pathway keeps the suspension in force",
                      f"suspension {got}")
            self.recipients(subs, a.seq, {"ft93", "ml93"}, told, "SuspensionDecided")
        self.expect(self.ev("cd93", r, "suspension_decided", sd), REJ, INVALID, pre,
                    "a second suspension while one is in force")
        self.expect(self.ev("ft93", r, "suspension_lifted", sl), REJ, NOT_AUTH, rights,
                    "France Travail lifting an RSA recipient's suspension")
        a = self.expect(self.ev("cd93", r, "suspension_lifted", sl), ACC, 0, rights,
                        "the DEPARTEMENT lifting it")
        if a.status == ACC:
            p = self.daemon.pathway(r)
            if p.HasField("suspension") or p.last_suspension_lift_reason != \
                    pb.SUSPENSION_LIFT_REASON_DECISION_WITHDRAWN:
                F.add("domain.md [The 2023 law]: a lifted suspension is no longer in force, its reason is kept",
                      f"suspension {p.HasField('suspension')}, last lift reason "
                      f"{p.last_suspension_lift_reason}")
            self.recipients(subs, a.seq, {"ft93", "ml93"}, told, "SuspensionLifted")
        self.expect(self.ev("cd93", r, "suspension_lifted", sl), REJ, INVALID, pre,
                    "lifted twice")
        # Not an RSA recipient: France Travail decides, the DEPARTEMENT may not.
        n = self.fresh("nonrsa")
        self.setup(self.accompanied(n, registrant="ft93"), rights)
        self.expect(self.ev("cd93", n, "suspension_decided", sd), REJ, NOT_AUTH, rights,
                    "the DEPARTEMENT deciding for a person who is not an RSA recipient")
        self.expect(self.ev("ml93", n, "suspension_decided", sd), REJ, NOT_AUTH, rights,
                    "the referent deciding")
        a = self.expect(self.ev("ft93", n, "suspension_decided", sd), ACC, 0, rights,
                        "France Travail deciding for a non-RSA person")
        if a.status == ACC:
            self.recipients(subs, a.seq, {"cd93", "ml93"}, told, "SuspensionDecided (by ft93)")
        self.expect(self.ev("ft93", n, "suspension_lifted", sl), ACC, 0, rights,
                    "France Travail lifting it")
        self.expect(self.ev("ft93", n, "suspension_lifted", sl), REJ, INVALID, pre, "lifted twice")
        # A CAF registration is always an RSA recipient's.
        c = self.fresh("caf-flag")
        a = self.wire.one(self.ev("caf93", c, "beneficiary_registered", pb.BeneficiaryRegistered()))
        if a.status == ACC and not self.daemon.pathway(c).rsa_recipient:
            F.add("domain.md [The 2023 law]: rsa_recipient is true whenever a CAF registers",
                  "a CAF registration without the flag left rsa_recipient false")
        elif a.status != ACC and a.code != MALFORMED:
            F.add("domain.md [The 2023 law]: rsa_recipient is true whenever a CAF registers", fmt(a))
        self.check()

    def recipients(self, subs, seq, want, rule, what):
        for p, s in subs.items():
            if p in want:
                if not s.wait_seq(seq, 5):
                    self.findings.add(rule, f"{what}: {p} was not told")
        for p, s in subs.items():
            s.poll(0.2)
            if p not in want and s.has_seq(seq):
                self.findings.add(rule, f"{what}: {p} was told")

    # -------------------------------------------------------------------------- domain.md [Events]
    def test_reorientation_ends_referent_and_contract(self):
        F = self.findings
        rule = ("domain.md [Events]: OrientationDecided to another structure clears the referent and ends "
                "the contract (REORIENTATION)")
        ml = RawSubscriber(self.daemon, "ml93")
        cap = RawSubscriber(self.daemon, "cap93")
        self.addCleanup(ml.close)
        self.addCleanup(cap.close)
        self.assertTrue(ml.wait_subscribed() and cap.wait_subscribed(), "harness: subscribe")
        b = self.fresh("reorient")
        self.setup(self.accompanied(b) + [self.ev("ml93", b, "contract_signed",
                                                  contract(pb.CONTRACT_KIND_CEJ))], rule)
        a = self.expect(self.ev("cd93", b, "orientation_decided", decided("cap93")), ACC, 0, rule,
                        "reorientation from ml93 to cap93")
        if a.status == ACC:
            p = self.daemon.pathway(b)
            got = (p.HasField("referent"), p.HasField("contract"),
                   pb.ContractEndReason.Name(p.last_contract_end_reason), "ml93" in p.members,
                   "cap93" in p.members, p.orientation.structure_id, pb.Phase.Name(p.phase))
            want = (False, False, "CONTRACT_END_REASON_REORIENTATION", True, True, "cap93",
                    "PHASE_ORIENTED")
            if got != want:
                F.add(rule, f"(referent, contract, last_contract_end_reason, ml93 member, cap93 "
                            f"member, structure, phase) = {got}, expected {want}")
            for sub, who in ((ml, "the old structure and the contract's signer ml93"),
                             (cap, "the new structure cap93")):
                if not sub.wait_seq(a.seq):
                    F.add("domain.md [Events]: the recipients of a reorientation (the group after the "
                          "event) include the old structure and the contract's signer",
                          f"{who} was not told")
                    continue
                v = sub.for_seq(a.seq)[0][2].pathway
                if v.HasField("contract") or v.HasField("referent") or \
                        v.last_contract_end_reason != pb.CONTRACT_END_REASON_REORIENTATION:
                    F.add(rule, f"the view {who} is told: contract {v.HasField('contract')}, "
                                f"referent {v.HasField('referent')}, last_contract_end_reason "
                                f"{pb.ContractEndReason.Name(v.last_contract_end_reason)}")
        # The same structure: nothing ends.
        b = self.fresh("same")
        self.setup(self.accompanied(b) + [self.ev("ml93", b, "contract_signed",
                                                  contract(pb.CONTRACT_KIND_CEJ))], rule)
        a = self.expect(self.ev("cd93", b, "orientation_decided",
                                decided("ml93", ptype=pb.PATHWAY_TYPE_SOCIO_PRO)), ACC, 0,
                        rule, "orientation decided again with the same structure")
        p = self.daemon.pathway(b)
        if a.status == ACC and not (p.HasField("referent") and p.HasField("contract")):
            F.add("domain.md [Events]: only a change of structure ends the referent and the contract",
                  f"same structure: referent {p.HasField('referent')}, contract "
                  f"{p.HasField('contract')}")
        self.check()

    def test_member_left_refusals(self):
        rule = "domain.md [Events]: MemberLeft refused (INVALID_TRANSITION)"
        ok = "domain.md [Events]: MemberLeft accepted once nothing holds the member"

        def left(b, who, by="cd93"):
            return self.ev(by, b, "member_left", pb.MemberLeft(member_id=who))

        def oriented(b):
            return self.registered(b) + [self.ev("cd93", b, "orientation_decided", decided("ml93"))]

        b = self.fresh("left-structure")
        if self.setup(oriented(b), rule, soft=True):
            self.expect(left(b, "ml93"), REJ, INVALID, rule,
                        "the oriented structure while no referent is named")
        b = self.fresh("left-referent")
        if self.setup(self.accompanied(b), rule, soft=True):
            self.expect(left(b, "ml93"), REJ, INVALID, rule, "the active referent's partner")
            self.expect(left(b, "asso93"), REJ, INVALID, rule, "a partner that is not a member")
        b = self.fresh("left-trainer")
        if self.setup(self.accompanied(b) + [self.ev("ml93", b, "training_entered", pb.TrainingEntered(
                provider_id="trainer93", programme_code="RNCP1", start=T0))], rule, soft=True):
            refused = self.expect(left(b, "trainer93", "ml93"), REJ, INVALID, rule,
                                  "the provider of the training in progress").status == REJ
            if refused and self.setup([self.ev("ml93", b, "training_exited",
                                   pb.TrainingExited(outcome=pb.TRAINING_OUTCOME_CERTIFIED))],
                          ok, soft=True):
                self.expect(left(b, "trainer93", "ml93"), ACC, 0, ok,
                            "the provider once the training ended")
        b = self.fresh("left-employer")
        if self.setup(self.accompanied(b) + [self.ev("ml93", b, "job_placed", pb.JobPlaced(
                kind=pb.EMPLOYMENT_KIND_IAE, employer_partner_id="employer93", start=T0))],
                rule, soft=True):
            refused = self.expect(left(b, "employer93", "ml93"), REJ, INVALID, rule,
                                  "the employer of the employment in progress").status == REJ
            if refused and self.setup([self.ev("ml93", b, "job_ended",
                                   pb.JobEnded(reason=pb.JOB_END_REASON_TRIAL_PERIOD))],
                          ok, soft=True):
                self.expect(left(b, "employer93", "ml93"), ACC, 0, ok,
                            "the employer once the job ended")
        self.check()

    def test_referent_body_and_kind_fit(self):
        rule = ("domain.md [Events]: referent body / kind fit (DEPARTEMENT->DEPARTEMENT, FT->FT, ML->ML, "
                "CAP_EMPLOI->CAP_EMPLOI, DELEGATED->CCAS or ASSOCIATION)")
        R = pb
        b = self.fresh("fit")
        self.setup(self.registered(b), rule)
        misfits = [(R.REFERENT_BODY_MISSION_LOCALE, "cap93"), (R.REFERENT_BODY_MISSION_LOCALE, "ft93"),
                   (R.REFERENT_BODY_FRANCE_TRAVAIL, "ml93"), (R.REFERENT_BODY_DEPARTEMENT, "ft93"),
                   (R.REFERENT_BODY_DEPARTEMENT, "caf93"), (R.REFERENT_BODY_CAP_EMPLOI, "ml93"),
                   (R.REFERENT_BODY_DELEGATED, "employer93"), (R.REFERENT_BODY_DELEGATED, "trainer93"),
                   (R.REFERENT_BODY_DELEGATED, "caf93"), (R.REFERENT_BODY_DELEGATED, "ml93"),
                   (R.REFERENT_BODY_MISSION_LOCALE, "employer93"),
                   (R.REFERENT_BODY_FRANCE_TRAVAIL, "trainer93")]
        for body, structure in misfits:
            self.expect(self.ev("cd93", b, "orientation_decided", decided(structure, body)), REJ,
                        INVALID, rule, f"OrientationDecided {R.ReferentBody.Name(body)} with "
                        f"structure {structure}")
        for structure in ("cd93", "ft93", "ml93", "cap93", "ccas93", "asso93"):
            ok = self.fresh("fit-ok")
            self.setup(self.registered(ok), rule)
            self.expect(self.ev("cd93", ok, "orientation_decided", decided(structure)), ACC, 0,
                        rule, f"OrientationDecided {R.ReferentBody.Name(BODY[structure])} with "
                        f"structure {structure}")
        # ReferentAssigned against the orientation's referent body.
        b = self.fresh("fit-ref")
        self.setup(self.registered(b) + [self.ev("cd93", b, "orientation_decided",
                                                 decided("ml93"))], rule)
        for who in ("ft93", "cd93", "caf93", "employer93", "trainer93", "ccas93", "cap93"):
            self.expect(self.ev("cd93", b, "referent_assigned",
                                pb.ReferentAssigned(referent_partner_id=who)), REJ, INVALID, rule,
                        f"ReferentAssigned {who} under a MISSION_LOCALE orientation")
        self.expect(self.ev("cd93", b, "referent_assigned",
                            pb.ReferentAssigned(referent_partner_id="ml93")), ACC, 0, rule,
                    "ReferentAssigned ml93 under a MISSION_LOCALE orientation")
        d = self.fresh("fit-del")
        self.setup(self.registered(d) + [self.ev("cd93", d, "orientation_decided",
                                                 decided("ccas93"))], rule)
        self.expect(self.ev("cd93", d, "referent_assigned",
                            pb.ReferentAssigned(referent_partner_id="ml93")), REJ, INVALID, rule,
                    "ReferentAssigned ml93 under a DELEGATED orientation")
        self.expect(self.ev("cd93", d, "referent_assigned",
                            pb.ReferentAssigned(referent_partner_id="asso93")), ACC, 0, rule,
                    "ReferentAssigned asso93 under a DELEGATED orientation")
        self.check()

    def test_exit_ends_the_facts_in_force(self):
        F = self.findings
        rule = ("domain.md [Events]: PathwayExited ends the pending request, referent, contract "
                "(PATHWAY_EXITED), training, employment, suspension and the group; orientation and "
                "last_* stay")
        b = self.fresh("exit")
        self.setup(self.accompanied(b, registrant="caf93", rsa=True) + [
            self.ev("ml93", b, "contract_signed", contract(CE, plan_action_ref="PA-EXIT-1")),
            self.ev("ml93", b, "training_entered", pb.TrainingEntered(
                provider_id="trainer93", programme_code="RNCP2", start=T0)),
            self.ev("ml93", b, "job_placed", pb.JobPlaced(
                kind=pb.EMPLOYMENT_KIND_CDD, employer_partner_id="employer93", start=T0)),
            self.ev("ml93", b, "orientation_requested", pb.OrientationRequested(
                reason=pb.ORIENTATION_REQUEST_REASON_CHANGE_OF_SITUATION)),
            self.ev("cd93", b, "orientation_denied", pb.OrientationDenied(
                reason=pb.ORIENTATION_DENIAL_REASON_CURRENT_ORIENTATION_FITS)),
            self.ev("ml93", b, "orientation_requested", pb.OrientationRequested(
                reason=pb.ORIENTATION_REQUEST_REASON_REFERENT_REQUEST)),
        ], rule)
        suspended = self.wire.one(self.ev("cd93", b, "suspension_decided", pb.SuspensionDecided(
            reason=pb.SUSPENSION_REASON_OBLIGATIONS_NOT_MET)))
        if suspended.status != ACC:
            F.add(rule + " (setup: a suspension in force)", fmt(suspended))
        before = self.daemon.pathway(b)
        a = self.expect(self.ev("cd93", b, "pathway_exited",
                                pb.PathwayExited(reason=pb.EXIT_REASON_MOVED)), ACC, 0, rule, "exit")
        p = self.daemon.pathway(b)
        in_force = {"pending_request", "referent", "contract", "training", "employment",
                    "suspension"} & set_fields(p)
        if in_force:
            F.add(rule, f"after the exit, still in force: {sorted(in_force)}")
        if p.last_contract_end_reason != pb.CONTRACT_END_REASON_PATHWAY_EXITED:
            F.add(rule, "last_contract_end_reason is "
                        f"{pb.ContractEndReason.Name(p.last_contract_end_reason)}")
        # The group ends with the exit too (its members were told, and see the pathway no more).
        kept = (p.orientation == before.orientation, len(before.members) > 0 and not p.members,
                p.last_denial_reason == pb.ORIENTATION_DENIAL_REASON_CURRENT_ORIENTATION_FITS,
                p.HasField("exit"), pb.Phase.Name(p.phase))
        if a.status == ACC and kept != (True, True, True, True, "PHASE_EXITED"):
            F.add(rule, f"(orientation kept, members ended, last_denial_reason kept, exit, phase) "
                        f"= {kept}")
        self.check()

    def test_version_restarts_with_a_new_episode(self):
        F = self.findings
        rule = ("domain.md [No oracle, The 2023 law]: a new episode restarts the version at 1, created_at is its "
                "registration's occurred_at")
        b = self.fresh("episode")
        self.setup(self.registered(b) + [
            self.ev("cd93", b, "appointment_recorded", appointment()),
            self.ev("cd93", b, "pathway_exited", pb.PathwayExited(reason=pb.EXIT_REASON_OTHER))],
            rule)
        first = self.daemon.pathway(b).version
        conflict = self.wire.one(self.ev("cd93", b, "beneficiary_registered",
                                         pb.BeneficiaryRegistered(), version=first + 4))
        if (conflict.status, conflict.code) != (REJ, pb.ERROR_CODE_VERSION_CONFLICT):
            F.add("domain.md [No oracle]: a visible exited pathway's version is checked on registration",
                  f"expected_version {first + 4} on version {first}: {fmt(conflict)}")
        elif b in conflict.message or str(first) not in conflict.message:
            F.add("domain.md [No oracle]: VERSION_CONFLICT names the versions, not the beneficiary",
                  repr(conflict.message))
        when = now_ms() - 60_000
        a = self.wire.one(self.ev("cd93", b, "beneficiary_registered", pb.BeneficiaryRegistered(),
                                  version=first, occurred_at=when))
        if a.status != ACC:
            self.fail(f"{rule}: re-registration with expected_version {first} refused: {fmt(a)}")
        p = self.daemon.pathway(b)
        got = (a.version, p.version, p.episode, p.created_at, p.HasField("exit"),
               pb.Phase.Name(p.phase))
        want = (1, 1, 2, when, False, "PHASE_REFERRED")
        if got != want:
            F.add(rule, f"(ack version, version, episode, created_at, exit, phase) = {got}, "
                        f"expected {want}")
        nxt = self.wire.one(self.ev("cd93", b, "appointment_recorded", appointment(), version=1))
        if (nxt.status, nxt.version) != (ACC, 2):
            F.add(rule, f"the next event with expected_version 1: {fmt(nxt)}")
        self.check()


class LegacyCutOverConfiguredTest(Law):
    rules = "legacy_contracts_refused_from = 2030-01-01\n"

    @classmethod
    def setUpClass(cls):
        try:
            super().setUpClass()
        except AssertionError as exc:
            cls.start_error = str(exc)
        else:
            cls.start_error = None

    @classmethod
    def tearDownClass(cls):
        if cls.start_error is None:
            super().tearDownClass()

    def test_cut_over_date_from_the_configuration(self):
        rule = "domain.md [The 2023 law]: [rules] legacy_contracts_refused_from sets the cut-over date"
        if self.start_error:
            self.fail(f"{rule}: {self.start_error[:1500]}")
        for what, kind, start, status in (
                ("CER starting in 2026", pb.CONTRACT_KIND_CER, IN_2026, ACC),
                ("PPAE starting 2029-12-31T23:59:59.999Z", pb.CONTRACT_KIND_PPAE, Y2030 - 1, ACC),
                ("CER starting 2030-01-01T00:00Z", pb.CONTRACT_KIND_CER, Y2030, REJ),
                ("PPAE starting in 2031", pb.CONTRACT_KIND_PPAE, Y2030 + 400 * DAY, REJ)):
            b = self.fresh("cutover")
            self.setup(self.accompanied(b), rule)
            self.expect(self.ev("ml93", b, "contract_signed", contract(kind, start)), status,
                        INVALID, rule, f"{what}, cut-over 2030-01-01")
        self.check()


class StatusPerTerritoryTest(unittest.TestCase):
    def test_counts_per_territory_and_phase(self):
        F = Findings()
        rule = "domain.md [Events]: Status counts pathways per territory and phase"
        daemon = Daemon(partners=PARTNERS_FULL)
        try:
            daemon.start()
            wire = Wire(daemon)
            ids = Ids("status")
            ev = lambda s, b, t, p: make_event(ids(), s, b, t, p)  # noqa: E731
            reg = pb.BeneficiaryRegistered()
            acks = wire.run([
                ev("cd93", "B-st-1", "beneficiary_registered", reg),
                ev("ml93", "B-st-2", "beneficiary_registered", reg),
                ev("cd93", "B-st-3", "beneficiary_registered", reg),
                ev("cd93", "B-st-3", "orientation_decided", decided("ml93")),
                ev("cd75", "B-st-4", "beneficiary_registered", reg),
                ev("cd75", "B-st-5", "beneficiary_registered", reg),
                ev("cd75", "B-st-5", "pathway_exited", pb.PathwayExited(reason=pb.EXIT_REASON_MOVED)),
            ], conn="one")
            self.assertEqual([fmt(a) for a in acks if a.status != ACC], [], "setup refused")
            want = {("93", "REFERRED"): 2, ("93", "ORIENTED"): 1, ("75", "REFERRED"): 1,
                    ("75", "EXITED"): 1}

            def phase(name):
                return re.sub(r"^PHASE_", "", str(name))

            got = {}
            for c in daemon.status().pathways_per_phase:
                if c.count:
                    got[(c.territory, phase(pb.Phase.Name(c.phase)))] = c.count
            if got != want:
                F.add(rule + " (admin Status.pathways_per_phase)", f"{got}, expected {want}")
            run = subprocess.run([PARCOURSCTL, "-c", daemon.config, "status", "--json"],
                                 capture_output=True, text=True, timeout=30)
            got = {}
            try:
                for c in json.loads(run.stdout).get("pathways_per_phase", []):
                    if int(c.get("count", 0)):
                        got[(str(c.get("territory", "")), phase(c["phase"]))] = int(c["count"])
            except (ValueError, KeyError) as exc:
                got = f"unreadable: {exc}: {run.stdout[:300]!r}"
            if got != want:
                F.add(rule + " (parcoursctl status --json)", f"{got}, expected {want}")
            # Kept as batches commit, and counted again from the store at the next start.
            wire.close()
            self.assertEqual(daemon.stop(), 0)
            daemon.start()
            wire = Wire(daemon)
            got = {}
            for c in daemon.status().pathways_per_phase:
                if c.count:
                    got[(c.territory, phase(pb.Phase.Name(c.phase)))] = c.count
            if got != want:
                F.add(rule + " (after a restart)", f"{got}, expected {want}")
            wire.close()
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()
        if F:
            self.fail(F.report())


if __name__ == "__main__":
    watchdog(90)
    unittest.main(verbosity=2)
