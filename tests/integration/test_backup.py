#!/usr/bin/env python3
"""G9: hot backups are consistent and restore.

`parcoursctl backup DIR` runs while a partner sends events as fast as the daemon acks them.
The backup is then restored as README.md says (parcoursd --restore into a new data directory)
and a second daemon started on it. The copy must be one consistent moment of the first daemon:
  - everything acked before the backup began is in it;
  - re-sending the whole stream to the restored daemon, in the same order, answers DUPLICATE
    with the first daemon's seq for every event the copy holds, and ACCEPTED with the very seq
    the first daemon gave for every later one (so the log, the dedupe table and last_seq agree);
  - afterwards every pathway and history is the same in both daemons, byte for byte, and so is
    every partner's notification stream position.
Also: one backup at a time; a backup held open while the map must grow makes senders RETRY
(the copy thread reads the mapping, which must not move) and nothing crashes; a daemon stopped
during a backup exits at once and cleanly.
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import zmq

from harness import (PARCOURSCTL, PARCOURSD, Daemon, Subscriber, appointment, free_port,
                     metrics, pb, registered, send_and_wait, value)

BENEFICIARIES = 200
WINDOW = 200


def run_ctl(daemon, *args, timeout=120):
    return subprocess.run([PARCOURSCTL, "--admin", daemon.admin_endpoint, *args],
                          capture_output=True, text=True, timeout=timeout)


class Load(threading.Thread):
    """One partner connection sending `events` in order, pipelined, recording every ack."""

    def __init__(self, daemon, events):
        super().__init__(daemon=True)
        self.sock = daemon.connect()
        self.events = events
        self.acks = {}  # event_id -> Ack
        self.acked_in_order = []  # event ids, in ack order
        self.lock = threading.Lock()
        self.stop_sending = threading.Event()
        self.error = None

    def acked(self):
        with self.lock:
            return len(self.acked_in_order)

    def run(self):
        try:
            in_flight, sent = 0, 0
            while sent < len(self.events) or in_flight:
                while (in_flight < WINDOW and sent < len(self.events)
                       and not self.stop_sending.is_set()):
                    self.sock.send(self.events[sent].SerializeToString())
                    sent += 1
                    in_flight += 1
                if self.stop_sending.is_set() and sent < len(self.events):
                    self.events = self.events[:sent]
                if in_flight and self.sock.poll(1000):
                    ack = pb.Ack.FromString(self.sock.recv())
                    in_flight -= 1
                    with self.lock:
                        self.acks[ack.event_id] = ack
                        self.acked_in_order.append(ack.event_id)
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.sock.close()


class HandBackup:
    """A backup pulled by hand over the admin endpoint, part after part, as libparcours does."""

    def __init__(self, test, daemon):
        self.test = test
        self.sock = daemon.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(daemon.admin_endpoint)
        first = self.ask(0, 0)
        test.assertTrue(first.ok, first.error)
        test.assertNotEqual(first.backup.token, 0)
        self.token = first.backup.token
        self.data = bytearray(first.backup.data)

    def ask(self, token, offset):
        self.sock.send(pb.AdminRequest(command=pb.ADMIN_COMMAND_BACKUP, backup_token=token,
                                       backup_offset=offset).SerializeToString())
        self.test.assertTrue(self.sock.poll(20000), "no answer to a backup request")
        return pb.AdminReply.FromString(self.sock.recv())

    def finish(self):
        """Pulls the rest of the copy and returns it whole."""
        while True:
            reply = self.ask(self.token, len(self.data))
            self.test.assertTrue(reply.ok, reply.error)
            self.test.assertEqual(reply.backup.offset, len(self.data))
            self.data += reply.backup.data
            if reply.backup.done:
                return bytes(self.data)

    def close(self):
        self.sock.close()


def stream(prefix, count):
    """Registrations of every beneficiary, then `count` appointments among them."""
    events = [registered(f"{prefix}-r{b}", "cd93", f"B-{prefix}-{b}")
              for b in range(BENEFICIARIES)]
    events += [appointment(f"{prefix}-a{i}", "cd93", f"B-{prefix}-{i % BENEFICIARIES}")
               for i in range(count)]
    return events


class BackupTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="parcours-backup-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)

    def daemon(self, **kwargs):
        d = Daemon(**kwargs)
        self.daemons.append(d)
        return d

    def restore(self, backup_dir):
        """README's restore: parcoursd --restore into an empty data directory, then start."""
        restored = self.daemon()
        run = subprocess.run([PARCOURSD, "-c", restored.config, "--restore",
                              os.path.join(backup_dir, "data.mdb")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("new stream id", run.stdout)
        return restored.start()

    def write_copy(self, name, data):
        folder = os.path.join(self.folder, name)
        os.makedirs(folder)
        with open(os.path.join(folder, "data.mdb"), "wb") as f:
            f.write(data)
        return folder

    def stream_id(self, daemon, partner="ft93"):
        """The stream_id a subscriber is told, checked against the status' and a notification's."""
        sub = Subscriber(daemon, partner, window=1)
        try:
            self.assertTrue(sub.wait_for(1, timeout=30))
            self.assertIsNotNone(sub.subscribed)
            self.assertEqual(sub.received[0].stream_id, sub.subscribed.stream_id)
            self.assertEqual(daemon.status().stream_id, sub.subscribed.stream_id)
            self.assertNotEqual(sub.subscribed.stream_id, 0)
            return sub.subscribed.stream_id
        finally:
            sub.close()

    def test_hot_backup_under_load_restores_one_consistent_moment(self):
        first = self.daemon().start()
        events = stream("g9", 100000)
        load = Load(first, events)
        load.start()
        # A store of some size first, so that the copy takes a while under the load.
        while load.acked() < BENEFICIARIES + 25000 and load.is_alive():
            time.sleep(0.01)
        backup_dir = os.path.join(self.folder, "backup")
        acked_before = set(load.acked_in_order[:load.acked()])
        run = run_ctl(first, "backup", backup_dir, "--json")
        acked_after_backup = load.acked()
        # What the copy's moment can hold at most: the log as it stood when the backup ended.
        last_at_end = first.status().last_seq
        deadline = time.monotonic() + 30
        while load.acked() <= acked_after_backup + 1000 and load.is_alive():
            self.assertLess(time.monotonic(), deadline, "the load stopped with the backup")
            time.sleep(0.01)  # the load goes on after the copy
        load.stop_sending.set()
        load.join(120)
        self.assertIsNone(load.error)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn('"bytes":', run.stdout)
        events = load.events
        self.assertEqual(len(load.acks), len(events))
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in load.acks.values()))
        seq_of = {e: a.seq for e, a in load.acks.items()}
        self.assertGreater(len(events), acked_after_backup, "the load stopped with the backup")
        self.assertIn("backup: done", first.log())

        restored = self.restore(backup_dir)
        held = restored.status().last_seq
        print(f"G9: hot backup under load: {len(acked_before)} events acked before it began, "
              f"{held} in the copy, "
              f"{acked_after_backup} acked when it ended, {len(events)} in all; "
              f"copy {os.path.getsize(os.path.join(backup_dir, 'data.mdb'))} bytes, "
              f"live file {os.path.getsize(os.path.join(first.data, 'data.mdb'))} bytes")
        self.assertGreaterEqual(held, max(seq_of[e] for e in acked_before))
        # ... and nothing acked after it ended: the copy is one moment during the backup.
        self.assertLessEqual(held, last_at_end)

        # The same stream again, in the same order, on one connection.
        sock = restored.connect()
        acks = {}
        for i in range(0, len(events), 2000):
            for a in send_and_wait(sock, events[i:i + 2000], timeout=120):
                acks[a.event_id] = a
        sock.close()
        for e in events:
            a, first_seq = acks[e.event_id], seq_of[e.event_id]
            want = pb.ACK_STATUS_DUPLICATE if first_seq <= held else pb.ACK_STATUS_ACCEPTED
            self.assertEqual((a.status, a.seq), (want, first_seq), e.event_id)

        for b in range(BENEFICIARIES):
            beneficiary = f"B-g9-{b}"
            self.assertEqual(restored.pathway(beneficiary).SerializeToString(),
                             first.pathway(beneficiary).SerializeToString(), beneficiary)
            self.assertEqual([h.seq for h in restored.history(beneficiary)],
                             [h.seq for h in first.history(beneficiary)], beneficiary)
        self.assertEqual(restored.status().last_seq, first.status().last_seq)
        positions = {d.partner_id: d.last_partner_seq for d in first.status().deliveries}
        self.assertEqual({d.partner_id: d.last_partner_seq
                          for d in restored.status().deliveries}, positions)
        # The outboxes numbered again from the copy on: the restored streams say so with a new
        # stream_id, which a restart keeps.
        restored_stream = self.stream_id(restored)
        self.assertNotEqual(restored_stream, self.stream_id(first))
        self.assertEqual(restored.stop(), 0)
        restored.start()
        self.assertEqual(self.stream_id(restored), restored_stream)

    def test_restore_refuses_a_used_store_and_what_is_not_a_store(self):
        d = self.daemon().start()
        sock = d.connect()
        send_and_wait(sock, stream("refuse", 100))
        sock.close()
        backup_dir = os.path.join(self.folder, "backup")
        self.assertEqual(run_ctl(d, "backup", backup_dir).returncode, 0)
        d.stop()
        before = os.path.getmtime(os.path.join(d.data, "data.mdb"))
        run = subprocess.run([PARCOURSD, "-c", d.config, "--restore",
                              os.path.join(backup_dir, "data.mdb")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 1)
        self.assertIn("exists", run.stderr)
        self.assertEqual(os.path.getmtime(os.path.join(d.data, "data.mdb")), before)

        other = self.daemon()
        garbage = os.path.join(self.folder, "garbage.mdb")
        with open(garbage, "wb") as f:
            f.write(os.urandom(65536))
        for path, words in ((garbage, "not a store"), (os.path.join(self.folder, "none"),
                                                         "No such file")):
            run = subprocess.run([PARCOURSD, "-c", other.config, "--restore", path],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 1, run.stdout)
            self.assertIn(words, run.stderr)
            self.assertFalse(os.path.exists(os.path.join(other.data, "data.mdb")))

        # systemd's layout: the store path is a link into /var/lib/private. A link left
        # dangling (its directory moved away) is refused with what to do instead.
        linked = self.daemon()
        os.symlink(os.path.join(self.folder, "moved-away"), linked.data)
        run = subprocess.run([PARCOURSD, "-c", linked.config, "--restore",
                              os.path.join(backup_dir, "data.mdb")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertIn("move only its contents aside", run.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "only root can restore files for another user")
    def test_restore_as_root_gives_the_files_to_the_data_directory_owner(self):
        # An operator restores as root into the directory the daemon's (dynamic) user owns:
        # the files must be that user's, or the daemon cannot open them.
        d = self.daemon().start()
        backup_dir = os.path.join(self.folder, "backup")
        self.assertEqual(run_ctl(d, "backup", backup_dir).returncode, 0)
        d.stop()
        restored = self.daemon()
        os.makedirs(restored.data, mode=0o700)
        os.chown(restored.data, 61234, 61235)
        run = subprocess.run([PARCOURSD, "-c", restored.config, "--restore",
                              os.path.join(backup_dir, "data.mdb")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        for name in ("data.mdb", "lock.mdb"):
            st = os.stat(os.path.join(restored.data, name))
            self.assertEqual((st.st_uid, st.st_gid), (61234, 61235), name)

    def test_one_backup_at_a_time_and_never_over_an_existing_copy(self):
        d = self.daemon().start()
        sock = d.connect()
        send_and_wait(sock, stream("one", 2000))
        sock.close()
        # A backup started by hand and left half-way...
        by_hand = HandBackup(self, d)
        self.assertGreater(len(by_hand.data), 0)
        # ... refuses another one, with a sentence.
        second = os.path.join(self.folder, "second")
        run = run_ctl(d, "backup", second)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("already running", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(second, "data.mdb")))
        self.assertFalse(os.path.exists(os.path.join(second, "data.mdb.partial")))
        # A wrong offset or token is refused too; the right ones carry on to the end.
        for token, offset in ((by_hand.token, 1), (by_hand.token + 1, len(by_hand.data))):
            self.assertFalse(by_hand.ask(token, offset).ok)
        data = by_hand.finish()
        by_hand.close()
        # Now another may run; it refuses to write over an existing copy.
        run = run_ctl(d, "backup", second)
        self.assertEqual(run.returncode, 0, run.stderr)
        with open(os.path.join(second, "data.mdb"), "rb") as f:
            self.assertEqual(len(f.read()), len(data))
        self.assertEqual(os.stat(second).st_mode & 0o777, 0o700)
        run = run_ctl(d, "backup", second)
        self.assertEqual(run.returncode, 2)
        self.assertIn("never overwrites", run.stderr)
        # The hand-pulled copy restores as well as parcoursctl's.
        restored = self.restore(self.write_copy("by-hand", data))
        self.assertEqual(restored.status().last_seq, d.status().last_seq)

    def test_a_backup_held_open_fences_map_growth_then_releases_it(self):
        # A 1 MiB map, grown only 1 MiB ahead of the copy: while the copy thread holds the
        # mapping the map cannot move, so senders get RETRY; once the copy ends, the same events
        # go in.
        d = self.daemon(extra_config="store.initial_map_size = 1M\n"
                                     "store.backup_headroom = 1M").start()
        sock = d.connect()
        send_and_wait(sock, stream("fence", 500))
        at_start = d.status().last_seq
        by_hand = HandBackup(self, d)

        more = [appointment(f"fence-more-{i}", "cd93", f"B-fence-{i % BENEFICIARIES}")
                for i in range(40000)]
        statuses = {}
        for i in range(0, len(more), 2000):
            for a in send_and_wait(sock, more[i:i + 2000], timeout=120):
                statuses[a.event_id] = a.status
            if pb.ACK_STATUS_RETRY in statuses.values():
                break
        retried = [e for e in more if statuses.get(e.event_id) == pb.ACK_STATUS_RETRY]
        self.assertTrue(retried, "the map grew under a running copy")
        self.assertTrue(set(statuses.values()) <= {pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_RETRY})
        self.assertTrue(d.status().last_seq > 0)  # reads go on

        # The copy is pulled to its end: it is still the moment it began.
        data = by_hand.finish()
        by_hand.close()
        for a in send_and_wait(sock, retried, timeout=120):
            self.assertEqual(a.status, pb.ACK_STATUS_ACCEPTED, a)
        sock.close()
        self.assertGreater(d.status().last_seq, at_start + len(retried))
        restored = self.restore(self.write_copy("fenced", data))
        self.assertEqual(restored.status().last_seq, at_start)

    def test_backups_in_the_metrics(self):
        """Operators alert on the age of the last good backup: /metrics tells it."""
        port = free_port()
        d = self.daemon(extra_config=f"http.listen = 127.0.0.1:{port}").start()
        sock = d.connect()
        send_and_wait(sock, stream("metrics", 1000))
        sock.close()

        before = metrics(port)
        self.assertEqual(value(before, "parcours_backups_total", outcome="done"), 0)
        self.assertEqual(value(before, "parcours_backup_running"), 0)
        self.assertEqual(value(before, "parcours_backup_last_success_timestamp_seconds"), 0)
        by_hand = HandBackup(self, d)
        self.assertEqual(value(metrics(port), "parcours_backup_running"), 1)
        data = by_hand.finish()
        by_hand.close()
        after = metrics(port)
        self.assertEqual(value(after, "parcours_backup_running"), 0)
        self.assertEqual(value(after, "parcours_backups_total", outcome="done"), 1)
        self.assertEqual(value(after, "parcours_backups_total", outcome="failed"), 0)
        self.assertLess(abs(value(after, "parcours_backup_last_success_timestamp_seconds")
                            - time.time()), 60)
        self.assertEqual(value(after, "parcours_backup_last_success_bytes"), len(data))
        self.assertEqual(after["parcours_backups_total"]["type"], "counter")

    def test_a_backup_left_by_its_client_is_abandoned(self):
        d = self.daemon(extra_config="admin.backup_idle_timeout = 1").start()
        sock = d.connect()
        send_and_wait(sock, stream("idle", 3000))
        sock.close()
        left = HandBackup(self, d)  # one part, then its client goes quiet
        deadline = time.monotonic() + 20
        while "backup: abandoned after 1 s" not in d.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn("backup: abandoned after 1 s", d.log())
        reply = left.ask(left.token, len(left.data))
        self.assertFalse(reply.ok)
        self.assertIn("No backup with this token", reply.error)
        left.close()
        # The map may grow again and the next backup runs.
        run = run_ctl(d, "backup", os.path.join(self.folder, "next"))
        self.assertEqual(run.returncode, 0, run.stderr)

    def test_stop_during_a_backup(self):
        d = self.daemon().start()
        sock = d.connect()
        send_and_wait(sock, stream("stop", 20000))
        sock.close()
        HandBackup(self, d).close()  # started, then left
        started = time.monotonic()
        self.assertEqual(d.stop(timeout=30), 0)
        print(f"stop during a backup: {time.monotonic() - started:.2f} s")
        self.assertIn("backup: abandoned", d.log())
        d.start()
        run = run_ctl(d, "backup", os.path.join(self.folder, "after"))
        self.assertEqual(run.returncode, 0, run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
