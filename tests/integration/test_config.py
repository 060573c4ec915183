#!/usr/bin/env python3
"""parcoursd -n: the configuration, the keys and the partners file are checked whole, in one
run; every error names file:line and says what is expected; any error refuses the start."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import zmq

from harness import curve_keypair, PARCOURSD, PARTNERS


class ConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="parcours-config-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def check(self, config, partners=PARTNERS):
        self.write("partners.ini", partners)
        path = self.write("parcoursd.conf", config)
        return subprocess.run([PARCOURSD, "-n", "-c", path], capture_output=True, text=True,
                              timeout=30)

    BASE = "[store]\npath = data\n[partners]\nfile = partners.ini\n[security]\ncurve = no\n"

    def test_valid_configuration(self):
        run = self.check(self.BASE)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "configuration OK (8 partners)\n")

    def test_every_error_is_reported_with_its_line(self):
        run = self.check("[store]\npath = data\ndurable = perhaps\n[ingest]\nbatch_max = 0\n"
                         "color = blue\n[nowhere]\nx = 1\n[partners]\nfile = partners.ini\n"
                         "[security]\ncurve = no\n")
        self.assertEqual(run.returncode, 1)
        conf = os.path.join(self.dir, "parcoursd.conf")
        for line, words in ((3, "durable must be yes or no"), (5, "batch_max must be"),
                            (6, 'unknown key "color"'), (7, "unknown section [nowhere]")):
            self.assertIn(f"{conf}:{line}: ", run.stderr)
            self.assertRegex(run.stderr, rf"{re.escape(conf)}:{line}: .*{re.escape(words)}")
        self.assertIn("configuration is refused", run.stderr)

    def test_required_keys(self):
        run = self.check("[ingest]\nendpoint = tcp://127.0.0.1:1\n")
        self.assertEqual(run.returncode, 1)
        self.assertIn("[store] path is required", run.stderr)
        self.assertIn("[partners] file is required", run.stderr)

    def test_curve_is_on_by_default_and_needs_a_secret_key(self):
        run = self.check("[store]\npath = data\n[partners]\nfile = partners.ini\n")
        self.assertEqual(run.returncode, 1)
        self.assertIn("[security] secret_key is required", run.stderr)

    def test_secret_key_must_be_owner_only(self):
        public, secret = zmq.curve_keypair()
        self.write("server.secret", secret.decode() + "\n", mode=0o644)
        config = ("[store]\npath = data\n[partners]\nfile = partners.ini\n"
                  "[security]\ncurve = yes\nsecret_key = server.secret\n")
        conf = os.path.join(self.dir, "parcoursd.conf")
        for run in (self.check(config),  # -n reads the key as a start would
                    subprocess.run([PARCOURSD, "-c", conf], capture_output=True, text=True,
                                   timeout=30)):
            self.assertEqual(run.returncode, 1, run.stderr)
            self.assertIn(f"{conf}:7: [security] secret_key: {self.dir}/server.secret: a secret "
                          f"key must be readable by its owner only (chmod 600)", run.stderr)
            self.assertIn("the daemon's secret key is refused", run.stderr)
        os.chmod(os.path.join(self.dir, "server.secret"), 0o600)
        run = self.check(config)
        self.assertEqual((run.returncode, run.stdout), (0, "configuration OK (8 partners)\n"),
                         run.stderr)

    def test_errors_of_config_keys_and_partners_are_reported_in_one_run(self):
        # One run of -n names every error of every file: a broken installation is fixed in one
        # round, not one error at a time.
        public, secret = zmq.curve_keypair()
        admin_public, _ = zmq.curve_keypair()
        self.write("server.secret", "# a key file without its key\n", mode=0o600)
        config = ("[store]\npath = data\ninitial_map_size = 2G\nmax_map_size = 1G\n"
                  "[ingest]\nbatch_max = lots\n"
                  f"[admin]\nkeys = {admin_public.decode()}, not-a-key\n"
                  "[partners]\nfile = partners.ini\n"
                  "[security]\ncurve = yes\nsecret_key = server.secret\n")
        partners = ("[cd93]\nname = D\nkind = DEPARTEMENT\nterritory = 93\n"
                    "[ml93]\nname = M\nkind = MAIRIE\nterritory = 93\n")
        run = self.check(config, partners)
        self.assertEqual(run.returncode, 1, run.stderr)
        conf = os.path.join(self.dir, "parcoursd.conf")
        p = os.path.join(self.dir, "partners.ini")
        expected = [
            rf"{re.escape(conf)}:6: \[ingest\] batch_max must be a whole number",
            rf'{re.escape(conf)}:8: \[admin\] keys: key 2 \("not-a-key"\) is not a public key '
            r"of 40 Z85 characters",
            rf"{re.escape(conf)}:\d+: \[store\] initial_map_size is above max_map_size",
            r"parcoursd: the configuration is refused",
            rf"{re.escape(conf)}:13: \[security\] secret_key: {re.escape(self.dir)}/server.secret: "
            r"no key of 40 Z85 characters found",
            r"parcoursd: the daemon's secret key is refused",
            rf'{re.escape(p)}:7: .*kind "MAIRIE" is unknown',
            r"parcoursd: the partners file is refused",
        ]
        lines = run.stderr.splitlines()
        self.assertEqual(len(lines), len(expected), run.stderr)
        for line, pattern in zip(lines, expected):
            self.assertRegex(line, pattern)
        self.assertEqual(run.stdout, "")

    def test_a_key_file_that_is_not_a_file_is_refused(self):
        os.mkfifo(os.path.join(self.dir, "server.secret"), 0o600)
        config = ("[store]\npath = data\n[partners]\nfile = partners.ini\n"
                  "[security]\ncurve = yes\nsecret_key = server.secret\n")
        run = self.check(config)  # must not hang on the FIFO
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("server.secret: not a regular file", run.stderr)

    def test_partners_file_errors(self):
        partners = ("[cd93]\nname = D\nkind = DEPARTEMENT\nterritory = 93\n"
                    "[bad id]\nname = X\n"
                    "[ml93]\nname = M\nkind = MAIRIE\nterritory = 93\n"
                    "[ft93]\nname = F\nkind = FRANCE_TRAVAIL\nterritory = 9/3\n"
                    "[caf93]\nname = C\nkind = CAF\nterritory = 93\nmay_emit = Flying\n"
                    "public_key = short\n"
                    "[cd93]\nname = again\n"
                    "[nokind]\nname = N\nterritory = 93\n")
        run = self.check(self.BASE, partners)
        self.assertEqual(run.returncode, 1)
        p = os.path.join(self.dir, "partners.ini")
        for line, words in ((5, "is not a partner id"), (9, 'kind "MAIRIE" is unknown'),
                            (14, 'territory "9/3"'), (19, '"Flying" is not an event type'),
                            (20, "public_key must be 40 Z85"), (21, "declared twice"),
                            (23, "has no kind")):
            self.assertRegex(run.stderr, rf"{re.escape(p)}:{line}: .*{re.escape(words)}")
        self.assertIn("partners file is refused", run.stderr)

    def test_a_key_given_to_two_partners_is_refused(self):
        # The key is who a connection is: a key pasted into a second section would make one
        # partner the other (the first in the file), and read its stream.
        public, _ = curve_keypair()
        key = public.decode()
        partners = (f"[asso93]\nname = A\nkind = ASSOCIATION\nterritory = 93\npublic_key = {key}\n"
                    f"[ml93]\nname = M\nkind = MISSION_LOCALE\nterritory = 93\npublic_key = {key}\n")
        run = self.check(self.BASE, partners)
        self.assertEqual(run.returncode, 1, run.stderr)
        p = os.path.join(self.dir, "partners.ini")
        self.assertRegex(run.stderr, rf"{re.escape(p)}:6: partner \[ml93\] has the public_key of "
                                     rf"partner \[asso93\] \(line 1\)")


    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root to run the daemon as another user")
    def test_a_store_it_may_not_write_stops_the_start_with_a_sentence(self):
        """G8's permission errors: a data directory the daemon's user may not write (a restore
        left root's files, a wrong chown) refuses the start, saying where and why, and nothing
        is bound."""
        os.chmod(self.dir, 0o755)
        data = os.path.join(self.dir, "data")
        os.makedirs(data, mode=0o700)  # root's, and the daemon runs as nobody
        self.write("partners.ini", PARTNERS)
        path = self.write("parcoursd.conf", self.BASE.replace("path = data", f"path = {data}")
                          + f"[admin]\nendpoint = ipc://{self.dir}/admin.sock\n[http]\nlisten =\n")
        run = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              PARCOURSD, "-c", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn(f"cannot open the store in {data}", run.stderr)
        self.assertIn("Permission was denied", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "admin.sock")))

    def test_readme_reference_is_the_codes_table(self):
        """The README's configuration table is what parcoursd --config-reference prints."""
        reference = subprocess.run([PARCOURSD, "--config-reference"], capture_output=True,
                                   text=True, timeout=30, check=True).stdout
        readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
        self.assertIn(reference, readme + "\n",
                      "README.md's configuration table differs from parcoursd --config-reference")


if __name__ == "__main__":
    unittest.main(verbosity=2)
