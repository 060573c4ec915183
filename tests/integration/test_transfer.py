#!/usr/bin/env python3
"""Issue 15, item 2: a person who moves is handed from one territory's daemon to another's by a
bridge, a partner of both, through the wire contract alone (docs/transfers.md).

Two real daemons over CURVE, territory 75 (the origin) and territory 93 (the destination), and
the real bridge (clients/python/parcours_bridge.py) between them, each side with its own keys.
A pathway in 75 exits MOVED to 93: the origin's pathway is closed MOVED with a reference, the
bridge is told of the move and of nothing else (no pseudonym, no pathway, no partner of the
person), 93's departement is told the move with exactly the four fields of a Transfer, nobody
else in 93 is told anything, a registration in 93 naming the reference opens the pathway there
with it and its deadlines from the arrival, once; a reference that cannot be claimed gets the
same answer whatever the pathway's state; the move is forgotten on both sides once handed over,
and an unclaimed one after [transfers] claim_days (a wall clock the test moves,
tests/fault/clock_offset.c).
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

from harness import (PARCOURSCTL, Daemon, Subscriber, decided, event, now_ms, pb, registered,
                     send_and_wait)

HERE = os.path.dirname(os.path.abspath(__file__))
BRIDGE = os.path.join(HERE, "..", "..", "clients", "python", "parcours_bridge.py")
INTERPOSER = os.environ.get("PARCOURS_CLOCK_OFFSET")
DAY = 86400000

ORIGIN = """
[cd75]
name = Departement 75 (synthetic)
kind = DEPARTEMENT
territory = 75
[caf75]
name = CAF 75 (synthetic)
kind = CAF
territory = 75
[ml75]
name = Mission locale 75 (synthetic)
kind = MISSION_LOCALE
territory = 75
[employer75]
name = Employer 75 (synthetic)
kind = EMPLOYER
territory = 75
[bridge-idf]
name = Transfer bridge (synthetic)
kind = BRIDGE
territory = 75
destinations = 93
"""

DESTINATION = """
[cd93]
name = Departement 93 (synthetic)
kind = DEPARTEMENT
territory = 93
[ft93]
name = France Travail 93 (synthetic)
kind = FRANCE_TRAVAIL
territory = 93
[caf93]
name = CAF 93 (synthetic)
kind = CAF
territory = 93
[ml93]
name = Mission locale 93 (synthetic)
kind = MISSION_LOCALE
territory = 93
[ccas93]
name = CCAS 93 (synthetic)
kind = CCAS
territory = 93
[bridge-idf]
name = Transfer bridge (synthetic)
kind = BRIDGE
territory = 93
[bridge-two]
name = Another transfer bridge (synthetic)
kind = BRIDGE
territory = 93
"""

# Everything of the person and of the pathway left behind that the destination and the bridge
# must never be sent: the origin's pseudonym, its partners, the facts of the pathway.
MOVER, STAYER = "B-move-75-pseudonym", "B-stay-75-pseudonym"
ORIGIN_SECRETS = [MOVER.encode(), STAYER.encode(), b"caf75", b"ml75", b"employer75", b"cd75",
                  b"PLAN-75-001", b"REF-ML75-7"]
REFERENCE = re.compile(r"^75:[0-9A-HJKMNP-TV-Z]{26}$")


def fields(message):
    """The names of the fields a message carries, recursively ("event.transfer_announced...")."""
    out = set()
    for field, value in message.ListFields():
        out.add(field.name)
        if field.type == field.TYPE_MESSAGE and field.label != field.LABEL_REPEATED:
            out |= {f"{field.name}.{sub}" for sub in fields(value)}
    return out


@unittest.skipIf(INTERPOSER is None, "run through ctest (PARCOURS_CLOCK_OFFSET)")
class TransferTest(unittest.TestCase):
    def setUp(self):
        self.origin = Daemon(partners=ORIGIN, curve=True)
        self.destination = Daemon(partners=DESTINATION, curve=True, deadlines=True)
        self.clock = os.path.join(self.destination.folder, "clock-offset")
        self.origin_clock = os.path.join(self.origin.folder, "clock-offset")
        self.set_days(0)
        self.set_days(0, self.origin_clock)
        self.env = {"LD_PRELOAD": INTERPOSER, "PARCOURS_CLOCK_FILE": self.clock,
                    "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                    ":verify_asan_link_order=0"}
        self.origin.start(env=dict(self.env, PARCOURS_CLOCK_FILE=self.origin_clock))
        self.destination.start(env=self.env)
        self.subs = []

    def tearDown(self):
        for s in self.subs:
            s.close()
        for d in (self.origin, self.destination):
            if d.process is not None and d.process.poll() is None:
                d.stop()
            d.cleanup()

    def set_days(self, days, clock=None):
        clock = clock or self.clock
        with open(clock + ".tmp", "w") as f:
            f.write(str(int(days * DAY)))
        os.replace(clock + ".tmp", clock)

    def send(self, daemon, partner, *events):
        sock = daemon.connect(partner)
        try:
            return {a.event_id: a for a in send_and_wait(sock, events)}
        finally:
            sock.close()

    def accepted(self, daemon, partner, *events):
        acks = self.send(daemon, partner, *events)
        for e in events:
            self.assertEqual(acks[e.event_id].status, pb.ACK_STATUS_ACCEPTED,
                             f"{e.event_id}: {acks[e.event_id].message}")
        return acks

    def subscribe(self, daemon, partner, **kw):
        s = Subscriber(daemon, partner, **kw)
        self.subs.append(s)
        return s

    def drain(self, sub, seconds=1.5):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sub.poll(0.1)
        return sub.received

    def bridge_config(self):
        """The bridge's INI: its own key in each daemon, and each daemon's public key."""
        folder = self.origin.folder

        def key_files(daemon, name):
            secret = os.path.join(folder, f"bridge-{name}.secret")
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, daemon.keys["bridge-idf"][1] + b"\n")
            os.close(fd)
            server = os.path.join(folder, f"parcoursd-{name}.public")
            with open(server, "wb") as f:
                f.write(daemon.server_public + b"\n")
            return secret, server

        o_secret, o_server = key_files(self.origin, "75")
        d_secret, d_server = key_files(self.destination, "93")
        path = os.path.join(folder, "bridge.ini")
        with open(path, "w") as f:
            f.write(f"[origin]\nterritory = 75\ndeliver = {self.origin.deliver}\n"
                    f"partner_id = bridge-idf\nkey = {o_secret}\nserver_key = {o_server}\n"
                    f"[destination 93]\ningest = {self.destination.ingest}\n"
                    f"key = {d_secret}\nserver_key = {d_server}\n")
        return path

    def run_bridge(self, config, idle=3.0):
        run = subprocess.run(["/usr/bin/python3", BRIDGE, "-c", config, "--idle", str(idle)],
                             capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, PYTHONPATH=os.environ["PARCOURS_PB_DIR"]))
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        return run.stderr

    def move_away(self):
        """The mover's pathway in 75, from registration to a job, then the move; and a stayer
        who moves away to nobody knows where (no destination: nothing for the bridge)."""
        t = now_ms() - 20 * DAY
        self.accepted(self.origin, "caf75",
                      registered("mv-1", "caf75", MOVER, rsa_recipient=True),
                      registered("st-1", "caf75", STAYER, rsa_recipient=True))
        self.accepted(self.origin, "cd75",
                      decided("mv-2", "cd75", MOVER, "ml75", pb.REFERENT_BODY_MISSION_LOCALE))
        self.accepted(self.origin, "ml75",
                      event("mv-3", "ml75", MOVER, referent_assigned=pb.ReferentAssigned(
                          referent_partner_id="ml75", professional_ref="REF-ML75-7")),
                      event("mv-4", "ml75", MOVER, contract_signed=pb.ContractSigned(
                          kind=pb.CONTRACT_KIND_CONTRAT_ENGAGEMENT, start=t,
                          plan_action_ref="PLAN-75-001")),
                      event("mv-5", "ml75", MOVER,
                            member_joined=pb.MemberJoined(member_id="employer75")))
        self.accepted(self.origin, "employer75",
                      event("mv-6", "employer75", MOVER,
                            job_placed=pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_CDD, start=t)))
        # What a move must say, and must not: checked before the good one.
        bad = {
            "bad-1": (pb.PathwayExited(reason=pb.EXIT_REASON_MOVED, destination_territory="9 3"),
                      pb.ERROR_CODE_MALFORMED),
            "bad-2": (pb.PathwayExited(reason=pb.EXIT_REASON_MOVED, destination_territory="75"),
                      pb.ERROR_CODE_INVALID_TRANSITION),
            "bad-3": (pb.PathwayExited(reason=pb.EXIT_REASON_RIGHT_ENDED,
                                       destination_territory="93"), pb.ERROR_CODE_MALFORMED),
            "bad-4": (pb.PathwayExited(reason=pb.EXIT_REASON_MOVED, destination_territory="93",
                                       transfer_reference="75:" + "0" * 26),
                      pb.ERROR_CODE_MALFORMED),  # not the one the daemon writes for it
            # No bridge of 75 hands moves over to 13: the move could never arrive.
            "bad-5": (pb.PathwayExited(reason=pb.EXIT_REASON_MOVED, destination_territory="13"),
                      pb.ERROR_CODE_INVALID_TRANSITION),
        }
        acks = self.send(self.origin, "cd75", *[event(i, "cd75", MOVER, pathway_exited=p)
                                                for i, (p, _) in bad.items()])
        for i, (_, code) in bad.items():
            self.assertEqual((acks[i].status, acks[i].code), (pb.ACK_STATUS_REJECTED, code),
                             f"{i}: {acks[i].message}")
        self.accepted(self.origin, "cd75",
                      event("mv-7", "cd75", MOVER, pathway_exited=pb.PathwayExited(
                          reason=pb.EXIT_REASON_MOVED, destination_territory="93")),
                      event("st-2", "cd75", STAYER, pathway_exited=pb.PathwayExited(
                          reason=pb.EXIT_REASON_MOVED)))  # to where nobody knows: no hand-over
        exit_ = self.origin.pathway(MOVER).exit
        self.assertEqual(exit_.reason, pb.EXIT_REASON_MOVED)
        self.assertEqual(exit_.destination_territory, "93")
        self.assertRegex(exit_.transfer_reference, REFERENCE)
        return exit_.transfer_reference

    def test_transfer_between_two_daemons(self):
        caf75 = self.subscribe(self.origin, "caf75")
        employer75 = self.subscribe(self.origin, "employer75")
        reference = self.move_away()
        moved_at = self.origin.history(MOVER)[-1].event.occurred_at

        # The origin's partners: the CAF (a member) has the reference to pass on with the
        # person's file; the employer learns that the person left, not where to.
        exits = [n for n in self.drain(caf75) if n.event.WhichOneof("payload") == "pathway_exited"
                 and n.event.beneficiary_id == MOVER]
        self.assertEqual(exits[0].event.pathway_exited.transfer_reference, reference)
        exits = [n for n in self.drain(employer75)
                 if n.event.WhichOneof("payload") == "pathway_exited"]
        self.assertEqual(len(exits), 1)
        self.assertEqual(exits[0].event.pathway_exited.destination_territory, "")
        self.assertEqual(exits[0].event.pathway_exited.transfer_reference, "")
        self.assertNotIn(b"93", exits[0].event.pathway_exited.SerializeToString())

        # What the bridge is told, read once here without acknowledging: the move, and only it.
        peek = self.subscribe(self.origin, "bridge-idf", auto_ack=False)
        told = self.drain(peek)
        self.assertEqual(len(told), 1, told)
        n = told[0]
        self.assertEqual(fields(n) - {"committed_at", "stream_id"}, {
            "partner_seq", "seq", "event", "event.event_id", "event.partner_id",
            "event.beneficiary_id", "event.occurred_at", "event.transfer_announced",
            "event.transfer_announced.transfer",
            "event.transfer_announced.transfer.reference",
            "event.transfer_announced.transfer.origin_territory",
            "event.transfer_announced.transfer.destination_territory",
            "event.transfer_announced.transfer.moved_at"})
        self.assertEqual(n.event.partner_id, "parcoursd")
        self.assertEqual((n.event.event_id, n.event.beneficiary_id), (reference, reference))
        t = n.event.transfer_announced.transfer
        self.assertEqual((t.reference, t.origin_territory, t.destination_territory, t.moved_at),
                         (reference, "75", "93", moved_at))
        for secret in ORIGIN_SECRETS:
            self.assertNotIn(secret, n.SerializeToString())
        peek.close()

        # Who in 93 hears what: its departement the move, nobody else anything.
        cd93 = self.subscribe(self.destination, "cd93")
        quiet = [self.subscribe(self.destination, p) for p in ("ft93", "caf93", "ml93")]
        config = self.bridge_config()
        log = self.run_bridge(config)
        self.assertIn(f"move {reference} from 75 handed over to 93", log)
        got = self.drain(cd93)
        self.assertEqual(len(got), 1, got)
        m = got[0]
        self.assertFalse(m.HasField("pathway"))
        self.assertEqual(m.event.partner_id, "bridge-idf")
        self.assertEqual(m.event.transfer_announced.transfer, t)
        self.assertEqual(fields(m.event), {f.removeprefix("event.") for f in fields(n)
                                           if f.startswith("event.")})
        for secret in ORIGIN_SECRETS:
            self.assertNotIn(secret, m.SerializeToString())
        for s in quiet:
            self.assertEqual(self.drain(s, 0.3), [], s.partner_id)

        # The bridge again (a restart): the move was acknowledged, nothing goes twice; the same
        # move sent again is a DUPLICATE of the first, under its id or another, from this bridge
        # or another (none is held up, none learns more); the same reference saying another
        # move is refused.
        self.assertNotIn("handed over", self.run_bridge(config, idle=2.0))
        self.assertEqual(self.drain(cd93, 0.5), [got[0]])
        again = pb.Event(event_id=reference, partner_id="bridge-idf", beneficiary_id=reference,
                         occurred_at=moved_at, transfer_announced=pb.TransferAnnounced(transfer=t))
        other = pb.Event()
        other.CopyFrom(again)
        other.event_id = "another-id"
        changed = pb.Event()
        changed.CopyFrom(again)
        changed.event_id = "changed-id"
        changed.transfer_announced.transfer.moved_at += 1
        acks = self.send(self.destination, "bridge-idf", again, other, changed)
        for i in (reference, "another-id"):
            self.assertEqual((acks[i].status, acks[i].seq), (pb.ACK_STATUS_DUPLICATE, m.seq), i)
        self.assertEqual((acks["changed-id"].status, acks["changed-id"].code),
                         (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_INVALID_TRANSITION))
        two = pb.Event()
        two.CopyFrom(again)
        two.partner_id = "bridge-two"
        ack = self.send(self.destination, "bridge-two", two)[reference]
        self.assertEqual((ack.status, ack.seq), (pb.ACK_STATUS_DUPLICATE, m.seq))
        # Only a bridge announces a move.
        forged = pb.Event()
        forged.CopyFrom(again)
        forged.partner_id, forged.event_id = "cd93", "forged-1"
        ack = self.send(self.destination, "cd93", forged)["forged-1"]
        self.assertEqual((ack.status, ack.code), (pb.ACK_STATUS_REJECTED,
                                                  pb.ERROR_CODE_NOT_AUTHORISED))

        # The arrival: the CAF of 93 registers the person under 93's pseudonym, naming the move.
        arrived, arrival = "B-move-93-pseudonym", now_ms()
        reg = registered("ar-1", "caf93", arrived, rsa_recipient=True)
        reg.beneficiary_registered.origin_reference = reference
        reg.occurred_at = arrival
        self.accepted(self.destination, "caf93", reg)
        p = self.destination.pathway(arrived)
        self.assertEqual((p.origin_reference, p.episode, p.created_at, p.territory),
                         (reference, 1, arrival, "93"))
        # Its deadlines run from the arrival, not from the first registration in 75.
        due = json.loads(subprocess.run(
            [PARCOURSCTL, "-c", self.destination.config, "due", "--within", "100d", "--json"],
            capture_output=True, text=True, timeout=60, check=True).stdout)
        mine = [d for d in due["deadlines"] if d["beneficiary_id"] == arrived]
        self.assertEqual([(d["kind"], int(d["since"]), int(d["due_at"])) for d in mine],
                         [("DEADLINE_KIND_ORIENTATION", arrival, arrival + 42 * DAY)])
        # The departement sees where the person came from; the CAF's own view does not say it.
        seen = [x for x in self.drain(cd93) if x.event.beneficiary_id == arrived]
        self.assertEqual(seen[0].pathway.origin_reference, reference)
        self.assertEqual(self.drain(quiet[0], 0.3)[0].pathway.origin_reference, reference)  # ft93
        # A member's view (the mission locale, joined) does not say where the person came from.
        self.accepted(self.destination, "cd93", event("ar-2", "cd93", arrived,
                                                      member_joined=pb.MemberJoined(member_id="ml93")))
        ml93 = quiet[2]
        self.assertTrue(ml93.wait_for(1, 10))
        self.assertEqual(ml93.received[0].event.beneficiary_id, arrived)
        self.assertTrue(ml93.received[0].HasField("pathway"))
        self.assertNotIn(reference.encode(), ml93.received[0].SerializeToString())

        # A move is claimed once; a reference that cannot be claimed (claimed, or never
        # announced) gets the same answer whatever the pathway of the beneficiary named: an
        # open one the sender follows, one it does not follow, none.
        never = "75:" + "7" * 25 + "0"
        answers = set()
        for i, (who, beneficiary, ref) in enumerate([
                ("caf93", arrived, reference), ("ml93", arrived, reference),
                ("caf93", "B-nobody-93", reference), ("caf93", arrived, never),
                ("ml93", "B-nobody-93", never)]):
            e = registered(f"claim-{i}", who, beneficiary)
            e.beneficiary_registered.origin_reference = ref
            ack = self.send(self.destination, who, e)[e.event_id]
            ack.event_id = ""
            answers.add(ack.SerializeToString())
            self.assertEqual((ack.status, ack.code),
                             (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_INVALID_TRANSITION))
        self.assertEqual(len(answers), 1, answers)

        # Handed over, the move is forgotten: by the destination once its departement had it,
        # by the origin [transfers] claim_days later (until then a bridge may send it again to
        # a destination restored from a backup): what stood at its partner_seq then comes again
        # withdrawn (the settling runs each second).
        time.sleep(2.5)
        replay = self.subscribe(self.destination, "cd93", start=1, auto_ack=False)
        self.assertTrue(replay.wait_for(1, 10))
        self.assertTrue(replay.received[0].withdrawn)
        replay = self.subscribe(self.origin, "bridge-idf", start=1, auto_ack=False)
        self.assertTrue(replay.wait_for(1, 10))
        self.assertFalse(replay.received[0].withdrawn)
        replay.close()
        self.set_days(366, self.origin_clock)
        time.sleep(2.5)
        replay = self.subscribe(self.origin, "bridge-idf", start=1, auto_ack=False)
        self.assertTrue(replay.wait_for(1, 10))
        self.assertTrue(replay.received[0].withdrawn)
        self.assertFalse(replay.received[0].HasField("event"))

    def announce(self, reference, moved_at, bridge="bridge-idf"):
        t = pb.Transfer(reference=reference, origin_territory=reference.split(":")[0],
                        destination_territory="93", moved_at=moved_at)
        e = pb.Event(event_id=reference, partner_id=bridge, beneficiary_id=reference,
                     occurred_at=moved_at, transfer_announced=pb.TransferAnnounced(transfer=t))
        return self.send(self.destination, bridge, e)[reference]

    def claim(self, partner, beneficiary, reference, event_id):
        e = registered(event_id, partner, beneficiary)
        e.beneficiary_registered.origin_reference = reference
        return self.send(self.destination, partner, e)[event_id]

    def test_who_may_not_register_learns_nothing_of_a_move(self):
        """A partner that may not register gets the rules' refusal for its kind, the same bytes
        whether the move it names is announced, claimed or unknown."""
        reference, never = "75:" + "B" * 25 + "0", "75:" + "C" * 25 + "0"
        self.assertEqual(self.announce(reference, now_ms()).status, pb.ACK_STATUS_ACCEPTED)
        seen = {}
        for state in ("announced", "claimed"):
            for who in ("ccas93", "bridge-idf"):
                for ref in (reference, never):
                    ack = self.claim(who, f"B-probe-{who}", ref, f"probe-{state}-{who}-{ref[3]}")
                    self.assertEqual((ack.status, ack.code),
                                     (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED))
                    ack.event_id = ""
                    seen.setdefault(who, set()).add(ack.SerializeToString())
            if state == "announced":
                self.assertEqual(self.claim("caf93", "B-probe-claimed", reference, "real").status,
                                 pb.ACK_STATUS_ACCEPTED)
        for who, answers in seen.items():
            self.assertEqual(len(answers), 1, (who, answers))

    def test_a_move_taken_back_or_erased_is_not_handed_over(self):
        """A MOVED exit retracted, and a person erased after a MOVED exit, before the bridge ran:
        their moves are withdrawn at the origin; the destination hears of neither."""
        for who in (MOVER, STAYER):
            self.accepted(self.origin, "caf75", registered(f"{who}-r", "caf75", who))
            self.accepted(self.origin, "cd75", event(f"{who}-x", "cd75", who,
                                                     pathway_exited=pb.PathwayExited(
                                                         reason=pb.EXIT_REASON_MOVED,
                                                         destination_territory="93")))
        self.accepted(self.origin, "cd75", event("take-back", "cd75", MOVER,
                                                 event_retracted=pb.EventRetracted(
                                                     retracted_event_id=f"{MOVER}-x",
                                                     reason=pb.RETRACTION_REASON_DID_NOT_HAPPEN)))
        self.assertFalse(self.origin.pathway(MOVER).HasField("exit"))
        erased = subprocess.run([PARCOURSCTL, "-c", self.origin.config, "erase", STAYER,
                                 "--reason", "request", "--yes"], capture_output=True, text=True,
                                timeout=60)
        self.assertEqual(erased.returncode, 0, erased.stdout + erased.stderr)
        cd93 = self.subscribe(self.destination, "cd93")
        self.assertNotIn("handed over", self.run_bridge(self.bridge_config(), idle=2.0))
        self.assertEqual(self.drain(cd93, 0.5), [])
        replay = self.subscribe(self.origin, "bridge-idf", start=1, auto_ack=False)
        self.assertTrue(replay.wait_for(2, 10))
        self.assertTrue(all(n.withdrawn for n in replay.received), replay.received)

    def test_a_restored_destination_gets_its_moves_again(self):
        """The destination restored from a backup taken before a move was handed over: the
        bridge, run again from the start of its stream, hands it over again (the origin keeps
        a move [transfers] claim_days after its bridges had it), and it can be claimed."""
        backup = os.path.join(self.destination.folder, "backup")
        subprocess.run([PARCOURSCTL, "-c", self.destination.config, "backup", backup],
                       capture_output=True, text=True, timeout=60, check=True)
        reference = self.move_away()
        self.assertIn("handed over", self.run_bridge(self.bridge_config()))
        time.sleep(2.0)  # the settling runs each second: the move stays at the origin
        self.assertEqual(self.destination.stop(), 0)
        restored = Daemon(partners=DESTINATION, curve=True)
        run = subprocess.run([os.environ["PARCOURSD"], "-c", restored.config, "--restore",
                              os.path.join(backup, "data.mdb")], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        old, self.destination = self.destination, restored
        old.cleanup()
        restored.start()
        self.assertEqual(self.claim("caf93", "B-back", reference, "before").code,
                         pb.ERROR_CODE_INVALID_TRANSITION)  # lost with the restore
        log = subprocess.run(["/usr/bin/python3", BRIDGE, "-c", self.bridge_config(), "--idle", "3",
                              "--from", "1"], capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, PYTHONPATH=os.environ["PARCOURS_PB_DIR"]))
        self.assertEqual(log.returncode, 0, log.stderr)
        self.assertIn(f"move {reference} from 75 handed over to 93", log.stderr)
        self.assertEqual(self.claim("caf93", "B-back", reference, "after").status,
                         pb.ACK_STATUS_ACCEPTED)

    def test_a_late_move_may_be_claimed(self):
        """The claim period runs from the announcement here, not from the move's date: a move
        recorded long after it happened may still be claimed."""
        reference = "75:" + "D" * 25 + "0"
        self.assertEqual(self.announce(reference, now_ms() - 400 * DAY).status,
                         pb.ACK_STATUS_ACCEPTED)
        time.sleep(2.5)  # retention slices run each second
        self.assertEqual(self.claim("caf93", "B-late-move", reference, "late").status,
                         pb.ACK_STATUS_ACCEPTED)

    def test_a_bridge_is_never_a_member(self):
        self.accepted(self.origin, "caf75", registered("mem-1", "caf75", MOVER))
        ack = self.send(self.origin, "cd75", event("mem-2", "cd75", MOVER, member_joined=pb.MemberJoined(
            member_id="bridge-idf")))["mem-2"]
        self.assertEqual((ack.status, ack.code),
                         (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_INVALID_TRANSITION), ack.message)

    def test_unclaimed_move_expires(self):
        """A move nobody claims within [transfers] claim_days (365) is forgotten: it can no
        longer be claimed."""
        t = pb.Transfer(reference="75:" + "A" * 25 + "0", origin_territory="75",
                        destination_territory="93", moved_at=now_ms())
        announce = pb.Event(event_id=t.reference, partner_id="bridge-idf",
                            beneficiary_id=t.reference, occurred_at=t.moved_at,
                            transfer_announced=pb.TransferAnnounced(transfer=t))
        self.accepted(self.destination, "bridge-idf", announce)
        self.set_days(366)
        time.sleep(3.0)  # a retention slice a second
        self.assertIn("moves announced here more than [transfers] claim_days ago",
                      self.destination.log())
        reg = registered("late-1", "caf93", "B-late-93")
        reg.beneficiary_registered.origin_reference = t.reference
        reg.occurred_at = now_ms() + 366 * DAY
        ack = self.send(self.destination, "caf93", reg)["late-1"]
        self.assertEqual((ack.status, ack.code),
                         (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_INVALID_TRANSITION), ack.message)


if __name__ == "__main__":
    unittest.main()
