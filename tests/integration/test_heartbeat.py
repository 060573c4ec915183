#!/usr/bin/env python3
"""Connected partners are true: ZeroMQ tells the daemon nothing when a subscriber's connection
goes, so the daemon sends a Heartbeat to every subscriber it sent nothing for
[deliver] heartbeat_interval, and drops the connections that can no longer take one. A partner
that left must stop counting in `parcoursctl status` and /metrics, and one that stays must not,
however quiet its stream."""

import time
import unittest

from harness import Daemon, Subscriber, registered, send_and_wait

INTERVAL = 1  # seconds


def connections(daemon, partner):
    for d in daemon.status().deliveries:
        if d.partner_id == partner:
            return d.subscribers
    raise AssertionError(f"no partner {partner} in the status")


class HeartbeatTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon(extra_config=f"deliver.heartbeat_interval = {INTERVAL}").start()

    def tearDown(self):
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.cleanup()

    def wait(self, condition, seconds):
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)
        return condition()

    def test_a_partner_that_left_stops_counting(self):
        staying = Subscriber(self.daemon, "ft93")
        leaving = Subscriber(self.daemon, "ml93")
        try:
            def both_subscribed():
                staying.poll(0.05)
                leaving.poll(0.05)
                return staying.subscribed is not None and leaving.subscribed is not None

            self.assertTrue(self.wait(both_subscribed, 10))
            self.assertEqual(connections(self.daemon, "ml93"), 1)
            # Something to tell ft93, then nothing for several intervals.
            sock = self.daemon.connect()
            send_and_wait(sock, [registered("hb-1", "cd93", "B-hb-1")])
            sock.close()
            self.assertTrue(staying.wait_for(1, timeout=10))

            leaving.close()  # the partner goes away without a word to the daemon
            self.assertTrue(self.wait(lambda: connections(self.daemon, "ml93") == 0,
                                      3 * INTERVAL + 5),
                            "a connection that went still counts")
            # The quiet one is still there, and was told it is being checked.
            def heard_twice():
                staying.poll(0.1)
                return staying.heartbeats >= 2

            self.assertTrue(self.wait(heard_twice, 4 * INTERVAL + 5))
            self.assertEqual(connections(self.daemon, "ft93"), 1)
            self.assertEqual(staying.errors, [])
            self.assertIn("deliver: a connection of ml93 is gone", self.daemon.log())
            # And the stream goes on after the heartbeats.
            sock = self.daemon.connect()
            send_and_wait(sock, [registered("hb-2", "cd93", "B-hb-2")])
            sock.close()
            self.assertTrue(staying.wait_for(2, timeout=10))
            self.assertEqual([n.partner_seq for n in staying.received], [1, 2])
        finally:
            staying.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
