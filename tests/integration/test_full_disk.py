#!/usr/bin/env python3
"""G8 on a full filesystem: the daemon's data directory is a tiny tmpfs that fills under load.

The map may grow far beyond the tmpfs (max_map_size 1G), so the filesystem is what fills, not
the map. A filler file takes most of the tmpfs first, leaving a little room, and then:
  - several clients send events pipelined until the store cannot grow: every ack is ACCEPTED
    or RETRY with STORAGE_FULL (never a crash, a hang, REJECTED or MALFORMED);
  - while full: the process lives, admin status and show answer (and parcoursctl status),
    /healthz answers, a subscriber receives exactly the accepted events, further sends get
    RETRY, and a SIGKILL and restart on the full filesystem come back with everything acked;
  - the filler is deleted: every RETRY'd event, re-sent, is ACCEPTED (a RETRY applied nothing),
    and so are new events;
  - after a SIGTERM and restart, every event acked ACCEPTED comes back DUPLICATE with its seq,
    the log is 1..N with N the number accepted, and each pathway's version and history match.

The tmpfs needs a mount namespace of its own: the script re-executes itself under
`unshare --mount` (as root) or `unshare --user --map-root-user --mount`, and exits 77 (skipped)
when neither is allowed. The mount vanishes with the namespace.
"""

import os
import shutil
import subprocess
import sys
import time

NS_FLAG = "PARCOURS_FULL_DISK_NAMESPACE"
SKIP = 77
TMPFS_SIZE = 8 << 20   # bytes of the tmpfs holding the data directory
HEADROOM = 768 << 10   # bytes left free beside the filler file when the load starts


def enter_namespace():
    """Re-executes this script in a private mount namespace, or exits 77 saying why not."""
    if os.environ.get(NS_FLAG) == "1":
        return
    if shutil.which("unshare") is None:
        print("G8: SKIPPED, no unshare(1) to make a private mount namespace for the tmpfs")
        sys.exit(SKIP)
    attempts = []
    if os.geteuid() == 0:
        attempts.append(["unshare", "--mount", "--propagation", "private"])
    attempts.append(["unshare", "--user", "--map-root-user", "--mount", "--propagation",
                     "private"])
    probe = ('d=$(mktemp -d) && mount -t tmpfs -o size=1M tmpfs "$d" && umount "$d"; '
             's=$?; rmdir "$d"; exit $s')
    why = []
    for prefix in attempts:
        r = subprocess.run(prefix + ["sh", "-c", probe], capture_output=True, text=True)
        if r.returncode == 0:
            env = dict(os.environ, **{NS_FLAG: "1"})
            sys.stdout.flush()
            os.execvpe(prefix[0], prefix + [sys.executable, os.path.abspath(__file__)]
                       + sys.argv[1:], env)
        why.append(f"{' '.join(prefix)}: {(r.stderr or r.stdout).strip() or r.returncode}")
    print("G8: SKIPPED, cannot mount a tmpfs in a private mount namespace: " + "; ".join(why))
    sys.exit(SKIP)


if __name__ == "__main__":
    enter_namespace()

import unittest  # noqa: E402

from harness import (PARCOURSCTL, Daemon, Subscriber, appointment, free_port,  # noqa: E402
                     http_get, pb, registered, send_and_wait)

CLIENTS, BENEFICIARIES, WINDOW = 3, 40, 200
ACCEPTED, DUPLICATE, RETRY = pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE, pb.ACK_STATUS_RETRY


def fs_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """Writes a filler file in path until only about `leave` bytes stay free."""
    filler = os.path.join(path, "filler")
    chunk = b"\0" * (64 << 10)
    with open(filler, "wb") as f:
        while fs_free(path) > leave + len(chunk):
            f.write(chunk)
            f.flush()
    return filler


class Ledger:
    """Every event sent and every ack received."""

    def __init__(self):
        self.events = {}    # event_id -> Event, every event ever sent
        self.accepted = {}  # event_id -> seq of its ACCEPTED ack
        self.retried = {}   # event_id -> Event, RETRY'd and not accepted since
        self.retries = 0    # RETRY acks in all

    def take(self, test, ack, allow_retry=True):
        """Records one ack for an event never accepted before."""
        test.assertIn(ack.event_id, self.events, f"an ack for an unknown event: {ack}")
        test.assertNotIn(ack.event_id, self.accepted, f"accepted twice: {ack}")
        if ack.status == ACCEPTED:
            test.assertGreater(ack.seq, 0)
            self.accepted[ack.event_id] = ack.seq
            self.retried.pop(ack.event_id, None)
        elif ack.status == RETRY and allow_retry:
            test.assertEqual(pb.ErrorCode.Name(ack.code), "ERROR_CODE_STORAGE_FULL", ack.message)
            test.assertEqual(ack.seq, 0)
            self.retried[ack.event_id] = self.events[ack.event_id]
            self.retries += 1
        else:
            test.fail(f"unexpected ack: {pb.AckStatus.Name(ack.status)} "
                      f"{pb.ErrorCode.Name(ack.code)} {ack.message!r} for {ack.event_id}")

    def send(self, test, sock, frames, allow_retry=True, timeout=30.0):
        for f in frames:
            self.events[f.event_id] = f
        acks = send_and_wait(sock, frames, timeout=timeout)
        for a in acks:
            self.take(test, a, allow_retry)
        return acks


class FullDiskTest(unittest.TestCase):
    def test_g8_full_filesystem(self):
        self.http_port = free_port()
        daemon = Daemon(extra_config="store.max_map_size = 1G\n"
                                     f"http.listen = 127.0.0.1:{self.http_port}")
        os.makedirs(daemon.data)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs",
                        daemon.data], check=True)
        try:
            self.run_g8(daemon)
        except BaseException:
            print(daemon.log()[-4000:])
            raise
        finally:
            if daemon.process is not None:
                daemon.kill()
            subprocess.run(["umount", daemon.data])
            daemon.cleanup()

    def healthz(self):
        return http_get(self.http_port, "/healthz")[::2]

    def catch_up(self, daemon, sub, received):
        """Reads ft93's stream until it holds every partner_seq of its outbox; returns them."""
        last = {d.partner_id: d.last_partner_seq for d in daemon.status().deliveries}["ft93"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sub.poll(0.1)
            for n in sub.received:
                self.assertEqual(received.setdefault(n.partner_seq, n.seq), n.seq,
                                 "a redelivery differs")
            sub.received.clear()
            if len(received) >= last:
                break
        self.assertEqual(sorted(received), list(range(1, last + 1)), "ft93's stream has a gap")
        return received

    def check_reads(self, daemon, ledger):
        """Status, show and healthz answer, and agree with the accepted events."""
        self.assertIsNone(daemon.process.poll(), "parcoursd died")
        self.assertEqual(daemon.status().last_seq, len(ledger.accepted),
                         "the log does not hold exactly the events acked ACCEPTED")
        per_b = {}
        for event_id in ledger.accepted:
            b = ledger.events[event_id].beneficiary_id
            per_b[b] = per_b.get(b, 0) + 1
        for b in sorted(per_b)[::7]:
            self.assertEqual(daemon.pathway(b).version, per_b[b], b)
        self.assertEqual(self.healthz(), (200, "ok\n"))

    def run_g8(self, daemon):
        daemon.start()
        ledger = Ledger()
        t0 = time.monotonic()
        sub = Subscriber(daemon, "ft93", window=500)
        received = {}  # ft93's partner_seq -> seq

        # Open every pathway while there is room.
        sock = daemon.connect()
        ledger.send(self, sock, [registered(f"c{c}-b{b}-0", "cd93", f"B-full-{c}-{b}")
                                 for c in range(CLIENTS) for b in range(BENEFICIARIES)],
                    allow_retry=False)
        sock.close()
        filler = fill(daemon.data, HEADROOM)
        print(f"G8: tmpfs of {TMPFS_SIZE >> 10} KiB, {fs_free(daemon.data) >> 10} KiB left "
              f"beside the filler, map limit 1 GiB")

        # Load until the filesystem is full and RETRY has been answered for a while.
        socks = [daemon.connect() for _ in range(CLIENTS)]
        counters, in_flight = [0] * CLIENTS, [0] * CLIENTS
        first_retry = None
        full_at = None  # events sent when the filesystem was first seen with no room left
        deadline = time.monotonic() + 30
        while ledger.retries < 1500:
            self.assertLess(time.monotonic(), deadline,
                            f"no full filesystem after {len(ledger.accepted)} events")
            if full_at is None and fs_free(daemon.data) == 0:
                full_at = sum(counters)
            if full_at is not None and sum(counters) - full_at > 6000:
                break  # full for long enough; the checks below say whether RETRY came
            for c, s in enumerate(socks):
                while in_flight[c] < WINDOW:
                    counters[c] += 1
                    b = counters[c] % BENEFICIARIES
                    e = appointment(f"c{c}-b{b}-{counters[c]}", "cd93", f"B-full-{c}-{b}")
                    ledger.events[e.event_id] = e
                    s.send(e.SerializeToString())
                    in_flight[c] += 1
                while s.poll(0):
                    ledger.take(self, pb.Ack.FromString(s.recv()))
                    in_flight[c] -= 1
            if first_retry is None and ledger.retries:
                first_retry = len(ledger.accepted)
            sub.poll(0)
            for n in sub.received:
                received.setdefault(n.partner_seq, n.seq)
            sub.received.clear()
            time.sleep(0.001)
        for c, s in enumerate(socks):  # the last acks of the window
            while in_flight[c] > 0:
                self.assertTrue(s.poll(30_000), "an ack never came")
                ledger.take(self, pb.Ack.FromString(s.recv()))
                in_flight[c] -= 1
            s.close()
        full_accepted = len(ledger.accepted)
        print(f"G8: first RETRY after {first_retry} accepted; {full_accepted} accepted and "
              f"{ledger.retries} RETRY acks ({len(ledger.retried)} events) once full, "
              f"{fs_free(daemon.data)} bytes free")

        # While full: the daemon lives and serves reads, health and deliveries.
        self.check_reads(daemon, ledger)
        self.assertGreater(ledger.retries, 0, "a full filesystem never answered RETRY")
        if PARCOURSCTL:
            r = subprocess.run([PARCOURSCTL, "-c", daemon.config, "status"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.catch_up(daemon, sub, received)
        self.assertEqual(set(received.values()), set(ledger.accepted.values()),
                         "ft93 did not receive exactly the accepted events")
        # Further sends: RETRY, promptly, and the daemon still answers. The failed commits
        # extended the data file before they ran out of room, and commits free the pages they
        # copy, so some smaller batches may still fit: bursts of 300 go on until one is mostly
        # RETRY (in practice 90-100% of it).
        sock = daemon.connect()
        probes = []
        for burst in range(30):
            probe = [appointment(f"probe-{burst}-{i}", "cd93", f"B-full-0-{i % BENEFICIARIES}")
                     for i in range(300)]
            acks = ledger.send(self, sock, probe, timeout=30)
            probes.append(sum(a.status == RETRY for a in acks))
            if probes[-1] >= 225:
                break
        self.assertGreaterEqual(probes[-1], 225, f"a full filesystem took new events: {probes}")
        probe_retry = f"{probes} of 300 RETRY"
        # Re-sent while full, accepted events answer DUPLICATE with their seq.
        sample = sorted(ledger.accepted)[::50]
        for a in send_and_wait(sock, [ledger.events[i] for i in sample]):
            self.assertEqual((a.status, a.seq), (DUPLICATE, ledger.accepted[a.event_id]), a)
        sock.close()
        self.check_reads(daemon, ledger)

        # SIGKILL on the full filesystem, and a restart on it: everything acked is there.
        sub.close()
        daemon.kill()
        daemon.start()
        self.check_reads(daemon, ledger)
        sock = daemon.connect()
        for a in send_and_wait(sock, [ledger.events[i] for i in sample]):
            self.assertEqual((a.status, a.seq), (DUPLICATE, ledger.accepted[a.event_id]), a)
        sock.close()
        sub = Subscriber(daemon, "ft93", window=500)
        self.catch_up(daemon, sub, received)

        # Space comes back: every RETRY'd event, re-sent, is accepted, and new ones too.
        os.remove(filler)
        retried = list(ledger.retried.values())
        n_retried = len(retried)
        sock = daemon.connect()
        for i in range(0, len(retried), 500):
            ledger.send(self, sock, retried[i:i + 500], allow_retry=False)
        self.assertEqual(ledger.retried, {})
        fresh = [appointment(f"fresh-{i}", "cd93", f"B-full-{i % CLIENTS}-{i % BENEFICIARIES}")
                 for i in range(500)]
        ledger.send(self, sock, fresh, allow_retry=False)
        sock.close()
        self.check_reads(daemon, ledger)
        self.catch_up(daemon, sub, received)
        self.assertEqual(set(received.values()), set(ledger.accepted.values()))
        sub.close()

        # A clean restart: every accepted event is there once, with its seq; the log is 1..N.
        self.assertEqual(daemon.stop(), 0)
        daemon.start()
        frames = [ledger.events[i] for i in ledger.accepted]
        sock = daemon.connect()
        for i in range(0, len(frames), 1000):
            for a in send_and_wait(sock, frames[i:i + 1000], timeout=60):
                self.assertEqual(a.status, DUPLICATE, f"{a.event_id} acked, then lost")
                self.assertEqual(a.seq, ledger.accepted[a.event_id], f"{a.event_id} changed seq")
        sock.close()
        n = len(ledger.accepted)
        self.assertEqual(daemon.status().last_seq, n)
        per_b = {}
        for event_id in ledger.accepted:
            per_b.setdefault(ledger.events[event_id].beneficiary_id, set()).add(event_id)
        seqs = []
        for b, ids in per_b.items():
            history = daemon.history(b)
            self.assertEqual({h.event.event_id for h in history}, ids, b)
            self.assertEqual(daemon.pathway(b).version, len(ids), b)
            seqs.extend(h.seq for h in history)
        self.assertEqual(sorted(seqs), list(range(1, n + 1)), "the log has a gap")
        self.assertEqual(daemon.stop(), 0)
        print(f"G8: {n} events accepted in all ({full_accepted} before the space came back, "
              f"{n_retried} after a RETRY); probe bursts while full: {probe_retry}; "
              f"log 1..{n} complete after SIGKILL and SIGTERM restarts; "
              f"{time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    unittest.main(verbosity=2)
