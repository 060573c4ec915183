#!/usr/bin/env python3
"""Issue 10, docs/domain.md, "What is forwarded" and "Identifiers", over the wire.

1. Canonical encoding: a frame whose oneof payload appears twice (OrientationDecided{SOCIAL,
   ccas93}, then JobPlaced) is the JobPlaced alone: that is what is stored (HISTORY holds the
   canonical event, equal to re-serialising the decoded one) and what the employer and France
   Travail receive, down to the raw bytes; a payload given twice is the last one, whole; an unknown field
   inside a payload is MALFORMED.
2. Identifiers and strings as bytes: an embedded NUL in any identifier field, invalid UTF-8 in a
   string field: MALFORMED, nothing stored or delivered, and no reply repeats the bytes (the
   Ack's event_id is empty when the event_id was invalid); the same for Subscribe.partner_id
   (DeliverError) and AdminRequest.beneficiary_id. A NIR-shaped beneficiary_id is MALFORMED
   with a sentence about pseudonyms that never repeats the id.
"""

import re
import unittest

from rules_wire import (DAY, T0, RawSubscriber, RulesTestCase, admin_raw, fmt, history_raw, ld,
                        make_event, now_ms, pb, replace_same_length, varint, watchdog,
                        wire_fields)

MALFORMED = pb.ERROR_CODE_MALFORMED


def setup_accompanied(wire, ids, b):
    """b registered by cd93, oriented to ml93 (MISSION_LOCALE), ml93 its referent: version 3."""
    return wire.run([
        make_event(ids(), "cd93", b, "beneficiary_registered", pb.BeneficiaryRegistered()),
        make_event(ids(), "cd93", b, "orientation_decided", pb.OrientationDecided(
            pathway_type=pb.PATHWAY_TYPE_EMPLOI, referent_body=pb.REFERENT_BODY_MISSION_LOCALE,
            structure_id="ml93", notified_at=T0)),
        make_event(ids(), "ml93", b, "referent_assigned",
                   pb.ReferentAssigned(referent_partner_id="ml93")),
    ], conn="setup")


class CanonicalTest(RulesTestCase):
    examples = 40

    def must_accept(self, acks, what):
        bad = [fmt(a) for a in acks if a.status != pb.ACK_STATUS_ACCEPTED]
        self.assertEqual(bad, [], f"setup ({what}) rejected under the spec's transition table")

    def snapshot(self):
        s = self.daemon.status()
        return s.last_seq, {d.partner_id: d.last_partner_seq for d in s.deliveries}

    # ------------------------------------------------------------------------------------------
    # Section 1
    def test_1_superseded_oneof_member_is_gone(self):
        F = self.findings
        b = "B-canon-1"
        self.must_accept(setup_accompanied(self.wire, self.ids, b), "an accompanied pathway")
        employer = RawSubscriber(self.daemon, "employer93")
        ft = RawSubscriber(self.daemon, "ft93")
        self.assertTrue(employer.wait_subscribed() and ft.wait_subscribed(), "harness: subscribe")

        occurred = now_ms()
        od = pb.OrientationDecided(pathway_type=pb.PATHWAY_TYPE_SOCIAL,
                                   referent_body=pb.REFERENT_BODY_DELEGATED,
                                   structure_id="ccas93", notified_at=T0)
        jp = pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_CDI, employer_partner_id="employer93", start=T0)
        head = pb.Event(event_id="can-dup-1", partner_id="ml93", beneficiary_id=b,
                        occurred_at=occurred, expected_version=3)
        frame = head.SerializeToString() + ld(103, od.SerializeToString()) + \
            ld(110, jp.SerializeToString())
        decoded = pb.Event.FromString(frame)
        assert decoded.WhichOneof("payload") == "job_placed"  # protobuf: the last member wins
        canonical = decoded.SerializeToString()
        minimised = pb.Event(beneficiary_id=b, occurred_at=occurred, job_placed=jp).SerializeToString()
        od_bytes = od.SerializeToString()

        a, raw_ack = self.wire.raw("ml93", frame)
        if a.status != pb.ACK_STATUS_ACCEPTED:
            self.fail(f"domain.md [What is forwarded] (last oneof member wins): the frame OrientationDecided then "
                      f"JobPlaced from the referent's partner must be accepted as JobPlaced: {fmt(a)}")
        if b"ccas93" in raw_ack:
            F.add("domain.md [Identifiers]: no reply echoes what the partner sent", repr(raw_ack))

        reply, stored = history_raw(self.daemon, b)
        last = stored[-1] if stored else b""
        if last != canonical:
            F.add("domain.md [What is forwarded]: the log stores the canonical encoding, never the received bytes",
                  f"HISTORY's last event is {last!r}, the canonical JobPlaced is {canonical!r}"
                  f"{' (the received frame itself)' if last == frame else ''}")
        for n, raw_e in enumerate(stored):
            if pb.Event.FromString(raw_e).SerializeToString() != raw_e:
                F.add("domain.md [What is forwarded]: HISTORY holds canonical events (equal to re-serialising them)",
                      f"{b} entry {n}: {raw_e!r}")
        p = self.daemon.pathway(b)
        if p.orientation.structure_id != "ml93" or p.orientation.pathway_type != pb.PATHWAY_TYPE_EMPLOI:
            F.add("domain.md [What is forwarded]: a superseded payload is not applied",
                  f"orientation became {p.orientation}")

        self.assertTrue(employer.wait_seq(a.seq), "domain.md [Minimisation]: the employer named by JobPlaced "
                        "(and so a member) must be told of it")
        self.assertTrue(ft.wait_seq(a.seq), "France Travail (territory-wide) must be told of it")
        for sub, want, who in ((employer, minimised, "the employer (minimised)"),
                               (ft, canonical, "France Travail")):
            for raw_frame, raw_e, n in sub.for_seq(a.seq):
                numbers = {f for f, _, _ in wire_fields(raw_e)}
                if 103 in numbers:
                    F.add("domain.md [What is forwarded]: a superseded payload is never forwarded",
                          f"{who}'s notification event carries field 103 (OrientationDecided)")
                for needle, label in ((b"ccas93", "ccas93"), (od_bytes, "the OrientationDecided"
                                      "{SOCIAL, DELEGATED, ccas93} bytes")):
                    if needle in raw_frame:
                        F.add("domain.md [What is forwarded]: a superseded payload is never forwarded",
                              f"{who}'s notification frame contains {label}")
                if raw_e != want:
                    F.add("domain.md [What is forwarded]: every notification's event is built from the canonical bytes",
                          f"{who} received event bytes {raw_e!r}, expected {want!r}")
                if sub is employer:
                    if n.pathway.HasField("orientation") or \
                            n.pathway.orientation.pathway_type == pb.PATHWAY_TYPE_SOCIAL:
                        F.add("domain.md [Minimisation]: an employer never sees the orientation (SOCIAL)",
                              f"{n.pathway.orientation}")
                    if {"partner_id", "event_id", "expected_version"} & \
                            {f.name for f, _ in n.event.ListFields()}:
                        F.add("domain.md [What is forwarded, Minimisation]: an employer receives others' events without "
                              "partner_id, event_id, expected_version", f"{n.event}")
        employer.close()
        ft.close()
        self.check()

    def test_2_sub_message_given_twice_keeps_the_last_whole(self):
        # protobuf-c, which the daemon decodes with, keeps the last occurrence of a oneof member
        # whole where other decoders merge the occurrences; either way, what is stored is what
        # was decoded and checked, and a payload missing a required field is refused.
        F = self.findings
        b = "B-canon-2"
        self.must_accept(setup_accompanied(self.wire, self.ids, b), "an accompanied pathway")
        occurred = now_ms()
        head = pb.Event(event_id="can-merge-1", partner_id="ml93", beneficiary_id=b,
                        occurred_at=occurred - DAY).SerializeToString()
        before = self.snapshot()
        frame = head + ld(110, pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_CDD).SerializeToString()) + \
            ld(110, pb.JobPlaced(employer_partner_id="employer93", start=T0).SerializeToString()) + \
            varint(4 << 3) + varint(occurred)
        a, _ = self.wire.raw("ml93", frame)
        if (a.status, a.code) != (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_MALFORMED) or \
                "job_placed.kind" not in a.message:
            F.add("domain.md [What is forwarded]: a payload split over two occurrences is judged on the last one "
                  "alone (job_placed.kind missing: MALFORMED)", fmt(a))
        self.assertEqual(self.snapshot(), before, "a refused frame changed the store")
        # Two whole JobPlaced: the last is stored, canonically, and nothing of the first.
        frame = head + ld(110, pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_IAE, employer_partner_id="employer93b",
                                            start=T0 - DAY).SerializeToString()) + \
            ld(110, pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_CDD, employer_partner_id="employer93",
                                 start=T0).SerializeToString()) + varint(4 << 3) + varint(occurred)
        canonical = pb.Event(event_id="can-merge-1", partner_id="ml93", beneficiary_id=b,
                             occurred_at=occurred, job_placed=pb.JobPlaced(
                                 kind=pb.EMPLOYMENT_KIND_CDD, employer_partner_id="employer93",
                                 start=T0)).SerializeToString()
        a, _ = self.wire.raw("ml93", frame)
        if a.status != pb.ACK_STATUS_ACCEPTED:
            self.fail(f"domain.md [What is forwarded]: two whole JobPlaced, the last one valid, refused: {fmt(a)}")
        _, stored = history_raw(self.daemon, b)
        if stored[-1] != canonical:
            F.add("domain.md [What is forwarded]: the last occurrence is stored canonically, nothing of the first",
                  f"stored {stored[-1]!r}, canonical {canonical!r}")
        if b"employer93b" in stored[-1]:
            F.add("domain.md [What is forwarded]: nothing of a superseded occurrence is stored", repr(stored[-1]))
        p = self.daemon.pathway(b)
        if (p.employment.kind, p.employment.employer_partner_id, p.employment.start) != (
                pb.EMPLOYMENT_KIND_CDD, "employer93", T0):
            F.add("domain.md [What is forwarded]: the pathway holds the last occurrence", f"employment {p.employment}")
        # An unknown field inside a payload is MALFORMED too ("anywhere in an Event").
        before = self.snapshot()
        inner = pb.JobEnded(reason=pb.JOB_END_REASON_TERM_REACHED).SerializeToString() + \
            varint((9 << 3) | 0) + varint(1)
        frame = pb.Event(event_id="can-unknown-1", partner_id="ml93", beneficiary_id=b,
                         occurred_at=now_ms()).SerializeToString() + ld(111, inner)
        a, _ = self.wire.raw("ml93", frame)
        if (a.status, a.code) != (pb.ACK_STATUS_REJECTED, MALFORMED) or self.snapshot() != before:
            F.add("domain.md [What is forwarded]: unknown fields anywhere in an Event are MALFORMED",
                  f"JobEnded with an unknown field 9: {fmt(a)}")
        self.check()

    # ------------------------------------------------------------------------------------------
    # Section 2
    def bad_bytes_case(self, name, sender, frame, bad, event_id_valid, event_id=""):
        """One frame that must be MALFORMED with nothing stored, nothing delivered, no echo."""
        F = self.findings
        before = self.snapshot()
        a, raw_ack = self.wire.raw(sender, frame)
        after = self.snapshot()
        rule = "domain.md [Identifiers]: identifiers are checked over their whole wire length, strings are UTF-8"
        if (a.status, a.code) != (pb.ACK_STATUS_REJECTED, MALFORMED):
            F.add(rule, f"{name}: {fmt(a)} (expected REJECTED/MALFORMED)")
        if after != before:
            grew = sorted(p for p, n in after[1].items() if n != before[1].get(p))
            F.add(rule + ": nothing stored, nothing delivered",
                  f"{name}: last_seq {before[0]} -> {after[0]}, outboxes of {grew} grew")
        for needle in bad:
            if needle in raw_ack:
                F.add("domain.md [Identifiers]: no reply repeats unchecked partner bytes",
                      f"{name}: the Ack's bytes contain {needle!r}: {raw_ack!r}")
        if not event_id_valid and a.event_id not in ("", "<undecodable>"):
            F.add("domain.md [Identifiers]: the Ack's event_id is empty when the event_id was invalid",
                  f"{name}: Ack.event_id = {a.event_id!r}")
        if event_id_valid and a.event_id != event_id:
            F.add("Ack.event_id names the event when its id is valid",
                  f"{name}: Ack.event_id = {a.event_id!r}, sent {event_id!r}")
        return a

    def test_3_nul_in_every_identifier_field(self):
        b = "B-nul-p"
        self.must_accept(setup_accompanied(self.wire, self.ids, b), "an accompanied pathway")
        subs = [RawSubscriber(self.daemon, p) for p in ("cd93", "ft93", "ml93")]
        for s in subs:
            self.assertTrue(s.wait_subscribed(), "harness: subscribe")
        first_probe = self.daemon.status().last_seq + 1  # what came before is not counted
        junk = "\x00zz-junk"
        reg = pb.BeneficiaryRegistered()
        od = dict(pathway_type=pb.PATHWAY_TYPE_EMPLOI,
                  referent_body=pb.REFERENT_BODY_MISSION_LOCALE, notified_at=T0)
        te = dict(programme_code="RNCP12345", start=T0)
        ce = dict(kind=pb.CONTRACT_KIND_CONTRAT_ENGAGEMENT, start=T0)
        # (field, sender, beneficiary, type, payload, event_id): each would be accepted with
        # the bytes before the NUL.
        cases = [
            ("beneficiary_id", "cd93", "B-h" + "\x00anything", "beneficiary_registered", reg, "can-nul-b"),
            ("event_id", "cd93", "B-nul-e", "beneficiary_registered", reg, "can-nul-e" + junk),
            ("partner_id", "cd93" + junk, "B-nul-partner", "beneficiary_registered", reg, "can-nul-p"),
            ("territory", "cd93", "B-nul-t", "beneficiary_registered",
             pb.BeneficiaryRegistered(territory="93" + junk), "can-nul-t"),
            ("structure_id", "cd93", b, "orientation_decided",
             pb.OrientationDecided(structure_id="ml93" + junk, **od), "can-nul-s"),
            ("member_id", "cd93", b, "member_joined", pb.MemberJoined(member_id="ccas93" + junk),
             "can-nul-m"),
            ("referent_partner_id", "cd93", b, "referent_assigned",
             pb.ReferentAssigned(referent_partner_id="ml93" + junk), "can-nul-r"),
            ("professional_ref", "cd93", b, "referent_assigned",
             pb.ReferentAssigned(referent_partner_id="ml93", professional_ref="REF" + junk),
             "can-nul-pr"),
            ("provider_id", "ft93", b, "training_entered",
             pb.TrainingEntered(provider_id="trainer93" + junk, **te), "can-nul-pv"),
            ("programme_code", "ft93", b, "training_entered",
             pb.TrainingEntered(provider_id="trainer93", programme_code="RNCP1" + junk, start=T0),
             "can-nul-pc"),
            ("employer_partner_id", "ft93", b, "job_placed", pb.JobPlaced(
                kind=pb.EMPLOYMENT_KIND_CDI, employer_partner_id="employer93" + junk, start=T0),
             "can-nul-ep"),
            ("plan_action_ref", "cd93", b, "contract_signed",
             pb.ContractSigned(plan_action_ref="PA" + junk, **ce), "can-nul-pa"),
        ]
        for field, sender, ben, t, payload, eid in cases:
            e = make_event(eid, sender, ben, t, payload)
            self.bad_bytes_case(f"NUL in {field}", sender.split("\x00")[0], e.SerializeToString(),
                                [b"zz-junk", b"anything"], event_id_valid=(field != "event_id"),
                                event_id=eid)
        for ben in ("B-h", "B-nul-e", "B-nul-partner", "B-nul-t"):
            if self.daemon.pathway(ben) is not None or (self.daemon.history(ben) or []):
                self.findings.add("domain.md [Identifiers]: an id with an embedded NUL is not its prefix",
                                  f"a pathway or history of {ben} exists")
        for s in subs:
            s.poll(0.3)
            late = sorted(n.seq for _, _, n in s.notifications if n.seq >= first_probe)
            if late:
                self.findings.add("domain.md [Identifiers]: nothing delivered for a MALFORMED frame",
                                  f"{s.partner_id} was told of seqs {late}")
            s.close()
        self.check()

    def test_4_invalid_utf8_and_invalid_event_ids(self):
        reg = pb.BeneficiaryRegistered()
        # Invalid UTF-8, swapped in for placeholders of the same length.
        e = make_event("can-PLACEHOLD", "cd93", "B-utf-1", "beneficiary_registered", reg)
        self.bad_bytes_case("invalid UTF-8 in event_id", "cd93", replace_same_length(
            e.SerializeToString(), b"can-PLACEHOLD", b"can-\xff\xfe\xc3(-utf8"[:13]),
            [b"\xff\xfe"], event_id_valid=False)
        e = make_event("can-utf-2", "cd93", "B-PLACEHOLDER", "beneficiary_registered", reg)
        self.bad_bytes_case("invalid UTF-8 in beneficiary_id", "cd93", replace_same_length(
            e.SerializeToString(), b"B-PLACEHOLDER", b"B-\xc3\x28\xa0\xa1-utf-xx"),
            [b"\xc3\x28\xa0\xa1"], event_id_valid=True, event_id="can-utf-2")
        e = make_event("can-utf-3", "cd93", "B-utf-3", "beneficiary_registered",
                       pb.BeneficiaryRegistered(territory="9Z"))
        self.bad_bytes_case("invalid UTF-8 in territory", "cd93", replace_same_length(
            e.SerializeToString(), b"9Z", b"9\xff"), [b"9\xff"], event_id_valid=True,
            event_id="can-utf-3")
        # A valid UTF-8 event_id that is not an identifier is not repeated either.
        for eid in ("can bad id <x>", "can-\u00e9t\u00e9", "c" * 65):
            e = make_event(eid, "cd93", "B-utf-4", "beneficiary_registered", reg)
            self.bad_bytes_case(f"event_id {eid[:20]!r}", "cd93", e.SerializeToString(),
                                [eid.encode()], event_id_valid=False)
        if self.daemon.pathway("B-utf-4") is not None:
            self.findings.add("domain.md [Identifiers]", "B-utf-4 was registered under an invalid event_id")
        self.check()

    def deliver_error(self, subscribe_bytes, bad, name):
        F = self.findings
        sub = RawSubscriber(self.daemon, "", subscribe=False)
        sub.send_subscribe(subscribe_bytes)
        sub.wait_subscribed()
        if sub.subscribed is not None:
            F.add("domain.md [Identifiers]: Subscribe.partner_id is checked over its whole length",
                  f"{name}: answered Subscribed as {sub.subscribed.partner_id!r}")
        for raw, err in sub.errors:
            if err is None:
                F.add("domain.md [Identifiers]: a DeliverError never repeats unchecked bytes",
                      f"{name}: the reply does not decode (raw bytes echoed?): {raw!r}")
                continue
            if err.code != MALFORMED and name != "a partner_id that is not an identifier":
                F.add("domain.md [Identifiers]: a bad Subscribe.partner_id is MALFORMED",
                      f"{name}: {pb.ErrorCode.Name(err.code)} {err.message!r}")
            for needle in bad:
                if needle in raw:
                    F.add("domain.md [Identifiers]: a DeliverError never repeats a partner_id that is not a "
                          "valid identifier", f"{name}: {raw!r}")
        if not sub.errors and sub.subscribed is None:
            F.add("domain.md [Identifiers]", f"{name}: no answer to the Subscribe")
        sub.close()

    def test_5_subscribe_and_admin_with_bad_bytes(self):
        self.deliver_error(pb.Subscribe(partner_id="ml93\x00x").SerializeToString(),
                           [b"ml93\x00x", b"\x00x"], "NUL in Subscribe.partner_id")
        raw = replace_same_length(pb.Subscribe(partner_id="mlPLACE").SerializeToString(),
                                  b"mlPLACE", b"ml\xff\xfe93x")
        self.deliver_error(raw, [b"\xff\xfe"], "invalid UTF-8 in Subscribe.partner_id")
        self.deliver_error(pb.Subscribe(partner_id="ml93 <b>nobody</b>").SerializeToString(),
                           [b"<b>nobody</b>"], "a partner_id that is not an identifier")
        # AdminRequest: a string with a NUL or invalid UTF-8 is refused, not truncated.
        self.must_accept(self.wire.run([make_event(self.ids(), "cd93", "B-adm",
                                                   "beneficiary_registered",
                                                   pb.BeneficiaryRegistered())]), "B-adm")
        for name, req in (
                ("NUL", pb.AdminRequest(command=pb.ADMIN_COMMAND_SHOW,
                                        beneficiary_id="B-adm\x00x").SerializeToString()),
                ("invalid UTF-8", replace_same_length(pb.AdminRequest(
                    command=pb.ADMIN_COMMAND_SHOW, beneficiary_id="B-admXX").SerializeToString(),
                    b"B-admXX", b"B-adm\xff\xfe"))):
            raw_reply = admin_raw(self.daemon, req)
            try:
                reply = pb.AdminReply.FromString(raw_reply)
            except Exception:  # noqa: BLE001
                self.findings.add("domain.md [Identifiers]: the admin reply never repeats unchecked bytes",
                                  f"{name}: undecodable reply {raw_reply[:80]!r}")
                continue
            if reply.ok or reply.HasField("pathway"):
                self.findings.add("domain.md [Identifiers]: every string of an AdminRequest is checked "
                                  "(no NUL, valid UTF-8)",
                                  f"SHOW with {name} in beneficiary_id answered ok with "
                                  f"{reply.pathway.beneficiary_id!r}")
            if b"\x00x" in raw_reply or b"\xff\xfe" in raw_reply:
                self.findings.add("domain.md [Identifiers]: the admin reply never repeats unchecked bytes",
                                  f"{name}: {raw_reply!r}")
        self.check()

    def test_6_nir_shaped_beneficiary_ids(self):
        F = self.findings
        nirs = ["185057800608436", "1850578006084", "1 85 05 78 006 084 36",
                "1.85.05.78.006.084.36", "1-85-05-78-006-084-36", "1_85_05_78_006_084_36",
                "1:85:05:78:006:084:36", "285052A00608436", "2 85 05 2b 006 084 36",
                "2-85-05-2A-006-084", "B-185057800608436", "N185057800608436AB",
                "93:185077512345678", "P1-1850775123456-78", "BENEF-185057800608436"]
        for n, nir in enumerate(nirs):
            before = self.snapshot()
            e = make_event(f"can-nir-{n}", "cd93", nir, "beneficiary_registered",
                           pb.BeneficiaryRegistered())
            a = self.wire.one(e)
            compact = re.sub(r"[ ._:-]", "", nir)
            rule = ("domain.md [Identifiers]: a NIR-shaped beneficiary_id is MALFORMED with the sentence about "
                    "pseudonyms")
            if (a.status, a.code) != (pb.ACK_STATUS_REJECTED, MALFORMED) or \
                    not re.search(r"pseudonym|NIR", a.message, re.I):
                F.add(rule, f"{nir!r}: {fmt(a)}")
            if nir in a.message or compact in a.message or compact[:13] in a.message:
                F.add("domain.md [Identifiers]: the NIR sentence never repeats the id", f"{nir!r}: {a.message!r}")
            if self.snapshot() != before:
                F.add(rule + ": nothing stored", f"{nir!r} was stored")
        # Not NIR-shaped (14 or 16 characters, characters 6-7 neither digits nor 2A/2B, more than
        # three letters around the digits, or a keyed hash's digits inside it).
        for n, ok in enumerate(["18505780060843", "1850578006084365", "185057A00608436",
                                "BENEF-1850578006084361",
                                "9d1850578006084363f0c2e81a7b5d4c6e9f0a1b2c3d4e5f6071829"]):
            a = self.wire.one(make_event(f"can-notnir-{n}", "cd93", ok, "beneficiary_registered",
                                         pb.BeneficiaryRegistered()))
            if a.status != pb.ACK_STATUS_ACCEPTED:
                F.add("domain.md [Identifiers]: only NIR-shaped ids are refused as NIRs", f"{ok!r}: {fmt(a)}")
        self.check()


if __name__ == "__main__":
    watchdog(90)
    unittest.main(verbosity=2)
