#!/usr/bin/env python3
"""Ingest over real sockets: every ack status, pipelining, restarts, and a clean SIGTERM."""

import random
import time
import unittest

from harness import (PARTNERS, Daemon, appointment, blind_sentence, event, pb, registered,
                     send_and_wait)

# A France Travail registered for every territory of the partners file (93 and 75): the only
# kind of sender told that a beneficiary has no pathway (UNKNOWN_BENEFICIARY). Every other one,
# ft93 included, gets the blind NOT_AUTHORISED sentence, whether a pathway exists or not.
ALL_SEEING = "ftnational"
INGEST_PARTNERS = PARTNERS + f"""[{ALL_SEEING}]
name = France Travail, every territory (synthetic)
kind = FRANCE_TRAVAIL
territory = 93, 75
"""


class IngestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(partners=INGEST_PARTNERS).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0, f"parcoursd exited with {rc} on SIGTERM"

    def setUp(self):
        self.sock = self.daemon.connect()

    def tearDown(self):
        self.sock.close()

    def ack(self, e):
        return send_and_wait(self.sock, [e])[0]

    def test_accepted_with_seq_and_version(self):
        b = "B-acc-1"
        first = self.ack(registered("acc-1", "cd93", b))
        second = self.ack(event("acc-2", "cd93", b, orientation_requested=pb.OrientationRequested(
            reason=pb.ORIENTATION_REQUEST_REASON_FIRST_ORIENTATION)))
        self.assertEqual(first.status, pb.ACK_STATUS_ACCEPTED, first.message)
        self.assertEqual(second.status, pb.ACK_STATUS_ACCEPTED, second.message)
        self.assertEqual(first.event_id, "acc-1")
        self.assertEqual((first.version, second.version), (1, 2))
        self.assertEqual(second.seq, first.seq + 1)
        pathway = self.daemon.pathway(b)
        self.assertEqual(pathway.phase, pb.PHASE_ORIENTATION_REQUESTED)
        self.assertEqual(pathway.version, 2)
        self.assertEqual(list(pathway.members), ["cd93"])
        history = self.daemon.history(b)
        self.assertEqual([h.seq for h in history], [first.seq, second.seq])
        self.assertEqual(history[1].event.event_id, "acc-2")
        self.assertGreater(history[0].committed_at, 0)

    def test_duplicate_returns_original_seq(self):
        e = registered("dup-1", "caf93", "B-dup-1", rsa_recipient=True)  # a CAF: RSA
        original = self.ack(e)
        again = self.ack(e)
        self.assertEqual(original.status, pb.ACK_STATUS_ACCEPTED, original.message)
        self.assertTrue(self.daemon.pathway("B-dup-1").rsa_recipient)
        self.assertEqual(again.status, pb.ACK_STATUS_DUPLICATE)
        self.assertEqual(again.seq, original.seq)
        # The same event twice in one pipeline, hence most likely in one batch.
        e2 = appointment("dup-2", "caf93", "B-dup-1")
        acks = send_and_wait(self.sock, [e2, e2, e2])
        statuses = sorted(a.status for a in acks)
        self.assertEqual(statuses, [pb.ACK_STATUS_ACCEPTED] + [pb.ACK_STATUS_DUPLICATE] * 2)
        self.assertEqual(len({a.seq for a in acks}), 1)
        self.assertEqual(self.daemon.pathway("B-dup-1").version, 2)
        # Another partner may use the same event_id: ids are unique per partner.
        other = self.ack(registered("dup-1", "ml93", "B-dup-2"))
        self.assertEqual(other.status, pb.ACK_STATUS_ACCEPTED)

    def assertRejected(self, frame, code, event_id=None):
        before = self.daemon.status().last_seq
        ack = send_and_wait(self.sock, [frame])[0]
        self.assertEqual(ack.status, pb.ACK_STATUS_REJECTED, ack.message)
        self.assertEqual(pb.ErrorCode.Name(ack.code), pb.ErrorCode.Name(code), ack.message)
        self.assertTrue(ack.message.endswith("."), ack.message)
        if event_id is not None:
            self.assertEqual(ack.event_id, event_id)
        if not isinstance(frame, bytes):  # sentences never name the beneficiary
            self.assertNotIn(frame.beneficiary_id, ack.message)
        self.assertEqual(self.daemon.status().last_seq, before, "a rejected event changed the log")
        return ack

    def test_every_rejection_code_over_the_wire(self):
        b = "B-rej-1"
        self.assertEqual(self.ack(registered("rej-0", "cd93", b)).status, pb.ACK_STATUS_ACCEPTED)
        self.assertRejected(appointment("rej-1", ALL_SEEING, "B-nobody"),
                            pb.ERROR_CODE_UNKNOWN_BENEFICIARY, "rej-1")
        # ft93 may see territory 93 only: a missing pathway is none of its business either.
        blind = self.assertRejected(appointment("rej-1b", "ft93", "B-nobody"),
                                    pb.ERROR_CODE_NOT_AUTHORISED, "rej-1b")
        self.assertEqual(blind.message, blind_sentence("ft93"))
        self.assertRejected(registered("rej-2", "cd93", b), pb.ERROR_CODE_INVALID_TRANSITION)
        self.assertRejected(event("rej-3", "cd93", b, expected_version=7,
                                  appointment_recorded=appointment("x", "cd93", b).appointment_recorded),
                            pb.ERROR_CODE_VERSION_CONFLICT)
        self.assertRejected(appointment("rej-4", "nobody93", b), pb.ERROR_CODE_NOT_AUTHORISED)
        self.assertRejected(appointment("rej-5", "employer93", b), pb.ERROR_CODE_NOT_AUTHORISED)
        self.assertRejected(event("rej-6", "cd93", b, member_joined=pb.MemberJoined(member_id="ghost93")),
                            pb.ERROR_CODE_UNKNOWN_PARTNER)
        ack = self.assertRejected(b"\xff\x01garbage", pb.ERROR_CODE_MALFORMED)
        self.assertEqual(ack.event_id, "")
        self.assertRejected(appointment("rej-7", "cd93", "bad id with spaces"), pb.ERROR_CODE_MALFORMED,
                            "rej-7")
        self.assertRejected(event("rej-8", "cd93", b), pb.ERROR_CODE_MALFORMED)  # no payload
        self.assertRejected(b"\x0a\x05big-1" + b"\x00" * 5000, pb.ERROR_CODE_TOO_LARGE)
        # A message of two frames is refused as a whole.
        self.sock.send_multipart([appointment("rej-9", "cd93", b).SerializeToString(), b"extra"])
        ack = pb.Ack.FromString(self.sock.recv())
        self.assertEqual(ack.code, pb.ERROR_CODE_MALFORMED)
        # And the daemon still serves.
        self.assertEqual(self.ack(appointment("rej-10", "cd93", b)).status, pb.ACK_STATUS_ACCEPTED)
        # One info line per rejected event, naming the sender, the event id and the code. The
        # sender is the authenticated partner under CURVE; here, without, it is the one the event
        # claims, and "?" for a frame that does not decode as a valid event.
        lines = [l for l in self.daemon.log().splitlines() if "rejected: partner" in l]
        for partner, event_id, code in ((ALL_SEEING, "rej-1", "UNKNOWN_BENEFICIARY"),
                                        ("ft93", "rej-1b", "NOT_AUTHORISED"),
                                        ("cd93", "rej-2", "INVALID_TRANSITION"),
                                        ("cd93", "rej-3", "VERSION_CONFLICT"),
                                        ("nobody93", "rej-4", "NOT_AUTHORISED"),
                                        ("employer93", "rej-5", "NOT_AUTHORISED"),
                                        ("cd93", "rej-6", "UNKNOWN_PARTNER"),
                                        ("?", "rej-8", "MALFORMED")):
            mine = [l for l in lines if f" event {event_id}:" in l]
            self.assertEqual(len(mine), 1, f"{event_id}: {mine}")
            self.assertIn(f"rejected: partner {partner} event {event_id}: ERROR_CODE_{code}: ",
                          mine[0])
            self.assertTrue(mine[0].startswith("<6>"), mine[0])  # info, for journald
        # The log never carries a beneficiary id: sentences do not name it.
        for line in lines:
            self.assertNotIn(b, line)
            self.assertNotIn("B-nobody", line)

    def test_four_clients_ten_thousand_pipelined_each(self):
        clients, per_client, window, beneficiaries = 4, 10_000, 500, 50
        socks = [self.daemon.connect() for _ in range(clients)]
        plans = []
        for c in range(clients):
            plan = []
            for b in range(beneficiaries):
                plan.append(registered(f"load-{c}-{b}-0", "cd93", f"B-load-{c}-{b}"))
            for n in range(per_client - beneficiaries):
                b = n % beneficiaries
                plan.append(appointment(f"load-{c}-{b}-{n + 1}", "cd93", f"B-load-{c}-{b}"))
            plans.append(plan)
        sent = [0] * clients
        acks = [[] for _ in range(clients)]
        deadline = time.monotonic() + 600
        while any(len(a) < per_client for a in acks):
            self.assertLess(time.monotonic(), deadline, "acks missing")
            for c, s in enumerate(socks):
                while sent[c] < per_client and sent[c] - len(acks[c]) < window:
                    s.send(plans[c][sent[c]].SerializeToString())
                    sent[c] += 1
                while s.poll(0):
                    acks[c].append(pb.Ack.FromString(s.recv()))
            time.sleep(0.001)
        for c in range(clients):
            socks[c].close()
            bad = [a for a in acks[c] if a.status != pb.ACK_STATUS_ACCEPTED]
            self.assertEqual(bad, [], f"client {c}: {len(bad)} not accepted")
            by_id = {a.event_id: a for a in acks[c]}
            self.assertEqual(len(by_id), per_client)
            # Each beneficiary's versions run 1, 2, 3... in the order the client sent.
            versions = {}
            for e in plans[c]:
                versions.setdefault(e.beneficiary_id, []).append(by_id[e.event_id].version)
            for b, v in versions.items():
                self.assertEqual(v, list(range(1, len(v) + 1)), b)
                self.assertEqual(self.daemon.pathway(b).version, len(v))
        seqs = sorted(a.seq for c in range(clients) for a in acks[c])
        self.assertEqual(len(set(seqs)), clients * per_client, "two events share a seq")
        status = self.daemon.status()
        self.assertGreater(status.batch_size_max, 1, "no group commit happened")
        self.assertTrue(status.durable)


class RestartTest(unittest.TestCase):
    def test_sigterm_under_load_loses_nothing_acked(self):
        daemon = Daemon().start()
        try:
            sock = daemon.connect()
            acked = send_and_wait(sock, [registered("t-0", "cd93", "B-term")])
            for n in range(1, 2000):
                sock.send(appointment(f"t-{n}", "cd93", "B-term").SerializeToString())
            time.sleep(random.uniform(0.01, 0.05))
            self.assertEqual(daemon.stop(), 0)
            while sock.poll(200):
                acked.append(pb.Ack.FromString(sock.recv()))
            sock.close()
            accepted = [a for a in acked if a.status == pb.ACK_STATUS_ACCEPTED]
            daemon.start()
            self.assertGreaterEqual(daemon.pathway("B-term").version, len(accepted))
            history = {h.event.event_id for h in daemon.history("B-term")}
            for a in accepted:
                self.assertIn(a.event_id, history)
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()

    def test_storage_full_answers_retry_and_keeps_serving(self):
        daemon = Daemon(extra_config="store.initial_map_size = 1M\nstore.max_map_size = 1M").start()
        try:
            sock = daemon.connect()
            statuses = {}
            n = 0
            while pb.ACK_STATUS_RETRY not in statuses and n < 100_000:
                frames = [registered(f"full-{n + i}", "cd93", f"B-full-{n + i}") for i in range(200)]
                n += len(frames)
                for a in send_and_wait(sock, frames):
                    statuses.setdefault(a.status, []).append(a)
            self.assertIn(pb.ACK_STATUS_RETRY, statuses, "the map never filled")
            retry = statuses[pb.ACK_STATUS_RETRY][0]
            self.assertEqual(retry.code, pb.ERROR_CODE_STORAGE_FULL)
            accepted = statuses.get(pb.ACK_STATUS_ACCEPTED, [])
            # Nothing half-applied: the log holds exactly the accepted events.
            self.assertEqual(daemon.status().last_seq, len(accepted))
            self.assertIsNone(daemon.pathway(retry.event_id.replace("full-", "B-full-")))
            # Reads go on, and acknowledged events are all there.
            for a in accepted[:: max(1, len(accepted) // 20)]:
                self.assertIsNotNone(daemon.pathway(a.event_id.replace("full-", "B-full-")))
            sock.close()
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
