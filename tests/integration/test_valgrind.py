#!/usr/bin/env python3
"""G11, valgrind half: the real parcoursd under memcheck, over a workload that goes through
every part of the daemon, must end with zero errors and no definite or indirect leak.

Runs only in a build without sanitizers (valgrind cannot run an ASan binary): tests/run.sh
makes build/valgrind for it and runs `ctest -L valgrind` there. The workload, modest because
memcheck is 20-50 times slower: pipelined ingest (accepted, duplicate, rejected, malformed
frames), two subscribers acking as they read and one replaying from the start, the admin
endpoint through parcoursctl (status, show, history, partners), the HTTP endpoint, a hot
backup with `parcoursctl backup` (the daemon's copy thread), a SIGHUP reload, then SIGTERM.
parcoursd must exit 0 (memcheck's --error-exitcode would make it 99) and its memcheck log must
say "ERROR SUMMARY: 0 errors" with nothing definitely or indirectly lost.
"""

import os
import re
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

os.environ.setdefault("PARCOURS_VALGRIND", "1")

import zmq  # noqa: E402

from harness import (PARCOURSCTL, Daemon, Subscriber, appointment, curve_keypair,  # noqa: E402
                     event, free_port, pb, registered, send_and_wait)

BENEFICIARIES = 100
APPOINTMENTS = 2800


def wait_for_log(daemon, text, timeout=60.0):
    deadline = time.monotonic() + timeout
    while text not in daemon.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    return text in daemon.log()


class ValgrindTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.daemon = Daemon(extra_config=f"http.listen = 127.0.0.1:{self.port}")

    def tearDown(self):
        self.daemon.cleanup()

    def ctl(self, *args):
        run = subprocess.run([PARCOURSCTL, "--admin", self.daemon.admin_endpoint, *args],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, f"parcoursctl {' '.join(args)}: {run.stderr}")
        return run.stdout

    def test_daemon_under_memcheck(self):
        started = time.monotonic()
        d = self.daemon.start()
        print(f"valgrind: started in {time.monotonic() - started:.1f} s", flush=True)
        ft = Subscriber(d, "ft93", window=50)
        ml = Subscriber(d, "ml93", window=20)

        # Ingest: registrations with ml93 as a member, then appointments, pipelined.
        sock = d.connect()
        frames = []
        for b in range(BENEFICIARIES):
            frames.append(registered(f"vg-r{b}", "cd93", f"B-vg-{b}"))
            frames.append(event(f"vg-m{b}", "cd93", f"B-vg-{b}",
                                member_joined=pb.MemberJoined(member_id="ml93")))
        frames += [appointment(f"vg-a{i}", "cd93", f"B-vg-{i % BENEFICIARIES}")
                   for i in range(APPOINTMENTS)]
        acks = []
        for i in range(0, len(frames), 200):
            acks += send_and_wait(sock, frames[i:i + 200], timeout=300)
            ft.poll(0)
            ml.poll(0)
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks))
        total = len(frames)
        # The same events again answer DUPLICATE; a wrong transition, another partner's id and
        # garbage are rejected, and the daemon goes on.
        again = send_and_wait(sock, frames[:50], timeout=300)
        self.assertTrue(all(a.status == pb.ACK_STATUS_DUPLICATE for a in again))
        bad = send_and_wait(sock, [registered("vg-r0-again", "cd93", "B-vg-0"),
                                   appointment("vg-nobody", "cd93", "B-vg-nobody"),
                                   b"\xff\xff\xff garbage", b""], timeout=300)
        self.assertTrue(all(a.status == pb.ACK_STATUS_REJECTED for a in bad), bad)
        sock.close()

        # Delivery: ft93 hears of every event but none of its own, ml93 of every one after
        # it joined (its own join included).
        self.assertTrue(ft.wait_for(total, timeout=300), len(ft.received))
        self.assertTrue(ml.wait_for(total - BENEFICIARIES, timeout=300), len(ml.received))
        self.assertEqual(sorted({n.partner_seq for n in ft.received}), list(range(1, total + 1)))
        ft.close()
        ml.close()
        # A replay from the start, a few at a time.
        replay = Subscriber(d, "ft93", start=1, window=100)
        self.assertTrue(replay.wait_for(300, timeout=300), len(replay.received))
        self.assertEqual(replay.received[0].partner_seq, 1)
        replay.close()

        # Admin, through parcoursctl and the HTTP endpoint.
        self.assertIn('"last_seq"', self.ctl("status", "--json"))
        self.assertIn("ml93", self.ctl("status"))
        self.assertIn("B-vg-7", self.ctl("show", "B-vg-7", "--json"))
        self.assertIn("B-vg-7", self.ctl("history", "B-vg-7", "--json"))
        self.assertIn("cd75", self.ctl("partners", "--json"))
        for path in ("/healthz", "/metrics"):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=60) as r:
                self.assertEqual(r.status, 200)

        # A hot backup: the daemon's copy thread, pulled part after part by parcoursctl.
        backup_dir = os.path.join(tempfile.mkdtemp(prefix="parcours-vg-"), "backup")
        self.assertIn('"bytes":', self.ctl("backup", backup_dir, "--json"))
        self.assertTrue(wait_for_log(d, "backup: done"))
        self.assertGreater(os.path.getsize(os.path.join(backup_dir, "data.mdb")), 0)
        subprocess.run(["rm", "-rf", os.path.dirname(backup_dir)], check=True)

        # A SIGHUP reload of the partners file, and an event after it.
        d.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for_log(d, "partners file reloaded"), d.log())
        sock = d.connect()
        self.assertEqual(send_and_wait(sock, [appointment("vg-last", "ml93", "B-vg-1")],
                                       timeout=300)[0].status, pb.ACK_STATUS_ACCEPTED)
        sock.close()

        # SIGTERM: a clean stop, and memcheck's verdict; then a restart on the same store
        # (recovery, a subscriber resuming from its cursor) and a second verdict.
        self.stop_and_check(d, "first run")
        d.start()
        resumed = Subscriber(d, "ft93", window=100)  # acked all but ml93's last event
        self.assertTrue(resumed.wait_for(1, timeout=300))
        self.assertEqual(resumed.received[0].partner_seq, total + 1)
        self.assertEqual(d.status().last_seq, total + 1)
        resumed.close()
        self.stop_and_check(d, "restart")
        print(f"valgrind: {total} events, workload, restart and stops in "
              f"{time.monotonic() - started:.1f} s", flush=True)

    def test_curve_and_a_stop_during_a_backup_under_memcheck(self):
        self.daemon.cleanup()
        self.daemon = d = Daemon(curve=True).start()
        cd = d.connect("cd93")
        frames = [registered(f"vc-r{b}", "cd93", f"B-vc-{b}") for b in range(200)]
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED
                            for a in send_and_wait(cd, frames, timeout=300)))
        # ZAP: an unknown key gets no answer, and emitting as another partner is refused.
        stranger = d.connect(keys=curve_keypair())
        stranger.send(appointment("vc-x", "cd93", "B-vc-1").SerializeToString())
        self.assertFalse(stranger.poll(2000))
        stranger.close()
        ml = d.connect("ml93")
        self.assertEqual(send_and_wait(ml, [appointment("vc-as", "cd93", "B-vc-1")],
                                       timeout=300)[0].status, pb.ACK_STATUS_REJECTED)
        ml.close()
        ft = Subscriber(d, "ft93", window=30)
        self.assertTrue(ft.wait_for(200, timeout=300), len(ft.received))
        ft.close()
        # ml93's key revoked by a SIGHUP reload: its connections are dropped.
        partners_path = os.path.join(d.folder, "partners.ini")
        with open(partners_path) as f:
            original = f.read()
        with open(partners_path, "w") as f:
            f.write(original.replace(f"public_key = {d.keys['ml93'][0].decode()}\n", ""))
        d.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for_log(d, "partners file reloaded"), d.log())
        # A backup started by hand over the admin endpoint and left half-way: SIGTERM must
        # abandon the copy thread cleanly.
        admin = d.context.socket(zmq.DEALER)
        admin.setsockopt(zmq.LINGER, 0)
        admin.connect(d.admin_endpoint)
        admin.send(pb.AdminRequest(command=pb.ADMIN_COMMAND_BACKUP, backup_token=0,
                                   backup_offset=0).SerializeToString())
        self.assertTrue(admin.poll(60000))
        first = pb.AdminReply.FromString(admin.recv())
        self.assertTrue(first.ok, first.error)
        admin.close()
        cd.close()
        self.stop_and_check(d, "curve")
        self.assertIn("backup: abandoned", d.log())

    def stop_and_check(self, d, name):
        """SIGTERM, exit status 0, and memcheck's log of that run: no error, no leak."""
        rc = d.stop()
        report_path = d.valgrind_log_paths[-1]
        with open(report_path) as f:
            report = f.read()
        summary = [line.split("== ", 1)[-1] for line in report.splitlines()
                   if re.search(r"(ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|"
                                r"still reachable|in use at exit|suppressed):", line)]
        for line in summary:
            print(f"valgrind ({name}): {line}")
        self.assertEqual(rc, 0, report)
        self.assertRegex(report, r"ERROR SUMMARY: 0 errors", report)
        for kind in ("definitely", "indirectly"):
            lost = re.search(kind + r" lost: ([\d,]+) bytes", report)
            self.assertTrue(lost is None or lost.group(1) == "0", report)
        self.assertTrue(d.log().rstrip().endswith("parcoursd stopped"), d.log()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
