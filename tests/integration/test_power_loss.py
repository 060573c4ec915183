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

import glob
import os
import re
import random
import signal
import subprocess
import time
import unittest

import tempfile

import zmq

from harness import PARCOURSCTL, Daemon, appointment, pb, registered, send_and_wait

POWERCUT = os.environ.get("PARCOURS_POWERCUT_FS", "")
CUTS = int(os.environ.get("PARCOURS_POWER_CUTS", "12"))
SEED = int(os.environ.get("PARCOURS_POWER_SEED", str(int(time.time()))))
CLIENTS, BENEFICIARIES, WINDOW = 3, 30, 200


class PowerCut:
    """A daemon's data directory, and the folder of its erased register and journal, each on a
    powercut_fs of its own over a backing directory: the one disk whose power goes."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.state = os.path.join(daemon.folder, "state")
        self.mounts = [(os.path.join(daemon.folder, "disk-data"), daemon.data),
                       (os.path.join(daemon.folder, "disk-state"), self.state)]
        for backing, point in self.mounts:
            os.makedirs(backing, mode=0o700)
            os.makedirs(point, mode=0o700, exist_ok=True)
        self.fs = []
        self.log = open(os.path.join(daemon.folder, "powercut_fs.log"), "a")

    def mount(self, seed=0):
        for i, (backing, point) in enumerate(self.mounts):
            fs = subprocess.Popen([POWERCUT, backing, point], stdout=self.log,
                                  stderr=subprocess.STDOUT,
                                  env=dict(os.environ, POWERCUT_SEED=str(seed + i)))
            self.fs.append(fs)
            deadline = time.monotonic() + 10
            while not os.path.ismount(point):
                if fs.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("powercut_fs did not mount; see powercut_fs.log")
                time.sleep(0.02)

    def cut(self, keep_some=False):
        """The power goes: the daemon dies, and so does every write not made durable, or
        (keep_some) all but a random part of them, which the disk kept (the part the file
        system's POWERCUT_SEED draws)."""
        if self.daemon.process is not None:
            self.daemon.kill()
        if keep_some:
            time.sleep(0.05)  # the dead daemon's last closes, served
        for fs in self.fs:
            if keep_some:
                fs.send_signal(signal.SIGUSR1)
            else:
                fs.kill()
        for fs in self.fs:
            fs.wait(30)
        self.fs = []
        for _, point in self.mounts:
            subprocess.run(["fusermount3", "-u", "-z", point], capture_output=True)

    def close(self):
        self.cut()
        self.log.close()


class PowerLossTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
            print("power loss: SKIPPED, needs /dev/fuse and root (CI has both)")
            self.skipTest("power loss: needs /dev/fuse and root")
        self.assertTrue(POWERCUT and os.path.exists(POWERCUT),
                        "PARCOURS_POWERCUT_FS must name the built powercut_fs")
        self.rng = random.Random(SEED)
        self.cleanups = []
        self.daemons_seen = []

    def tearDown(self):
        for c in reversed(self.cleanups):
            c()

    def run_cuts(self, extra_config, cuts, keeping=1):
        """cuts power cuts under load, each right after a person's erasure was answered (every
        other cut); returns (sent, accepted, erased, daemon) with the daemon started on what the
        disk kept, or daemon None when it could not start on it."""
        folder = tempfile.mkdtemp(prefix="parcours-it-")
        state = os.path.join(folder, "state")
        d = Daemon(folder=folder, extra_config=extra_config + "\n"
                   f"store.erased_register = {state}/erased.register\n"
                   f"journal.path = {state}/journal\n")
        power = PowerCut(d)
        self.daemons_seen.append(d)
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
        erased = []
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
                        if person in erased:
                            continue
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
            if cut % 3 == 0:
                # Every answer in, then an erasure answered, then the power goes (which cuts
                # lose everything and which keep a part, below, fall on both kinds).
                drain_until = time.monotonic() + 30
                for c, s in enumerate(socks):
                    while in_flight[c] > 0 and time.monotonic() < drain_until:
                        if s.poll(100):
                            a = pb.Ack.FromString(s.recv())
                            in_flight[c] -= 1
                            if a.status in (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE):
                                accepted.setdefault(a.event_id, a.seq)
                person = self.rng.choice([p for p in people if p not in erased])
                reply = self.erase(d, person)
                self.assertTrue(reply.ok, reply.error)
                erased.append(person)
            power.cut(keep_some=cut % 2 == keeping)
            # The acks the daemon sent before it died are acks: read every one of them.
            for c, s in enumerate(socks):
                while s.poll(0):
                    a = pb.Ack.FromString(s.recv())
                    if a.status in (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE):
                        accepted.setdefault(a.event_id, a.seq)
            for s in socks:
                s.close()
            power.mount(self.rng.getrandbits(31))
            try:
                d.start()
            except RuntimeError:
                return sent, accepted, erased, None
        return sent, accepted, erased, d

    @staticmethod
    def erase(d, person):
        s = d.context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(d.admin_endpoint)
        try:
            s.send(pb.AdminRequest(command=pb.ADMIN_COMMAND_ERASE, beneficiary_id=person,
                                   erasure_reason=pb.ERASURE_REASON_REQUEST).SerializeToString())
            if not s.poll(30000):
                raise TimeoutError("the admin endpoint did not answer the erasure")
            return pb.AdminReply.FromString(s.recv())
        finally:
            s.close()

    @staticmethod
    def cuts_met(d):
        """The writes not yet durable each keeping cut met, from powercut_fs's log."""
        with open(os.path.join(d.folder, "powercut_fs.log")) as f:
            return [int(line.split()[3]) for line in f if "cut with" in line]

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
        # Its first cut keeps a part: after it, the store it left holds what the later rounds
        # act on.
        sent, accepted, _, d = self.run_cuts("store.durable = no", 3, keeping=0)
        if d is None:
            lost = len(accepted)  # what the disk kept is not even a store the daemon opens
        else:
            answers = self.resend(d, sent)
            lost = sum(1 for event_id, seq in accepted.items()
                       if answers[event_id].status != pb.ACK_STATUS_DUPLICATE
                       or answers[event_id].seq != seq)
        # Its keeping cut met what the daemon never synced: the layer holds writes.
        met = self.cuts_met(self.daemons_seen[-1])
        self.assertTrue(met and sum(met) > 0, f"the keeping cut met no unsynced write: {met}")
        print(f"power loss (control, durable = no): {lost} of {len(accepted)} acked events lost "
              f"over 3 cuts, its keeping cut met {sum(met)} writes not yet durable")
        self.assertGreater(lost, 0, "the power-cut layer let unsynced writes survive")

    def test_2_durable_loses_nothing_acked(self):
        print(f"power loss: {CUTS} cuts, seed {SEED}")
        # Checkpoints every 50 ms rather than every second: many cuts then fall while one runs,
        # with records in two segments (store/wal.h), and recovery must read both.
        self.check_durable("store.checkpoint_interval = 50", CUTS, "")

    def test_3_per_batch_commits_lose_nothing_acked(self):
        # By default LMDB's commit of acked batches waits up to 5 ms for the next ones (store.h,
        # store_batch_defer): at a cut, batches acked from the log are not in the data file at
        # all. With commit_interval 0 each batch commits at once, visible before it is durable.
        cuts = max(2, CUTS // 2)
        print(f"power loss (commit_interval 0): {cuts} cuts, seed {SEED}")
        self.check_durable("store.checkpoint_interval = 50\nstore.commit_interval = 0", cuts,
                           " (commit_interval 0)")

    def check_durable(self, extra_config, cuts, label):
        sent, accepted, erased, d = self.run_cuts(extra_config, cuts)
        self.assertIsNotNone(d, "parcoursd could not start on what the disk kept")
        try:
            answers = self.resend(d, sent)
            self.assertEqual(len(answers), len(sent))
            for event_id, seq in accepted.items():
                a = answers[event_id]
                self.assertEqual(a.status, pb.ACK_STATUS_DUPLICATE, f"{event_id} acked, then lost")
                self.assertEqual(a.seq, seq, f"{event_id} changed seq")
            # An event never acked, lost at a cut, about a person erased since: refused now.
            refused = 0
            for a in answers.values():
                if (a.status == pb.ACK_STATUS_REJECTED and a.event_id not in accepted
                        and sent[a.event_id].beneficiary_id in erased):
                    refused += 1
                    continue
                self.assertIn(a.status, (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE), a)
            # An erasure answered before the cut holds after it: no pathway, and the re-sent
            # events above (DUPLICATE) brought no one back.
            for person in erased:
                self.assertIsNone(d.pathway(person), f"{person} erased, then back")
            # Every event sent is now applied once, and each erasure wrote its notice: the log
            # is 1..N without a gap, the living persons' events in their histories.
            status = d.status()
            self.assertEqual(status.last_seq, len(sent) - refused + len(erased))
            per_person = {}
            for e in sent.values():
                per_person[e.beneficiary_id] = per_person.get(e.beneficiary_id, 0) + 1
            seqs = []
            for person, count in per_person.items():
                if person in erased:
                    continue
                history = d.history(person)
                seqs.extend(h.seq for h in history)
                self.assertEqual(d.pathway(person).version, count, person)
            self.assertEqual(len(seqs), len(set(seqs)))
            self.assertTrue(all(1 <= q <= status.last_seq for q in seqs))
            # The journal, on the same disk, is whole after every cut.
            run = subprocess.run([PARCOURSCTL, "-c", d.config, "journal", "verify"],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            # And holds each erasure answered before a cut: journaled before it was answered.
            records = []
            for path in glob.glob(os.path.join(d.folder, "state", "journal", "*.journal")):
                with open(path) as f:
                    records += [line.split("\t") for line in f]
            answered = [r for r in records if r[3] == "ERASE" and r[5] == "answered"]
            self.assertEqual(len(answered), len(erased), "an answered erasure not journaled")
            # What the keeping cuts met: the data file's pages written since its last checkpoint
            # (a durable daemon flushes its write-ahead log at every batch, the data file at each
            # checkpoint), which the cut keeps in part and tears.
            met = self.cuts_met(d)
            # Each start after a cut brought the data file back to its last checkpoint and
            # replayed the write-ahead log's records after it: the recovery was exercised.
            replays = [int(n) for n in re.findall(r"; (\d+) write-ahead records replayed",
                                                  d.log())]
            self.assertTrue(replays and sum(replays) > 0, "no start replayed the log")
        except BaseException:
            print(d.log()[-4000:])
            raise
        print(f"power loss{label}: the cuts that kept a part met {sum(met)} writes not yet "
              f"durable; {len(replays)} starts replayed {sum(replays)} write-ahead records")
        print(f"power loss{label}: {cuts} cuts survived, {len(accepted)} events acked before a "
              f"cut, none lost, {len(erased)} erasures answered before a cut, all held; "
              f"log 1..{status.last_seq}, journal whole")
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
