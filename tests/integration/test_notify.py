#!/usr/bin/env python3
"""systemd readiness: parcoursd says READY=1 on the NOTIFY_SOCKET only once the store is open
and every endpoint answers, and STOPPING=1 when SIGTERM starts the drain. The test owns the
notify socket, as systemd would for a Type=notify unit."""

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
