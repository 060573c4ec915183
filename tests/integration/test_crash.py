#!/usr/bin/env python3
"""The crash test of G1-G3: SIGKILL parcoursd at random moments under pipelined load.

After every kill the daemon restarts on the same data directory. At the end:
  - every event acked ACCEPTED is in the store (G1): re-sent, it answers DUPLICATE with the
    seq of its first ack (G2);
  - the log has no gap: the beneficiaries' histories together hold exactly seqs 1..last_seq;
  - each pathway's version equals the number of distinct events applied to it.
PARCOURS_CRASH_KILLS sets the number of kills (default 20), PARCOURS_CRASH_SEED the seed.
"""

import os
import random
import time
import unittest

from harness import Daemon, appointment, pb, registered, send_and_wait

KILLS = int(os.environ.get("PARCOURS_CRASH_KILLS", "20"))
SEED = int(os.environ.get("PARCOURS_CRASH_SEED", str(int(time.time()))))
CLIENTS, BENEFICIARIES, WINDOW = 3, 40, 300


class CrashTest(unittest.TestCase):
    def test_sigkill_loses_nothing_acked(self):
        rng = random.Random(SEED)
        print(f"crash test: {KILLS} kills, seed {SEED}")
        daemon = Daemon().start()
        try:
            self.run_kills(daemon, rng)
        except BaseException:
            print(daemon.log()[-4000:])
            raise
        finally:
            daemon.cleanup()

    def run_kills(self, daemon, rng):
        # Open every pathway first; from then on every AppointmentRecorded is valid.
        sock = daemon.connect()
        frames = [registered(f"c{c}-b{b}-0", "cd93", f"B-crash-{c}-{b}")
                  for c in range(CLIENTS) for b in range(BENEFICIARIES)]
        acks = send_and_wait(sock, frames)
        sock.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks))
        sent = {f.event_id: f for f in frames}   # every event ever sent
        accepted = {a.event_id: a.seq for a in acks}  # acked ACCEPTED or DUPLICATE -> seq
        counters = [0] * CLIENTS

        for kill in range(KILLS):
            socks = [daemon.connect() for _ in range(CLIENTS)]
            in_flight = [0] * CLIENTS
            stop_at = time.monotonic() + rng.uniform(0.05, 0.6)
            while time.monotonic() < stop_at:
                for c, s in enumerate(socks):
                    while in_flight[c] < WINDOW:
                        counters[c] += 1
                        b = rng.randrange(BENEFICIARIES)
                        e = appointment(f"c{c}-b{b}-{counters[c]}", "cd93", f"B-crash-{c}-{b}")
                        sent[e.event_id] = e
                        s.send(e.SerializeToString())
                        in_flight[c] += 1
                    while s.poll(0):
                        a = pb.Ack.FromString(s.recv())
                        in_flight[c] -= 1
                        if a.status in (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE):
                            self.assertNotIn(a.event_id, accepted)
                            accepted[a.event_id] = a.seq
                        else:
                            self.fail(f"unexpected ack {a}")
                time.sleep(0.0005)
            daemon.kill()  # SIGKILL: whatever was in flight may or may not be committed
            for s in socks:
                s.close()
            daemon.start()

        # Re-send everything ever sent, acked or not.
        sock = daemon.connect()
        frames = list(sent.values())
        resent = {}
        for i in range(0, len(frames), 1000):
            for a in send_and_wait(sock, frames[i:i + 1000], timeout=120):
                resent[a.event_id] = a
        sock.close()
        self.assertEqual(len(resent), len(sent))
        for event_id, seq in accepted.items():
            a = resent[event_id]
            self.assertEqual(a.status, pb.ACK_STATUS_DUPLICATE, f"{event_id} acked, then lost")
            self.assertEqual(a.seq, seq, f"{event_id} changed seq")
        for a in resent.values():
            self.assertIn(a.status, (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE))

        # Now every event sent is applied exactly once: the log is 1..N without gap.
        status = daemon.status()
        self.assertEqual(status.last_seq, len(sent))
        seqs = []
        per_beneficiary = {}
        for e in sent.values():
            per_beneficiary[e.beneficiary_id] = per_beneficiary.get(e.beneficiary_id, 0) + 1
        for b, count in per_beneficiary.items():
            history = daemon.history(b)
            seqs.extend(h.seq for h in history)
            self.assertEqual(daemon.pathway(b).version, count, b)
            self.assertEqual(len(history), count, b)
        self.assertEqual(sorted(seqs), list(range(1, len(sent) + 1)))
        print(f"crash test: {len(sent)} events, {len(accepted)} acked before a kill, "
              f"{KILLS} kills, log 1..{status.last_seq} complete")
        self.assertEqual(daemon.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
