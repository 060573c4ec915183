"""The person's opposition (CASF L263-4-1), over the real daemon (issue 12).

Recorded with `parcoursctl oppose ID --set`, it leaves only the partners the law requires to be
told of the person: the territory-wide ones (the departement, France Travail) and the referent's
partner; a member that is neither (the CAF that registered the person) is told nothing more,
until the opposition is lifted. Other persons are not touched; the change is journaled.
"""

import secrets
import subprocess
import time
import unittest

from harness import (PARCOURSCTL, Daemon, Subscriber, appointment, decided, event, pb,
                     registered, send_and_wait)


def pseudonym():
    return "p93-" + secrets.token_hex(16)


class OppositionTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.d.start()
        self.sock = self.d.connect()

    def tearDown(self):
        self.sock.close()
        self.d.cleanup()

    def send(self, *events):
        acks = send_and_wait(self.sock, list(events))
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)

    def ctl(self, *args):
        return subprocess.run([PARCOURSCTL, "-c", self.d.config, *args], capture_output=True,
                              text=True, timeout=60)

    def told(self, partner, person):
        """The event ids partner was told of about person, its stream replayed from 1."""
        sub = Subscriber(self.d, partner, start=1, auto_ack=False)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            sub.poll(0.2)
        sub.close()
        return {n.event.event_id for n in sub.received
                if n.HasField("event") and n.event.beneficiary_id == person}

    def test_only_the_partners_the_law_requires_are_told(self):
        person, other = pseudonym(), pseudonym()
        self.send(registered("o-1", "caf93", person, rsa_recipient=True),
                  decided("o-2", "cd93", person, "ml93", pb.REFERENT_BODY_MISSION_LOCALE),
                  event("o-3", "ml93", person, referent_assigned=pb.ReferentAssigned(
                      referent_partner_id="ml93")),
                  registered("p-1", "caf93", other, rsa_recipient=True))
        self.assertIn("o-2", self.told("caf93", person))  # a member, told before

        run = self.ctl("oppose", person, "--set")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.send(appointment("o-4", "cd93", person), appointment("p-2", "cd93", other))
        self.assertNotIn("o-4", self.told("caf93", person))  # neither territory-wide nor referent
        self.assertIn("o-4", self.told("ml93", person))      # the referent's partner
        self.assertIn("o-4", self.told("ft93", person))      # territory-wide
        self.assertIn("p-2", self.told("caf93", other))      # another person: untouched

        run = self.ctl("oppose", person, "--lift")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.send(appointment("o-5", "cd93", person))
        self.assertIn("o-5", self.told("caf93", person))

        missing = self.ctl("oppose", pseudonym(), "--set")
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("no pathway", missing.stderr)
        self.assertEqual(self.d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
