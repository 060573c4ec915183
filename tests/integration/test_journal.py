"""G12: every access to personal data by an operator is journaled, and the journal cannot be
altered unseen (issue 12).

The real parcoursd, over its real admin socket: every admin command parcoursctl has leaves a
record naming who asked (the uid the ipc socket's peer credentials give), the person by a keyed
hash and never by id, and the outcome; a subscription, a reload and a restore leave theirs.
`parcoursctl journal verify` finds the chain whole, then names the first record that does not
hold after one byte of the file is changed, and after a record is removed.
"""

import glob
import os
import secrets
import signal
import subprocess
import time
import unittest

from harness import (PARCOURSCTL, PARCOURSD, Daemon, Subscriber, appointment, fault_env, pb,
                     registered, send_and_wait)


def pseudonym():
    return "p93-" + secrets.token_hex(16)


class JournalTest(unittest.TestCase):
    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()

    def ctl(self, d, *args):
        return subprocess.run([PARCOURSCTL, "-c", d.config, *args], capture_output=True,
                              text=True, timeout=60)

    def records(self, d):
        lines = []
        for path in sorted(glob.glob(os.path.join(d.folder, "journal", "*.journal"))):
            with open(path) as f:
                lines += [l.rstrip("\n").split("\t") for l in f]
        return lines

    def test_every_command_leaves_a_record_and_a_change_is_found(self):
        d = Daemon()
        self.daemons.append(d)
        d.start()
        person, other = pseudonym(), pseudonym()
        sock = d.connect()
        acks = send_and_wait(sock, [registered("j-1", "cd93", person),
                                    appointment("j-2", "cd93", person),
                                    registered("j-3", "cd93", other)])
        sock.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks))
        commands = [
            (["status"], "STATUS"),
            (["show", person], "SHOW"),
            (["history", person], "HISTORY"),
            (["partners"], "PARTNERS"),
            (["purge", "--dry-run"], "PURGE"),
            (["hold", person, "--set"], "HOLD"),
            (["backup", os.path.join(d.folder, "copy")], "BACKUP"),
            (["erase", other, "--reason", "request", "--yes"], "ERASE"),
        ]
        for args, _ in commands:
            run = self.ctl(d, *args)
            self.assertEqual(run.returncode, 0, (args, run.stderr))
        refused = self.ctl(d, "show", pseudonym())
        self.assertNotEqual(refused.returncode, 0)
        sub = Subscriber(d, "ft93")
        sub.wait_for(1, timeout=10)
        sub.close()
        d.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "RELOAD" not in [r[3] for r in self.records(d)]:
            time.sleep(0.1)
        self.assertEqual(d.stop(), 0)

        records = self.records(d)
        by_action = {}
        for r in records:
            self.assertEqual(len(r), 8, r)
            by_action.setdefault(r[3], []).append(r)
        me = f"uid:{os.getuid()} "
        for _, action in commands:
            self.assertIn(action, by_action, action)
            self.assertTrue(by_action[action][0][2].startswith(me), by_action[action][0])
            outcomes = [r[5] for r in by_action[action]]
            if action in ("HOLD", "ERASE"):
                # A change is journaled before it is done, then its outcome.
                self.assertEqual(outcomes[:2], ["requested", "answered"], action)
            else:
                self.assertEqual(outcomes[0], "answered" if action != "BACKUP" else "started")
        # One record per backup, not per part; the refused read is journaled as refused.
        self.assertEqual(len(by_action["BACKUP"]), 1)
        self.assertIn("refused", [r[5] for r in by_action["SHOW"]])
        self.assertTrue(by_action["SHOW"][0][4].startswith("person:"))
        self.assertEqual(by_action["SUBSCRIBE"][0][2], "ft93")
        self.assertEqual(by_action["RELOAD"][0][2], "SIGHUP")
        self.assertIn("START", by_action)
        # Never an id, never a payload.
        text = "\n".join("\t".join(r) for r in records)
        self.assertNotIn(person, text)
        self.assertNotIn(other, text)
        self.assertEqual([int(r[0]) for r in records], list(range(1, len(records) + 1)))

        run = self.ctl(d, "journal", "verify")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn(f"is whole: {len(records)} records", run.stdout)

        # A restore is journaled too, in the same chain.
        restored = Daemon(extra_config=f"store.erased_register = "
                                       f"{os.path.join(d.folder, 'erased.register')}")
        self.daemons.append(restored)
        with open(restored.config, "a") as f:
            f.write(f"[journal]\npath = {os.path.join(d.folder, 'journal')}\n")
        run = subprocess.run([PARCOURSD, "-c", restored.config, "--restore",
                              os.path.join(d.folder, "copy", "data.mdb")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        after = self.records(d)
        self.assertEqual(after[-1][3], "RESTORE")
        self.assertIn("1 erased again", after[-1][5])
        self.assertEqual(self.ctl(d, "journal", "verify").returncode, 0)

        # One byte changed: verify names the record. A record removed: the next one.
        path = sorted(glob.glob(os.path.join(d.folder, "journal", "*.journal")))[-1]
        with open(path) as f:
            original = f.read()
        lines = original.splitlines(keepends=True)
        changed = lines[:]
        changed[2] = changed[2].replace("STATUS", "STATUZ", 1) if "STATUS" in changed[2] \
            else changed[2][:-70] + ("x" if changed[2][-70] != "x" else "y") + changed[2][-69:]
        with open(path, "w") as f:
            f.write("".join(changed))
        run = self.ctl(d, "journal", "verify")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("BROKEN", run.stdout)
        self.assertIn("record 3", run.stdout)
        with open(path, "w") as f:
            f.write("".join(lines[:4] + lines[5:]))
        run = self.ctl(d, "journal", "verify")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("record 6: it does not follow", run.stdout)


    def test_a_journal_that_cannot_be_written_answers_nothing_and_does_nothing(self):
        """G12: the journal's syncs fail (an LD_PRELOAD interposer, tests/fault): no read is
        answered, no erasure done; the unanswered records are not left in the file, and once
        the disk is back the chain goes on whole."""
        interposer = os.environ.get("PARCOURS_FAULT_JOURNAL", "")
        self.assertTrue(interposer and os.path.exists(interposer),
                        "PARCOURS_FAULT_JOURNAL must name the built interposer")
        d = Daemon()
        self.daemons.append(d)
        trigger = os.path.join(d.folder, "fail-journal-syncs")
        d.start(env=fault_env(interposer, trigger))
        person = pseudonym()
        sock = d.connect()
        acks = send_and_wait(sock, [registered("f-1", "cd93", person),
                                    appointment("f-2", "cd93", person)])
        sock.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks))
        self.assertEqual(self.ctl(d, "show", person).returncode, 0)
        before = self.records(d)

        open(trigger, "w").close()
        for args in (["status"], ["show", person], ["history", person], ["export", person],
                     ["erase", person, "--reason", "request", "--yes"]):
            run = self.ctl(d, *args)
            self.assertNotEqual(run.returncode, 0, args)
            self.assertIn("journal cannot be written", run.stderr, args)
            self.assertNotIn(person, run.stdout, args)
            self.assertNotIn("f-2", run.stdout, args)
        self.assertEqual(self.records(d), before)  # nothing unanswered left in the file
        os.unlink(trigger)

        # The erasure was not done; now everything is answered again, in a whole chain.
        show = self.ctl(d, "show", person)
        self.assertEqual(show.returncode, 0, show.stderr)
        self.assertIn(person, show.stdout)
        self.assertEqual(d.stop(), 0)
        records = self.records(d)
        self.assertEqual(records[:len(before)], before)
        self.assertEqual([r[3] for r in records[len(before):]], ["SHOW"])
        run = self.ctl(d, "journal", "verify")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

if __name__ == "__main__":
    unittest.main(verbosity=2)
