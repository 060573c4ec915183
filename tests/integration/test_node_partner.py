#!/usr/bin/env python3
"""The Node.js example partner (clients/node, zeromq.js and protobufjs from the .proto alone)
against the real daemon, over CURVE:
  - publisher.js publishes three pipelined events, each ACCEPTED with its seq;
  - follower.js reads ft93's stream, one line per notification, and acknowledges them;
  - across a daemon restart: published again, the follower gets only what is new (its
    acknowledgements were durable), partner_seq going on without a gap;
  - a key the daemon does not admit: exit 1 with the sentence every Parcours client says.
tests/run.sh installs Node.js and npm when missing, and the packages with `npm ci` from the
committed lockfile."""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest

import zmq

from harness import Daemon

NODE_CLIENT = os.path.join(os.path.dirname(__file__), "..", "..", "clients", "node")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
from parcours_partner import KEY_REFUSED  # noqa: E402


class NodePartnerTest(unittest.TestCase):
    def setUp(self):
        self.node = shutil.which("node")
        self.assertIsNotNone(self.node, "node is not installed (tests/run.sh installs it)")
        self.assertTrue(os.path.isdir(os.path.join(NODE_CLIENT, "node_modules", "zeromq")),
                        "clients/node has no node_modules: run npm ci there (tests/run.sh does)")
        self.daemon = Daemon(curve=True).start()

    def tearDown(self):
        self.daemon.stop()
        self.daemon.cleanup()

    def key_pair(self, name, public, secret):
        """NAME.secret (0600) and NAME.public as parcoursctl keygen writes them."""
        path = os.path.join(self.daemon.folder, f"{name}.secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"# made by the test\n" + secret + b"\n")
        os.close(fd)
        with open(os.path.join(self.daemon.folder, f"{name}.public"), "wb") as f:
            f.write(b"# made by the test\n" + public + b"\n")
        return path

    def node_run(self, script, *args):
        start = time.monotonic()
        run = subprocess.run([self.node, os.path.join(NODE_CLIENT, script), *args],
                             capture_output=True, text=True, timeout=90)
        return run, time.monotonic() - start

    def publish(self, partner, beneficiary, key):
        return self.node_run("publisher.js", "--endpoint", self.daemon.ingest, "--as", partner,
                             "--beneficiary", beneficiary, "--key", key, "--server-key",
                             os.path.join(self.daemon.folder, "parcoursd.public"),
                             "--timeout", "20")

    def follow(self, partner, key):
        run, _ = self.node_run("follower.js", "--endpoint", self.daemon.deliver, "--as", partner,
                               "--idle", "2", "--key", key, "--server-key",
                               os.path.join(self.daemon.folder, "parcoursd.public"))
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        return [line.split() for line in run.stdout.splitlines()]

    def test_publish_and_follow_across_a_restart(self):
        ml93 = self.key_pair("ml93", *self.daemon.keys["ml93"])
        ft93 = self.key_pair("ft93", *self.daemon.keys["ft93"])
        run, _ = self.publish("ml93", "B-node-1", ml93)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        seqs = [int(m) for m in re.findall(r" ACCEPTED seq=(\d+) ", run.stdout)]
        self.assertEqual(seqs, [1, 2, 3], run.stdout)
        lines = self.follow("ft93", ft93)
        self.assertEqual([(l[0], l[2], l[3]) for l in lines],
                         [("1", "beneficiary_registered", "B-node-1"),
                          ("2", "orientation_requested", "B-node-1"),
                          ("3", "appointment_recorded", "B-node-1")])

        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        run, _ = self.publish("ml93", "B-node-2", ml93)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        lines = self.follow("ft93", ft93)
        self.assertEqual([l[0] for l in lines], ["4", "5", "6"], lines)
        self.assertEqual({l[3] for l in lines}, {"B-node-2"})

    def test_a_refused_key_said_in_the_same_words(self):
        stranger = self.key_pair("stranger", *zmq.curve_keypair())
        run, took = self.publish("ml93", "B-node-3", stranger)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertIn(KEY_REFUSED, run.stderr)
        self.assertLess(took, 15.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
