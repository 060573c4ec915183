#!/usr/bin/env python3
"""systemd readiness: parcoursd says READY=1 on the NOTIFY_SOCKET only once the store is open
and every endpoint answers, STOPPING=1 when SIGTERM starts the drain, and WATCHDOG=1 from its
loop when (and only when) systemd asks for it with WATCHDOG_USEC. The test owns the notify
socket, as systemd would for a Type=notify unit."""

import os
import signal
import socket
import subprocess
import time
import unittest

from harness import PARCOURSD, Daemon, pb, registered, send_and_wait


class NotifyTest(unittest.TestCase):
    def test_ready_only_when_the_endpoints_answer(self):
        daemon = Daemon(curve=True)
        notify_path = os.path.join(daemon.folder, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(30)
        try:
            env = dict(os.environ, NOTIFY_SOCKET=notify_path)
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

    def watchdog_pings(self, extra_env, seconds):
        """Starts the daemon with extra_env and counts WATCHDOG=1 over `seconds` after READY=1,
        and while it is stopped (SIGSTOP) for as long again."""
        daemon = Daemon(curve=True)
        notify_path = os.path.join(daemon.folder, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        try:
            env = dict(os.environ, NOTIFY_SOCKET=notify_path, **extra_env)
            with open(daemon.log_path, "a") as log:
                daemon.process = subprocess.Popen([PARCOURSD, "-c", daemon.config], env=env,
                                                  stdout=log, stderr=subprocess.STDOUT)
            notify.settimeout(30)
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

            running = count(seconds)
            # A loop that does not turn does not ping: stopped, the daemon must fall silent.
            daemon.process.send_signal(signal.SIGSTOP)
            count(0.3)  # what was already queued
            stopped = count(seconds)
            daemon.process.send_signal(signal.SIGCONT)
            return running, stopped
        finally:
            notify.close()
            daemon.cleanup()

    def test_watchdog_pings_from_the_loop_when_asked(self):
        # WATCHDOG_USEC=400 ms: a ping every 200 ms, so about ten in two seconds.
        running, stopped = self.watchdog_pings({"WATCHDOG_USEC": "400000"}, 2.0)
        self.assertGreaterEqual(running, 5)
        self.assertEqual(stopped, 0)

    def test_no_watchdog_pings_unless_asked(self):
        running, _ = self.watchdog_pings({}, 1.0)
        self.assertEqual(running, 0)

    def test_no_ready_when_the_start_fails(self):
        daemon = Daemon(curve=True)
        notify_path = os.path.join(daemon.folder, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(3)
        try:
            os.chmod(os.path.join(daemon.folder, "parcoursd.secret"), 0o644)  # refused key
            env = dict(os.environ, NOTIFY_SOCKET=notify_path)
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
