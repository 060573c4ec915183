#!/usr/bin/env python3
"""The HTTP endpoint on loopback: /healthz, /readyz, /metrics in Prometheus text format 0.0.4,
404 and 405, the refusal of a listen address off loopback, and the agreement of /metrics with
the admin Status on every figure the two show."""

import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import zmq

from harness import (PARCOURSD, PARTNERS, Daemon, Subscriber, decided, free_port, http_get,
                     metrics, pb, registered, send_and_wait, value)


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
                           ("parcours_lmdb_map_max_bytes", "gauge"),
                           ("parcours_ready", "gauge"),
                           ("parcours_lmdb_readers_used", "gauge"),
                           ("parcours_last_seq", "gauge"),
                           ("parcours_pathways", "gauge")):
            self.assertIn(name, families)
            self.assertEqual(families[name]["type"], kind, name)
        self.assertGreater(value(families, "parcours_lmdb_map_size_bytes"), 0)
        self.assertGreaterEqual(value(families, "parcours_lmdb_map_max_bytes"),
                                value(families, "parcours_lmdb_map_size_bytes"))
        self.assertEqual(value(families, "parcours_ready"), 1)
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


class HttpAgreesWithStatusTest(unittest.TestCase):
    """Status and /metrics render the same figures (daemon/figures.c): every figure both show must
    be the same in both, after events of every outcome, in two territories and two phases, a
    territory of the partners file with no pathway yet, and a subscriber that acknowledged part
    of its stream."""

    # cd13's territory has no pathway: both must show its rows, zeros included.
    PARTNERS_WITH_AN_EMPTY_TERRITORY = PARTNERS + (
        "[cd13]\nname = Departement 13 (synthetic)\nkind = DEPARTEMENT\nterritory = 13\n")

    def setUp(self):
        self.port = free_port()
        self.daemon = Daemon(partners=self.PARTNERS_WITH_AN_EMPTY_TERRITORY,
                             extra_config=f"http.listen = 127.0.0.1:{self.port}").start()

    def tearDown(self):
        rc = self.daemon.stop()
        self.daemon.cleanup()
        self.assertEqual(rc, 0, f"parcoursd exited with {rc} on SIGTERM")

    def snapshot(self):
        """Status and /metrics of one moment: a Status taken before and after the scrape, the
        same but for the uptime, says that nothing moved in between."""
        for _ in range(20):
            before, families, after = self.daemon.status(), metrics(self.port), self.daemon.status()
            before.uptime_ms = after.uptime_ms = 0
            if before == after:
                return after, families
            time.sleep(0.1)
        self.fail("the figures kept moving between two Status requests")

    def test_every_figure_shown_by_both_is_the_same(self):
        sock = self.daemon.connect()
        try:
            first = registered("agree-0", "cd93", "B-agree-0")
            acks = send_and_wait(sock, [first] + [registered(f"agree-{i}", "cd93", f"B-agree-{i}")
                                                  for i in range(1, 5)])
            acks += send_and_wait(sock, [
                decided("agree-decided", "cd93", "B-agree-0", "ml93",
                        pb.REFERENT_BODY_MISSION_LOCALE),
                registered("agree-75", "cd75", "B-agree-75")])
            self.assertEqual([a.status for a in acks], [pb.ACK_STATUS_ACCEPTED] * 7)
            again = send_and_wait(sock, [first, b"\xff\xff\xff"])
            self.assertEqual([a.status for a in again],
                             [pb.ACK_STATUS_DUPLICATE, pb.ACK_STATUS_REJECTED])
        finally:
            sock.close()
        # ft93 is told of the six events of territory 93 and acknowledges two of them.
        ft93 = Subscriber(self.daemon, "ft93", auto_ack=False)
        try:
            self.assertTrue(ft93.wait_for(6), f"ft93 got {len(ft93.received)} notifications")
            ft93.ack(ft93.received[1].partner_seq)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and {
                    d.partner_id: d.cursor for d in self.daemon.status().deliveries}["ft93"] != 2:
                time.sleep(0.05)
            status, families = self.snapshot()
        finally:
            ft93.close()

        # What the test did, so that agreement is not that of two empty answers.
        deliveries = {d.partner_id: d for d in status.deliveries}
        ft = deliveries["ft93"]
        self.assertEqual((ft.last_partner_seq, ft.cursor, ft.lag, ft.subscribers), (6, 2, 4, 1))
        self.assertEqual((status.last_seq, status.events_accepted, status.events_duplicate,
                          status.events_rejected), (7, 7, 1, 1))

        self.assertEqual(value(families, "parcours_last_seq"), status.last_seq)
        accepted = sum(v for _, labels, v in families["parcours_events_total"]["samples"]
                       if labels["outcome"] == "accepted")
        self.assertEqual(accepted, status.events_accepted)
        self.assertEqual(value(families, "parcours_events_total", type="", outcome="duplicate"),
                         status.events_duplicate)
        self.assertEqual(value(families, "parcours_events_total", type="", outcome="rejected"),
                         status.events_rejected)
        self.assertGreater(status.batches, 0)
        self.assertEqual(value(families, "parcours_batches_total"), status.batches)
        for family in ("parcours_batch_size", "parcours_commit_seconds"):
            self.assertEqual(value(families, family, family + "_count"), status.batches, family)
        # The means of Status are the histograms' sums over their counts.
        self.assertTrue(math.isclose(
            value(families, "parcours_batch_size", "parcours_batch_size_sum") / status.batches,
            status.batch_size_mean, rel_tol=1e-6))
        self.assertTrue(math.isclose(
            1000 * value(families, "parcours_commit_seconds", "parcours_commit_seconds_sum")
            / status.batches, status.commit_ms_mean, rel_tol=1e-6))

        # Per partner, the same partners in both. /metrics shows no cursor (only the lag and the
        # connections): the lag it shows must be the one Status derives from its cursor.
        lag = {s[1]["partner"]: s[2] for s in families["parcours_delivery_lag"]["samples"]}
        connections = {s[1]["partner"]: s[2]
                       for s in families["parcours_partner_connections"]["samples"]}
        self.assertEqual(set(lag), set(deliveries))
        self.assertEqual(set(connections), set(deliveries))
        for partner, d in deliveries.items():
            self.assertEqual(d.lag, d.last_partner_seq - d.cursor, partner)
            self.assertEqual(lag[partner], d.lag, partner)
            self.assertEqual(connections[partner], d.subscribers, partner)

        # Pathways per territory and phase: the same rows, zeros included, with the same counts.
        shown = {(c.territory, pb.Phase.Name(c.phase)[len("PHASE_"):]): c.count
                 for c in status.pathways_per_phase}
        scraped = {(s[1]["territory"], s[1]["phase"]): s[2]
                   for s in families["parcours_pathways"]["samples"]}
        self.assertEqual(scraped, shown)
        self.assertEqual({k: v for k, v in shown.items() if v},
                         {("93", "REFERRED"): 4, ("93", "ORIENTED"): 1, ("75", "REFERRED"): 1})
        self.assertIn(("13", "REFERRED"), shown)


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
