#!/usr/bin/env python3
"""parcoursctl tail against the real daemon: a partner's stream printed and acknowledged, the
cursor it leaves, replays that leave it alone, refusals and exit codes, and a tail that keeps
running across a daemon restart and a SIGKILL without a gap or a duplicate.

libparcours' subscription does the work underneath, so this is its end-to-end test too."""

import json
import subprocess
import threading
import time
import unittest

from harness import (PARCOURSCTL, Daemon, appointment, event, free_port, pb, registered,
                     send_and_wait)

# Cursors are written on a 100 ms timer: wait longer than that before looking at one.
CURSOR_FLUSH_WAIT = 0.3


class Background:
    """A tail running in the background, its stdout lines collected as they come."""

    def __init__(self, args):
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_lines(self, count, timeout=30.0):
        deadline = time.monotonic() + timeout
        while len(self.lines) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.lines) >= count

    def finish(self, timeout=60.0):
        rc = self.process.wait(timeout)
        self._reader.join(timeout)
        stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return rc, stderr


class TailTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon().start()
        self.events = 0

    def tearDown(self):
        if self.daemon.process is not None:
            rc = self.daemon.stop()
            self.assertEqual(rc, 0, self.daemon.log()[-3000:])
        self.daemon.cleanup()

    def ctl(self, *args, timeout=60):
        return subprocess.run([PARCOURSCTL, "-c", self.daemon.config, *args],
                              capture_output=True, text=True, timeout=timeout)

    def tail_json(self, *args):
        """Runs tail --json until 1.5 s of quiet; returns its notifications."""
        run = self.ctl("tail", "--as", "ft93", "--idle", "1.5", "--json", *args)
        self.assertEqual(run.returncode, 0, run.stderr)
        return [json.loads(line) for line in run.stdout.splitlines()]

    def publish(self, *kinds):
        """Publishes events as cd93 (ft93, territory-wide, is told of each); kinds are
        ("registered" | "appointment", beneficiary)."""
        frames = []
        for kind, beneficiary in kinds:
            self.events += 1
            make = registered if kind == "registered" else appointment
            frames.append(make(f"tail-{self.events}", "cd93", beneficiary))
        ingest = self.daemon.connect()
        try:
            acks = send_and_wait(ingest, frames)
        finally:
            ingest.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)

    def cursor(self, partner):
        time.sleep(CURSOR_FLUSH_WAIT)
        for d in self.daemon.status().deliveries:
            if d.partner_id == partner:
                return d.cursor, d.last_partner_seq
        self.fail(f"no delivery figures for {partner}")

    def test_stream_cursor_and_replay(self):
        self.publish(("registered", "B-tail-1"), ("appointment", "B-tail-1"),
                     ("registered", "B-tail-2"))

        got = self.tail_json()
        self.assertEqual([int(n["partner_seq"]) for n in got], [1, 2, 3])
        # The proto3 JSON mapping: 64-bit integers as strings, enum values by their full names.
        self.assertEqual((got[0]["partner_seq"], type(got[0]["stream_id"])), ("1", str))
        self.assertEqual([n["type"] for n in got],
                         ["BeneficiaryRegistered", "AppointmentRecorded", "BeneficiaryRegistered"])
        self.assertEqual([n["event"]["beneficiary_id"] for n in got],
                         ["B-tail-1", "B-tail-1", "B-tail-2"])
        self.assertTrue(all(n["event"]["partner_id"] == "cd93" for n in got))
        self.assertTrue(all(int(n["seq"]) > 0 and int(n["committed_at"]) > 0 for n in got))
        self.assertEqual(got[0]["pathway"]["phase"], "PHASE_REFERRED")
        self.assertEqual(self.cursor("ft93"), (3, 3))

        # Acknowledged: nothing comes again.
        self.assertEqual(self.tail_json(), [])

        # A replay shows everything and leaves the cursor alone.
        replay = self.tail_json("--from", "1", "--no-ack")
        self.assertEqual([int(n["partner_seq"]) for n in replay], [1, 2, 3])
        self.assertEqual([n["seq"] for n in replay], [n["seq"] for n in got])
        self.assertEqual(self.cursor("ft93"), (3, 3))

        # --no-ack on a new notification: shown, not consumed; the next tail consumes it.
        self.publish(("appointment", "B-tail-2"))
        self.assertEqual([int(n["partner_seq"]) for n in self.tail_json("--no-ack")], [4])
        self.assertEqual(self.cursor("ft93"), (3, 4))
        self.assertEqual([int(n["partner_seq"]) for n in self.tail_json()], [4])
        self.assertEqual(self.tail_json(), [])

        # A types filter skips the others (partner_seq then has gaps).
        only = self.tail_json("--from", "1", "--no-ack", "--types", "AppointmentRecorded")
        self.assertEqual([int(n["partner_seq"]) for n in only], [2, 4])
        both = self.tail_json("--from", "1", "--no-ack", "--window", "1", "--types",
                              "appointment_recorded,BENEFICIARY_REGISTERED")
        self.assertEqual([int(n["partner_seq"]) for n in both], [1, 2, 3, 4])

        # For people: one line each, with the type, beneficiary, sender and phase.
        human = self.ctl("tail", "--as", "ft93", "--from", "1", "--no-ack", "--idle", "1")
        self.assertEqual(human.returncode, 0, human.stderr)
        lines = human.stdout.splitlines()
        self.assertEqual(len(lines), 4, human.stdout)
        self.assertRegex(lines[0], r"^\s*1\s+seq \d+\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\s+"
                                   r"BeneficiaryRegistered\s+B-tail-1\s+by cd93.*\[REFERRED\]")
        self.assertRegex(lines[1], r"AppointmentRecorded\s+B-tail-1\s+by cd93\s+kind INDIVIDUAL, "
                                   r"status SEEN, at \S+")

    def test_a_minimised_partners_tail(self):
        """An employer is told of its own arrival and of the job, never of the appointment, and
        never who acted: no sender on its lines, no partner_id nor event_id in its events."""
        b = "B-tail-emp"
        ingest = self.daemon.connect()
        try:
            acks = send_and_wait(ingest, [
                registered("emp-1", "cd93", b),
                event("emp-2", "cd93", b, member_joined=pb.MemberJoined(member_id="employer93")),
                appointment("emp-3", "cd93", b),
                event("emp-4", "ft93", b, job_placed=pb.JobPlaced(
                    kind=pb.EMPLOYMENT_KIND_CDI, employer_partner_id="employer93",
                    start=1767225600000))])
        finally:
            ingest.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)

        run = self.ctl("tail", "--as", "employer93", "--idle", "1.5", "--json", "--no-ack")
        self.assertEqual(run.returncode, 0, run.stderr)
        got = [json.loads(line) for line in run.stdout.splitlines()]
        self.assertEqual([n["type"] for n in got], ["MemberJoined", "JobPlaced"])
        for n in got:
            self.assertEqual(n["event"]["beneficiary_id"], b)
            self.assertFalse(n["event"].get("partner_id"), n)
            self.assertFalse(n["event"].get("event_id"), n)
            self.assertFalse(n["pathway"].get("members"), n)
            self.assertIsNone(n["pathway"].get("orientation"), n)
        self.assertEqual(got[1]["pathway"]["phase"], "PHASE_EMPLOYED")

        human = self.ctl("tail", "--as", "employer93", "--from", "1", "--no-ack", "--idle", "1")
        self.assertEqual(human.returncode, 0, human.stderr)
        lines = human.stdout.splitlines()
        self.assertEqual(len(lines), 2, human.stdout)
        self.assertRegex(lines[1], r"JobPlaced\s+B-tail-emp  kind CDI, employer_partner_id "
                                   r"employer93, start 2026-01-01  \[EMPLOYED\]$")
        self.assertFalse(any(" by " in line for line in lines), human.stdout)

    def test_refusals_and_exit_codes(self):
        # An unknown partner is a usage error: parcoursctl reads the partners file of -c (the
        # daemon refuses it too, without -c: test_security).
        unknown = self.ctl("tail", "--as", "nobody93", "--idle", "1.5")
        self.assertEqual(unknown.returncode, 2, unknown.stdout + unknown.stderr)
        self.assertIn("nobody93 is not a partner of this territory", unknown.stderr)
        as_json = self.ctl("tail", "--as", "nobody93", "--idle", "1.5", "--json")
        self.assertEqual(as_json.returncode, 2)
        refused = json.loads(as_json.stdout)
        self.assertEqual((refused["ok"], refused["exit_code"]), (False, 2), refused)
        self.assertIn("nobody93 is not a partner of this territory", refused["error"])

        beyond = self.ctl("tail", "--as", "ft93", "--from", "50", "--idle", "1.5")
        self.assertEqual(beyond.returncode, 1)
        self.assertIn("Subscribe.from is 50", beyond.stderr)

        for args in (["tail"], ["tail", "--as", "ft93", "--types", "Nothing"],
                     ["tail", "--as", "ft93", "--idle", "0"],
                     ["tail", "--as", "ft93", "--window", "0"],
                     ["tail", "--as", "not a partner id"],
                     ["tail", "--as", "ft93", "--bogus"]):
            run = self.ctl(*args)
            self.assertEqual(run.returncode, 2, f"{args}: {run.stderr}")

        nobody = f"tcp://127.0.0.1:{free_port()}"
        started = time.monotonic()
        unreachable = self.ctl("tail", "--as", "ft93", "--deliver", nobody, "--idle", "1")
        self.assertEqual(unreachable.returncode, 3, unreachable.stderr)
        self.assertIn(nobody, unreachable.stderr)
        self.assertLess(time.monotonic() - started, 10)

        self.assertIn("tail --as PARTNER", self.ctl("help").stdout)

    def test_tail_across_a_restart_and_a_kill(self):
        self.publish(("registered", "B-tail-r1"), ("appointment", "B-tail-r1"))
        tail = Background([PARCOURSCTL, "-c", self.daemon.config, "tail", "--as", "ft93",
                           "--idle", "8", "--json"])
        try:
            self.assertTrue(tail.wait_lines(2), tail.lines)

            self.assertEqual(self.daemon.stop(), 0)
            self.daemon.start()
            self.publish(("appointment", "B-tail-r1"), ("registered", "B-tail-r2"))
            self.assertTrue(tail.wait_lines(4), tail.lines)

            # A SIGKILL may lose the latest cursor: the redeliveries must not show.
            self.daemon.kill()
            self.daemon.start()
            self.publish(("appointment", "B-tail-r2"), ("appointment", "B-tail-r2"))
            self.assertTrue(tail.wait_lines(6), tail.lines)

            rc, stderr = tail.finish()
            self.assertEqual(rc, 0, stderr)
        finally:
            if tail.process.poll() is None:
                tail.process.kill()
                tail.process.wait()
        got = [json.loads(line) for line in tail.lines]
        self.assertEqual([int(n["partner_seq"]) for n in got], [1, 2, 3, 4, 5, 6])
        self.assertEqual([n["event"]["event_id"] for n in got],
                         [f"tail-{i}" for i in range(1, 7)])
        self.assertEqual(self.cursor("ft93"), (6, 6))
        self.assertEqual(self.tail_json(), [])


if __name__ == "__main__":
    unittest.main()
