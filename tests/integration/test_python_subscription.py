#!/usr/bin/env python3
"""The Python partner module's Subscription against a fake deliver endpoint, where the test
decides every frame: redeliveries after a restart are acknowledged again, and a daemon restored
from a backup (a new stream_id) hands the stream again from the restored cursor, with no
acknowledgement of the old stream reaching the new one and nothing of the old stream handed."""

import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

import zmq

from harness import pb

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
from parcours_partner import Subscription  # noqa: E402

WAIT = 10.0


class FakeDaemon:
    """A ROUTER on an ipc endpoint, speaking DeliverReply frames by hand."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.context = zmq.Context.instance()
        self.bind()

    def bind(self):
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(self.endpoint)
        self.peer = None

    def restart(self):
        """A daemon going away and coming back: every connection is new."""
        self.router.close()
        self.bind()

    def expect(self):
        """The next DeliverRequest from the client."""
        if not self.router.poll(int(WAIT * 1000)):
            raise AssertionError("the client sent nothing")
        self.peer, frame = self.router.recv_multipart()
        return pb.DeliverRequest.FromString(frame)

    def expect_acks_up_to(self, up_to):
        """Reads acknowledgements until one reaches up_to; returns them all."""
        seen = []
        while not seen or seen[-1] < up_to:
            request = self.expect()
            if request.WhichOneof("kind") != "ack":
                raise AssertionError(f"expected an ack, got {request}")
            seen.append(request.ack.up_to)
        return seen

    def send(self, reply):
        self.router.send_multipart([self.peer, reply.SerializeToString()])

    def subscribed(self, start, cursor, stream_id):
        reply = pb.DeliverReply(subscribed=pb.Subscribed(
            partner_id="ft93", cursor=cursor, window=100, stream_id=stream_id))
        setattr(reply.subscribed, "from", start)
        self.send(reply)

    def notification(self, partner_seq, stream_id):
        self.send(pb.DeliverReply(notification=pb.Notification(
            partner_seq=partner_seq, seq=1000 + partner_seq, stream_id=stream_id)))


class SubscriptionTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="parcours-pysub-")
        self.fake = FakeDaemon(f"ipc://{self.folder}/deliver.sock")
        self.sub = Subscription(self.fake.endpoint, "ft93")
        self.handed = []  # (stream_id, partner_seq), in the order the caller saw them
        self.stop = threading.Event()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        while not self.stop.is_set():
            for n in self.sub.notifications(timeout=0.2):
                self.handed.append((n.stream_id, n.partner_seq))

    def tearDown(self):
        self.stop.set()
        self.reader.join(5)
        self.sub.close()
        self.fake.router.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def wait_handed(self, count):
        deadline = time.monotonic() + WAIT
        while len(self.handed) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(len(self.handed), count, self.handed)

    def subscribe(self):
        """Reads up to the Subscribe. An acknowledgement sent while the daemon was away may
        come first: the daemon refuses it (NOT_SUBSCRIBED), a connection having no subscription
        before its Subscribe, so it cannot move a cursor."""
        request = self.fake.expect()
        while request.WhichOneof("kind") == "ack":
            request = self.fake.expect()
        self.assertEqual(request.WhichOneof("kind"), "subscribe", request)
        self.assertEqual(request.subscribe.partner_id, "ft93")

    def test_restart_and_restore(self):
        self.subscribe()
        self.fake.subscribed(1, 0, 7)
        for seq in (1, 2, 3, 4):
            self.fake.notification(seq, 7)
        self.wait_handed(4)
        self.fake.notification(5, 7)
        self.assertEqual(self.fake.expect_acks_up_to(4)[-1], 4)

        # The same daemon restarted, its cursor at 2 (written on a timer): 3 and 4 come again,
        # are not handed again, and are acknowledged again so that its window frees.
        self.fake.restart()
        self.subscribe()
        self.fake.subscribed(3, 2, 7)
        self.fake.notification(3, 7)
        self.fake.notification(4, 7)
        self.assertEqual(self.fake.expect_acks_up_to(4)[-1], 4)
        self.fake.notification(5, 7)
        self.wait_handed(5)
        self.assertEqual(self.fake.expect_acks_up_to(5)[-1], 5)

        # Restored from a copy taken at cursor 2: a new stream. Before its Subscribed, a
        # notification (of the replaced subscription) is not handed, and a NOT_SUBSCRIBED (the
        # answer to an acknowledgement queued while the daemon was away) brings no second
        # Subscribe. A notification still stamped with the old stream is not handed, and 3, 4,
        # 5, 6 of the new stream are handed again (not dropped as seen), then acknowledged in
        # order, never beyond what was handed.
        self.fake.restart()
        self.subscribe()
        self.fake.notification(7, 7)
        self.fake.send(pb.DeliverReply(error=pb.DeliverError(
            code=pb.ERROR_CODE_NOT_SUBSCRIBED, message="subscribe again")))
        time.sleep(0.2)
        self.fake.subscribed(3, 2, 8)
        self.fake.notification(9, 7)
        for seq in (3, 4, 5, 6):
            self.fake.notification(seq, 8)
        self.wait_handed(9)
        self.assertEqual(self.handed, [(7, 1), (7, 2), (7, 3), (7, 4), (7, 5),
                                       (8, 3), (8, 4), (8, 5), (8, 6)])
        acks = self.fake.expect_acks_up_to(6)
        self.assertEqual(acks, sorted(acks))
        time.sleep(0.3)
        self.assertFalse(self.fake.router.poll(0), "an acknowledgement beyond what was handed")


class SubscriptionLoopTest(unittest.TestCase):
    """The caller's loop: a body that raises gets its notification again, and `timeout` counts
    time without a notification, heartbeats or not."""

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="parcours-pysub-")
        self.fake = FakeDaemon(f"ipc://{self.folder}/deliver.sock")
        self.sub = Subscription(self.fake.endpoint, "ft93")

    def tearDown(self):
        self.sub.close()
        self.fake.router.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def test_a_body_that_raises_gets_its_notification_again(self):
        handed, outcome = [], {}

        def consume():
            try:
                for n in self.sub.notifications(timeout=5):
                    if n.partner_seq == 2:
                        raise ValueError("the partner's system failed on 2")
                    handed.append(n.partner_seq)
            except ValueError:
                outcome["raised"] = True
            for n in self.sub.notifications(timeout=1):
                handed.append(n.partner_seq)

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        request = self.fake.expect()
        self.assertEqual(request.WhichOneof("kind"), "subscribe")
        self.fake.subscribed(1, 0, 7)
        self.fake.notification(1, 7)
        self.fake.notification(2, 7)
        # 1 was dealt with and acknowledged; 2 was not: the next call asks for it again.
        self.assertEqual(self.fake.expect_acks_up_to(1), [1])
        request = self.fake.expect()
        self.assertEqual(request.WhichOneof("kind"), "subscribe", request)
        self.assertEqual(getattr(request.subscribe, "from"), 2)
        self.fake.subscribed(2, 1, 7)
        self.fake.notification(2, 7)
        self.fake.notification(3, 7)
        self.assertEqual(self.fake.expect_acks_up_to(3)[-1], 3)
        reader.join(10)
        self.assertTrue(outcome.get("raised"))
        self.assertEqual(handed, [1, 2, 3])

    def test_timeout_counts_only_notifications(self):
        done = threading.Event()

        def consume():
            for _ in self.sub.notifications(timeout=0.5):
                pass
            done.set()

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        self.assertEqual(self.fake.expect().WhichOneof("kind"), "subscribe")
        self.fake.subscribed(1, 0, 7)
        started = time.monotonic()
        while not done.is_set() and time.monotonic() - started < 5:
            self.fake.send(pb.DeliverReply(heartbeat=pb.Heartbeat()))
            time.sleep(0.1)
        self.assertTrue(done.is_set(), "heartbeats kept a quiet stream from timing out")
        self.assertLess(time.monotonic() - started, 2.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
