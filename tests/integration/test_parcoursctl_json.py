#!/usr/bin/env python3
"""parcoursctl --json as the ecosystem reads it (issue 14, item 3).

Every document is compared with what protobuf's own proto3 JSON printer (Python's json_format,
with proto field names) writes for the same message, read from the daemon over the admin socket:
64-bit integers as strings, enum values by their full names, every scalar at its default. The
pipe partners use is run for real (`parcoursctl status --json | jq -r .stream_id`). And every
failure, with --json, prints exactly one error object on stdout with the exit status in it."""

import json
import os
import shutil
import subprocess
import unittest

from harness import PARCOURSCTL, Daemon, pb  # harness first: it finds parcours_pb2

from google.protobuf import json_format  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SEEDS = os.path.join(ROOT, "seeds")
BENEFICIARIES = ["B-93-0001", "B-93-0002", "B-93-0003", "B-93-0004"]


def reference(message):
    """The proto3 JSON mapping of message, by protobuf itself."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


def without_nulls(value):
    """Python's printer leaves an absent message out where parcoursctl writes null."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


class ParcoursctlJsonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(SEEDS, "partners.ini")) as f:
            cls.daemon = Daemon(partners=f.read()).start()
        run = cls.ctl_run("emit", "--json", os.path.join(SEEDS, "scenario.jsonl"))
        assert run.returncode == 1, run.stderr  # the scenario ends with six refusals

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0

    @classmethod
    def ctl_run(cls, *args, stdin=None):
        return subprocess.run([PARCOURSCTL, "-c", cls.daemon.config, *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    def document(self, *args):
        run = self.ctl_run(*args)
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), 1, run.stdout)
        return json.loads(lines[0])

    def test_expect_no_pathway(self):
        # B-93-0001's pathway has exited: a registration would open a new episode of it; one
        # that says the person must be new here gets the conflict, and changes nothing.
        before = self.daemon.pathway("B-93-0001")
        run = self.ctl_run("emit", "BeneficiaryRegistered", "--as", "cd93", "--beneficiary",
                           "B-93-0001", "--expect-no-pathway", "true", "--json")
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        ack = json.loads(run.stdout)
        self.assertEqual((ack["status"], ack["code"]),
                         ("ACK_STATUS_REJECTED", "ERROR_CODE_VERSION_CONFLICT"), ack)
        self.assertIn("has a pathway here already", ack["message"])
        self.assertEqual(self.daemon.pathway("B-93-0001"), before)
        # A person never seen: registered.
        run = self.ctl_run("emit", "BeneficiaryRegistered", "--as", "cd93", "--beneficiary",
                           "B-93-new", "--expect-no-pathway", "true", "--json")
        self.assertEqual(json.loads(run.stdout)["status"], "ACK_STATUS_ACCEPTED", run.stderr)
        # Anything but a registration: refused at the boundary.
        run = self.ctl_run("emit", "AppointmentRecorded", "--as", "cd93", "--beneficiary",
                           "B-93-new", "--expect-no-pathway", "true", "--kind", "INDIVIDUAL",
                           "--status", "SEEN", "--at", "2026-11-30", "--json")
        self.assertEqual(json.loads(run.stdout)["code"], "ERROR_CODE_MALFORMED", run.stdout)

    def test_stream_id_through_jq(self):
        want = self.daemon.status().stream_id
        jq = shutil.which("jq")
        self.assertIsNotNone(jq, "tests/deps.sh installs jq")
        run = subprocess.run(f"'{PARCOURSCTL}' -c '{self.daemon.config}' status --json "
                             f"| '{jq}' -r .stream_id", shell=True, capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        # A random 64-bit id: above 2^53 but for one store in 2048, where a JSON number is
        # rounded (and jq prints it as 1.2345e+19).
        self.assertEqual(run.stdout.strip(), str(want))
        run = subprocess.run(f"'{PARCOURSCTL}' -c '{self.daemon.config}' status --json "
                             f"| '{jq}' -r '.last_seq, (.pathways_per_phase[0].phase)'",
                             shell=True, capture_output=True, text=True, timeout=60)
        last_seq, phase = run.stdout.split()
        self.assertEqual(last_seq, str(self.daemon.status().last_seq))
        self.assertTrue(phase.startswith("PHASE_"), phase)

    def test_documents_are_the_proto3_mapping(self):
        for b in BENEFICIARIES:
            got = self.document("show", b, "--json")
            want = reference(self.daemon.pathway(b))
            self.assertEqual(without_nulls(got), want, b)
            # Every field of the contract, an absent message as null.
            self.assertEqual(len(got), len(pb.Pathway.DESCRIPTOR.fields), b)
            for f in pb.Pathway.DESCRIPTOR.fields:
                if f.message_type is not None and f.label != f.LABEL_REPEATED:
                    self.assertIn(f.name, got, b)
                    if not self.daemon.pathway(b).HasField(f.name):
                        self.assertIsNone(got[f.name], (b, f.name))

            history = self.document("history", b, "--json")
            entries = self.daemon.history(b)
            self.assertEqual(len(history), len(entries), b)
            for got_entry, entry in zip(history, entries):
                kind = got_entry.pop("type")
                self.assertEqual(without_nulls(got_entry), reference(entry), b)
                payload = entry.event.WhichOneof("payload") if entry.HasField("event") else None
                self.assertEqual(kind, pb.Event.DESCRIPTOR.fields_by_name[payload].message_type.name
                                 if payload else None)

        partners = self.document("partners", "--json")
        reply = self.daemon.admin(pb.ADMIN_COMMAND_PARTNERS)
        self.assertEqual([without_nulls(p) for p in partners],
                         [reference(p) for p in reply.partners])

        # The status moves between two reads (uptime, figures): its shape and its stable
        # figures are compared.
        got = self.document("status", "--json")
        want = reference(self.daemon.status())
        self.assertEqual(set(without_nulls(got)), set(want))
        for key in ("stream_id", "last_seq", "durable", "version"):
            self.assertEqual(got[key], want[key], key)
        self.assertEqual(got["pathways_per_phase"], want["pathways_per_phase"])
        self.assertIsInstance(got["stream_id"], str)

    def test_acks_carry_full_names_and_strings(self):
        run = self.ctl_run("emit", "--json", os.path.join(SEEDS, "scenario.jsonl"),
                           "--output", "json")
        acks = [json.loads(line) for line in run.stdout.splitlines()]
        self.assertTrue(acks)
        statuses = {pb.AckStatus.Name(v) for v in pb.AckStatus.values()} | {"UNANSWERED"}
        codes = {pb.ErrorCode.Name(v) for v in pb.ErrorCode.values()}
        for ack in acks:
            self.assertIn(ack["status"], statuses, ack)
            self.assertTrue(ack["code"] is None or ack["code"] in codes, ack)
            self.assertIsInstance(ack["seq"], str, ack)
            self.assertIsInstance(ack["version"], str, ack)
        # The second run: everything that was applied is a duplicate now.
        self.assertIn("ACK_STATUS_DUPLICATE", {a["status"] for a in acks})

    def test_every_failure_prints_one_error_object(self):
        nowhere = ["--admin", "ipc:///nonexistent/admin.sock", "--ingest", "tcp://127.0.0.1:1",
                   "--timeout", "500"]
        cases = [
            # usage errors: 2
            (["--json", "frobnicate"], 2),
            (["--json", "--no-such-option", "status"], 2),
            (["status", "--bogus", "--json"], 2),
            (["show", "bad id!", "--json"], 2),
            (["show", "--json"], 2),
            (["tail", "--as", "nobody93", "--json"], 2),
            (["tail", "--as", "ft93", "--window", "--json"], 2),
            (["emit", "OrientationDecided", "--as", "cd93", "--beneficiary", "B-1",
              "--pathway-type", "NOT_A_TYPE", "--json"], 2),
            (["emit", "--json", "-", "--output", "json"], 2),  # the bad line of stdin below
            (["backup", __file__, "--json"], 2),
            # rejected or not found: 1
            (["show", "B-nobody", "--json"], 1),
            (["history", "B-nobody", "--json"], 1),
            # an unreachable daemon: 3
            ([*nowhere, "status", "--json"], 3),
            ([*nowhere, "emit", "BeneficiaryRegistered", "--as", "cd93", "--beneficiary",
              "B-nowhere", "--json"], 3),
        ]
        for args, code in cases:
            with self.subTest(args=args):
                stdin = '{"type":"BeneficiaryRegistered","as":"cd93","x":{"nested":1}}\n' \
                    if "-" in args else None
                run = subprocess.run([PARCOURSCTL, "-c", self.daemon.config, *args],
                                     input=stdin, capture_output=True, text=True, timeout=60)
                self.assertEqual(run.returncode, code, run.stdout + run.stderr)
                lines = run.stdout.splitlines()
                self.assertEqual(len(lines), 1, run.stdout)
                error = json.loads(lines[0])
                self.assertEqual(set(error), {"ok", "exit_code", "error"}, error)
                self.assertEqual((error["ok"], error["exit_code"]), (False, code), error)
                self.assertTrue(error["error"], error)
                self.assertIn(error["error"], " ".join(run.stderr.split()), error)
        # A rejected event's answer is its ack, not an error object.
        run = self.ctl_run("emit", "BeneficiaryRegistered", "--as", "cd93", "--beneficiary",
                           "B-93-0002", "--json")
        self.assertEqual(run.returncode, 1, run.stderr)
        ack = json.loads(run.stdout)
        self.assertEqual((ack["status"], ack["code"]),
                         ("ACK_STATUS_REJECTED", "ERROR_CODE_INVALID_TRANSITION"))
        # emit --json FILE: each event's outcome is its answer, an unanswered one included.
        run = subprocess.run([PARCOURSCTL, "--ingest", "tcp://127.0.0.1:1", "--timeout", "500",
                              "emit", "--json", "-", "--output", "json"],
                             input='{"type":"BeneficiaryRegistered","as":"cd93",'
                                   '"beneficiary":"B-nowhere"}\n',
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 3, run.stdout + run.stderr)
        self.assertEqual([json.loads(line)["status"] for line in run.stdout.splitlines()],
                         ["UNANSWERED"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
