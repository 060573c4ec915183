#!/usr/bin/env python3
"""Issue 15, item 3: `parcoursctl stats` checked against a model computed here, independently,
from the events the test sends to the real daemon.

Sixty synthetic people over four months, registered by the departement, most oriented to one of
three structures (the mission locale, France Travail, the departement itself) after a seeded
random number of days and hours, then given a referent, a contrat d'engagement, a training or a
job, an exit. The model counts what the docs say is counted (docs/statistics.md): registrations,
orientations per pathway type, the delays registration -> first orientation, notified
orientation -> first referent and -> first contract in whole days with their nearest-rank median
and 90th percentile overall and per structure, trainings by outcome, jobs by kind, exits by
reason, retractions. The daemon's figures must be equal, for every month and from a month on
(--since); they must stay after an erasure; the SVG chart must be a well-formed document.
"""

import json
import math
import os
import random
import re
import subprocess
import unittest
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import datetime, timezone

from harness import PARCOURSCTL, PARTNERS, Daemon, event, pb, send_and_wait

DAY, HOUR = 86400000, 3600000
BRIDGE = ("[bridge93]\nname = Transfer bridge (synthetic)\nkind = BRIDGE\nterritory = 93\n"
          "destinations = 75, 13\n")
BASE = int(datetime(2026, 3, 2, 9, tzinfo=timezone.utc).timestamp() * 1000)
STRUCTURES = {"ml93": pb.REFERENT_BODY_MISSION_LOCALE, "ft93": pb.REFERENT_BODY_FRANCE_TRAVAIL,
              "cd93": pb.REFERENT_BODY_DEPARTEMENT}
TYPES = [pb.PATHWAY_TYPE_EMPLOI, pb.PATHWAY_TYPE_SOCIO_PRO, pb.PATHWAY_TYPE_SOCIAL]


def month(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m")


def nearest_rank(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered))) - 1]


def at(e, ms):
    e.occurred_at = ms
    return e


class Model:
    """What the statistics must say, from the events alone."""

    def __init__(self):
        self.registered, self.oriented = [], []  # months; (month, type)
        self.delays = {"orientation": [], "referent": [], "contract": []}  # (month, structure, days)
        self.trainings, self.jobs, self.exits, self.retracted = [], [], [], []
        self.moved_away, self.arrived = [], []  # (month, territory or "unknown")

    def expected(self, since=None):
        keep = (lambda m: True) if since is None else (lambda m: m >= since)
        doc = {"registered": str(sum(1 for m in self.registered if keep(m))),
               "oriented": {"total": str(sum(1 for m, _ in self.oriented if keep(m))),
                            "by_pathway_type": {pb.PathwayType.Name(t): str(n) for t, n in
                                                Counter(t for m, t in self.oriented
                                                        if keep(m)).items()}}}
        delays = {}
        for step, rows in self.delays.items():
            rows = [(s, d) for m, s, d in rows if keep(m)]
            per = defaultdict(list)
            for s, d in rows:
                per[s].append(d)

            def block(values):
                return {"count": str(len(values)), "median_days": nearest_rank(values, 0.5),
                        "p90_days": nearest_rank(values, 0.9)}
            delays[step] = dict(block([d for _, d in rows]),
                                by_structure={s: block(v) for s, v in per.items()})
        doc["delays"] = delays
        for name, rows in (("trainings_exited", self.trainings), ("jobs_placed", self.jobs),
                           ("exits", self.exits), ("moved_away_to", self.moved_away),
                           ("arrived_from", self.arrived)):
            doc[name] = {k: str(n) for k, n in Counter(k for m, k in rows if keep(m)).items()}
        doc["retracted"] = str(sum(1 for m in self.retracted if keep(m)))
        return doc


class StatsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(partners=PARTNERS + BRIDGE).start()
        cls.model = Model()
        cls.send_population()

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0

    @classmethod
    def send_population(cls):
        rng = random.Random(15)
        m = cls.model
        frames = []
        ids = iter(range(1, 10 ** 6))

        def add(e):
            frames.append(e)

        for i in range(60):
            b = f"B-st-{i:03d}"
            t0 = BASE + rng.randrange(0, 110) * DAY + rng.randrange(0, 20) * HOUR
            add(at(event(f"st-{next(ids)}", "cd93", b,
                         beneficiary_registered=pb.BeneficiaryRegistered()), t0))
            m.registered.append(month(t0))
            if i % 10 == 9:
                continue  # never oriented
            structure = list(STRUCTURES)[i % 3]
            ptype = TYPES[rng.randrange(3)]
            t1 = t0 + rng.randrange(0, 60) * DAY + rng.randrange(0, 23) * HOUR
            add(at(event(f"st-{next(ids)}", "cd93", b, orientation_decided=pb.OrientationDecided(
                pathway_type=ptype, referent_body=STRUCTURES[structure], structure_id=structure,
                notified_at=t1)), t1))
            m.oriented.append((month(t1), ptype))
            m.delays["orientation"].append((month(t1), structure, (t1 - t0) // DAY))
            if i % 7 == 3:
                # Oriented again: counted as an orientation, not as a delay (not the first).
                t1b = t1 + 3 * DAY
                add(at(event(f"st-{next(ids)}", "cd93", b,
                             orientation_decided=pb.OrientationDecided(
                                 pathway_type=ptype, referent_body=STRUCTURES[structure],
                                 structure_id=structure, notified_at=t1b)), t1b))
                m.oriented.append((month(t1b), ptype))
                t1 = t1b
            if i % 5 == 4:
                continue  # no referent yet
            t2 = t1 + rng.randrange(0, 40) * DAY + rng.randrange(0, 23) * HOUR
            add(at(event(f"st-{next(ids)}", "cd93", b, referent_assigned=pb.ReferentAssigned(
                referent_partner_id=structure, professional_ref=f"ref-{i}")), t2))
            m.delays["referent"].append((month(t2), structure, (t2 - t1) // DAY))
            t3 = t2 + rng.randrange(0, 30) * DAY + 2 * HOUR
            if i % 4 != 0:
                add(at(event(f"st-{next(ids)}", "cd93", b, contract_signed=pb.ContractSigned(
                    kind=pb.CONTRACT_KIND_CONTRAT_ENGAGEMENT, start=t3,
                    plan_action_ref=f"pa-{i}")), t3))
                m.delays["contract"].append((month(t3), structure, (t3 - t1) // DAY))
            t4 = t3 + rng.randrange(1, 20) * DAY
            if i % 3 == 1:
                add(at(event(f"st-{next(ids)}", "ft93", b, training_entered=pb.TrainingEntered(
                    programme_code="RNCP-0000", start=t4)), t4))
                outcome = [pb.TRAINING_OUTCOME_COMPLETED, pb.TRAINING_OUTCOME_CERTIFIED,
                           pb.TRAINING_OUTCOME_ABANDONED][rng.randrange(3)]
                t5 = t4 + 10 * DAY
                add(at(event(f"st-{next(ids)}", "ft93", b, training_exited=pb.TrainingExited(
                    outcome=outcome)), t5))
                m.trainings.append((month(t5), pb.TrainingOutcome.Name(outcome)))
            elif i % 3 == 2:
                kind = [pb.EMPLOYMENT_KIND_CDI, pb.EMPLOYMENT_KIND_CDD,
                        pb.EMPLOYMENT_KIND_IAE][rng.randrange(3)]
                add(at(event(f"st-{next(ids)}", "ft93", b, job_placed=pb.JobPlaced(
                    kind=kind, start=t4)), t4))
                m.jobs.append((month(t4), pb.EmploymentKind.Name(kind)))
            if i % 6 == 0:
                reason = [pb.EXIT_REASON_MOVED, pb.EXIT_REASON_RIGHT_ENDED][rng.randrange(2)]
                destination = ["", "75", "13"][i % 3] if reason == pb.EXIT_REASON_MOVED else ""
                t6 = t4 + 5 * DAY
                add(at(event(f"st-{next(ids)}", "cd93", b, pathway_exited=pb.PathwayExited(
                    reason=reason, destination_territory=destination)), t6))
                m.exits.append((month(t6), pb.ExitReason.Name(reason)))
                if reason == pb.EXIT_REASON_MOVED:
                    m.moved_away.append((month(t6), destination or "unknown"))
        # Events in the order of their dates, as the partners would have sent them.
        frames.sort(key=lambda e: e.occurred_at)
        sock = cls.daemon.connect()
        acks = send_and_wait(sock, frames)
        bad = [a for a in acks if a.status != pb.ACK_STATUS_ACCEPTED]
        assert not bad, bad[:3]
        # A retraction: counted as such, its event staying in the counts.
        last = frames[-1]
        retraction = at(event(f"st-{next(ids)}", last.partner_id, last.beneficiary_id,
                              event_retracted=pb.EventRetracted(
                                  retracted_event_id=last.event_id,
                                  reason=pb.RETRACTION_REASON_DID_NOT_HAPPEN)),
                        last.occurred_at + HOUR)
        ack = send_and_wait(sock, [retraction])[0]
        assert ack.status == pb.ACK_STATUS_ACCEPTED, ack
        m.retracted.append(month(retraction.occurred_at))
        # People who moved here: moves the bridge announces, registrations claiming them.
        for k, origin in enumerate(["75", "75", "13", "2A"]):
            reference = f"{origin}:{k:025d}0"
            t = BASE + (20 + 30 * k) * DAY
            announced = at(pb.Event(event_id=reference, partner_id="bridge93",
                                    beneficiary_id=reference, transfer_announced=pb.TransferAnnounced(
                                        transfer=pb.Transfer(reference=reference,
                                                             origin_territory=origin,
                                                             destination_territory="93",
                                                             moved_at=t))), t)
            arrival = at(event(f"st-{next(ids)}", "caf93", f"B-arrived-{k}",
                               beneficiary_registered=pb.BeneficiaryRegistered(
                                   origin_reference=reference)), t + DAY)
            for a in send_and_wait(sock, [announced, arrival]):
                assert a.status == pb.ACK_STATUS_ACCEPTED, a
            m.registered.append(month(arrival.occurred_at))
            m.arrived.append((month(arrival.occurred_at), origin))
        sock.close()

    def stats(self, *args):
        run = subprocess.run([PARCOURSCTL, "-c", self.daemon.config, "stats", *args],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run.stdout

    def check(self, got, want):
        for key in want:
            self.assertEqual(got[key], want[key], key)

    def test_1_every_month_equals_the_model(self):
        got = json.loads(self.stats("--json"))
        self.assertIsNone(got["since"])
        self.check(got, self.model.expected())
        # The pathways now, per phase, as the status counts them.
        status = Counter()
        for c in self.daemon.status().pathways_per_phase:  # summed over the territories
            status[pb.Phase.Name(c.phase)] += c.count
        self.assertEqual({k: int(v) for k, v in got["pathways_per_phase"].items()}, dict(status))
        self.assertEqual(sum(status.values()), 60 + len(self.model.arrived))
        self.assertEqual(got["deadlines_missed"], {})  # the harness turns them off

    def test_2_from_a_month_on(self):
        for since in ("2026-04-15", "2026-06-01"):
            got = json.loads(self.stats("--since", since, "--json"))
            self.assertEqual(got["since"], since[:7])
            self.check(got, self.model.expected(since[:7]))

    def test_3_people_for_the_committee(self):
        text = self.stats()
        want = self.model.expected()
        # The funnel's steps are the firsts: reoriented people are not counted twice in it.
        self.assertIn(f"funnel: registered {want['registered']}, oriented "
                      f"{want['delays']['orientation']['count']}, referent named "
                      f"{want['delays']['referent']['count']}, contract signed "
                      f"{want['delays']['contract']['count']} (orientations decided: "
                      f"{want['oriented']['total']})", text)
        # Where people moved to, and came from.
        for title, key in (("moved away to", "moved_away_to"), ("arrived from", "arrived_from")):
            line = re.search(rf"^{title}: (.*)$", text, re.M).group(1)
            self.assertEqual(dict(item.strip().rsplit(" ", 1) for item in line.split(",")),
                             want[key], title)
        o = want["delays"]["orientation"]
        self.assertRegex(text, rf"registration to orientation\s+{o['count']}\s+"
                               rf"{o['median_days']}\s+{o['p90_days']}\n")
        svg = os.path.join(self.daemon.folder, "stats.svg")
        self.stats("--svg", svg)
        root = ET.parse(svg).getroot()
        self.assertTrue(root.tag.endswith("svg"))
        texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        self.assertIn("registered", texts)
        self.assertIn(f"{o['median_days']} (p90 {o['p90_days']})", texts)
        # An existing file is not overwritten.
        run = subprocess.run([PARCOURSCTL, "-c", self.daemon.config, "stats", "--svg", svg],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 2, run.stderr)

    def test_4_counts_stay_once_a_person_is_erased(self):
        before = json.loads(self.stats("--json"))
        run = subprocess.run([PARCOURSCTL, "-c", self.daemon.config, "erase", "B-st-000",
                              "--reason", "request", "--yes"], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        after = json.loads(self.stats("--json"))
        before.pop("pathways_per_phase")
        after.pop("pathways_per_phase")
        self.assertEqual(after, before)

    def test_5_bad_input(self):
        run = subprocess.run([PARCOURSCTL, "-c", self.daemon.config, "stats", "--since",
                              "yesterday"], capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 2)
        self.assertIn("--since takes a date", run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
