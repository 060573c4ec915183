#!/usr/bin/env python3
"""Issue 15, item 4: the territory at scale (seeds/territory.sh) runs in CI at a reduced size,
against this build: every generated event accepted, the deadlines nobody met written until none
is due, the statistics and their chart, the alerts each partner received (the departement the
most, employers and training providers none: they answer for no deadline)."""

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
        root = ET.parse(os.path.join(folder, "stats.svg")).getroot()
        self.assertTrue(root.tag.endswith("svg"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
