#!/usr/bin/env python3
"""Issue 16, items 2 and 3: the operator's kit in ops/ checked with the tools operators run.

- `promtool check rules` accepts ops/prometheus/alerts.yml, and `promtool test rules` passes
  ops/prometheus/alerts.test.yml (the lag, not-ready, down, map and backup alerts seen to fire
  on synthetic series, and not before);
- the Grafana dashboard ops/grafana/parcours.json and the alerts name only metrics a live
  parcoursd exports on /metrics (the real daemon, after some traffic), and the dashboard has a
  panel for each thing an operator watches;
- `crm_verify --xml-file` accepts ops/pacemaker/parcours-cib.xml offline, with no warning.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import Daemon, Subscriber, free_port, http_get, pb, registered, send_and_wait

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OPS = os.path.join(ROOT, "ops")
METRIC = re.compile(r"\bparcours_[a-z_]+\b")


def dashboard_exprs(doc):
    """Every PromQL expression of a Grafana dashboard: its panels' targets and its variables."""
    exprs = []
    for panel in doc["panels"]:
        exprs += [t["expr"] for t in panel.get("targets", [])]
        for inner in panel.get("panels", []):
            exprs += [t["expr"] for t in inner.get("targets", [])]
    for var in doc.get("templating", {}).get("list", []):
        q = var.get("query")
        if isinstance(q, dict):
            exprs.append(q.get("query", ""))
        elif var.get("type") == "query":
            exprs.append(q or "")
    return exprs


def exported(text):
    """The series names a /metrics text may hold: each family, and a histogram's series."""
    names = set()
    for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M):
        name, kind = m.groups()
        names.add(name)
        if kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def unknown_metrics(exprs, names):
    return sorted({m for e in exprs for m in METRIC.findall(e)} - names)


class OpsTest(unittest.TestCase):
    def run_tool(self, *command):
        if shutil.which(command[0]) is None:
            self.fail(f"{command[0]} is missing: tests/deps.sh installs it")
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def test_alert_rules_check_and_their_tests_pass(self):
        run = self.run_tool("promtool", "check", "rules",
                            os.path.join(OPS, "prometheus", "alerts.yml"))
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("SUCCESS: 8 rules found", run.stdout)
        run = self.run_tool("promtool", "test", "rules",
                            os.path.join(OPS, "prometheus", "alerts.test.yml"))
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("SUCCESS", run.stdout)
        # The tests can fail: the lag alert without its "for" fires too early.
        folder = tempfile.mkdtemp(prefix="parcours-alerts-")
        try:
            with open(os.path.join(OPS, "prometheus", "alerts.yml")) as f:
                rules = f.read()
            broken = rules.replace("parcours_delivery_lag > 100\n        for: 15m",
                                   "parcours_delivery_lag > 100\n        for: 0m")
            self.assertNotEqual(broken, rules)
            with open(os.path.join(folder, "alerts.yml"), "w") as f:
                f.write(broken)
            shutil.copy(os.path.join(OPS, "prometheus", "alerts.test.yml"), folder)
            run = self.run_tool("promtool", "test", "rules",
                                os.path.join(folder, "alerts.test.yml"))
            self.assertNotEqual(run.returncode, 0, run.stdout)
        finally:
            shutil.rmtree(folder)

    def test_pacemaker_configuration_verifies_offline(self):
        run = self.run_tool("crm_verify", "--xml-file",
                            os.path.join(OPS, "pacemaker", "parcours-cib.xml"), "-V")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertNotRegex(run.stdout + run.stderr, r"(?i)warning|error")
        with open(os.path.join(OPS, "pacemaker", "parcours-cib.xml")) as f:
            cib = f.read()
        # The pieces docs/high-availability.md relies on are there.
        for needle in ('type="drbd"', 'name="promotable" value="true"', 'class="systemd" '
                       'type="parcoursd"', 'type="IPaddr2"', 'type="Filesystem"',
                       'name="stonith-enabled" value="true"', 'with-rsc-role="Promoted"'):
            self.assertIn(needle, cib)

    def test_dashboard_and_alerts_name_only_exported_metrics(self):
        port = free_port()
        d = Daemon(extra_config=f"http.listen = 127.0.0.1:{port}").start()
        try:
            sock = d.connect()
            acks = send_and_wait(sock, [registered(f"ops-{i}", "cd93", f"B-ops-{i}")
                                        for i in range(5)])
            self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks))
            sock.close()
            sub = Subscriber(d, "ft93")  # a partner with a lag and a connection
            sub.wait_for(5, 10)
            status, _, text = http_get(port, "/metrics")
            sub.close()
        finally:
            d.stop()
            d.cleanup()
        self.assertEqual(status, 200)
        names = exported(text)
        with open(os.path.join(OPS, "grafana", "parcours.json")) as f:
            doc = json.load(f)
        exprs = dashboard_exprs(doc)
        self.assertGreater(len(exprs), 15)
        self.assertEqual(unknown_metrics(exprs, names), [])
        with open(os.path.join(OPS, "prometheus", "alerts.yml")) as f:
            self.assertEqual(unknown_metrics([f.read()], names), [])
        # The checker can fail: a metric the daemon does not export is named.
        self.assertEqual(unknown_metrics(exprs + ["rate(parcours_not_exported[5m])"], names),
                         ["parcours_not_exported"])
        # What an operator watches, each on the dashboard.
        named = {m for e in exprs for m in METRIC.findall(e)}
        for metric in ("parcours_events_total", "parcours_ack_latency_seconds_bucket",
                       "parcours_commit_seconds_bucket", "parcours_batch_size_sum",
                       "parcours_delivery_lag", "parcours_partner_connections",
                       "parcours_lmdb_map_used_bytes", "parcours_lmdb_map_max_bytes",
                       "parcours_backup_last_success_timestamp_seconds",
                       "parcours_deadlines_missed_total", "parcours_ready",
                       "parcours_rejections_total", "parcours_zap_refused_total"):
            self.assertIn(metric, named)


if __name__ == "__main__":
    unittest.main(verbosity=2)
