#!/usr/bin/env python3
"""parcoursctl with CURVE against the real daemon: keygen's files, their modes and its refusal
to overwrite; emit with the partner's own key (accepted) and with another partner's (rejected
NOT_AUTHORISED); the demo scenario, mixing partners, over one connection per partner and in
file order; tail with a key; the keys found through -c; a tcp:// admin endpoint with an admin
key; and exit 3, naming the missing key, when there is none.

Every key is made by `parcoursctl keygen` in temporary folders: none is ever written in the
repository."""

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

import zmq
from zmq.utils import z85

from harness import (PARCOURSCTL, PARCOURSD, Daemon, free_port, pb, registered,
                     send_and_wait)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SEEDS = os.path.join(ROOT, "seeds")


def run(*args, stdin=None, timeout=60):
    return subprocess.run([PARCOURSCTL, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def keygen(name, folder):
    """Makes name's key pair in folder; returns its public key (Z85 text)."""
    made = run("keygen", name, "--dir", folder)
    assert made.returncode == 0, made.stderr
    line = made.stdout.strip()
    assert line.startswith("public_key = "), made.stdout
    return line[len("public_key = "):]


def key_of(path):
    """The key line of a key file (the first line that is not a comment)."""
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")][0]


def with_public_keys(partners, folder):
    """The partners text with a public_key line, from a key made by keygen in folder, in every
    section (public_key lines already there are dropped)."""
    out = []
    for line in partners.splitlines():
        if line.strip().startswith("public_key"):
            continue
        out.append(line)
        if line.startswith("[") and line.strip().endswith("]"):
            out.append(f"public_key = {keygen(line.strip()[1:-1], folder)}")
    return "\n".join(out) + "\n"


class KeygenTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="parcours-keygen-")

    def tearDown(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def test_files_modes_and_no_overwrite(self):
        made = run("keygen", "ml93", "--dir", self.folder)
        self.assertEqual(made.returncode, 0, made.stderr)
        self.assertRegex(made.stdout, r"^public_key = \S{40}\n$")
        public = made.stdout.split(" = ")[1].strip()
        secret_path = os.path.join(self.folder, "ml93.secret")
        public_path = os.path.join(self.folder, "ml93.public")
        self.assertEqual(stat.S_IMODE(os.stat(secret_path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(public_path).st_mode), 0o644)
        for path in (secret_path, public_path):
            with open(path) as f:
                self.assertTrue(f.readline().startswith("# CURVE "), path)
        self.assertEqual(key_of(public_path), public)
        self.assertEqual(zmq.curve_public(key_of(secret_path).encode()).decode(), public)
        self.assertIn("partners file", made.stderr)  # says what to do with the line

        # An existing key is never overwritten: exit 1, files untouched.
        with open(secret_path, "rb") as f:
            before = f.read()
        again = run("keygen", "ml93", "--dir", self.folder)
        self.assertEqual(again.returncode, 1)
        self.assertEqual(again.stdout, "")
        self.assertIn("already exists", again.stderr)
        with open(secret_path, "rb") as f:
            self.assertEqual(f.read(), before)
        # Nor is a lone public key: and then no secret key is left behind either.
        with open(os.path.join(self.folder, "cd93.public"), "w") as f:
            f.write("# someone else's\n")
        lone = run("keygen", "cd93", "--dir", self.folder)
        self.assertEqual(lone.returncode, 1)
        self.assertFalse(os.path.exists(os.path.join(self.folder, "cd93.secret")))

        # Usage: a name that is not an id, a folder that does not exist.
        self.assertEqual(run("keygen", "../evil", "--dir", self.folder).returncode, 2)
        self.assertEqual(run("keygen").returncode, 2)
        missing = run("keygen", "ft93", "--dir", os.path.join(self.folder, "nope"))
        self.assertEqual(missing.returncode, 1)
        self.assertIn("create the folder", missing.stderr)


class CurveTest(unittest.TestCase):
    """The demo territory with CURVE: every partner's key made by keygen in `keys`, apart from
    the daemon's folder; cd93's secret key is also copied beside the daemon's secret key, where
    -c makes parcoursctl look."""

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="parcours-curve-")
        cls.keys = os.path.join(cls.folder, "keys")
        os.mkdir(cls.keys)
        with open(os.path.join(SEEDS, "partners.ini")) as f:
            partners = with_public_keys(f.read(), cls.keys)
        cls.daemon = Daemon(partners=partners, folder=cls.folder, curve=True, own_keys=True)
        shutil.copy2(os.path.join(cls.keys, "cd93.secret"), cls.folder)
        cls.server_key = os.path.join(cls.folder, "parcoursd.public")
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0, rc

    def key(self, partner):
        return os.path.join(self.keys, f"{partner}.secret")

    def ctl(self, *args, stdin=None, timeout=60):
        return run("-c", self.daemon.config, *args, stdin=stdin, timeout=timeout)

    def emit_registered(self, partner, beneficiary, *options):
        return self.ctl("emit", "BeneficiaryRegistered", "--as", partner, "--beneficiary",
                        beneficiary, "--json", *options)

    def test_1_demo_scenario_one_connection_per_partner_in_order(self):
        run_ = self.ctl("emit", "--json", os.path.join(SEEDS, "scenario.jsonl"), "--keys",
                        self.keys, "--output", "json")
        self.assertEqual(run_.returncode, 1, run_.stderr)  # the scenario ends with rejections
        results = [json.loads(line) for line in run_.stdout.splitlines()]
        statuses = [r["status"] for r in results]
        self.assertEqual(statuses.count("ACK_STATUS_ACCEPTED"), 32, run_.stdout)
        rejected = [r["code"] for r in results if r["status"] == "ACK_STATUS_REJECTED"]
        self.assertEqual(rejected, ["ERROR_CODE_" + c for c in (
            "NOT_AUTHORISED", "INVALID_TRANSITION", "INVALID_TRANSITION", "UNKNOWN_BENEFICIARY",
            "VERSION_CONFLICT", "INVALID_TRANSITION")])
        self.assertEqual([r["line"] for r in results], sorted(r["line"] for r in results))
        # The accepted ones were applied in file order: seqs increase down the file.
        seqs = [int(r["seq"]) for r in results if r["status"] == "ACCEPTED"]
        self.assertEqual(seqs, sorted(seqs))
        show = self.ctl("show", "B-93-0001", "--json")
        self.assertEqual(show.returncode, 0, show.stderr)
        self.assertEqual(json.loads(show.stdout)["version"], "10")

    def test_2_own_key_accepted_another_partners_rejected(self):
        # Explicit keys, no configuration at all.
        own = run("--ingest", self.daemon.ingest, "emit", "BeneficiaryRegistered", "--as", "ml93",
                  "--beneficiary", "B-curve-1", "--key", self.key("ml93"), "--server-key",
                  self.server_key, "--json")
        self.assertEqual(own.returncode, 0, own.stdout + own.stderr)
        self.assertEqual(json.loads(own.stdout)["status"], "ACK_STATUS_ACCEPTED")
        # The server key given as its 40 Z85 characters.
        z85 = run("--ingest", self.daemon.ingest, "emit", "AppointmentRecorded", "--as", "ml93",
                  "--beneficiary", "B-curve-1", "--kind", "PHONE", "--status", "SEEN", "--at",
                  "2026-11-27", "--key", self.key("ml93"), "--server-key",
                  key_of(self.server_key), "--json")
        self.assertEqual(json.loads(z85.stdout)["status"], "ACK_STATUS_ACCEPTED", z85.stderr)
        # ft93's key, events naming ml93: the key is the sender.
        other = self.emit_registered("ml93", "B-curve-2", "--key", self.key("ft93"))
        self.assertEqual(other.returncode, 1, other.stdout + other.stderr)
        ack = json.loads(other.stdout)
        self.assertEqual((ack["status"], ack["code"]),
                         ("ACK_STATUS_REJECTED", "ERROR_CODE_NOT_AUTHORISED"))
        self.assertIn("ft93", ack["message"])

    def test_3_keys_found_through_the_configuration(self):
        # cd93.secret lies beside the daemon's secret key, and parcoursd.public too.
        ok = self.emit_registered("cd93", "B-curve-3")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertEqual(json.loads(ok.stdout)["status"], "ACK_STATUS_ACCEPTED")
        # ml93's is not there: nothing is sent, exit 3, and the message says what to do.
        before = self.daemon.status().last_seq
        missing = self.emit_registered("ml93", "B-curve-4")
        self.assertEqual(missing.returncode, 3, missing.stdout + missing.stderr)
        self.assertIn("ml93.secret does not exist", missing.stderr)
        self.assertIn("parcoursctl keygen ml93", missing.stderr)
        self.assertIn("partners file", missing.stderr)
        tail = self.ctl("tail", "--as", "ml93", "--idle", "1")
        self.assertEqual(tail.returncode, 3)
        self.assertIn("ml93.secret does not exist", tail.stderr)
        # emit --json names every missing key before sending anything.
        lines = "".join(json.dumps({"type": "BeneficiaryRegistered", "as": p,
                                    "beneficiary": f"B-curve-5-{p}"}) + "\n"
                        for p in ("cd93", "ml93", "ft93"))
        batch = self.ctl("emit", "--json", "-", stdin=lines)
        self.assertEqual(batch.returncode, 3, batch.stderr)
        self.assertIn("ml93.secret", batch.stderr)
        self.assertIn("ft93.secret", batch.stderr)
        self.assertEqual(self.daemon.status().last_seq, before)

    def test_4_no_key_at_all(self):
        # Without -c parcoursctl cannot know the daemon wants keys: the handshake fails, which
        # is said (exit 1: the daemon answered), and the message names the keys CURVE needs.
        plain = run("--ingest", self.daemon.ingest, "--timeout", "1500", "emit",
                    "BeneficiaryRegistered", "--as", "ml93", "--beneficiary", "B-curve-6")
        self.assertEqual(plain.returncode, 1, plain.stdout + plain.stderr)
        self.assertIn("the CURVE handshake with parcoursd failed", plain.stderr)
        self.assertIn("--key", plain.stderr)
        self.assertIn("--server-key", plain.stderr)
        # A secret key only: the daemon's public key is missing.
        no_server = run("--ingest", self.daemon.ingest, "emit", "BeneficiaryRegistered", "--as",
                        "ml93", "--beneficiary", "B-curve-6", "--key", self.key("ml93"))
        self.assertEqual(no_server.returncode, 3)
        self.assertIn("--server-key", no_server.stderr)
        # A key someone else may read is refused before anything is sent.
        loose = os.path.join(self.folder, "loose.secret")
        shutil.copy(self.key("ml93"), loose)
        os.chmod(loose, 0o644)
        refused = self.emit_registered("ml93", "B-curve-6", "--key", loose)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("chmod 600", refused.stderr)

    def test_6_partners_name_each_key_by_its_fingerprint(self):
        # The fingerprint the daemon logs when it refuses a key: the public key's first 8 bytes.
        listing = json.loads(self.ctl("partners", "--json").stdout)
        by_id = {p["partner_id"]: p for p in listing}
        with open(os.path.join(self.keys, "ml93.public")) as f:
            public = [line.strip() for line in f if not line.startswith("#")][0]
        self.assertEqual(by_id["ml93"]["key_fingerprint"], z85.decode(public)[:8].hex())
        human = self.ctl("partners").stdout
        self.assertRegex(human, r"\nml93\s+.*\s%s\s" % z85.decode(public)[:8].hex())

    def test_5_tail_with_its_key(self):
        sent = self.emit_registered("cd93", "B-curve-tail", "--key", self.key("cd93"))
        self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
        tail = self.ctl("tail", "--as", "ft93", "--key", self.key("ft93"), "--idle", "1.5",
                        "--json", "--no-ack")
        self.assertEqual(tail.returncode, 0, tail.stderr)
        notes = [json.loads(line) for line in tail.stdout.splitlines()]
        # (The demo's retracted no-show comes withdrawn, with no event.)
        self.assertIn("B-curve-tail", [n["event"]["beneficiary_id"] for n in notes
                                       if n.get("event")])
        # Reading ft93's stream with ml93's key: refused by the daemon.
        other = self.ctl("tail", "--as", "ft93", "--key", self.key("ml93"), "--idle", "3")
        self.assertEqual(other.returncode, 1, other.stdout + other.stderr)
        self.assertIn("ml93", other.stderr)


class AdminOverTcpTest(unittest.TestCase):
    def test_admin_key_beside_the_daemons(self):
        daemon = Daemon(curve=True)
        try:
            admin_public = keygen("admin", daemon.folder)
            endpoint = f"tcp://127.0.0.1:{free_port()}"
            with open(daemon.config) as f:
                config = f.read()
            with open(daemon.config, "w") as f:
                f.write(config.replace(f"[admin]\nendpoint = {daemon.admin_endpoint}\n",
                                       f"[admin]\nendpoint = {endpoint}\nkeys = {admin_public}\n"))
            daemon.admin_endpoint = endpoint
            with open(daemon.log_path, "a") as log:
                daemon.process = subprocess.Popen([PARCOURSD, "-c", daemon.config], stdout=log,
                                                  stderr=subprocess.STDOUT)
            # admin.secret and parcoursd.public lie beside the daemon's secret key.
            deadline = time.monotonic() + 20
            while True:
                status = run("-c", daemon.config, "--timeout", "1000", "status", "--json")
                if status.returncode == 0 or time.monotonic() > deadline:
                    break
            self.assertEqual(status.returncode, 0, status.stderr + daemon.log())
            self.assertIn("last_seq", json.loads(status.stdout))
            # A backup taken from elsewhere, over CURVE: the copy comes whole and restores.
            sock = daemon.connect("cd93")
            acks = send_and_wait(sock, [registered(f"remote-{i}", "cd93", f"B-remote-{i}")
                                        for i in range(50)])
            sock.close()
            self.assertEqual({a.status for a in acks}, {pb.ACK_STATUS_ACCEPTED})
            status = run("-c", daemon.config, "status", "--json")
            self.assertEqual(json.loads(status.stdout)["last_seq"], "50")
            backup_dir = os.path.join(daemon.folder, "remote-backup")
            backup = run("-c", daemon.config, "backup", backup_dir, "--json")
            self.assertEqual(backup.returncode, 0, backup.stderr)
            self.assertGreater(int(json.loads(backup.stdout)["bytes"]), 0)
            restored = Daemon()
            try:
                r = subprocess.run([PARCOURSD, "-c", restored.config, "--restore",
                                    os.path.join(backup_dir, "data.mdb")],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                restored.start()
                self.assertEqual(restored.status().last_seq,
                                 int(json.loads(status.stdout)["last_seq"]))
                self.assertEqual(restored.stop(), 0)
            finally:
                restored.cleanup()
            # A partner's key opens neither status nor backup on the admin endpoint, and the
            # refusal is said as such (exit 1: the daemon answered).
            keygen("cd93", daemon.folder)
            refused = run("-c", daemon.config, "--timeout", "1000", "--key",
                          os.path.join(daemon.folder, "cd93.secret"), "backup",
                          os.path.join(daemon.folder, "stolen"))
            self.assertEqual(refused.returncode, 1, refused.stderr)
            self.assertIn("parcoursd refused this partner's key", refused.stderr)
            self.assertFalse(os.path.exists(os.path.join(daemon.folder, "stolen", "data.mdb")))
            partner = run("-c", daemon.config, "--timeout", "1000", "--key",
                          os.path.join(daemon.folder, "cd93.secret"), "status")
            self.assertEqual(partner.returncode, 1, partner.stderr)
            self.assertIn("parcoursd refused this partner's key", partner.stderr)
            self.assertIn("[admin] keys", partner.stderr)
            # Without admin.secret: exit 3, saying which key is missing.
            os.unlink(os.path.join(daemon.folder, "admin.secret"))
            missing = run("-c", daemon.config, "status")
            self.assertEqual(missing.returncode, 3)
            self.assertIn("admin.secret does not exist", missing.stderr)
            self.assertIn("no secret key for the admin endpoint", missing.stderr)
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
