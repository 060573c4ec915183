#!/usr/bin/env python3
"""parcoursctl against the real daemon: every command, human and --json output, exit codes,
and the demo territory's scenario file (so that seeds/ never drifts from the rules)."""

import json
import os
import subprocess
import unittest

from harness import PARCOURSCTL, Daemon

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SEEDS = os.path.join(ROOT, "seeds")


class ParcoursctlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(SEEDS, "partners.ini")) as f:
            cls.daemon = Daemon(partners=f.read()).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0

    def ctl(self, *args, stdin=None):
        return subprocess.run([PARCOURSCTL, "-c", self.daemon.config, *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    def test_1_scenario_of_the_demo_territory(self):
        run = self.ctl("emit", "--json", os.path.join(SEEDS, "scenario.jsonl"), "--output", "json")
        self.assertEqual(run.returncode, 1, run.stderr)  # the scenario ends with rejections
        results = [json.loads(line) for line in run.stdout.splitlines()]
        statuses = [r["status"] for r in results]
        self.assertEqual(statuses.count("ACCEPTED"), 23, run.stdout)
        rejected = [r["code"] for r in results if r["status"] == "REJECTED"]
        self.assertEqual(rejected, ["NOT_AUTHORISED", "INVALID_TRANSITION", "UNKNOWN_BENEFICIARY",
                                    "VERSION_CONFLICT", "INVALID_TRANSITION"])
        self.assertTrue(all(r["message"] for r in results if r["status"] == "REJECTED"))

        show = self.ctl("show", "B-93-0001", "--json")
        self.assertEqual(show.returncode, 0, show.stderr)
        pathway = json.loads(show.stdout)
        self.assertEqual(pathway["phase"], "EXITED")
        self.assertEqual(pathway["version"], 10)
        human = self.ctl("show", "B-93-0003")
        self.assertEqual(human.returncode, 0)
        self.assertIn("CONTRACTED", human.stdout)
        self.assertIn("ccas-est93", human.stdout)

        history = self.ctl("history", "B-93-0002", "--json")
        self.assertEqual(history.returncode, 0, history.stderr)
        text = history.stdout.strip()
        entries = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines()]
        self.assertEqual(len(entries), 8)

    def test_2_status_and_partners(self):
        status = self.ctl("status", "--json")
        self.assertEqual(status.returncode, 0, status.stderr)
        s = json.loads(status.stdout)
        self.assertTrue(s["durable"])
        self.assertIn("last_seq", s)
        human = self.ctl("status").stdout
        self.assertRegex(human, r"durable\s+yes")
        # Each partner's stream: after the demo scenario ft93 was told of 18 events and has
        # acknowledged none of them.
        ft = [d for d in s["deliveries"] if d["partner_id"] == "ft93"][0]
        self.assertEqual((int(ft["last_partner_seq"]), int(ft.get("cursor", 0)), int(ft["lag"])),
                         (18, 0, 18))
        self.assertRegex(human, r"\n  ft93\s+18\s+0\s+18\s+0\n")
        self.assertRegex(human, r"last seq\s+%d" % s["last_seq"])
        partners = json.loads(self.ctl("partners", "--json").stdout)
        ids = {p["partner_id"] for p in (partners if isinstance(partners, list) else partners["partners"])}
        self.assertIn("logistique93", ids)

    def test_3_emit_one_event_and_exit_codes(self):
        ok = self.ctl("emit", "BeneficiaryRegistered", "--as", "ml93", "--beneficiary", "B-ctl-1")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertIn("ACCEPTED", ok.stdout)
        again = self.ctl("emit", "BeneficiaryRegistered", "--as", "ml93", "--beneficiary", "B-ctl-1")
        self.assertEqual(again.returncode, 1)
        self.assertIn("INVALID_TRANSITION", again.stdout + again.stderr)
        decided = self.ctl("emit", "OrientationDecided", "--as", "cd93", "--beneficiary", "B-ctl-1",
                           "--pathway-type", "EMPLOI", "--referent-body", "MISSION_LOCALE",
                           "--structure-id", "ml93", "--json")
        self.assertEqual(decided.returncode, 0, decided.stdout + decided.stderr)
        self.assertEqual(json.loads(decided.stdout)["status"], "ACCEPTED")
        self.assertEqual(self.ctl("show", "B-nobody").returncode, 1)
        # Usage errors: 2, with a message saying what to do.
        for args in (["emit", "NoSuchEvent", "--as", "cd93", "--beneficiary", "B-1"],
                     ["emit", "OrientationDecided", "--as", "cd93", "--beneficiary", "B-1",
                      "--no-such-field", "x"],
                     ["emit", "OrientationDecided", "--as", "cd93", "--beneficiary", "B-1",
                      "--pathway-type", "NOT_A_TYPE"],
                     ["frobnicate"]):
            bad = self.ctl(*args)
            self.assertEqual(bad.returncode, 2, args)
            self.assertTrue(bad.stderr.strip(), args)
        # A JSON line that is not valid is refused with its line number, before anything is sent.
        bad_json = self.ctl("emit", "--json", "-", stdin='{"type":"BeneficiaryRegistered","as":"cd93",\n')
        self.assertEqual(bad_json.returncode, 2)
        self.assertIn(":1:", bad_json.stderr)

    def test_4_unreachable_daemon(self):
        run = subprocess.run([PARCOURSCTL, "--admin", "ipc:///nonexistent/admin.sock",
                              "--timeout", "500", "status"], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(run.returncode, 3)
        self.assertIn("parcoursd", run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
