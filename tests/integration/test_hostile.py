#!/usr/bin/env python3
"""G6: hostile input gets a clear rejection, nothing changes, and the daemon keeps serving.

Each kind of bad frame is sent on the ingest socket; the test checks the documented answer
(REJECTED with its code and a sentence, or for a frame beyond the transport limit, the
connection dropped by libzmq without an answer), that the log did not move, and that a valid
event is accepted right after, on a connection of the same client.
"""

import random
import time
import unittest

from harness import (Daemon, appointment, engagement, event, now_ms, pb, registered, send_and_wait,
                     varint)
from harness import decided as orientation_decided

B = "B-hostile-1"


def frame(**fields):
    """A well-formed appointment frame with some fields replaced."""
    e = appointment("h-base", "cd93", B)
    for name, value in fields.items():
        setattr(e, name, value)
    return e.SerializeToString()


def with_unknown_field(data, number=50):
    return data + varint(number << 3) + varint(7)


def decided(**payload):
    """A valid OrientationDecided frame (notified_at included) with some fields replaced."""
    d = pb.OrientationDecided(pathway_type=pb.PATHWAY_TYPE_EMPLOI,
                              referent_body=pb.REFERENT_BODY_MISSION_LOCALE, structure_id="ml93",
                              notified_at=now_ms())
    for name, value in payload.items():
        setattr(d, name, value)
    return event("h-dec", "cd93", B, orientation_decided=d).SerializeToString()


def raw_enum_decided(value):
    """OrientationDecided whose pathway_type carries a number the contract does not define
    (every other field valid, notified_at included)."""
    inner = varint((1 << 3) | 0) + varint(value) + varint((2 << 3) | 0) + varint(3) + \
        varint((3 << 3) | 2) + varint(4) + b"ml93" + varint((4 << 3) | 0) + varint(now_ms())
    head = event("h-enum", "cd93", B).SerializeToString()
    return head + varint((103 << 3) | 2) + varint(len(inner)) + inner


MALFORMED, TOO_LARGE = pb.ERROR_CODE_MALFORMED, pb.ERROR_CODE_TOO_LARGE
rng = random.Random(7)
valid = appointment("h-valid", "cd93", B).SerializeToString()

# (name, frames to send as one message, expected code)
CASES = [
    ("random bytes 1", [bytes(rng.randrange(256) for _ in range(40))], MALFORMED),
    ("random bytes 2", [bytes(rng.randrange(256) for _ in range(700))], MALFORMED),
    ("random bytes 3", [b"\xff" * 16], MALFORMED),
    ("truncated valid frame", [valid[: len(valid) // 2]], MALFORMED),
    ("truncated by one byte", [valid[:-1]], MALFORMED),
    ("empty frame", [b""], MALFORMED),
    ("oversized frame", [valid + b"\x00" * 5000], TOO_LARGE),
    ("two frames", [valid, b"extra"], MALFORMED),
    ("empty delimiter first", [b"", valid], MALFORMED),
    ("empty event_id", [frame(event_id="")], MALFORMED),
    ("65-char event_id", [frame(event_id="e" * 65)], MALFORMED),
    ("event_id with a space", [frame(event_id="h 1")], MALFORMED),
    ("event_id with a slash", [frame(event_id="h/1")], MALFORMED),
    ("event_id not ASCII", [frame(event_id="h\u00e9")], MALFORMED),
    ("empty beneficiary_id", [frame(beneficiary_id="")], MALFORMED),
    ("65-char beneficiary_id", [frame(beneficiary_id="b" * 65)], MALFORMED),
    ("empty partner_id", [frame(partner_id="")], MALFORMED),
    ("occurred_at zero", [frame(occurred_at=0)], MALFORMED),
    ("occurred_at negative", [frame(occurred_at=-5)], MALFORMED),
    ("occurred_at an hour ahead", [frame(occurred_at=now_ms() + 3_600_000)], MALFORMED),
    ("missing payload", [event("h-np", "cd93", B).SerializeToString()], MALFORMED),
    ("missing required field", [decided(structure_id="")], MALFORMED),
    ("orientation without notified_at", [decided(notified_at=0)], MALFORMED),
    ("unknown enum value", [raw_enum_decided(99)], MALFORMED),
    ("unknown field", [with_unknown_field(valid)], MALFORMED),
    ("wrong wire type", [varint((1 << 3) | 0) + varint(5)], MALFORMED),
    ("contract ending before it starts",
     [engagement("h-c", "cd93", B, "pa-h-1", start=2000, end=1000).SerializeToString()],
     MALFORMED),
    ("unknown partner", [frame(partner_id="intruder93")], pb.ERROR_CODE_NOT_AUTHORISED),
    ("wrong expected_version", [frame(expected_version=99)], pb.ERROR_CODE_VERSION_CONFLICT),
    # cd93 may see territory 93 only (cd75's territory is in the partners file too): whether a
    # pathway exists elsewhere is none of its business, so a missing one is NOT_AUTHORISED.
    ("unknown beneficiary", [frame(beneficiary_id="B-hostile-none")],
     pb.ERROR_CODE_NOT_AUTHORISED),
]


class HostileInputTest(unittest.TestCase):
    def test_every_kind_of_bad_frame(self):
        self.assertGreaterEqual(len(CASES), 20)
        daemon = Daemon().start()
        try:
            sock = daemon.connect()
            self.assertEqual(send_and_wait(sock, [registered("h-reg", "cd93", B)])[0].status,
                             pb.ACK_STATUS_ACCEPTED)
            for n, (name, frames, code) in enumerate(CASES):
                with self.subTest(name):
                    before = daemon.status()
                    sock.send_multipart(frames)
                    self.assertTrue(sock.poll(10_000), f"{name}: no answer")
                    ack = pb.Ack.FromString(sock.recv())
                    self.assertEqual(ack.status, pb.ACK_STATUS_REJECTED, name)
                    self.assertEqual(pb.ErrorCode.Name(ack.code), pb.ErrorCode.Name(code), name)
                    self.assertTrue(ack.message.endswith("."), f"{name}: {ack.message!r}")
                    after = daemon.status()
                    self.assertEqual(after.last_seq, before.last_seq, f"{name}: something was stored")
                    ok = send_and_wait(sock, [appointment(f"h-ok-{n}", "cd93", B)])[0]
                    self.assertEqual(ok.status, pb.ACK_STATUS_ACCEPTED, f"after {name}: {ok.message}")
            sock.close()
            self.assertEqual(daemon.stop(), 0, "parcoursd did not stop cleanly after them")
        finally:
            daemon.cleanup()

    def test_a_date_ahead_of_the_clock(self):
        # Within [rules] clock_skew (300 s by default) a sender's clock may run ahead; beyond,
        # the event is refused, saying why. With clock_skew = 0, no check.
        for skew, ahead, accepted in ((None, 60_000, True), (None, 3_600_000, False),
                                      ("0", 3_600_000, True)):
            daemon = Daemon(extra_config=f"rules.clock_skew = {skew}" if skew else "").start()
            try:
                sock = daemon.connect()
                acks = send_and_wait(sock, [registered("h-skew-reg", "cd93", B),
                                            frame(event_id="h-skew", occurred_at=now_ms() + ahead)])
                sock.close()
                self.assertEqual(acks[1].status == pb.ACK_STATUS_ACCEPTED, accepted, acks[1])
                if not accepted:
                    self.assertEqual(acks[1].code, MALFORMED)
                    self.assertIn("ahead of the daemon's clock", acks[1].message)
                    self.assertIn("[rules] clock_skew", acks[1].message)
                # An orientation notified ahead (microseconds given for milliseconds, say): its
                # deadlines would never fall due.
                sock = daemon.connect()
                ack = send_and_wait(sock, [orientation_decided(
                    "h-skew-dec", "cd93", B, "ml93", pb.REFERENT_BODY_MISSION_LOCALE,
                    notified_at=now_ms() + ahead)])[0]
                sock.close()
                self.assertEqual(ack.status == pb.ACK_STATUS_ACCEPTED, accepted, ack)
                if not accepted:
                    self.assertEqual(ack.code, MALFORMED)
                    self.assertIn("notified_at is", ack.message)
                self.assertEqual(daemon.stop(), 0)
            finally:
                daemon.cleanup()

    def test_frame_beyond_the_transport_limit_drops_the_connection_only(self):
        daemon = Daemon().start()
        try:
            sock = daemon.connect()
            send_and_wait(sock, [registered("x-reg", "cd93", B)])
            before = daemon.status().last_seq
            sock.send(b"\x0a" + b"\x00" * 200_000)  # above ZMQ_MAXMSGSIZE: libzmq hangs up
            self.assertFalse(sock.poll(1000), "a frame beyond the limit was answered")
            self.assertEqual(daemon.status().last_seq, before)
            # The client's socket reconnects by itself; the daemon serves it and everyone else.
            other = daemon.connect()
            self.assertEqual(send_and_wait(other, [appointment("x-ok", "cd93", B)])[0].status,
                             pb.ACK_STATUS_ACCEPTED)
            deadline = time.monotonic() + 10
            while True:
                sock.send(appointment(f"x-again-{time.monotonic()}", "cd93", B).SerializeToString())
                if sock.poll(500):
                    self.assertEqual(pb.Ack.FromString(sock.recv()).status, pb.ACK_STATUS_ACCEPTED)
                    break
                self.assertLess(time.monotonic(), deadline, "the client never got back in")
            sock.close()
            other.close()
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
