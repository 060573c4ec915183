#!/usr/bin/env python3
"""Refused and failed CURVE handshakes: counted and said once by the daemon, said by every
client in the same words, and a start says none.

A partner's first run is often a handshake that fails: its key is not in the directory (ZAP
refuses it), or it holds another server public key than the daemon's (the daemon cannot
decrypt its HELLO, before ZAP is asked). libzmq's client then tries again every 100 ms. For
each, over real connections to the real daemon:
  - parcours_zap_refused_total moves;
  - the log holds exactly one line for it, naming the endpoint and the likely cause (each kind
    is said once a minute, with the number since);
  - nothing is applied.
And a start leaves no refusal line: the daemon's own ZAP self-test is neither logged nor counted.
(A client without CURVE is not tested here: it closes the connection as soon as it reads the
daemon's greeting, and the daemon sees the mismatch only when it reads the client's first.)
"""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

import zmq
from zmq.utils import z85

from harness import (PARCOURSCTL, Daemon, appointment, free_port, http_get, pb, registered,
                     send_and_wait)

PYTHON_CLIENT = os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python")
EXAMPLE = os.path.join(PYTHON_CLIENT, "example_partner.py")
sys.path.insert(0, PYTHON_CLIENT)
from parcours_partner import HANDSHAKE_FAILED, KEY_REFUSED  # noqa: E402
BOUND = 15.0  # seconds a client may take to say it was refused


def metric(port, name):
    status, _, body = http_get(port, "/metrics")
    assert status == 200, status
    m = re.search(rf"^{name} (\d+)$", body, re.M)
    return int(m.group(1)) if m else None


class HandshakeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.daemon = Daemon(curve=True, extra_config=f"http.listen = 127.0.0.1:{cls.port}").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0, rc

    def attempt(self, setup, event_id):
        """A DEALER set up by setup(sock) sends one event for 1.5 s of handshake attempts;
        returns the refusals counted meanwhile and the log lines added."""
        d = self.daemon
        before = metric(self.port, "parcours_zap_refused_total")
        log_before = len(d.log().splitlines())
        last_seq = d.status().last_seq
        sock = d.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        setup(sock)
        sock.connect(d.ingest)
        sock.send(appointment(event_id, "cd93", "B-hs-1").SerializeToString())
        self.assertFalse(sock.poll(1500), "a refused handshake was answered")
        sock.close()
        time.sleep(0.2)
        self.assertEqual(d.status().last_seq, last_seq, "a refused connection applied an event")
        moved = metric(self.port, "parcours_zap_refused_total") - before
        return moved, d.log().splitlines()[log_before:]

    def one_line(self, lines, pattern):
        hits = [l for l in lines if re.search(pattern, l)]
        self.assertEqual(len(hits), 1, f"expected one line matching {pattern!r}: {lines}")
        return hits[0]

    def test_a_start_logs_no_refusal(self):
        self.assertNotIn("refused", self.daemon.log())
        self.assertNotIn("handshake failed", self.daemon.log())

    def test_an_unknown_key_is_counted_and_said_once(self):
        public, secret = zmq.curve_keypair()

        def setup(s):
            s.curve_publickey, s.curve_secretkey = public, secret
            s.curve_serverkey = self.daemon.server_public
        moved, lines = self.attempt(setup, "hs-unknown")
        self.assertGreater(moved, 0, "parcours_zap_refused_total did not move")
        line = self.one_line(lines, r"connection refused on ingest: unknown or revoked key")
        # The key's fingerprint: its first 8 bytes, in hex.
        fingerprint = z85.decode(public)[:8].hex()
        self.assertIn(fingerprint, line)

    def test_another_server_key_is_counted_and_said_once(self):
        public, secret = self.daemon.keys["cd93"]
        wrong_server, _ = zmq.curve_keypair()

        def setup(s):
            s.curve_publickey, s.curve_secretkey = public, secret
            s.curve_serverkey = wrong_server
        moved, lines = self.attempt(setup, "hs-server")
        self.assertGreater(moved, 0, "a handshake failed before ZAP was not counted")
        self.one_line(lines, r"CURVE handshake failed on ingest: .*another server public key")

    def test_the_right_keys_still_get_in(self):
        sock = self.daemon.connect("cd93")
        acks = send_and_wait(sock, [registered("hs-reg", "cd93", "B-hs-2")], timeout=10)
        sock.close()
        self.assertEqual(acks[0].status, pb.ACK_STATUS_ACCEPTED, acks[0])


    def key_file(self, name, z85_key):
        path = os.path.join(self.daemon.folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"# made by the test\n" + z85_key + b"\n")
        os.close(fd)
        return path

    def clients(self, secret, server, endpoint=None):
        """The Python example partner and parcoursctl emit (libparcours) with these key files:
        [(exit status, stderr, seconds)] of each."""
        endpoint = endpoint or self.daemon.ingest
        env = dict(os.environ, PYTHONPATH=PYTHON_CLIENT)
        runs = []
        for argv in ([sys.executable, EXAMPLE, "--endpoint", endpoint, "--as", "cd93",
                      "--beneficiary", "B-hs-3", "--timeout", "5", "--key", secret,
                      "--server-key", server],
                     [PARCOURSCTL, "--ingest", endpoint, "--timeout", "5000", "emit",
                      "BeneficiaryRegistered", "--as", "cd93", "--beneficiary", "B-hs-3",
                      "--key", secret, "--server-key", server]):
            start = time.monotonic()
            run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
            runs.append((run.returncode, run.stderr, time.monotonic() - start))
        return runs

    def test_clients_say_a_refused_key_in_the_same_words(self):
        public, secret = zmq.curve_keypair()
        runs = self.clients(self.key_file("stranger.secret", secret),
                            os.path.join(self.daemon.folder, "parcoursd.public"))
        for (rc, err, took), who in zip(runs, ("python", "parcoursctl")):
            self.assertEqual(rc, 1, f"{who}: {err}")
            self.assertIn(KEY_REFUSED, err, who)
            self.assertLess(took, BOUND, f"{who} took {took:.1f} s to say it")

    def test_subscribers_say_a_refused_key_in_the_same_words(self):
        _, secret = zmq.curve_keypair()
        secret_file = self.key_file("stranger2.secret", secret)
        server = os.path.join(self.daemon.folder, "parcoursd.public")
        env = dict(os.environ, PYTHONPATH=PYTHON_CLIENT)
        for argv, who in (
                ([sys.executable, os.path.join(PYTHON_CLIENT, "example_subscriber.py"),
                  "--endpoint", self.daemon.deliver, "--as", "cd93", "--idle", "10", "--key",
                  secret_file, "--server-key", server], "python"),
                ([PARCOURSCTL, "--deliver", self.daemon.deliver, "tail", "--as", "cd93",
                  "--idle", "10", "--key", secret_file, "--server-key", server],
                 "parcoursctl")):
            start = time.monotonic()
            run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
            took = time.monotonic() - start
            self.assertEqual(run.returncode, 1, f"{who}: {run.stdout} {run.stderr}")
            self.assertIn(KEY_REFUSED, run.stderr, who)
            self.assertLess(took, BOUND, f"{who} took {took:.1f} s to say it")

    def test_clients_say_a_wrong_server_key_in_the_same_words(self):
        wrong, _ = zmq.curve_keypair()
        runs = self.clients(self.key_file("cd93.secret", self.daemon.keys["cd93"][1]),
                            self.key_file("other.public", wrong))
        for (rc, err, took), who in zip(runs, ("python", "parcoursctl")):
            self.assertEqual(rc, 1, f"{who}: {err}")
            self.assertIn(HANDSHAKE_FAILED, err, who)
            self.assertLess(took, BOUND, f"{who} took {took:.1f} s to say it")

    def test_clients_say_an_unreachable_daemon(self):
        nobody = f"tcp://127.0.0.1:{free_port()}"
        runs = self.clients(self.key_file("cd93.secret", self.daemon.keys["cd93"][1]),
                            os.path.join(self.daemon.folder, "parcoursd.public"), nobody)
        for (rc, err, took), who in zip(runs, ("python", "parcoursctl")):
            self.assertEqual(rc, 3, f"{who}: {err}")
            self.assertLess(took, BOUND, f"{who} took {took:.1f} s to say it")
        # In the same words too (parcoursctl then says where to look).
        for rc, err, took in runs:
            self.assertIn(f"parcoursd did not answer on {nobody} within 5000 ms: is parcoursd "
                          "running?", err)

    def test_clients_say_a_stalled_daemon(self):
        # A daemon that is stopped (SIGSTOP: hung, or being debugged) still completes TCP
        # connections in the kernel, and then never says a word: no handshake fails, none
        # succeeds before libzmq's 30 s handshake interval. The clients say so within their
        # own timeout, as for an unreachable daemon, and nothing blocks.
        stalled = Daemon(curve=True).start()
        try:
            secret = self.key_file("cd93-stalled.secret", stalled.keys["cd93"][1])
            server = os.path.join(stalled.folder, "parcoursd.public")
            os.kill(stalled.process.pid, signal.SIGSTOP)
            try:
                runs = self.clients(secret, server, stalled.ingest)
                subscriber = subprocess.run(
                    [PARCOURSCTL, "--deliver", stalled.deliver, "tail", "--as", "cd93",
                     "--idle", "5", "--key", secret, "--server-key", server],
                    capture_output=True, text=True, timeout=60)
            finally:
                os.kill(stalled.process.pid, signal.SIGCONT)
            for (rc, err, took), who in zip(runs, ("python", "parcoursctl")):
                self.assertEqual(rc, 3, f"{who}: {err}")
                self.assertLess(took, BOUND, f"{who} took {took:.1f} s to say it")
                self.assertIn(f"parcoursd did not answer on {stalled.ingest} within 5000 ms: "
                              "is parcoursd running?", err, who)
            self.assertEqual(subscriber.returncode, 3, subscriber.stderr)
            self.assertIn(f"parcoursd did not answer on {stalled.deliver}", subscriber.stderr)
            # And once it runs again, the same keys get in: nothing was left half open.
            sock = stalled.connect("cd93")
            acks = send_and_wait(sock, [registered("hs-stalled", "cd93", "B-hs-4")], timeout=30)
            sock.close()
            self.assertEqual(acks[0].status, pb.ACK_STATUS_ACCEPTED, acks[0])
        finally:
            self.assertEqual(stalled.stop(), 0)
            stalled.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
