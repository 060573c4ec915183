"""The retention of CASF R263-8, run by the real parcoursd (issue 12, G10).

Periods of one day each ([retention] active_days, archive_days) and events dated days ago stand
for two years: a pathway whose last contact is older than both is destroyed by the daemon's
own purge, bytes and key gone from the raw files; one between the two is archived, told to the
departement alone; a litigation hold keeps a due pathway; the dry run counts and lists.
"""

import glob
import os
import secrets
import subprocess
import time
import unittest

from harness import (PARCOURSCTL, Daemon, Subscriber, appointment, decided, event, pb,
                     registered, send_and_wait)

DAY = 86400 * 1000
VAULT_HEADER = 4096


def pseudonym():
    return "p93-" + secrets.token_hex(16)


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def slots(data):
    return [data[i:i + 32] for i in range(VAULT_HEADER, len(data), 32)]


class RetentionTest(unittest.TestCase):
    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()

    def ctl(self, d, *args):
        return subprocess.run([PARCOURSCTL, "-c", d.config, *args], capture_output=True,
                              text=True, timeout=60)

    def person(self, d, days_ago, marker):
        """A pathway whose events are dated days_ago, marker as its referent's reference."""
        b = pseudonym()
        at = int(time.time() * 1000) - int(days_ago * DAY)
        events = [
            registered("ev" + secrets.token_hex(6), "cd93", b),
            decided("ev" + secrets.token_hex(6), "cd93", b, "cd93", pb.REFERENT_BODY_DEPARTEMENT),
            event("ev" + secrets.token_hex(6), "cd93", b, referent_assigned=pb.ReferentAssigned(
                referent_partner_id="cd93", professional_ref=marker)),
            appointment("ev" + secrets.token_hex(6), "cd93", b),
        ]
        for i, e in enumerate(events):
            e.occurred_at = at + i
        sock = d.connect()
        acks = send_and_wait(sock, events)
        sock.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)
        return b

    def test_the_purge_destroys_what_is_past_retention_and_keeps_what_is_held(self):
        d = Daemon(extra_config="retention.active_days = 1\nretention.archive_days = 1\n"
                                "retention.purge = no")
        self.daemons.append(d)
        d.start()
        due_marker, held_marker = "mk" + secrets.token_hex(8), "mk" + secrets.token_hex(8)
        due = self.person(d, 3, due_marker)
        held = self.person(d, 3, held_marker)
        archived = self.person(d, 1.5, "mk" + secrets.token_hex(8))
        active = self.person(d, 0, "mk" + secrets.token_hex(8))
        run = self.ctl(d, "hold", held, "--set")
        self.assertEqual(run.returncode, 0, run.stderr)
        # The dry run: counts per stage, the due one listed by its id.
        run = self.ctl(d, "purge", "--dry-run")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stdout, r"active\s+1\b")
        self.assertRegex(run.stdout, r"archived\s+1\b")
        self.assertRegex(run.stdout, r"held\s+1\b")
        self.assertRegex(run.stdout, r"due\s+1\b")
        self.assertIn(due, run.stdout)
        self.assertNotIn(held, run.stdout)
        self.assertNotEqual(self.ctl(d, "purge").returncode, 0)  # the purge is the daemon's

        # Archived: the departement is told of it; France Travail (territory-wide too) no longer.
        ft93, cd93 = Subscriber(d, "ft93"), Subscriber(d, "cd93")
        for sub in (ft93, cd93):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                sub.poll(0.2)
        told_ft = {n.event.beneficiary_id for n in ft93.received if n.HasField("event")}
        self.assertIn(active, told_ft)
        self.assertNotIn(archived, told_ft)
        ft93.close()
        cd93.close()
        vault_before = slots(file_bytes(os.path.join(d.data, "keys.vault")))
        self.assertEqual(d.stop(), 0)

        # The same store, the purge on: the due pathway goes by itself, the held one stays.
        with open(d.config) as f:
            config = f.read().replace("purge = no", "purge = yes")
        with open(d.config, "w") as f:
            f.write(config)
        d.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and d.pathway(due) is not None:
            time.sleep(0.1)
        self.assertIsNone(d.pathway(due))
        for b in (held, archived, active):
            self.assertIsNotNone(d.pathway(b), b)
        # Lifted, the hold no longer keeps it: the next pass takes it.
        self.assertEqual(self.ctl(d, "hold", held, "--lift").returncode, 0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and d.pathway(held) is not None:
            time.sleep(0.1)
        self.assertIsNone(d.pathway(held))
        self.assertEqual(d.stop(), 0)
        self.assertIn("retention: a pass over", d.log())
        journal = ""
        for path in glob.glob(os.path.join(d.folder, "journal", "*.journal")):
            with open(path) as f:
                journal += f.read()
        self.assertIn("PURGE-PASS", journal)  # the destructions are journaled
        self.assertIn("HOLD", journal)
        for b in (due, held):
            self.assertNotIn(b, journal)

        data = file_bytes(os.path.join(d.data, "data.mdb"))
        vault = file_bytes(os.path.join(d.data, "keys.vault"))
        log = d.log().encode()
        for needle in (due.encode(), due_marker.encode(), held.encode(), held_marker.encode()):
            for name, haystack in (("data.mdb", data), ("keys.vault", vault), ("log", log)):
                self.assertEqual(haystack.find(needle), -1, f"{needle!r} in {name}")
        destroyed = [k for k, now in zip(vault_before, slots(vault)) if any(k) and not any(now)]
        self.assertEqual(len(destroyed), 2)
        for key in destroyed:
            self.assertEqual(data.find(key), -1)
            self.assertEqual(vault.find(key), -1)

    def test_bad_requests_get_a_clear_error(self):
        d = Daemon()
        self.daemons.append(d)
        d.start()
        for args, said in [(["hold", pseudonym(), "--set"], "no pathway"),
                           (["hold", pseudonym()], "--set or --lift"),
                           (["purge"], "--dry-run")]:
            run = self.ctl(d, *args)
            self.assertNotEqual(run.returncode, 0, args)
            self.assertIn(said, run.stderr, args)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
