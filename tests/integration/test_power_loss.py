#!/usr/bin/env python3
"""G1 under power loss (issue 13): cut the power at random moments under pipelined load.

`kill -9` leaves the kernel's page cache whole, so the crash test cannot see a missing flush.
Here the data directory is a FUSE file system (tests/fault/powercut_fs.c) that holds every
write in memory until it is made durable (fsync, fdatasync, a write through an O_DSYNC
descriptor) and loses what it holds when it is killed: a power cut. Cuts alternate between
losing all of it and keeping a random part, sector by sector (newest bytes only, writes torn),
as a disk's cache may have written some before the power went. After every cut the daemon
starts again on what the disk kept. At the end every event acked ACCEPTED is there (re-sent, a
DUPLICATE with the seq of its first ack), and the log is whole.

The same test with `durable = no` must lose acked events, or the layer would prove nothing: it
runs first, as the control. PARCOURS_POWER_CUTS sets the number of cuts (default 12),
PARCOURS_POWER_SEED the seed. Needs /dev/fuse and root (CI has both).
"""

import os
import random
import signal
import subprocess
import time
import unittest

from harness import Daemon, appointment, pb, registered, send_and_wait

POWERCUT = os.environ.get("PARCOURS_POWERCUT_FS", "")
CUTS = int(os.environ.get("PARCOURS_POWER_CUTS", "12"))
SEED = int(os.environ.get("PARCOURS_POWER_SEED", str(int(time.time()))))
CLIENTS, BENEFICIARIES, WINDOW = 3, 30, 200


class PowerCut:
    """The data directory of a daemon on powercut_fs, over a backing directory."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.backing = os.path.join(daemon.folder, "disk")
        os.makedirs(self.backing, mode=0o700)
        os.makedirs(daemon.data, mode=0o700, exist_ok=True)
        self.fs = None
        self.log = open(os.path.join(daemon.folder, "powercut_fs.log"), "a")

    def mount(self, seed=0):
        self.fs = subprocess.Popen([POWERCUT, self.backing, self.daemon.data],
                                   stdout=self.log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, POWERCUT_SEED=str(seed)))
        deadline = time.monotonic() + 10
        while not os.path.ismount(self.daemon.data):
            if self.fs.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("powercut_fs did not mount; see powercut_fs.log")
            time.sleep(0.02)

    def cut(self, keep_some=False):
        """The power goes: the daemon dies, and so does every write not made durable, or
        (keep_some) all but a random part of them, which the disk kept (the part the file
        system's POWERCUT_SEED draws)."""
        if self.daemon.process is not None:
            self.daemon.kill()
        if self.fs is not None:
            if not keep_some:
                self.fs.kill()
            else:
                time.sleep(0.05)  # the dead daemon's last closes, served
                self.fs.send_signal(signal.SIGUSR1)
            self.fs.wait(30)
            self.fs = None
        subprocess.run(["fusermount3", "-u", "-z", self.daemon.data], capture_output=True)

    def close(self):
        self.cut()
        self.log.close()


class PowerLossTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
            self.skipTest("power loss: needs /dev/fuse and root")
        self.assertTrue(POWERCUT and os.path.exists(POWERCUT),
                        "PARCOURS_POWERCUT_FS must name the built powercut_fs")
        self.rng = random.Random(SEED)
        self.cleanups = []

    def tearDown(self):
        for c in reversed(self.cleanups):
            c()

    def run_cuts(self, extra_config, cuts):
        """cuts power cuts under load; returns (sent, accepted, daemon) with the daemon started
        on what the disk kept, or daemon None when it could not start on it."""
        d = Daemon(extra_config=extra_config)
        power = PowerCut(d)
        self.cleanups.append(d.cleanup)
        self.cleanups.append(power.close)
        power.mount()
        d.start()
        tag = f"{self.rng.getrandbits(32):08x}"
        people = [f"p93-{self.rng.getrandbits(128):032x}" for _ in range(CLIENTS * BENEFICIARIES)]
        sock = d.connect()
        frames = [registered(f"{tag}-reg-{i}", "cd93", p) for i, p in enumerate(people)]
        acks = send_and_wait(sock, frames)
        sock.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks[:3])
        sent = {f.event_id: f for f in frames}
        accepted = {a.event_id: a.seq for a in acks}
        counter = 0
        for cut in range(cuts):
            socks = [d.connect() for _ in range(CLIENTS)]
            in_flight = [0] * CLIENTS
            stop_at = time.monotonic() + self.rng.uniform(0.05, 0.6)
            while time.monotonic() < stop_at:
                for c, s in enumerate(socks):
                    while in_flight[c] < WINDOW:
                        counter += 1
                        person = people[c * BENEFICIARIES + self.rng.randrange(BENEFICIARIES)]
                        e = appointment(f"{tag}-{c}-{counter}", "cd93", person)
                        sent[e.event_id] = e
                        s.send(e.SerializeToString())
                        in_flight[c] += 1
                    while s.poll(0):
                        a = pb.Ack.FromString(s.recv())
                        in_flight[c] -= 1
                        if a.status in (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE):
                            accepted.setdefault(a.event_id, a.seq)
                time.sleep(0.0005)
            power.cut(keep_some=cut % 2 == 1)
            for s in socks:
                s.close()
            power.mount(self.rng.getrandbits(31))
            try:
                d.start()
            except RuntimeError:
                return sent, accepted, None
        return sent, accepted, d

    def resend(self, d, sent):
        sock = d.connect()
        frames = list(sent.values())
        answers = {}
        for i in range(0, len(frames), 1000):
            for a in send_and_wait(sock, frames[i:i + 1000], timeout=120):
                answers[a.event_id] = a
        sock.close()
        return answers

    def test_1_without_flushes_acked_events_are_lost(self):
        """The control: with durable = no, LMDB never syncs, and the cuts must show it."""
        sent, accepted, d = self.run_cuts("store.durable = no", 3)
        if d is None:
            lost = len(accepted)  # what the disk kept is not even a store the daemon opens
        else:
            answers = self.resend(d, sent)
            lost = sum(1 for event_id, seq in accepted.items()
                       if answers[event_id].status != pb.ACK_STATUS_DUPLICATE
                       or answers[event_id].seq != seq)
        print(f"power loss (control, durable = no): {lost} of {len(accepted)} acked events lost "
              f"over 3 cuts")
        self.assertGreater(lost, 0, "the power-cut layer let unsynced writes survive")

    def test_2_durable_loses_nothing_acked(self):
        print(f"power loss: {CUTS} cuts, seed {SEED}")
        sent, accepted, d = self.run_cuts("", CUTS)
        self.assertIsNotNone(d, "parcoursd could not start on what the disk kept")
        try:
            answers = self.resend(d, sent)
            self.assertEqual(len(answers), len(sent))
            for event_id, seq in accepted.items():
                a = answers[event_id]
                self.assertEqual(a.status, pb.ACK_STATUS_DUPLICATE, f"{event_id} acked, then lost")
                self.assertEqual(a.seq, seq, f"{event_id} changed seq")
            for a in answers.values():
                self.assertIn(a.status, (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE))
            # Every event sent is now applied once: the log is 1..N without a gap.
            status = d.status()
            self.assertEqual(status.last_seq, len(sent))
            per_person = {}
            for e in sent.values():
                per_person[e.beneficiary_id] = per_person.get(e.beneficiary_id, 0) + 1
            seqs = []
            for person, count in per_person.items():
                history = d.history(person)
                seqs.extend(h.seq for h in history)
                self.assertEqual(d.pathway(person).version, count, person)
            self.assertEqual(sorted(seqs), list(range(1, len(sent) + 1)))
        except BaseException:
            print(d.log()[-4000:])
            raise
        print(f"power loss: {CUTS} cuts survived, {len(accepted)} events acked before a cut, "
              f"none lost; log 1..{status.last_seq} complete")
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
