#!/usr/bin/env python3
"""A partner in another language integrates from the .proto alone.

Runs clients/python/example_partner.py (which uses only python3-zmq, python3-protobuf and the
module protoc generated from proto/parcours.proto) against a real parcoursd, as a separate
process, the way a mission locale's IT team would.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import PARCOURSCTL, Daemon, pb

PYTHON_CLIENT = os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python")
EXAMPLE = os.path.join(PYTHON_CLIENT, "example_partner.py")
SUBSCRIBER = os.path.join(PYTHON_CLIENT, "example_subscriber.py")
sys.path.insert(0, PYTHON_CLIENT)

from parcours_partner import Partner, Subscription, read_key  # noqa: E402


class PythonPartnerTest(unittest.TestCase):
    def run_example(self, daemon, beneficiary):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.dirname(EXAMPLE)
        return subprocess.run(
            [sys.executable, EXAMPLE, "--endpoint", daemon.ingest, "--as", "ml93",
             "--beneficiary", beneficiary],
            env=env, capture_output=True, text=True, timeout=60)

    def test_examples_find_the_generated_module_of_a_build(self):
        # As a newcomer runs them after seeds/demo.sh: no PARCOURS_PB_DIR, from another folder.
        env = {k: v for k, v in os.environ.items() if k != "PARCOURS_PB_DIR"}
        for example in ("example_partner.py", "example_subscriber.py"):
            run = subprocess.run([sys.executable, os.path.join(PYTHON_CLIENT, example), "--help"],
                                 env=env, cwd=tempfile.gettempdir(), capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(run.returncode, 0, f"{example}: {run.stderr}")
            self.assertIn("--server-key", run.stdout)

    def test_example_partner_publishes_and_reads_acks(self):
        daemon = Daemon().start()
        try:
            first = self.run_example(daemon, "B-py-0001")
            self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
            lines = first.stdout.splitlines()
            self.assertEqual(len(lines), 3, first.stdout)
            self.assertTrue(all(" ACCEPTED seq=" in line for line in lines), first.stdout)
            pathway = daemon.pathway("B-py-0001")
            self.assertEqual(pathway.version, 3)
            self.assertEqual(pathway.phase, pb.PHASE_ORIENTATION_REQUESTED)
            self.assertEqual(pathway.last_appointment.recorded_by, "ml93")
            self.assertEqual(list(pathway.members), ["ml93"])

            # The same scenario again: the rules refuse a second registration and a second
            # pending request, and the partner is told why, in a sentence.
            second = self.run_example(daemon, "B-py-0001")
            self.assertEqual(second.returncode, 1, second.stdout + second.stderr)
            self.assertIn("REJECTED INVALID_TRANSITION", second.stdout)
            self.assertEqual(daemon.pathway("B-py-0001").version, 4)  # the appointment only
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


    def test_example_subscriber_reads_and_resumes_after_its_cursor(self):
        daemon = Daemon().start()
        try:
            self.assertEqual(self.run_example(daemon, "B-py-0002").returncode, 0)
            env = dict(os.environ, PYTHONPATH=PYTHON_CLIENT)
            command = [sys.executable, SUBSCRIBER, "--endpoint", daemon.deliver, "--as", "ft93",
                       "--idle", "1.5"]
            first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(first.returncode, 0, first.stderr)
            lines = first.stdout.splitlines()
            self.assertEqual([l.split()[0] for l in lines], ["1", "2", "3"], first.stdout)
            self.assertIn("beneficiary_registered B-py-0002", lines[0])
            self.assertIn("appointment_recorded B-py-0002 phase=ORIENTATION_REQUESTED", lines[2])
            # Run again: everything was acknowledged, so nothing comes again.
            time.sleep(0.3)  # the daemon writes cursors every 100 ms
            second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual((second.returncode, second.stdout), (0, ""), second.stderr)
            # A partner the territory does not know is refused, with a sentence.
            command[command.index("ft93")] = "nobody93"
            refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(refused.returncode, 1)
            self.assertIn("NOT_AUTHORISED", refused.stderr)
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()

    def test_subscription_survives_a_daemon_restart(self):
        daemon = Daemon().start()
        try:
            partner = Partner(daemon.ingest, "cd93")
            subscription = Subscription(daemon.deliver, "ft93")
            stream = subscription.notifications(timeout=5)
            partner.send(partner.event("B-py-0003", beneficiary_registered=pb.BeneficiaryRegistered()))
            self.assertEqual(next(stream).partner_seq, 1)
            self.assertEqual(daemon.stop(), 0)
            daemon.start()  # same ports, same data: the subscription must carry on by itself
            for _ in range(2):
                partner.send(partner.event("B-py-0003", appointment_recorded=pb.AppointmentRecorded(
                    kind=pb.APPOINTMENT_KIND_PHONE, status=pb.APPOINTMENT_STATUS_SEEN, at=1767225600000)),
                    timeout=60)
            got = [next(stream).partner_seq, next(stream).partner_seq]
            self.assertEqual(got, [2, 3])
            subscription.close()
            partner.close()
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()

    def test_partner_and_subscriber_with_curve_keys(self):
        daemon = Daemon(curve=True).start()
        try:
            # Key files as parcoursctl keygen writes them; the harness wrote parcoursd.public.
            ml93_secret = os.path.join(daemon.folder, "ml93.secret")
            fd = os.open(ml93_secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"# ml93's secret key, made by the test\n" + daemon.keys["ml93"][1] + b"\n")
            os.close(fd)
            server_public = os.path.join(daemon.folder, "parcoursd.public")
            self.assertEqual(read_key(ml93_secret), daemon.keys["ml93"][1])
            self.assertEqual(read_key(server_public), daemon.server_public)
            os.chmod(ml93_secret, 0o640)
            with self.assertRaises(PermissionError):
                read_key(ml93_secret)
            os.chmod(ml93_secret, 0o600)

            # The example partner with --key and --server-key.
            env = dict(os.environ, PYTHONPATH=PYTHON_CLIENT)
            run = subprocess.run(
                [sys.executable, EXAMPLE, "--endpoint", daemon.ingest, "--as", "ml93",
                 "--beneficiary", "B-py-curve", "--key", ml93_secret, "--server-key",
                 server_public], env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            self.assertEqual(run.stdout.count(" ACCEPTED seq="), 3, run.stdout)

            # The key is the sender: cd93's key cannot publish as ml93 (keys as str here).
            cd93 = Partner(daemon.ingest, "ml93", secret_key=daemon.keys["cd93"][1].decode(),
                           server_key=daemon.server_public.decode())
            ack = cd93.send(cd93.event("B-py-curve", appointment_recorded=pb.AppointmentRecorded(
                kind=pb.APPOINTMENT_KIND_PHONE, status=pb.APPOINTMENT_STATUS_SEEN,
                at=1767225600000)), timeout=30)
            cd93.close()
            self.assertEqual((ack.status, ack.code),
                             (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED), ack.message)
            with self.assertRaises(ValueError):
                Partner(daemon.ingest, "ml93", secret_key=daemon.keys["ml93"][1])

            # ft93 reads its stream with its own key; the example subscriber does too.
            subscription = Subscription(daemon.deliver, "ft93", secret_key=daemon.keys["ft93"][1],
                                        server_key=daemon.server_public)
            seen = []
            for n in subscription.notifications(timeout=5, auto_ack=False):
                seen.append(n.partner_seq)
                if len(seen) == 3:
                    break
            subscription.close()
            self.assertEqual(seen, [1, 2, 3])
            ft93_secret = os.path.join(daemon.folder, "ft93.secret")
            fd = os.open(ft93_secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, daemon.keys["ft93"][1] + b"\n")
            os.close(fd)
            follow = subprocess.run(
                [sys.executable, SUBSCRIBER, "--endpoint", daemon.deliver, "--as", "ft93",
                 "--idle", "1.5", "--key", ft93_secret, "--server-key", server_public],
                env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(follow.returncode, 0, follow.stderr)
            self.assertEqual([l.split()[0] for l in follow.stdout.splitlines()], ["1", "2", "3"],
                             follow.stdout)
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()



class PseudonymTest(unittest.TestCase):
    """The Python twin of parcours_pseudonym() agrees with it (through parcoursctl), byte for
    byte, and with RFC 4231: a partner in either language derives the same ids."""

    def test_python_and_c_derive_the_same_ids(self):
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients",
                                        "python"))
        import parcours_partner
        self.assertEqual(
            parcours_partner.pseudonym(b"\xaa" * 131,
                                       "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        folder = tempfile.mkdtemp(prefix="parcours-pseudonym-")
        try:
            key_file = os.path.join(folder, "territory.key")
            run = subprocess.run([PARCOURSCTL, "territory-key", key_file], capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual(os.stat(key_file).st_mode & 0o777, 0o600)
            again = subprocess.run([PARCOURSCTL, "territory-key", key_file],
                                   capture_output=True, text=True, timeout=30)
            self.assertNotEqual(again.returncode, 0)  # never overwritten
            with open(key_file) as f:
                key = bytes.fromhex(f.read().strip())
            for identifier in ("1850578006084", "2991299123456", "synthetic-7"):
                run = subprocess.run([PARCOURSCTL, "pseudonym", identifier, "--key", key_file],
                                     capture_output=True, text=True, timeout=30)
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertEqual(run.stdout.strip(),
                                 parcours_partner.pseudonym(key, identifier))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

if __name__ == "__main__":
    unittest.main(verbosity=2)
