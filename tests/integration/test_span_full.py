#!/usr/bin/env python3
"""Spanning commits on a full disk: nothing acked is lost, and it is all told once there is room.

With `[store] commit_interval`, LMDB's commit of acknowledged batches waits to take the next
ones with it: the batches are durable in the write-ahead log, and the delivery thread sees them
at the span's commit (store.h, store_batch_defer). The daemon runs here with an LD_PRELOAD
interposer (tests/fault/fail_data_write.c) that fails LMDB's data page writes with ENOSPC while
a trigger file exists, as a file system without room would. Then:
  - before the fault, events are ACCEPTED and the subscriber is told of each;
  - with the fault, the span's commit fails: the batches acked in it stay waiting (replayed from
    the log into a span kept open), every later event is answered RETRY with STORAGE_FULL, the
    daemon lives, and its reads (status, show) count every event acked, the waiting ones too;
  - the trigger removed, the waiting span commits by itself: the subscriber is told of exactly
    every accepted event, each RETRY'd one is ACCEPTED when sent again;
  - after a kill -9 and a restart, every accepted event answers DUPLICATE with its seq.
"""

import os
import time
import unittest

from harness import Daemon, Subscriber, appointment, fault_env, pb, registered, send_and_wait

INTERPOSER = os.environ.get("PARCOURS_FAULT_DATA", "")
ACCEPTED, DUPLICATE, RETRY = pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE, pb.ACK_STATUS_RETRY
PEOPLE = 20


class SpanFullTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(INTERPOSER and os.path.exists(INTERPOSER),
                        "PARCOURS_FAULT_DATA must name the built interposer")
        self.daemon = Daemon(extra_config="store.commit_interval = 50")
        self.trigger = os.path.join(self.daemon.folder, "disk-full")
        self.fault_env = fault_env(INTERPOSER, self.trigger)

    def tearDown(self):
        self.daemon.cleanup()

    def told(self, sub, want, timeout=10.0):
        """Reads sub's stream until it holds want (a set of seqs) or the time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sub.poll(0.1)
            if {n.seq for n in sub.received} >= want:
                break
        return {n.seq for n in sub.received}

    def test_acked_batches_wait_for_room_and_are_told(self):
        d = self.daemon
        d.start(env=self.fault_env)
        try:
            self.run_fault(d)
        except BaseException:
            print(d.log()[-4000:])
            raise

    def run_fault(self, d):
        sub = Subscriber(d, "ft93", window=1000)
        sock = d.connect()
        people = [f"B-span-{i}" for i in range(PEOPLE)]
        accepted = {}  # event_id -> seq
        frames = {}
        before = [registered(f"reg-{b}", "cd93", b) for b in people]
        for a in send_and_wait(sock, before):
            self.assertEqual(a.status, ACCEPTED, a)
            accepted[a.event_id] = a.seq
        frames.update({e.event_id: e for e in before})
        self.assertEqual(self.told(sub, set(accepted.values())), set(accepted.values()),
                         "the subscriber was not told of the events before the fault")

        # The disk fills: rounds of one event per person, each sent when the last was answered,
        # until a round is all RETRY and the span's commit has been tried again since.
        open(self.trigger, "w").close()
        retried = {}
        accepted_during = 0
        for k in range(200):
            round_ = [appointment(f"appt-{b}-{k}", "cd93", b) for b in people]
            frames.update({e.event_id: e for e in round_})
            acks = send_and_wait(sock, round_)
            for a in acks:
                if a.status == ACCEPTED:
                    accepted[a.event_id] = a.seq
                    accepted_during += 1
                else:
                    self.assertEqual((a.status, pb.ErrorCode.Name(a.code)),
                                     (RETRY, "ERROR_CODE_STORAGE_FULL"), a)
                    retried[a.event_id] = frames[a.event_id]
            if all(a.status == RETRY for a in acks) and len(retried) >= 3 * PEOPLE:
                break
            time.sleep(0.02)
        self.assertGreater(accepted_during, 0, "no batch was acked before the span's commit")
        self.assertGreaterEqual(len(retried), 3 * PEOPLE, "the full disk never answered RETRY")
        self.assertIsNone(d.process.poll(), "parcoursd died")
        # Its reads count the batches waiting in the open span.
        self.assertEqual(d.status().last_seq, len(accepted))
        self.assertEqual(d.pathway(people[0]).version,
                         sum(1 for e in accepted if frames[e].beneficiary_id == people[0]))
        waiting = set(accepted.values()) - self.told(sub, set(accepted.values()), timeout=0.5)
        self.assertTrue(waiting, "events acked in the span were told before it could commit")

        # Room again: the span commits on its own, every accepted event is told.
        os.unlink(self.trigger)
        got = self.told(sub, set(accepted.values()))
        self.assertEqual(got, set(accepted.values()),
                         "the subscriber was not told of exactly the accepted events")
        for a in send_and_wait(sock, list(retried.values())):
            self.assertEqual(a.status, ACCEPTED, a)
            accepted[a.event_id] = a.seq
        self.assertEqual(sorted(accepted.values()), list(range(1, len(accepted) + 1)))
        sock.close()
        sub.close()

        # A crash and a restart: everything acked is there, with its seq.
        d.kill()
        d.start()
        sock = d.connect()
        for a in send_and_wait(sock, [frames[e] for e in accepted]):
            self.assertEqual((a.status, a.seq), (DUPLICATE, accepted[a.event_id]), a)
        sock.close()
        self.assertEqual(d.status().last_seq, len(accepted))
        self.assertEqual(d.stop(), 0)
        print(f"spanning commits on a full disk: {accepted_during} events acked before the "
              f"span's commit failed, {len(retried)} answered RETRY, all told once there was "
              f"room, none lost")


if __name__ == "__main__":
    unittest.main(verbosity=2)
