#!/usr/bin/env python3
"""Issue 15, item 4: the territory at scale (seeds/territory.sh) runs in CI at a reduced size,
against this build: every generated event accepted, the deadlines nobody met written until none
is due, the statistics and their chart, the alerts each partner received (the departement the
most, employers and training providers none: they answer for no deadline), and the people who
moved to Val-de-Marne handed over to its daemon by the bridge and registered there."""

import os
import re
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
BUILD = os.path.dirname(os.path.dirname(os.environ["PARCOURSD"]))  # .../build/X/daemon/parcoursd


class TerritoryTest(unittest.TestCase):
    def test_reduced_territory(self):
        folder = tempfile.mkdtemp(prefix="parcours-territory-")
        env = dict(os.environ, PARCOURS_BUILD_DIR=BUILD, PARCOURS_TERRITORY_DIR=folder)
        run = subprocess.run([os.path.join(ROOT, "seeds", "territory.sh"), "--people", "300"],
                             env=env, capture_output=True, text=True, timeout=600)
        out = run.stdout
        self.assertEqual(run.returncode, 0, out[-3000:] + run.stderr[-3000:])
        events = int(re.search(r"300 people, (\d+) events", out).group(1))
        self.assertRegex(out, rf"ACK_STATUS_ACCEPTED {events}\n")
        self.assertIn("funnel: registered 300,", out)
        missed = re.search(r"deadlines missed: (.*)\n", out).group(1)
        self.assertNotEqual(missed, "none")
        alerts = dict(re.findall(r"^  (\S+)\s+(\d+)$", out, re.M))
        self.assertGreater(int(alerts["cd93"]), 0)
        for p in ("formapro93", "competences93", "logistique93", "restauration93", "caf93"):
            self.assertEqual(alerts[p], "0", p)
        # Every deadline missed was told to the departement, once.
        total = sum(int(n) for n in re.findall(r"[A-Z]+ (\d+)", missed))
        self.assertEqual(int(alerts["cd93"]), total)
        # The people who moved to 94: every move handed over by the bridge, told to 94's
        # departement, registered there by its CAF; the bridge itself got no alert.
        handed = int(re.search(r"the bridge handed (\d+) moves over to 94", out).group(1))
        told = int(re.search(r"94's departement was told of (\d+) moves", out).group(1))
        registered = int(re.search(r"the CAF of 94 registered (\d+) of them", out).group(1))
        self.assertGreater(handed, 0)
        self.assertEqual((told, registered), (handed, handed))
        self.assertEqual(alerts["bridge-idf"], "0")
        self.assertRegex(out, r"\d+ deadlines fall due by")
        root = ET.parse(os.path.join(folder, "stats.svg")).getroot()
        self.assertTrue(root.tag.endswith("svg"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
