#!/usr/bin/env python3
"""The HTTP endpoint on loopback: /healthz, /readyz, /metrics in Prometheus text format 0.0.4,
404 and 405, and the refusal of a listen address off loopback."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import zmq

from harness import (PARCOURSD, PARTNERS, Daemon, free_port, http_get, metrics, pb, registered,
                     send_and_wait, value)


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.daemon = Daemon(extra_config=f"http.listen = 127.0.0.1:{cls.port}").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0, f"parcoursd exited with {rc} on SIGTERM"

    def request(self, method, path):
        return http_get(self.port, path, method)

    def metrics(self):
        return metrics(self.port)

    def test_healthz(self):
        self.assertEqual(self.request("GET", "/healthz")[::2], (200, "ok\n"))
        self.assertEqual(self.request("HEAD", "/healthz")[::2], (200, ""))

    def test_readyz(self):
        self.assertEqual(self.request("GET", "/readyz")[::2], (200, "ready\n"))

    def test_not_found_and_method(self):
        self.assertEqual(self.request("GET", "/nope")[0], 404)
        self.assertEqual(self.request("POST", "/metrics")[0], 405)
        self.assertEqual(self.request("DELETE", "/healthz")[0], 405)

    def test_metrics_families(self):
        families = self.metrics()
        for name, kind in (("parcours_events_total", "counter"),
                           ("parcours_rejections_total", "counter"),
                           ("parcours_batches_total", "counter"),
                           ("parcours_batch_size", "histogram"),
                           ("parcours_commit_seconds", "histogram"),
                           ("parcours_ack_latency_seconds", "histogram"),
                           ("parcours_delivery_lag", "gauge"),
                           ("parcours_partner_connections", "gauge"),
                           ("parcours_zap_refused_total", "counter"),
                           ("parcours_lmdb_map_size_bytes", "gauge"),
                           ("parcours_lmdb_map_used_bytes", "gauge"),
                           ("parcours_lmdb_readers_used", "gauge"),
                           ("parcours_last_seq", "gauge"),
                           ("parcours_pathways", "gauge")):
            self.assertIn(name, families)
            self.assertEqual(families[name]["type"], kind, name)
        self.assertGreater(value(families, "parcours_lmdb_map_size_bytes"), 0)
        self.assertIn("cd93", {s[1].get("partner") for s in
                               families["parcours_delivery_lag"]["samples"]})

    def test_counters_move_with_events(self):
        before = self.metrics()
        sock = self.daemon.connect()
        try:
            n = 5
            acks = send_and_wait(sock, [registered(f"http-{i}", "cd93", f"B-http-{i}")
                                        for i in range(n)])
            self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks))
            rejected = send_and_wait(sock, [b"\xff\xff\xff"])[0]
            self.assertEqual(rejected.status, pb.ACK_STATUS_REJECTED)
            code = pb.ErrorCode.Name(rejected.code)
        finally:
            sock.close()
        after = self.metrics()
        key = dict(type="BeneficiaryRegistered", outcome="accepted")
        self.assertEqual(value(after, "parcours_events_total", **key),
                         value(before, "parcours_events_total", **key) + n)
        self.assertEqual(value(after, "parcours_events_total", type="", outcome="rejected"),
                         value(before, "parcours_events_total", type="", outcome="rejected") + 1)
        self.assertEqual(value(after, "parcours_rejections_total", code=code),
                         value(before, "parcours_rejections_total", code=code) + 1)
        for family in ("parcours_batch_size", "parcours_commit_seconds"):
            self.assertGreater(value(after, family, family + "_count"),
                               value(before, family, family + "_count"))
        self.assertEqual(value(after, "parcours_ack_latency_seconds",
                               "parcours_ack_latency_seconds_count"),
                         value(before, "parcours_ack_latency_seconds",
                               "parcours_ack_latency_seconds_count") + n + 1)
        self.assertEqual(value(after, "parcours_last_seq"), value(before, "parcours_last_seq") + n)
        # Pathways per territory and phase, moved by the committed batches (no walk per scrape).
        referred = dict(territory="93", phase="REFERRED")
        self.assertEqual(value(after, "parcours_pathways", **referred),
                         value(before, "parcours_pathways", **referred) + n)


class HttpUnsentAcksTest(unittest.TestCase):
    def test_acks_a_gone_connection_cannot_take_are_counted_not_sent(self):
        port = free_port()
        daemon = Daemon(extra_config=f"http.listen = 127.0.0.1:{port}").start()
        try:
            before = value(metrics(port), "parcours_acks_unsent_total")
            for attempt in range(20):
                sock = daemon.context.socket(zmq.DEALER)
                sock.setsockopt(zmq.LINGER, 2000)  # the events go out, then the socket closes
                sock.connect(daemon.ingest)
                for i in range(200):
                    sock.send(registered(f"gone-{attempt}-{i}", "cd93",
                                         f"B-gone-{attempt}-{i}").SerializeToString())
                sock.close()
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and daemon.status().last_seq < 200 * (attempt + 1):
                    time.sleep(0.05)
                if value(metrics(port), "parcours_acks_unsent_total") > before:
                    break
            after = metrics(port)
            self.assertGreater(value(after, "parcours_acks_unsent_total"), before)
            self.assertIn("acks not sent", daemon.log())
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


class HttpReloadTest(unittest.TestCase):
    def test_a_reloaded_partners_file_shows_in_metrics_and_admin(self):
        """Admin and HTTP read the partners in force: after a SIGHUP that adds a partner, both
        show it (and neither reads the directory the reload freed)."""
        port = free_port()
        daemon = Daemon(extra_config=f"http.listen = 127.0.0.1:{port}").start()
        try:
            with open(os.path.join(daemon.folder, "partners.ini"), "a") as f:
                f.write("[asso93]\nname = Association 93 (synthetic)\nkind = ASSOCIATION\n"
                        "territory = 93\n")
            daemon.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while "partners file reloaded" not in daemon.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn("partners file reloaded", daemon.log())
            reply = daemon.admin(pb.ADMIN_COMMAND_PARTNERS)
            self.assertIn("asso93", [p.partner_id for p in reply.partners])
            self.assertIn("asso93", [d.partner_id for d in daemon.status().deliveries])
            families = metrics(port)
            self.assertIn("asso93", {s[1].get("partner") for s in
                                     families["parcours_delivery_lag"]["samples"]})
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


class HttpConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="parcours-http-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, listen):
        with open(os.path.join(self.dir, "partners.ini"), "w") as f:
            f.write(PARTNERS)
        path = os.path.join(self.dir, "parcoursd.conf")
        with open(path, "w") as f:
            f.write("[store]\npath = data\n[partners]\nfile = partners.ini\n[security]\n"
                    f"curve = no\n[http]\nlisten = {listen}\n")
        return subprocess.run([PARCOURSD, "-n", "-c", path], capture_output=True, text=True,
                              timeout=30)

    def test_loopback_accepted(self):
        for listen in ("127.0.0.1:7480", "127.1.2.3:80", "[::1]:7480", ""):
            run = self.check(listen)
            self.assertEqual(run.returncode, 0, f"{listen!r}: {run.stderr}")

    def test_non_loopback_refused(self):
        for listen in ("0.0.0.0:7480", "192.168.1.1:7480", "[::]:7480", "localhost:7480",
                       "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000"):
            run = self.check(listen)
            self.assertEqual(run.returncode, 1, listen)
            self.assertRegex(run.stderr, r"parcoursd\.conf:\d+: \[http\] listen must be a "
                                         r"loopback address")


if __name__ == "__main__":
    unittest.main()
