#!/usr/bin/env python3
"""G15: a store the daemon can no longer write makes it say so and stop, not RETRY forever.

LMDB commits by writing the data pages, syncing, then writing a meta page; when that last
write fails (a dying disk), it refuses every later transaction until the environment is opened
again. The daemon runs here with an LD_PRELOAD interposer (tests/fault/fail_meta_write.c) that
fails those writes with EIO while a trigger file exists. Then:
  - before the fault, events are acked ACCEPTED and /readyz answers 200;
  - with the fault, LMDB's commit fails: that of a batch (answered RETRY, UNAVAILABLE), or that
    of a span of batches already acknowledged from the write-ahead log (store.h,
    store_batch_defer), after which nothing more is ACCEPTED; /readyz answers 503, the failure
    is logged exactly once with what to do, and the process exits with status 1 on its own
    (systemd's Restart=on-failure then restarts it);
  - restarted without the fault on the same data directory, every event acked ACCEPTED, before
    or during the fault, is there (DUPLICATE with its seq), every event answered RETRY or never
    answered is ACCEPTED when sent again, and the log holds 1..N with no gap.
"""

import os
import re
import time
import unittest

from harness import (Daemon, appointment, fault_env, free_port, http_get, pb, registered,
                     send_and_wait)

INTERPOSER = os.environ.get("PARCOURS_FAULT_META", "")
LOG_LINE = "LMDB can no longer write it"
ACCEPTED, DUPLICATE, RETRY = pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE, pb.ACK_STATUS_RETRY


def readyz(port):
    """(status, body) of /readyz, or None once the process is gone."""
    try:
        status, _, body = http_get(port, "/readyz")
        return status, body
    except OSError:
        return None


class StoreUnusableTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(INTERPOSER and os.path.exists(INTERPOSER),
                        "PARCOURS_FAULT_META must name the built interposer")
        self.port = free_port()
        self.daemon = Daemon(extra_config=f"http.listen = 127.0.0.1:{self.port}")
        self.trigger = os.path.join(self.daemon.folder, "fail-meta-writes")
        self.fault_env = fault_env(INTERPOSER, self.trigger)

    def tearDown(self):
        self.daemon.cleanup()

    def test_a_failing_meta_write_stops_the_daemon_and_loses_nothing_acked(self):
        try:
            self.run_fault()
        except BaseException:
            print(self.daemon.log()[-4000:])
            raise

    def run_fault(self):
        d = self.daemon
        d.start(env=self.fault_env)
        sock = d.connect()
        beneficiaries = [f"B-unusable-{i}" for i in range(10)]
        before = [registered(f"reg-{b}", "cd93", b) for b in beneficiaries]
        before += [appointment(f"appt-{b}-0", "cd93", b) for b in beneficiaries]
        acks = send_and_wait(sock, before)
        self.assertEqual([a.status for a in acks], [ACCEPTED] * len(before), acks)
        acked = {a.event_id: a.seq for a in acks}
        self.assertEqual(readyz(self.port), (200, "ready\n"))

        open(self.trigger, "w").close()
        during = [appointment(f"appt-{b}-{k}", "cd93", b) for k in (1, 2, 3) for b in beneficiaries]
        for e in during:
            sock.send(e.SerializeToString())
        answered, statuses, ready_gauge = {}, [], None
        deadline = time.monotonic() + 30
        while d.process.poll() is None and time.monotonic() < deadline:
            if sock.poll(10):
                a = pb.Ack.FromString(sock.recv())
                answered[a.event_id] = a
            statuses.append(readyz(self.port))
            if statuses[-1] is not None and statuses[-1][0] == 503 and ready_gauge is None:
                try:  # what Prometheus reads meanwhile (ops/prometheus/alerts.yml)
                    _, _, text = http_get(self.port, "/metrics")
                    ready_gauge = re.search(r"^parcours_ready (\d)$", text, re.M).group(1)
                except OSError:
                    pass
        while sock.poll(100):  # acks sent just before the exit
            a = pb.Ack.FromString(sock.recv())
            answered[a.event_id] = a
        sock.close()
        rc = d.process.wait(5)
        d.process = None

        self.assertEqual(rc, 1, "the daemon must exit non-zero on its own")
        self.assertIn((503, "store unusable\n"), statuses,
                      f"/readyz never answered 503 before the exit: {set(statuses)}")
        self.assertEqual(ready_gauge, "0", "/metrics said ready while /readyz said 503")
        self.assertEqual(set(statuses) - {(200, "ready\n"), (503, "store unusable\n"), None},
                         set())
        self.assertTrue(answered, "the batch that met the fault got no ack")
        for a in answered.values():
            self.assertIn((a.status, a.code), [(RETRY, pb.ERROR_CODE_UNAVAILABLE), (ACCEPTED, 0)], a)
        during_acked = {e: a.seq for e, a in answered.items() if a.status == ACCEPTED}
        # Once a commit failed, nothing is ACCEPTED: the acks during the fault are those of the
        # batches before the first failed commit, in the order sent.
        order = [e.event_id for e in during]
        statuses_in_order = [answered[i].status for i in order if i in answered]
        self.assertEqual(statuses_in_order, sorted(statuses_in_order, key=lambda s: s != ACCEPTED),
                         "an event was ACCEPTED after one was answered RETRY")
        self.assertEqual(d.log().count(LOG_LINE), 1, "the failure must be logged exactly once")

        # Restarted without the fault: nothing acked is lost, nothing RETRY'd was applied.
        os.unlink(self.trigger)
        d.start()
        sock = d.connect()
        again = send_and_wait(sock, before)
        self.assertEqual([(a.status, a.seq) for a in again],
                         [(DUPLICATE, acked[e.event_id]) for e in before])
        after = send_and_wait(sock, during)
        self.assertEqual([(a.status, a.seq if a.status == DUPLICATE else None) for a in after],
                         [(DUPLICATE, during_acked[e.event_id]) if e.event_id in during_acked
                          else (ACCEPTED, None) for e in during], after)
        sock.close()
        seqs = sorted(list(acked.values()) + [a.seq for a in after])
        self.assertEqual(seqs, list(range(1, len(before) + len(during) + 1)))
        self.assertEqual(d.status().last_seq, len(before) + len(during))
        for b in beneficiaries:
            self.assertEqual(len(d.history(b)), 5, b)
        self.assertEqual(readyz(self.port), (200, "ready\n"))
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
