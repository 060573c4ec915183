"""Rectification (RGPD art. 16): a partner retracts an event it sent in error (issue 12).

The real parcoursd, over real sockets. ml93 signs a contract in error and retracts it: the ack
is ACCEPTED at the next version, the pathway is recomputed without the contract, and exactly the
partners that were told of the contract are told of its retraction (with the retracted seq; a
training provider without the event's id, which it was never sent), nobody else; a replay of
their streams from 1 stays gap-free, the contract's place withdrawn; re-sending the contract's
frame is a DUPLICATE that brings nothing back, and so is a restart. A retraction a later event
relies on is refused with a sentence; a partner that may not see the pathway gets the one
sentence of a blind sender; the export shows what happened.
"""

import json
import os
import secrets
import subprocess
import time
import unittest

from harness import (PARCOURSCTL, Daemon, Subscriber, appointment, blind_sentence, decided,
                     engagement, event, pb, registered, send_and_wait)


def pseudonym():
    return "p93-" + secrets.token_hex(16)


def retraction(event_id, partner, person, retracted_id,
               reason=pb.RETRACTION_REASON_WRONG_CONTENT, expected_version=0):
    return event(event_id, partner, person, expected_version=expected_version,
                 event_retracted=pb.EventRetracted(retracted_event_id=retracted_id,
                                                   reason=reason))


class RectificationTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.d.start()
        self.sock = self.d.connect()

    def tearDown(self):
        self.sock.close()
        self.d.cleanup()

    def send(self, *frames):
        return send_and_wait(self.sock, list(frames))

    def accepted(self, *frames):
        acks = self.send(*frames)
        for a in acks:
            self.assertEqual(a.status, pb.ACK_STATUS_ACCEPTED, a)
        return acks

    def stream(self, partner, seconds=2.0):
        """partner's whole stream, replayed from 1 without acknowledging."""
        sub = Subscriber(self.d, partner, start=1, auto_ack=False)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sub.poll(0.2)
        sub.close()
        return sub.received

    def about(self, notifications, person):
        return [n for n in notifications if n.HasField("event") and
                n.event.beneficiary_id == person]

    def test_a_retraction_recomputes_and_tells_who_was_told(self):
        person, other = pseudonym(), pseudonym()
        marker = "plan-" + secrets.token_hex(6)
        acks = self.accepted(
            registered("r-1", "cd93", person),
            decided("r-2", "cd93", person, "ml93", pb.REFERENT_BODY_MISSION_LOCALE),
            event("r-3", "ml93", person, referent_assigned=pb.ReferentAssigned(
                referent_partner_id="ml93")),
            event("r-4", "ml93", person, member_joined=pb.MemberJoined(member_id="trainer93")),
            event("r-5", "ml93", person, training_entered=pb.TrainingEntered(
                provider_id="trainer93", programme_code="RNCP12345", start=1767225600000)),
            engagement("r-6", "ml93", person, plan_action_ref=marker),
            registered("o-1", "cd93", other))
        contract_seq, training_seq = acks[5].seq, acks[4].seq
        version = acks[5].version
        self.assertEqual(self.d.pathway(person).phase, pb.PHASE_IN_TRAINING)

        # The contract retracted: the next version, the pathway without it.
        contract_frame = engagement("r-6", "ml93", person, plan_action_ref=marker)
        a = self.accepted(retraction("r-7", "ml93", person, "r-6",
                                     expected_version=version))[0]
        self.assertEqual(a.version, version + 1)
        p = self.d.pathway(person)
        self.assertFalse(p.HasField("contract"))
        self.assertTrue(p.HasField("training"))
        self.assertEqual(p.version, version + 1)
        retraction_seq = a.seq

        # Who was told of the contract is told of its retraction, with the retracted seq;
        # nobody else hears of either.
        told_contract, told_retraction = {}, {}
        for partner in ("cd93", "ft93", "caf93", "ml93", "trainer93", "employer93", "ccas93",
                        "cd75"):
            received = self.stream(partner)
            seqs = [n.partner_seq for n in received]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), f"{partner}: a gap")
            for n in received:
                if n.seq == contract_seq:
                    told_contract[partner] = n
                if n.seq == retraction_seq:
                    told_retraction[partner] = n
        self.assertEqual(set(told_contract), {"cd93", "ft93"})
        self.assertEqual(set(told_retraction), set(told_contract))
        for partner, n in told_contract.items():
            # On a replay the contract stands no more: its place is withdrawn.
            self.assertTrue(n.withdrawn, partner)
            self.assertFalse(n.HasField("event"), partner)
            r = told_retraction[partner]
            self.assertEqual(r.event.event_retracted.retracted_seq, contract_seq)
            self.assertEqual(r.event.event_retracted.retracted_event_id, "r-6")
            self.assertEqual(r.event.event_retracted.reason, pb.RETRACTION_REASON_WRONG_CONTENT)
            self.assertFalse(r.pathway.HasField("contract"))

        # The training retracted: its provider, told of it without ids, is told of the
        # retraction the same way, and matches it by seq.
        a = self.accepted(retraction("r-8", "ml93", person, "r-5",
                                     reason=pb.RETRACTION_REASON_DID_NOT_HAPPEN))[0]
        # Told after its ack (once LMDB's spanning commit holds it, store.h): a replay from then
        # on shows the training's place withdrawn.
        deadline = time.monotonic() + 10
        while a.seq not in {n.seq for n in self.stream("trainer93", 0.5)}:
            self.assertLess(time.monotonic(), deadline, "the retraction was never told")
        trainer = {n.seq: n for n in self.stream("trainer93")}
        self.assertTrue(trainer[training_seq].withdrawn)
        r = trainer[a.seq].event
        self.assertEqual(r.event_retracted.retracted_seq, training_seq)
        self.assertEqual(r.event_retracted.retracted_event_id, "")
        self.assertEqual(r.event_id, "")
        self.assertEqual(r.partner_id, "")
        self.assertEqual(self.d.pathway(person).phase, pb.PHASE_ACCOMPANIED)

        # Re-sending the retracted contract: its id stays taken, nothing comes back.
        again = self.send(contract_frame)[0]
        self.assertEqual(again.status, pb.ACK_STATUS_DUPLICATE)
        self.assertEqual(again.seq, contract_seq)
        self.assertFalse(self.d.pathway(person).HasField("contract"))
        # Retracting it again: it stands no more.
        twice = self.send(retraction("r-9", "ml93", person, "r-6"))[0]
        self.assertEqual(twice.status, pb.ACK_STATUS_REJECTED)
        self.assertEqual(twice.code, pb.ERROR_CODE_INVALID_TRANSITION)
        self.assertIn("r-6", twice.message)

        # A restart keeps the recomputed pathway and the tombstone.
        self.sock.close()
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.sock = self.d.connect()
        p = self.d.pathway(person)
        self.assertFalse(p.HasField("contract"))
        self.assertFalse(p.HasField("training"))
        self.assertEqual(self.send(contract_frame)[0].status, pb.ACK_STATUS_DUPLICATE)

        # The export: the retracted events withdrawn, the retractions with what they name.
        run = subprocess.run([PARCOURSCTL, "-c", self.d.config, "export", person, "--json"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        doc = json.loads(run.stdout)
        exported = {int(e["seq"]): e for e in doc["events"]}
        self.assertIsNone(exported[contract_seq].get("event"))  # withdrawn
        self.assertEqual(
            int(exported[retraction_seq]["event"]["event_retracted"]["retracted_seq"]),
            contract_seq)
        self.assertNotIn(marker, run.stdout)
        self.assertNotIn(other, run.stdout)
        self.assertNotIn(marker, self.d.log())
        self.assertNotIn(person, self.d.log())

    def test_refusals_say_why_and_no_more(self):
        person = pseudonym()
        acks = self.accepted(
            registered("f-1", "cd93", person),
            decided("f-2", "cd93", person, "ml93", pb.REFERENT_BODY_MISSION_LOCALE),
            event("f-3", "ml93", person, referent_assigned=pb.ReferentAssigned(
                referent_partner_id="ml93")),
            engagement("f-4", "ml93", person, plan_action_ref="PA-1"),
            appointment("f-5", "ml93", person))
        version = acks[-1].version

        # The contract relies on the referent: ml93 is told which of its events.
        r = self.send(retraction("f-6", "ml93", person, "f-3"))[0]
        self.assertEqual((r.status, r.code),
                         (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_INVALID_TRANSITION))
        self.assertIn("f-4", r.message)
        self.assertIn("ContractSigned", r.message)
        # A registration is not retracted: erasure is the way.
        r = self.send(retraction("f-7", "cd93", person, "f-1"))[0]
        self.assertEqual(r.code, pb.ERROR_CODE_INVALID_TRANSITION)
        self.assertIn("erase", r.message)
        # Another partner's event, or none: not found among the sender's own.
        for i, target in enumerate(("f-2", "never-sent")):
            r = self.send(retraction(f"f-8{i}", "ml93", person, target))[0]
            self.assertEqual(r.code, pb.ERROR_CODE_INVALID_TRANSITION)
        # The version expected, as for any event.
        r = self.send(retraction("f-9", "ml93", person, "f-5",
                                 expected_version=version + 3))[0]
        self.assertEqual(r.code, pb.ERROR_CODE_VERSION_CONFLICT)
        # A retracted seq given must be the named event's (a notification sent back as it
        # came is judged like any other frame).
        bad = retraction("f-10", "ml93", person, "f-5")
        bad.event_retracted.retracted_seq = acks[4].seq + 1
        r = self.send(bad)[0]
        self.assertEqual(r.code, pb.ERROR_CODE_INVALID_TRANSITION)
        self.assertIn("retracted_seq", r.message)
        # Blind senders: the one sentence, whatever they name, for this person or none.
        for i, (sender, who, target) in enumerate((
                ("ccas93", person, "f-5"), ("caf93", person, "never-sent"),
                ("ccas93", pseudonym(), "f-5"), ("trainer93", person, "f-5"))):
            r = self.send(retraction(f"b-{i}", sender, who, target))[0]
            self.assertEqual((r.status, r.code),
                             (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED), sender)
            self.assertEqual(r.message, blind_sentence(sender))
        # Nothing of it changed the pathway.
        self.assertEqual(self.d.pathway(person).version, version)


if __name__ == "__main__":
    unittest.main(verbosity=2)
