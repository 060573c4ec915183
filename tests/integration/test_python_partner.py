#!/usr/bin/env python3
"""A partner in another language integrates from the .proto alone.

Runs clients/python/example_partner.py (which uses only python3-zmq, python3-protobuf and the
module protoc generated from proto/parcours.proto) against a real parcoursd, as a separate
process, the way a mission locale's IT team would.
"""

import os
import subprocess
import sys
import unittest

from harness import Daemon, pb

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python",
                       "example_partner.py")


class PythonPartnerTest(unittest.TestCase):
    def run_example(self, daemon, beneficiary):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.dirname(EXAMPLE)
        return subprocess.run(
            [sys.executable, EXAMPLE, "--endpoint", daemon.ingest, "--as", "ml93",
             "--beneficiary", beneficiary],
            env=env, capture_output=True, text=True, timeout=60)

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
