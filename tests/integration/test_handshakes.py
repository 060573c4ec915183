#!/usr/bin/env python3
"""Refused and failed CURVE handshakes are counted and said once, and a start says none.

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

import re
import time
import unittest

import zmq
from zmq.utils import z85

from harness import Daemon, appointment, free_port, http_get, registered, send_and_wait, pb


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
