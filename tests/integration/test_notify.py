#!/usr/bin/env python3
"""systemd readiness: parcoursd says READY=1 on the NOTIFY_SOCKET only once the store is open
and every endpoint answers, STOPPING=1 when SIGTERM starts the drain, and WATCHDOG=1 from its
loop when (and only when) systemd asks for it with WATCHDOG_USEC. The test owns the notify
socket, as systemd would for a Type=notify unit."""

import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import PARCOURSD, Daemon, appointment, pb, registered, send_and_wait


def notify_socket(daemon, **extra_env):
    """The datagram socket systemd would own for a Type=notify unit, in the daemon's folder, and
    the environment that points the daemon at it."""
    path = os.path.join(daemon.folder, "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(path)
    notify.settimeout(30)
    return notify, dict(os.environ, NOTIFY_SOCKET=path, **extra_env)


class NotifyTest(unittest.TestCase):
    def test_ready_only_when_the_endpoints_answer(self):
        daemon = Daemon(curve=True)
        notify, env = notify_socket(daemon)
        try:
            with open(daemon.log_path, "a") as log:
                daemon.process = subprocess.Popen([PARCOURSD, "-c", daemon.config], env=env,
                                                  stdout=log, stderr=subprocess.STDOUT)
            message = notify.recv(4096).decode()
            # At this instant, with no retry: the TCP endpoints accept connections...
            for endpoint in (daemon.ingest, daemon.deliver):
                host, port = endpoint.rsplit("/", 1)[1].split(":")
                with socket.create_connection((host, int(port)), timeout=1):
                    pass
            self.assertIn("READY=1", message.split("\n"))
            # ... and the daemon serves: an event is acked, the admin answers.
            sock = daemon.connect("cd93")
            ack = send_and_wait(sock, [registered("n-1", "cd93", "B-notify")])[0]
            sock.close()
            self.assertEqual(ack.status, pb.ACK_STATUS_ACCEPTED)
            self.assertTrue(daemon.status().durable)

            daemon.process.send_signal(signal.SIGTERM)
            messages = []
            deadline = time.monotonic() + 30
            while "STOPPING=1" not in messages and time.monotonic() < deadline:
                messages += notify.recv(4096).decode().split("\n")
            self.assertIn("STOPPING=1", messages)
            self.assertEqual(daemon.process.wait(30), 0)
            daemon.process = None
        finally:
            notify.close()
            daemon.cleanup()

    def start_watched(self, daemon, extra_env):
        """Starts the daemon with its output on a pipe nobody reads yet, and the notify socket;
        returns (notify socket, count(seconds) of WATCHDOG=1) once READY=1 came."""
        notify, env = notify_socket(daemon, **extra_env)
        daemon.process = subprocess.Popen([PARCOURSD, "-c", daemon.config], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertIn("READY=1", notify.recv(4096).decode().split("\n"))

        def count(span):
            pings, deadline = 0, time.monotonic() + span
            while time.monotonic() < deadline:
                notify.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    pings += notify.recv(4096).decode().split("\n").count("WATCHDOG=1")
                except socket.timeout:
                    pass
            return pings

        return notify, count

    def test_watchdog_pings_from_the_loop_when_asked(self):
        """WATCHDOG_USEC=400 ms: a ping every 200 ms while the loop turns, none while it is
        stuck. The loop is stuck the way a blocked journald would stick it: its log writes fill
        a pipe nobody reads, while libzmq's own threads go on. Reading the pipe frees it."""
        daemon = Daemon()
        notify = None
        try:
            notify, count = self.start_watched(daemon, {"WATCHDOG_USEC": "400000"})
            self.assertGreaterEqual(count(2.0), 5)

            # 1,500 rejected events: a log line each, far more than a pipe holds (64 KiB).
            sock = daemon.connect()
            total = 1500
            for i in range(total):
                sock.send(appointment(f"stall-{i}", "cd93", f"B-stall-{i}").SerializeToString())
            acks = 0
            while sock.poll(1500):  # until the acks stop coming
                sock.recv()
                acks += 1
            self.assertLess(acks, total, "the loop never blocked on its log")
            count(0.3)  # what was sent before it blocked
            self.assertEqual(count(1.5), 0, "pings while the loop was stuck")

            drained = threading.Thread(target=daemon.process.stdout.read, daemon=True)
            drained.start()
            self.assertGreaterEqual(count(1.0), 2, "no pings once the loop turned again")
            deadline = time.monotonic() + 30
            while acks < total and time.monotonic() < deadline:
                if sock.poll(100):
                    sock.recv()
                    acks += 1
            self.assertEqual(acks, total)
            sock.close()
            daemon.process.send_signal(signal.SIGTERM)
            self.assertEqual(daemon.process.wait(30), 0)
            daemon.process = None
        finally:
            if notify is not None:
                notify.close()
            daemon.cleanup()

    def test_no_watchdog_pings_unless_asked(self):
        daemon = Daemon()
        notify = None
        try:
            notify, count = self.start_watched(daemon, {})
            self.assertEqual(count(1.0), 0)
        finally:
            if notify is not None:
                notify.close()
            daemon.cleanup()

    def test_no_ready_when_the_start_fails(self):
        daemon = Daemon(curve=True)
        notify, env = notify_socket(daemon)
        notify.settimeout(3)
        try:
            os.chmod(os.path.join(daemon.folder, "parcoursd.secret"), 0o644)  # refused key
            run = subprocess.run([PARCOURSD, "-c", daemon.config], env=env, capture_output=True,
                                 text=True, timeout=30)
            self.assertNotEqual(run.returncode, 0)
            with self.assertRaises(socket.timeout):
                notify.recv(4096)
        finally:
            notify.close()
            daemon.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
