"""The systemd unit and the example configuration, checked as systemd and parcoursd read them.

systemd/parcoursd.service must pass `systemd-analyze verify` with nothing to say about it, and
`systemd-analyze security --offline=yes` must rate its exposure 1.5 or lower; the example
configuration systemd/parcoursd.conf.example must name every key of
`parcoursd --config-reference` and pass `parcoursd -n`. No daemon is started: systemd is not
PID 1 on a build machine, and the service's sandbox is systemd's to build, not ours.
systemd-analyze comes with Debian's systemd package (tests/deps.sh).
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import zmq

PARCOURSD = os.environ["PARCOURSD"]
SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = os.path.join(SOURCE_DIR, "systemd", "parcoursd.service")
EXAMPLE = os.path.join(SOURCE_DIR, "systemd", "parcoursd.conf.example")
EXPOSURE_MAX = 1.5
TIMEOUT = 60

PARTNERS = """
[ml93]
name = Mission locale 93 (synthetic)
kind = MISSION_LOCALE
territory = 93
"""


def systemd_analyze():
    path = shutil.which("systemd-analyze")
    if path is None:
        raise AssertionError("systemd-analyze is missing: tests/deps.sh installs Debian's systemd")
    return path


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="parcours-systemd-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def unit_copy(self):
        """The unit with ExecStart= naming the parcoursd just built: verify checks that the
        binary exists and is executable, and /usr/sbin/parcoursd is not installed here. The
        file keeps its name, since verify reads the unit's name from it."""
        with open(UNIT, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("ExecStart=/usr/sbin/parcoursd ", text)
        text = text.replace("ExecStart=/usr/sbin/parcoursd ", "ExecStart=%s " % PARCOURSD)
        path = os.path.join(self.dir, "parcoursd.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_verify(self):
        # --man=no: verify would run man(1) on the Documentation= pages, which are installed by
        # `cmake --install`, not here; test_documentation_pages checks them in the tree.
        result = subprocess.run([systemd_analyze(), "verify", "--man=no", self.unit_copy()],
                                capture_output=True, text=True, timeout=TIMEOUT)
        # verify also loads the units ours pulls in (multi-user.target, network-online.target
        # and what they need) from the host, and reports what it finds wrong in those (on some
        # hosts, a unit naming a binary the image left out). Those lines name another unit, never
        # parcoursd: they are the host's, and are only printed. Every line about our unit names
        # parcoursd.service (its path and line, or the unit name), and fails the test.
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        ours = [line for line in lines if "parcoursd" in line]
        for line in lines:
            if line not in ours:
                print("host unit, not ours: %s" % line)
        self.assertEqual(ours, [], "systemd-analyze verify:\n" + result.stderr)
        self.assertEqual(result.returncode, 0, "systemd-analyze verify:\n" + result.stderr)

    def test_documentation_pages(self):
        """Every man: page the unit names is a page of the tree, with that name and section."""
        with open(UNIT, encoding="utf-8") as f:
            pages = re.findall(r"man:([\w.]+)\((\d)\)", f.read())
        self.assertGreaterEqual(len(pages), 3)
        root = os.path.dirname(os.path.dirname(UNIT))
        sources = {}
        for folder, _, files in os.walk(root):
            if "/build" in folder or "/.git" in folder:
                continue
            for name in files:
                if re.fullmatch(r"[\w.]+\.\d", name):
                    sources[name] = os.path.join(folder, name)
        for name, section in pages:
            path = sources.get("%s.%s" % (name, section))
            self.assertIsNotNone(path, "the unit names man:%s(%s), not in the tree" % (name, section))
            with open(path, encoding="utf-8") as f:
                header = re.search(r"^\.TH\s+\"?([\w.]+)\"?\s+\"?(\d)", f.read(), re.M)
            self.assertIsNotNone(header, path)
            self.assertEqual((header.group(1).lower(), header.group(2)), (name, section))

    def test_verify_catches_a_bad_unit(self):
        """The check above would pass on a verify that printed nothing: a typo must show."""
        path = self.unit_copy()
        with open(path, "a", encoding="utf-8") as f:
            f.write("ProtectSystme=strict\n")
        result = subprocess.run([systemd_analyze(), "verify", "--man=no", path],
                                capture_output=True, text=True, timeout=TIMEOUT)
        # On a line test_verify counts as ours, so that its filter cannot hide the error.
        self.assertTrue(any("ProtectSystme" in line and "parcoursd" in line
                            for line in result.stderr.splitlines()), result.stderr)

    def test_security_exposure(self):
        result = subprocess.run([systemd_analyze(), "security", "--offline=yes", UNIT],
                                capture_output=True, text=True, timeout=TIMEOUT)
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
        match = re.search(r"Overall exposure level for parcoursd\.service: (\d+\.\d+)", output)
        self.assertIsNotNone(match, "no exposure level in:\n" + output + result.stderr)
        exposure = float(match.group(1))
        print("systemd-analyze security: overall exposure %.1f (at most %.1f)"
              % (exposure, EXPOSURE_MAX))
        self.assertLessEqual(exposure, EXPOSURE_MAX, output)


class ExampleConfigurationTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="parcours-systemd-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_every_key_is_there(self):
        reference = subprocess.run([PARCOURSD, "--config-reference"], capture_output=True,
                                   text=True, timeout=TIMEOUT, check=True).stdout
        keys = re.findall(r"^\| \[(\w+)\] \| (\w+) \|", reference, re.MULTILINE)
        self.assertGreater(len(keys), 10, reference)
        with open(EXAMPLE, encoding="utf-8") as f:
            example = f.read()
        sections = re.split(r"^\[(\w+)\]\s*$", example, flags=re.MULTILINE)
        found = {sections[i]: sections[i + 1] for i in range(1, len(sections), 2)}
        for section, key in keys:
            self.assertIn(section, found, "[%s] is missing from the example" % section)
            self.assertRegex(found[section], r"(?m)^(# )?%s =" % key,
                             "[%s] %s is missing from the example" % (section, key))

    def test_check_passes(self):
        """parcoursd -n on the example, its partners file and its secret key (a credential of
        the service, absent outside it) swapped for temporary ones; -n reads the key as a start
        would, and opens no store."""
        partners = os.path.join(self.dir, "partners.ini")
        with open(partners, "w", encoding="utf-8") as f:
            f.write(PARTNERS)
        with open(EXAMPLE, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("file = /etc/parcours/partners.ini\n", text)
        text = text.replace("file = /etc/parcours/partners.ini\n", "file = %s\n" % partners)
        credential = "/run/credentials/parcoursd.service/parcoursd.secret"
        self.assertIn(credential, text)
        secret = os.path.join(self.dir, "parcoursd.secret")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, zmq.curve_keypair()[1] + b"\n")
        os.close(fd)
        text = text.replace(credential, secret)
        config = os.path.join(self.dir, "parcoursd.conf")
        with open(config, "w", encoding="utf-8") as f:
            f.write(text)
        result = subprocess.run([PARCOURSD, "-n", "-c", config], capture_output=True, text=True,
                                timeout=TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("configuration OK", result.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
