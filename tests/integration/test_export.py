"""The right of access (RGPD art. 15): `parcoursctl export` over the real daemon (issue 12).

One document with the person's pathway, every event with its payload, and for each event
exactly the partners it was delivered to (checked against their streams, replayed from 1: the
outboxes) with when each had acknowledged it: a partner that acknowledged has a time, one that
did not has none. The export is journaled, and names no one else.
"""

import glob
import json
import os
import secrets
import subprocess
import time
import unittest

from harness import (PARCOURSCTL, Daemon, Subscriber, appointment, decided, event, pb,
                     registered, send_and_wait)


def pseudonym():
    return "p93-" + secrets.token_hex(16)


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.d.start()

    def tearDown(self):
        self.d.cleanup()

    def ctl(self, *args):
        return subprocess.run([PARCOURSCTL, "-c", self.d.config, *args], capture_output=True,
                              text=True, timeout=60)

    def stream(self, partner):
        """partner's whole stream, replayed from 1 without acknowledging: (partner_seq, seq)."""
        sub = Subscriber(self.d, partner, start=1, auto_ack=False)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            sub.poll(0.2)
        sub.close()
        return {(n.partner_seq, n.seq) for n in sub.received}

    def test_the_export_lists_exactly_who_was_told_and_when_they_acknowledged(self):
        person, other = pseudonym(), pseudonym()
        sock = self.d.connect()
        events = [
            registered("x-1", "cd93", person),
            decided("x-2", "cd93", person, "ml93", pb.REFERENT_BODY_MISSION_LOCALE),
            event("x-3", "ml93", person, referent_assigned=pb.ReferentAssigned(
                referent_partner_id="ml93")),
            appointment("x-4", "ml93", person),
            registered("x-5", "cd93", other),
        ]
        acks = send_and_wait(sock, events)
        sock.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)
        # ft93 acknowledges everything; ml93 reads without acknowledging; cd93 never reads.
        ft93 = Subscriber(self.d, "ft93")
        self.assertTrue(ft93.wait_for(5, timeout=30))
        ml93 = Subscriber(self.d, "ml93", auto_ack=False)
        ml93.wait_for(1, timeout=30)
        time.sleep(1.0)  # the cursors' flush, and its first acknowledgement mark
        ft93.close()
        ml93.close()

        run = self.ctl("export", person, "--json")
        self.assertEqual(run.returncode, 0, run.stderr)
        doc = json.loads(run.stdout)
        self.assertEqual(doc["pathway"]["beneficiary_id"], person)
        exported = {int(e["seq"]): e for e in doc["events"]}
        mine = {a.seq for a in acks[:4]}
        self.assertEqual(set(exported), mine)  # its four events, not the other person's
        self.assertNotIn(other, run.stdout)
        self.assertEqual(exported[acks[3].seq]["event"]["event_id"], "x-4")

        # Against the outboxes: every partner's stream, replayed.
        outbox = {}
        for partner in ("cd93", "ft93", "caf93", "ml93", "trainer93", "employer93", "ccas93",
                        "cd75"):
            for partner_seq, seq in self.stream(partner):
                outbox.setdefault(seq, set()).add((partner, partner_seq))
        for seq, e in exported.items():
            told = {(t["partner_id"], int(t["partner_seq"])) for t in e.get("told", [])}
            self.assertEqual(told, outbox.get(seq, set()), f"seq {seq}")
            for t in e.get("told", []):
                acked = int(t.get("acknowledged_by", 0))
                if t["partner_id"] == "ft93":
                    self.assertGreater(acked, 0, t)
                else:
                    self.assertEqual(acked, 0, t)
        self.assertTrue(any(e.get("told") for e in exported.values()))

        text = self.ctl("export", person)
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("acknowledged by", text.stdout)
        self.assertIn("not acknowledged yet", text.stdout)
        missing = self.ctl("export", pseudonym())
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("no pathway", missing.stderr)
        self.assertEqual(self.d.stop(), 0)
        records = []
        for path in glob.glob(os.path.join(self.d.folder, "journal", "*.journal")):
            with open(path) as f:
                records += [l.split("\t") for l in f]
        self.assertIn("EXPORT", [r[3] for r in records])
        self.assertNotIn(person, "".join("\t".join(r) for r in records))


if __name__ == "__main__":
    unittest.main(verbosity=2)
