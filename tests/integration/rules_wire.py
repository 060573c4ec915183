"""Shared helpers of the tests of issue 10's rules over the wire (test_no_oracle, test_canonical,
test_minimisation, test_law2023): the partners file with every kind, one valid payload per event
type, a pipelined ingest client that matches acks by event_id, a raw subscriber that keeps the
bytes it received, and a small protobuf wire-format reader to look inside those bytes.

Everything here is written from proto/parcours.proto and docs/domain.md, never from the
daemon's sources.
"""

import collections
import time
import unittest

import zmq

from harness import Daemon, now_ms, pb, varint  # noqa: F401  (re-exported for the tests)

# Every kind of partner in territory 93 (two training providers and two employers), and four
# partners of territory 75.
PARTNER_LIST = [
    ("cd93", "DEPARTEMENT", "93"),
    ("ft93", "FRANCE_TRAVAIL", "93"),
    ("ml93", "MISSION_LOCALE", "93"),
    ("cap93", "CAP_EMPLOI", "93"),
    ("caf93", "CAF", "93"),
    ("ccas93", "CCAS", "93"),
    ("asso93", "ASSOCIATION", "93"),
    ("trainer93", "TRAINING_ORG", "93"),
    ("trainer93b", "TRAINING_ORG", "93"),
    ("employer93", "EMPLOYER", "93"),
    ("employer93b", "EMPLOYER", "93"),
    ("cd75", "DEPARTEMENT", "75"),
    ("ft75", "FRANCE_TRAVAIL", "75"),
    ("ml75", "MISSION_LOCALE", "75"),
    ("caf75", "CAF", "75"),
]
KIND = {p: k for p, k, _ in PARTNER_LIST}
TERRITORY = {p: t for p, _, t in PARTNER_LIST}
TERRITORY_WIDE_KINDS = {"DEPARTEMENT", "FRANCE_TRAVAIL"}
REGISTERING_KINDS = {"DEPARTEMENT", "FRANCE_TRAVAIL", "CAF", "MISSION_LOCALE", "CAP_EMPLOI"}
MINIMISED_KINDS = {"EMPLOYER", "TRAINING_ORG"}


def partners_ini(partners=PARTNER_LIST):
    return "".join(f"[{p}]\nname = {p} (synthetic)\nkind = {k}\nterritory = {t}\n"
                   for p, k, t in partners)


PARTNERS_FULL = partners_ini()
PARTNERS_93_ONLY = partners_ini([x for x in PARTNER_LIST if x[2] == "93"])

# The one sentence every blind sender gets (docs/domain.md, "No oracle"); P is the sender's id.
BLIND_SENTENCE = ("Partner {} may not act on this beneficiary: only the members of the "
                  "beneficiary's follow-up group and the territory's departement and France "
                  "Travail may. If you follow this person, ask the referent to add you.")

DAY = 86_400_000
T0 = 1767225600000           # 2026-01-01T00:00:00Z
CUTOVER_2025 = 1735689600000  # 2025-01-01T00:00:00Z
Y2030 = 1893456000000         # 2030-01-01T00:00:00Z

# The 18 payload fields of Event, in EventType order.
TYPES = [
    "beneficiary_registered", "orientation_requested", "orientation_decided",
    "orientation_denied", "referent_assigned", "contract_signed", "contract_ended",
    "training_entered", "training_exited", "job_placed", "job_ended", "appointment_recorded",
    "member_joined", "member_left", "pathway_exited", "suspension_decided", "suspension_lifted",
    "event_retracted",
]


def valid_payload(type_name, sender):
    """A payload of the type that no boundary check refuses, naming existing partners. A
    training provider enters its own training and an employer places in its own job."""
    kind = KIND.get(sender, "")
    P = pb
    return {
        "beneficiary_registered": lambda: P.BeneficiaryRegistered(rsa_recipient=(kind == "CAF")),
        "orientation_requested": lambda: P.OrientationRequested(
            requested_type=P.PATHWAY_TYPE_SOCIO_PRO,
            reason=P.ORIENTATION_REQUEST_REASON_FIRST_ORIENTATION),
        "orientation_decided": lambda: P.OrientationDecided(
            pathway_type=P.PATHWAY_TYPE_EMPLOI, referent_body=P.REFERENT_BODY_MISSION_LOCALE,
            structure_id="ml93", notified_at=T0),
        "orientation_denied": lambda: P.OrientationDenied(
            reason=P.ORIENTATION_DENIAL_REASON_INCOMPLETE_REQUEST),
        "referent_assigned": lambda: P.ReferentAssigned(referent_partner_id="ml93",
                                                        professional_ref="REF-ML-1"),
        "contract_signed": lambda: P.ContractSigned(
            kind=P.CONTRACT_KIND_CONTRAT_ENGAGEMENT, start=T0, end=T0 + 180 * DAY,
            plan_action_ref="PA-0001", weekly_hours=15),
        "contract_ended": lambda: P.ContractEnded(reason=P.CONTRACT_END_REASON_TERM_REACHED),
        "training_entered": lambda: P.TrainingEntered(
            provider_id="" if kind == "TRAINING_ORG" else "trainer93",
            programme_code="RNCP12345", start=T0, expected_end=T0 + 90 * DAY),
        "training_exited": lambda: P.TrainingExited(outcome=P.TRAINING_OUTCOME_COMPLETED),
        "job_placed": lambda: P.JobPlaced(
            kind=P.EMPLOYMENT_KIND_CDI,
            employer_partner_id=sender if kind == "EMPLOYER" else "employer93", start=T0),
        "job_ended": lambda: P.JobEnded(reason=P.JOB_END_REASON_TERM_REACHED),
        "appointment_recorded": lambda: P.AppointmentRecorded(
            kind=P.APPOINTMENT_KIND_INDIVIDUAL, status=P.APPOINTMENT_STATUS_SEEN, at=T0),
        "member_joined": lambda: P.MemberJoined(member_id="asso93"),
        "member_left": lambda: P.MemberLeft(member_id="ml93"),
        "pathway_exited": lambda: P.PathwayExited(reason=P.EXIT_REASON_MOVED),
        "suspension_decided": lambda: P.SuspensionDecided(
            reason=P.SUSPENSION_REASON_APPOINTMENT_MISSED),
        "suspension_lifted": lambda: P.SuspensionLifted(
            reason=P.SUSPENSION_LIFT_REASON_DECISION_WITHDRAWN),
        # Names an event no one sent: refused for every sender, blind or not.
        "event_retracted": lambda: P.EventRetracted(
            retracted_event_id="never-sent", reason=P.RETRACTION_REASON_WRONG_CONTENT),
    }[type_name]()


class Ids:
    """Unique event ids for one test run."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.n = 0

    def __call__(self):
        self.n += 1
        return f"{self.prefix}-{self.n}"


# As an expected_version: "this person must be new here", Event.expect_no_pathway.
NEW = "new"


def make_event(event_id, sender, beneficiary, type_name, payload=None, expected_version=0,
               occurred_at=None):
    e = pb.Event(event_id=event_id, partner_id=sender, beneficiary_id=beneficiary,
                 occurred_at=occurred_at or now_ms(),
                 expected_version=0 if expected_version == NEW else expected_version,
                 expect_no_pathway=expected_version == NEW)
    getattr(e, type_name).CopyFrom(payload if payload is not None
                                   else valid_payload(type_name, sender))
    return e


def payload_name(e):
    return e.WhichOneof("payload")


# ---------------------------------------------------------------------------------------------
# Acks

class BadAck:
    """Stands for an Ack frame that does not decode (e.g. a string field with raw bytes)."""

    def __init__(self, raw, error):
        self.raw = raw
        self.event_id = ""
        self.status = -1
        self.code = -1
        self.seq = 0
        self.version = 0
        self.message = f"<undecodable Ack {raw!r}: {error}>"


def _parse_ack(raw):
    try:
        a = pb.Ack.FromString(raw)
    except Exception as exc:  # noqa: BLE001
        return BadAck(raw, exc), raw
    return a, raw


def fmt(a, width=170):
    if a is None:
        return "<no ack>"
    status = pb.AckStatus.Name(a.status) if a.status >= 0 else "UNDECODABLE"
    code = pb.ErrorCode.Name(a.code) if a.code >= 0 else "-"
    message = a.message if len(a.message) <= width else a.message[:width] + "..."
    return (f"{status.replace('ACK_STATUS_', '')}/{code.replace('ERROR_CODE_', '')} "
            f"v{a.version} seq{a.seq} {message!r}")


def key(a, with_seq=True, beneficiary=None):
    """What two replies must share. With beneficiary, its id in the message reads <B> (to tell
    a reply that only names the beneficiary from one that differs otherwise)."""
    message = a.message.replace(beneficiary, "<B>") if beneficiary else a.message
    k = (a.status, a.code, message, a.version)
    return k + (a.seq,) if with_seq else k


class Findings:
    """Failures grouped by the rule they break; the report shows varied examples of each."""

    def __init__(self):
        self.by_rule = collections.OrderedDict()

    def add(self, rule, text, group=None):
        self.by_rule.setdefault(rule, []).append((group, text))

    def __bool__(self):
        return bool(self.by_rule)

    def report(self, examples=6):
        lines = []
        for rule, items in self.by_rule.items():
            lines.append(f"[{len(items)} failure(s)] {rule}")
            shown, groups = [], set()
            for group, text in items:  # one example per group first
                if len(shown) < examples and (group is None or group not in groups):
                    groups.add(group)
                    shown.append(text)
            for group, text in items:
                if len(shown) >= examples:
                    break
                if text not in shown:
                    shown.append(text)
            lines.extend("    " + t for t in shown)
            if len(items) > len(shown):
                lines.append(f"    ... and {len(items) - len(shown)} more")
        return "\n" + "\n".join(lines)


class Wire:
    """Pipelined ingest: one DEALER per sender (without CURVE the daemon takes the sender from
    partner_id; each sender still has its own connection), many events in flight on each, acks
    matched by event_id."""

    def __init__(self, daemon, window=250):
        self.daemon = daemon
        self.window = window
        self.socks = {}
        self.raw_acks = {}  # event_id -> raw ack bytes (the last one)

    def sock(self, sender):
        if sender not in self.socks:
            self.socks[sender] = self.daemon.connect()
        return self.socks[sender]

    def close(self):
        for s in self.socks.values():
            s.close()
        self.socks = {}

    def run(self, events, timeout=90.0, conn=None):
        """Sends Events (pipelined, at most `window` in flight per connection) and returns their
        acks in the order of `events`. conn: put every event on this one connection (the order
        of one connection is the order applied) instead of one per sender."""
        queues = collections.OrderedDict()
        for i, e in enumerate(events):
            queues.setdefault(conn or e.partner_id, collections.deque()).append(i)
        results = [None] * len(events)
        inflight = {c: collections.OrderedDict() for c in queues}
        poller = zmq.Poller()
        for c in queues:
            poller.register(self.sock(c), zmq.POLLIN)
        remaining = len(events)
        deadline = time.monotonic() + timeout
        while remaining:
            for c, q in queues.items():
                s = self.sock(c)
                while q and len(inflight[c]) < self.window:
                    i = q.popleft()
                    s.send(events[i].SerializeToString())
                    inflight[c][events[i].event_id] = i
            ready = dict(poller.poll(50))
            for c in queues:
                s = self.sock(c)
                if s not in ready:
                    continue
                while s.poll(0):
                    raw = s.recv()
                    a, raw = _parse_ack(raw)
                    i = inflight[c].pop(a.event_id, None)
                    if i is None:
                        # Not our id (empty, changed...): take the oldest in flight, and say so.
                        if not inflight[c]:
                            continue
                        eid, i = inflight[c].popitem(last=False)
                        a.message = (f"{a.message} <ack event_id {a.event_id!r} does not name "
                                     f"the event sent, {eid!r}>")
                        if isinstance(a, BadAck):
                            a.event_id = "<undecodable>"
                    results[i] = a
                    self.raw_acks[events[i].event_id] = raw
                    remaining -= 1
            if time.monotonic() > deadline:
                raise AssertionError(f"harness: {remaining} acks missing after {timeout}s")
        return results

    def one(self, e, timeout=15.0):
        return self.run([e], timeout=timeout)[0]

    def raw(self, sender, frame, timeout=15.0):
        """Sends one raw frame on the sender's connection: (Ack or BadAck, raw ack bytes)."""
        s = self.sock(sender)
        while s.poll(0):
            s.recv()
        s.send(frame)
        if not s.poll(int(timeout * 1000)):
            raise AssertionError("harness: no ack for a raw frame")
        return _parse_ack(s.recv())


# ---------------------------------------------------------------------------------------------
# Protobuf wire format, read by hand (to see the bytes the daemon sent, not a re-serialisation).

def _varint(b, i):
    shift = result = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, i
        shift += 7


def wire_fields(b):
    """[(field number, wire type, value)] of one message: value is an int or the raw bytes."""
    out = []
    i = 0
    while i < len(b):
        tag, i = _varint(b, i)
        number, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out.append((number, wt, v))
    return out


def wire_field(b, number):
    """The raw values of a field (all its occurrences)."""
    return [v for n, _, v in wire_fields(b) if n == number]


def ld(number, data):
    """A length-delimited field."""
    return varint((number << 3) | 2) + varint(len(data)) + data


def replace_same_length(frame, placeholder, replacement):
    """Swaps a placeholder string for raw bytes of the same length (length prefixes stay)."""
    assert len(placeholder) == len(replacement) and frame.count(placeholder) == 1
    return frame.replace(placeholder, replacement)


# ---------------------------------------------------------------------------------------------
# Deliver and admin, keeping the bytes

class RawSubscriber:
    """A subscriber that keeps every frame's bytes and acknowledges what it receives."""

    def __init__(self, daemon, partner_id, window=1000, subscribe=True):
        self.partner_id = partner_id
        self.sock = daemon.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(daemon.deliver)
        self.notifications = []  # (raw frame, raw event bytes, Notification)
        self.errors = []         # (raw frame, DeliverError or None)
        self.subscribed = None
        if subscribe:
            self.send_subscribe(pb.Subscribe(partner_id=partner_id, window=window).SerializeToString())

    def send_subscribe(self, subscribe_bytes):
        self.sock.send(ld(1, subscribe_bytes))

    def poll(self, timeout=0.0):
        got = 0
        last = 0
        while self.sock.poll(int(timeout * 1000) if got == 0 else 0):
            raw = self.sock.recv()
            got += 1
            try:
                reply = pb.DeliverReply.FromString(raw)
            except Exception:  # noqa: BLE001
                self.errors.append((raw, None))
                continue
            kind = reply.WhichOneof("kind")
            if kind == "subscribed":
                self.subscribed = reply.subscribed
            elif kind == "error":
                self.errors.append((raw, reply.error))
            elif kind == "notification":
                n = reply.notification
                raw_n = wire_field(raw, 2)[0]
                raw_e = (wire_field(raw_n, 3) or [b""])[0]
                self.notifications.append((raw, raw_e, n))
                last = max(last, n.partner_seq)
        if last:
            self.sock.send(pb.DeliverRequest(ack=pb.DeliveryAck(up_to=last)).SerializeToString())
        return got

    def wait(self, cond, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                return False
            self.poll(0.05)
        return True

    def wait_subscribed(self, timeout=10.0):
        return self.wait(lambda: self.subscribed is not None or self.errors, timeout)

    def seqs(self):
        return {n.seq for _, _, n in self.notifications}

    def has_seq(self, seq):
        return seq in self.seqs()

    def wait_seq(self, seq, timeout=5.0):
        return self.wait(lambda: self.has_seq(seq), timeout)

    def for_seq(self, seq):
        return [(r, e, n) for r, e, n in self.notifications if n.seq == seq]

    def close(self):
        self.sock.close()


def admin_raw(daemon, request_bytes, timeout_ms=5000):
    s = daemon.context.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(daemon.admin_endpoint)
    try:
        s.send(request_bytes)
        if not s.poll(timeout_ms):
            raise AssertionError("harness: the admin endpoint did not answer")
        return s.recv()
    finally:
        s.close()


def history_raw(daemon, beneficiary_id):
    """The raw bytes of each stored event of a beneficiary (HISTORY), and the decoded reply."""
    raw = admin_raw(daemon, pb.AdminRequest(command=pb.ADMIN_COMMAND_HISTORY,
                                            beneficiary_id=beneficiary_id).SerializeToString())
    reply = pb.AdminReply.FromString(raw)
    events = [wire_field(entry, 3)[0] for entry in wire_field(raw, 5)]
    return reply, events


def start_daemon(partners, extra_rules=""):
    """A started Daemon; extra_rules is appended as a [rules] section of parcoursd.conf. A
    daemon that refuses to start raises AssertionError with its log (not a harness error)."""
    d = Daemon(partners=partners)
    if extra_rules:
        with open(d.config, "a") as f:
            f.write("[rules]\n" + extra_rules)
    try:
        d.start()
    except RuntimeError as exc:
        d.cleanup()
        raise AssertionError(f"parcoursd refused to start with this configuration: {exc}")
    return d


def set_fields(message):
    """Names of the fields set in a message (proto3: non-default scalars, present messages)."""
    return {f.name for f, _ in message.ListFields()}


def watchdog(seconds):
    """Each test file's own time budget: past it, the test in progress fails (and its finally
    blocks stop the daemons) instead of hanging until ctest kills the process."""
    import signal

    def expired(signum, frame):
        raise AssertionError(f"harness: this test file exceeded its {seconds}s budget")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


class RulesTestCase(unittest.TestCase):
    """One real daemon per test class (partners and extra [rules] from the class), one
    pipelined Wire to it, and the findings of each test, reported together at its end."""
    partners = PARTNERS_FULL
    rules = ""
    examples = 30

    @classmethod
    def setUpClass(cls):
        cls.daemon = start_daemon(cls.partners, cls.rules)
        cls.wire = Wire(cls.daemon)
        cls.ids = Ids(cls.__name__.lower())

    @classmethod
    def tearDownClass(cls):
        cls.wire.close()
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0, rc

    def setUp(self):
        self.findings = Findings()

    def check(self):
        if self.findings:
            self.fail(self.findings.report(examples=self.examples))
