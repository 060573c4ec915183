#!/usr/bin/env python3
"""parcoursctl against the real daemon: every command, human and --json output, exit codes,
and the demo territory's scenario file (so that seeds/ never drifts from the rules)."""

import json
import os
import subprocess
import time
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

    def test_0_usage_errors_and_an_absent_socket_said_at_once(self):
        # A malformed id: exit 2, before anything is sent (no daemon needed at all).
        for command in ("show", "history", "export"):
            run = subprocess.run([PARCOURSCTL, "--admin", "ipc:///nonexistent/admin.sock",
                                  command, "bad id!"], capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 2, command + run.stderr)
            self.assertIn("is not a beneficiary id", run.stderr)
        # A file where the backup's folder should be: exit 2, before the daemon is asked.
        run = subprocess.run([PARCOURSCTL, "--admin", "ipc:///nonexistent/admin.sock", "backup",
                              __file__], capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertIn("is not a folder", run.stderr)
        # Every option as --name=value too, before and after the command; --help on stdout.
        run = subprocess.run([PARCOURSCTL, "--admin=ipc:///nonexistent/admin.sock",
                              "--timeout=300", "status"], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(run.returncode, 3, run.stderr)
        self.assertIn("no parcoursd admin socket at /nonexistent/admin.sock", run.stderr)
        run = subprocess.run([PARCOURSCTL, "--ingest=tcp://127.0.0.1:1", "emit", "--json=-",
                              "--window=5"], input="", capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        run = subprocess.run([PARCOURSCTL, "--ingest", "tcp://127.0.0.1:1", "emit", "--json", "-",
                              "--window=5"], input="", capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        # A value that looks like an option is the value of the option before it: kept whole,
        # never split, never taken for --help (the daemon is asked, and does not answer here).
        for value in ("--ref=7", "--help"):
            run = subprocess.run([PARCOURSCTL, "--ingest", "tcp://127.0.0.1:1", "--timeout", "300",
                                  "emit", "ReferentAssigned", "--as", "ml93", "--beneficiary",
                                  "B-1", "--referent_partner_id", "ml93", "--professional_ref",
                                  value], capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 3, f"{value}: {run.stdout} {run.stderr}")
        for command in ("status", "emit", "tail", "backup"):
            run = subprocess.run([PARCOURSCTL, command, "--help"], capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual((run.returncode, run.stderr), (0, ""), command)
            self.assertIn(f"parcoursctl {command}", run.stdout)
        # No socket file where the endpoint says: exit 3 at once, not after the timeout.
        start = time.monotonic()
        run = subprocess.run([PARCOURSCTL, "--admin", "ipc:///nonexistent/admin.sock", "status"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 3, run.stderr)
        self.assertIn("no parcoursd admin socket at /nonexistent/admin.sock", run.stderr)
        self.assertLess(time.monotonic() - start, 2.0)

    def test_0_a_partner_or_a_configuration_that_is_not_one(self):
        # With -c, a partner the partners file does not hold is a usage error, said before
        # anything is sent: emit, emit --json (every line), tail.
        for args, stdin in ((["emit", "BeneficiaryRegistered", "--as", "nobody93",
                              "--beneficiary", "B-ctl-x"], None),
                            (["emit", "--json", "-"],
                             json.dumps({"type": "BeneficiaryRegistered", "as": "nobody93",
                                         "beneficiary": "B-ctl-x"}) + "\n"),
                            (["tail", "--as", "nobody93", "--idle", "1"], None)):
            before = self.daemon.status().last_seq
            run = self.ctl(*args, stdin=stdin)
            self.assertEqual(run.returncode, 2, f"{args}: {run.stderr}")
            self.assertIn("nobody93 is not a partner of this territory", run.stderr)
            self.assertEqual(self.daemon.status().last_seq, before)
        # A file that is not a parcoursd configuration (here, the partners file itself).
        partners = os.path.join(self.daemon.folder, "partners.ini")
        run = subprocess.run([PARCOURSCTL, "-c", partners, "status"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertIn("is not a parcoursd configuration", run.stderr)

    def test_1_scenario_of_the_demo_territory(self):
        run = self.ctl("emit", "--json", os.path.join(SEEDS, "scenario.jsonl"), "--output", "json")
        self.assertEqual(run.returncode, 1, run.stderr)  # the scenario ends with rejections
        results = [json.loads(line) for line in run.stdout.splitlines()]
        statuses = [r["status"] for r in results]
        self.assertEqual(statuses.count("ACK_STATUS_ACCEPTED"), 32, run.stdout)
        rejected = [r for r in results if r["status"] == "ACK_STATUS_REJECTED"]
        self.assertEqual([r["code"] for r in rejected],
                         ["ERROR_CODE_NOT_AUTHORISED", "ERROR_CODE_INVALID_TRANSITION",
                          "ERROR_CODE_INVALID_TRANSITION", "ERROR_CODE_UNKNOWN_BENEFICIARY",
                          "ERROR_CODE_VERSION_CONFLICT", "ERROR_CODE_INVALID_TRANSITION"])
        self.assertTrue(all(r["message"] for r in rejected))
        # No sentence names the beneficiary; the PPAE after the cut-over says what to sign.
        self.assertTrue(all(r["beneficiary"] not in r["message"] for r in rejected), rejected)
        self.assertEqual(rejected[2]["beneficiary"], "B-93-0004")
        self.assertIn("contrat d'engagement", rejected[2]["message"])

        show = self.ctl("show", "B-93-0001", "--json")
        self.assertEqual(show.returncode, 0, show.stderr)
        pathway = json.loads(show.stdout)
        self.assertEqual(pathway["phase"], "PHASE_EXITED")
        self.assertEqual(pathway["version"], "10")
        self.assertTrue(pathway["rsa_recipient"])
        self.assertEqual(pathway["orientation"]["notified_at"], "1768903200000")  # 2026-01-20T10Z
        # The exit ended the contrat d'engagement in force.
        self.assertIsNone(pathway["contract"])
        self.assertEqual(pathway["last_contract_end_reason"],
                         "CONTRACT_END_REASON_PATHWAY_EXITED")
        human = self.ctl("show", "B-93-0003")
        self.assertEqual(human.returncode, 0)
        self.assertIn("CONTRACTED", human.stdout)
        self.assertIn("ccas-est93", human.stdout)
        # The contrat d'engagement's plan and hours, and the suspension decided then lifted.
        self.assertRegex(human.stdout, r"\ncontract\s+kind CONTRAT_ENGAGEMENT, .*plan_action_ref "
                                       r"pa-ccas-est93-0003, weekly_hours 8, "
                                       r"reduced_hours_reason HEALTH\n")
        self.assertRegex(human.stdout, r"last_suspension_lift_reason\s+REMOBILISED_PAID_BACK")
        self.assertRegex(human.stdout, r"rsa_recipient\s+yes")
        self.assertNotRegex(human.stdout, r"\nsuspension ")
        accompanied = json.loads(self.ctl("show", "B-93-0004", "--json").stdout)
        self.assertEqual(accompanied["phase"], "PHASE_ACCOMPANIED")
        # The no-show the mission locale retracted is gone: the last appointment is the one
        # before it, and the pathway is at the version after the retraction.
        young = json.loads(self.ctl("show", "B-93-0002", "--json").stdout)
        self.assertEqual(young["last_appointment"]["status"], "APPOINTMENT_STATUS_SEEN")
        self.assertEqual(young["phase"], "PHASE_EMPLOYED")
        self.assertEqual(young["version"], "10")
        self.assertEqual(accompanied["version"], "3")
        self.assertFalse(accompanied["rsa_recipient"])
        suspended = json.loads(self.ctl("history", "B-93-0003", "--json").stdout)
        self.assertEqual([h["type"] for h in suspended].count("SuspensionDecided"), 1)
        self.assertEqual([h["type"] for h in suspended].count("SuspensionLifted"), 1)
        self.assertEqual(len(suspended), 9)
        # history shows the new event types and their fields, for people too.
        text = self.ctl("history", "B-93-0003").stdout
        self.assertRegex(text, r"SuspensionDecided\s+cd93\s+occurred_at \S+, "
                               r"reason APPOINTMENT_MISSED")
        self.assertRegex(text, r"SuspensionLifted\s+cd93\s+occurred_at \S+, "
                               r"reason REMOBILISED_PAID_BACK")

        history = self.ctl("history", "B-93-0002", "--json")
        self.assertEqual(history.returncode, 0, history.stderr)
        text = history.stdout.strip()
        entries = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines()]
        # Its eight events, the no-show recorded in error and its retraction.
        self.assertEqual(len(entries), 10)
        self.assertIn("EventRetracted", text)

    def test_2_status_and_partners(self):
        status = self.ctl("status", "--json")
        self.assertEqual(status.returncode, 0, status.stderr)
        s = json.loads(status.stdout)
        self.assertTrue(s["durable"])
        self.assertIn("last_seq", s)
        human = self.ctl("status").stdout
        self.assertRegex(human, r"durable\s+yes")
        # Each partner's stream: after the demo scenario ft93 (territory-wide) was told of the
        # 25 accepted events it did not send, the suspensions and the retraction included, and
        # has acknowledged none of them.
        ft = [d for d in s["deliveries"] if d["partner_id"] == "ft93"][0]
        self.assertEqual((int(ft["last_partner_seq"]), int(ft.get("cursor", 0)), int(ft["lag"])),
                         (25, 0, 25))
        self.assertRegex(human, r"\n  ft93\s+25\s+0\s+25\s+0\n")
        # Pathways are counted per territory and phase.
        counts = {(c.get("territory", ""), c["phase"]): int(c["count"])
                  for c in s["pathways_per_phase"]}
        self.assertEqual({k: v for k, v in counts.items() if v},
                         {("93", "PHASE_EXITED"): 1, ("93", "PHASE_EMPLOYED"): 1,
                          ("93", "PHASE_CONTRACTED"): 1, ("93", "PHASE_ACCOMPANIED"): 1})
        self.assertRegex(human, r"\n  93\s+CONTRACTED\s+1\n")
        self.assertRegex(human, r"last seq\s+%s" % s["last_seq"])
        partners = json.loads(self.ctl("partners", "--json").stdout)
        ids = {p["partner_id"] for p in (partners if isinstance(partners, list) else partners["partners"])}
        self.assertIn("logistique93", ids)
        # What an admin checks: the narrowed rights, echo, the key's fingerprint (none here:
        # CURVE is off; test_parcoursctl_curve checks one against the key).
        by_id = {p["partner_id"]: p for p in partners}
        self.assertEqual(by_id["logistique93"]["may_emit"],
                         ["EVENT_TYPE_JOB_PLACED", "EVENT_TYPE_JOB_ENDED"])
        self.assertEqual(by_id["ft93"].get("may_emit", []), [])  # its kind's own rights
        human = self.ctl("partners").stdout
        self.assertRegex(human, r"PARTNER\s+KIND\s+TERRITORIES\s+KEY\s+ECHO\s+NAME")
        self.assertRegex(human, r"\n    may emit: JOB_PLACED, JOB_ENDED\n")

    def test_3_emit_one_event_and_exit_codes(self):
        ok = self.ctl("emit", "BeneficiaryRegistered", "--as", "ml93", "--beneficiary", "B-ctl-1")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertIn("ACCEPTED", ok.stdout)
        again = self.ctl("emit", "BeneficiaryRegistered", "--as", "ml93", "--beneficiary", "B-ctl-1")
        self.assertEqual(again.returncode, 1)
        self.assertIn("INVALID_TRANSITION", again.stdout + again.stderr)
        decided = self.ctl("emit", "OrientationDecided", "--as", "cd93", "--beneficiary", "B-ctl-1",
                           "--pathway-type", "EMPLOI", "--referent-body", "MISSION_LOCALE",
                           "--structure-id", "ml93", "--notified-at", "2026-11-27T10:00:00Z",
                           "--json")
        self.assertEqual(decided.returncode, 0, decided.stdout + decided.stderr)
        self.assertEqual(json.loads(decided.stdout)["status"], "ACK_STATUS_ACCEPTED")
        # Without notified_at (required by the 2023 law), the daemon refuses the frame.
        unnotified = self.ctl("emit", "OrientationDecided", "--as", "cd93", "--beneficiary",
                              "B-ctl-1", "--pathway-type", "EMPLOI", "--referent-body",
                              "MISSION_LOCALE", "--structure-id", "ml93", "--json")
        self.assertEqual(unnotified.returncode, 1, unnotified.stdout + unnotified.stderr)
        self.assertEqual(json.loads(unnotified.stdout)["code"], "ERROR_CODE_MALFORMED")
        # The new types, from the command line: a suspension of a non-RSA recipient is France
        # Travail's to decide and to lift, and a registration says whether the RSA is paid.
        for args in (["SuspensionDecided", "--as", "ft93", "--reason", "CONTRACT_NOT_DRAWN_UP"],
                     ["SuspensionLifted", "--as", "ft93", "--reason", "DECISION_WITHDRAWN"]):
            run = self.ctl("emit", *args, "--beneficiary", "B-ctl-1", "--json")
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            self.assertEqual(json.loads(run.stdout)["status"], "ACK_STATUS_ACCEPTED")
        rsa = self.ctl("emit", "BeneficiaryRegistered", "--as", "cd93", "--beneficiary",
                       "B-ctl-2", "--rsa-recipient", "true", "--json")
        self.assertEqual(rsa.returncode, 0, rsa.stdout + rsa.stderr)
        self.assertTrue(json.loads(self.ctl("show", "B-ctl-2", "--json").stdout)["rsa_recipient"])
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
