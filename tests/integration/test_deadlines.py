#!/usr/bin/env python3
"""Issue 15, item 1: the deadlines as durable events, over the real daemon and a clock the test
moves (tests/fault/clock_offset.c, an LD_PRELOAD interposer that shifts CLOCK_REALTIME only).

Three pathways registered at T0 by the departement: one never oriented (the orientation's six
weeks), one oriented to the mission locale with no referent nor contract (their month), one that
takes every step at once. The test checks, in simulated time:
  - `parcoursctl due` lists exactly what the store holds, with the due times the texts give;
  - at T0 + 41 days nothing is written; at T0 + 43 days each missed deadline is written once, as
    a DeadlineMissed of parcoursd's own, told to exactly the partners responsible (the
    departement, the oriented structure, the referent's partner) and to no one else, with the
    pathway's version and updated_at unchanged and the kind in deadlines_missed;
  - the pathway that met its deadlines raises nothing;
  - a restart, and a backup restored into another daemon, write none of them again;
  - at T0 + 181 days the inactivity warnings, once each;
  - a partner that sends a DeadlineMissed is refused;
  - a store from before the index (tests/tools/store_unindex.c) is indexed once at start.
"""

import json
import os
import subprocess
import time
import unittest

from harness import (PARCOURSCTL, PARCOURSD, Daemon, Subscriber, decided, engagement, event,
                     free_port, metrics, pb, registered, send_and_wait, value)

DAY = 86400000
INTERPOSER = os.environ.get("PARCOURS_CLOCK_OFFSET")
WATCHERS = ("cd93", "ft93", "ml93", "caf93", "ccas93")
LATE, ORIENTED, PROMPT = "B-dl-late", "B-dl-oriented", "B-dl-prompt"


def deadline_notes(sub):
    """The DeadlineMissed notifications a subscriber received: (beneficiary, kind) each."""
    return [(n.event.beneficiary_id, n.event.deadline_missed.kind) for n in sub.received
            if n.HasField("event") and n.event.WhichOneof("payload") == "deadline_missed"]


@unittest.skipIf(INTERPOSER is None, "run through ctest (PARCOURS_CLOCK_OFFSET)")
class DeadlinesTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.daemon = Daemon(deadlines=True, extra_config=f"http.listen = 127.0.0.1:{self.port}")
        self.clock = os.path.join(self.daemon.folder, "clock-offset")
        self.set_days(0)
        self.env = {"LD_PRELOAD": INTERPOSER, "PARCOURS_CLOCK_FILE": self.clock,
                    "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        self.daemon.start(env=self.env)
        self.others = []

    def tearDown(self):
        for d in [self.daemon] + self.others:
            if d.process is not None and d.process.poll() is None:
                d.stop()
            d.cleanup()

    def set_days(self, days):
        with open(self.clock + ".tmp", "w") as f:
            f.write(str(int(days * DAY)))
        os.replace(self.clock + ".tmp", self.clock)

    def ctl(self, daemon, *args):
        run = subprocess.run([PARCOURSCTL, "-c", daemon.config, *args], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        return run.stdout

    def due(self, daemon, within):
        doc = json.loads(self.ctl(daemon, "due", "--within", within, "--json"))
        return {(d["beneficiary_id"], d["kind"]): (int(d["due_at"]), int(d["since"]))
                for d in doc["deadlines"]}, int(doc["total"])

    def history_kinds(self, daemon, beneficiary):
        return [h.event.deadline_missed.kind for h in daemon.history(beneficiary)
                if h.event.WhichOneof("payload") == "deadline_missed"]

    def watch(self, seconds, subs):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for s in subs.values():
                s.poll(0.05)

    def test_each_deadline_once_to_exactly_its_partners(self):
        d = self.daemon
        sock = d.connect()
        referent = event("p-ref", "cd93", PROMPT, referent_assigned=pb.ReferentAssigned(
            referent_partner_id="ml93", professional_ref="ref-1"))
        acks = send_and_wait(sock, [
            registered("l-reg", "cd93", LATE),
            registered("o-reg", "cd93", ORIENTED),
            decided("o-dec", "cd93", ORIENTED, "ml93", pb.REFERENT_BODY_MISSION_LOCALE),
            registered("p-reg", "cd93", PROMPT),
            decided("p-dec", "cd93", PROMPT, "ml93", pb.REFERENT_BODY_MISSION_LOCALE),
            referent,
            engagement("p-ce", "ml93", PROMPT, "pa-ml93-1"),
        ])
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)
        late, oriented, prompt = (d.pathway(b) for b in (LATE, ORIENTED, PROMPT))

        # What the store holds, as the texts set it.
        due, total = self.due(d, "60d")
        notified = oriented.orientation.notified_at
        self.assertEqual(due, {
            (LATE, "DEADLINE_KIND_ORIENTATION"): (late.created_at + 42 * DAY, late.created_at),
            (ORIENTED, "DEADLINE_KIND_CONTRACT"): (notified + 30 * DAY, notified),
            (ORIENTED, "DEADLINE_KIND_REFERENT"): (notified + 30 * DAY, notified),
        })
        self.assertEqual(total, 3)
        due, total = self.due(d, "200d")
        self.assertEqual(total, 6)  # and the inactivity warning of each, at 180 days
        day = prompt.updated_at - prompt.updated_at % DAY  # whole days, from the event's day
        self.assertEqual(due[(PROMPT, "DEADLINE_KIND_INACTIVITY")], (day + 181 * DAY, day))
        # A store written before the index: indexed once at the next start, the same.
        self.assertEqual(d.stop(), 0)
        run = subprocess.run([os.environ["PARCOURS_STORE_UNINDEX"], d.data], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        d.start(env=self.env)
        self.assertIn("the deadlines of 3 open pathways indexed", d.log())
        # Settings changed: indexed again under them (a contract's month of 20 days).
        self.assertEqual(d.stop(), 0)
        with open(d.config, "a") as f:
            f.write("[deadlines]\ncontract_days = 20\n")
        d.start(env=self.env)
        moved, _ = self.due(d, "200d")
        self.assertEqual(moved[(ORIENTED, "DEADLINE_KIND_CONTRACT")], (notified + 20 * DAY, notified))
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace("[deadlines]\ncontract_days = 20\n", ""))
        self.assertEqual(d.stop(), 0)
        d.start(env=self.env)
        self.assertEqual(self.due(d, "200d"), (due, 6))
        human = self.ctl(d, "due", "--within", "60d")
        self.assertIn("3 deadlines fall due by", human)
        self.assertRegex(human, r"ORIENTATION\s+B-dl-late")

        subs = {p: Subscriber(d, p) for p in WATCHERS}
        self.watch(1.5, subs)
        before = {p: len(s.received) for p, s in subs.items()}

        # Each deadline at its time, once, to exactly the partners responsible; nothing before.
        contract = {(ORIENTED, pb.DEADLINE_KIND_CONTRACT), (ORIENTED, pb.DEADLINE_KIND_REFERENT)}
        orientation = {(LATE, pb.DEADLINE_KIND_ORIENTATION)}
        seen = {p: set() for p in WATCHERS}
        for days, new in ((29, {}), (31, {"cd93": contract, "ml93": contract}), (41, {}),
                          (43, {"cd93": orientation})):
            self.set_days(days)
            want = {p: seen[p] | new.get(p, set()) for p in WATCHERS}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and \
                    any(set(deadline_notes(subs[p])) != want[p] for p in WATCHERS):
                self.watch(0.2, subs)
            self.watch(2.5, subs)  # and nothing more comes
            for p in WATCHERS:
                self.assertEqual(sorted(deadline_notes(subs[p])), sorted(want[p]),
                                 f"{p} at T0 + {days} days")
            seen = want
        for p, s in subs.items():  # nothing else was told either
            self.assertEqual(len(s.received) - before[p], len(seen[p]), p)
        self.assertEqual(d.status().last_seq, acks[-1].seq + 3)
        for n in subs["cd93"].received[before["cd93"]:]:
            e = n.event
            self.assertEqual(e.partner_id, "parcoursd")
            m = e.deadline_missed
            start = d.pathway(e.beneficiary_id)
            self.assertEqual(m.due_at, m.since + (42 if m.kind == pb.DEADLINE_KIND_ORIENTATION
                                                  else 30) * DAY)
            self.assertLessEqual(m.due_at, e.occurred_at)
            self.assertIn((m.kind, m.since),
                          [(x.kind, x.since) for x in n.pathway.deadlines_missed])
        # No fact changed: neither the version nor updated_at; the kinds are recorded.
        for b, p in ((LATE, late), (ORIENTED, oriented), (PROMPT, prompt)):
            now = d.pathway(b)
            self.assertEqual((now.version, now.updated_at), (p.version, p.updated_at), b)
        self.assertEqual(sorted(x.kind for x in d.pathway(ORIENTED).deadlines_missed),
                         [pb.DEADLINE_KIND_CONTRACT, pb.DEADLINE_KIND_REFERENT])
        self.assertEqual(list(d.pathway(PROMPT).deadlines_missed), [])
        self.assertEqual(self.history_kinds(d, LATE), [pb.DEADLINE_KIND_ORIENTATION])
        self.assertEqual(self.due(d, "0s")[1], 0)  # nothing due is left behind
        # For operators: written per kind, none overdue.
        families = metrics(self.port)
        for kind, n in (("orientation", 1), ("contract", 1), ("referent", 1), ("inactivity", 0)):
            self.assertEqual(value(families, "parcours_deadlines_missed_total", kind=kind), n, kind)
        self.assertEqual(value(families, "parcours_deadlines_overdue"), 0)

        # A restart writes none again; nor does a restore of a backup taken now.
        backup_dir = os.path.join(d.folder, "backup")
        self.ctl(d, "backup", backup_dir)
        last = d.status().last_seq
        self.assertEqual(d.stop(), 0)
        d.start(env=self.env)
        time.sleep(3.0)
        self.assertEqual(d.status().last_seq, last)
        restored = Daemon(deadlines=True)
        self.others.append(restored)
        run = subprocess.run([PARCOURSD, "-c", restored.config, "--restore",
                              os.path.join(backup_dir, "data.mdb")], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        with open(os.path.join(restored.folder, "clock-offset"), "w") as f:
            f.write(str(43 * DAY))
        restored.start(env=dict(self.env, PARCOURS_CLOCK_FILE=os.path.join(restored.folder,
                                                                            "clock-offset")))
        time.sleep(3.0)
        self.assertEqual(restored.status().last_seq, last)
        self.assertEqual(self.history_kinds(restored, LATE), [pb.DEADLINE_KIND_ORIENTATION])
        self.assertEqual(self.due(restored, "200d")[1], 3)  # the inactivity ones, still held
        self.assertEqual(restored.stop(), 0)

        # Half a year without an event: the inactivity warning of each pathway, once.
        for s in subs.values():
            s.close()
        subs = {p: Subscriber(d, p, start=0) for p in WATCHERS}
        self.watch(1.5, subs)
        told = {p: len(deadline_notes(s)) for p, s in subs.items()}
        self.set_days(181)
        want = {"cd93": 3, "ml93": 2}  # ml93: the oriented structure, and the referent's partner
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                len(deadline_notes(subs[p])) - told[p] != w for p, w in want.items()):
            self.watch(0.2, subs)
        self.watch(2.0, subs)
        for p in WATCHERS:
            new = deadline_notes(subs[p])[told[p]:]
            self.assertEqual(len(new), want.get(p, 0), (p, new))
            self.assertTrue(all(k == pb.DEADLINE_KIND_INACTIVITY for _, k in new), new)
        self.assertEqual(self.history_kinds(d, PROMPT), [pb.DEADLINE_KIND_INACTIVITY])
        self.assertEqual(self.due(d, "3650d")[1], 0)

        # No partner writes one.
        forged = event("forged", "cd93", LATE, deadline_missed=pb.DeadlineMissed(
            kind=pb.DEADLINE_KIND_ORIENTATION, due_at=1, since=1))
        ack = send_and_wait(sock, [forged])[0]
        self.assertEqual((ack.status, ack.code),
                         (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED), ack)
        self.assertIn("written by parcoursd itself", ack.message)
        sock.close()
        for s in subs.values():
            s.close()

    def test_erasure_takes_the_deadlines_out(self):
        # The index keeps nothing of an erased person: its entries go in the erasure's batch.
        d = self.daemon
        sock = d.connect()
        acks = send_and_wait(sock, [registered("x-reg", "cd93", "B-dl-erased"),
                                    registered("k-reg", "cd93", "B-dl-kept")])
        sock.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)
        due, total = self.due(d, "200d")
        self.assertEqual({b for b, _ in due}, {"B-dl-erased", "B-dl-kept"})
        self.ctl(d, "erase", "B-dl-erased", "--reason", "request", "--yes")
        due, total = self.due(d, "200d")
        self.assertEqual({b for b, _ in due}, {"B-dl-kept"})
        self.assertEqual(total, 2)  # its orientation and its inactivity
        # And not only unlisted: gone from the index itself.
        self.assertEqual(d.stop(), 0)
        run = subprocess.run([os.environ["PARCOURS_STORE_UNINDEX"], "--count", d.data],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual((run.returncode, run.stdout.strip()), (0, "2"), run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
