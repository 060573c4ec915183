"""A Parcours partner in Python: publish events, read acks, and re-send safely.

This is what a partner's IT team needs to integrate, written from proto/parcours.proto alone
(no C code): one DEALER socket to the daemon's ingest ROUTER, one parcours.v1.Event per frame
out, one parcours.v1.Ack per frame back. Events may be pipelined; acks are matched by
event_id. An event answered RETRY, or not answered in time, is re-sent with the same bytes:
the daemon applies a (partner_id, event_id) pair once and answers DUPLICATE afterwards, so
re-sending is always safe.

With CURVE on the daemon ([security] curve = yes), a connection needs the partner's own
secret key (its public key is the public_key line of the partner's section in the partners
file) and the daemon's public key, both files made by `parcoursctl keygen`:

    partner = Partner(endpoint, "ml93", secret_key=read_key("ml93.secret"),
                      server_key=read_key("parcoursd.public"))

The daemon then knows the connection as that partner: events naming another partner_id are
REJECTED (NOT_AUTHORISED), and a subscription reads that partner's stream only. A key the
daemon does not admit, or a server key that is not the daemon's, fails the handshake: Partner
and Subscription watch the handshakes and raise ConnectionRefused with the sentence libparcours
and parcoursctl say too (KEY_REFUSED, HANDSHAKE_FAILED); a daemon that never answers raises
TimeoutError instead. Nothing then blocks.

The protobuf module is generated from the contract at build or test time:
    protoc --proto_path=proto --python_out=DIR proto/parcours.proto
and DIR must be on sys.path (or set PARCOURS_PB_DIR to it). Without either, the module looks in
the build folders of this repository (build/release/gen/python, which seeds/demo.sh makes).
"""

import errno
import hashlib
import hmac
import os
import secrets
import stat
import sys
import time

import zmq
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

def _generated_module_dir():
    """PARCOURS_PB_DIR, or the first build folder of this repository holding parcours_pb2."""
    if os.environ.get("PARCOURS_PB_DIR"):
        return os.environ["PARCOURS_PB_DIR"]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    for build in ("release", "sanitize"):
        folder = os.path.join(root, "build", build, "gen", "python")
        if os.path.exists(os.path.join(folder, "parcours_pb2.py")):
            return folder
    return None


if _generated_module_dir():
    sys.path.insert(0, _generated_module_dir())
try:
    import parcours_pb2 as pb  # noqa: E402  (generated from proto/parcours.proto)
except ImportError as missing:
    raise ImportError("parcours_pb2 not found: generate it with `protoc --proto_path=proto "
                      "--python_out=DIR proto/parcours.proto` and set PARCOURS_PB_DIR=DIR, or "
                      "build the repository (seeds/demo.sh)") from missing

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Word for word libparcours' (clients/libparcours/parcours.h): every client says the same.
KEY_REFUSED = ("parcoursd refused this partner's key: it is not in the territory's partners "
               "file, or it was revoked (check the secret key given, and ask the territory's "
               "admin)")
HANDSHAKE_FAILED = ("the CURVE handshake with parcoursd failed: the daemon's public key given is "
                    "not this daemon's, or only one side uses CURVE (check the server key file "
                    "and [security] curve)")


class ConnectionRefused(ConnectionError):
    """The daemon refused the connection: its key (KEY_REFUSED) or the CURVE handshake
    (HANDSHAKE_FAILED). Nothing can get through until the keys are fixed; str() says which."""


class _Handshakes:
    """The outcomes of a socket's handshakes, from libzmq's monitor."""

    EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL |
              zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)

    def __init__(self, sock):
        self.socket = sock.get_monitor_socket(self.EVENTS)
        self._watched = sock
        self.connected = False
        self._failed = 0  # in a row, since the last that succeeded

    def check(self):
        """Reads the events waiting. Returns how many handshakes succeeded; raises
        ConnectionRefused when ZAP refused the key, or after two failed handshakes in a row (a
        wrong server key makes the daemon close the connection; once may be the network)."""
        succeeded = 0
        while self.socket.poll(0):
            message = recv_monitor_message(self.socket)
            event, value = message["event"], message["value"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.connected, self._failed = True, 0
                succeeded += 1
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                # 400: ZAP refused the key; another status is the daemon failing, not the key.
                raise ConnectionRefused(KEY_REFUSED if value == 400 else HANDSHAKE_FAILED)
            elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                raise ConnectionRefused(HANDSHAKE_FAILED)
            elif (event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL and
                  value in (errno.EPIPE, errno.ECONNRESET)):
                # The daemon closed it (another server key); a handshake that timed out (EAGAIN:
                # a daemon stalled or slow) is not counted.
                self._failed += 1
                if self._failed >= 2:
                    raise ConnectionRefused(HANDSHAKE_FAILED)
        return succeeded

    def close(self):
        self._watched.disable_monitor()
        self.socket.close()


def read_key(path, secret=None):
    """The key of a key file made by `parcoursctl keygen`, as 40 Z85 bytes: the first word of
    the first line that is neither blank nor a comment (#). A secret key (secret=True, or by
    default a file named *.secret) is refused when group or others may read the file."""
    path = os.fspath(path)
    if secret is None:
        secret = path.endswith(".secret")
    with open(path, "rb") as f:
        if secret and stat.S_IMODE(os.fstat(f.fileno()).st_mode) & 0o077:
            raise PermissionError(f"{path}: a secret key must be readable by its owner only "
                                  f"(chmod 600 {path})")
        for line in f.read(4096).splitlines():
            line = line.strip(b" \t")
            if not line or line.startswith(b"#"):
                continue
            key = line.split()[0]
            if len(key) == 40:
                try:
                    z85.decode(key)
                    return key
                except (ValueError, KeyError):
                    pass
            break
    raise ValueError(f"{path}: no key of 40 Z85 characters (parcoursctl keygen makes them)")


def add_key_arguments(parser):
    """Adds --key and --server-key (CURVE key files) to an argparse parser."""
    parser.add_argument("--key", metavar="FILE", help="CURVE: the partner's secret key file")
    parser.add_argument("--server-key", metavar="FILE", help="CURVE: the daemon's public key file")


def keys_from_arguments(parser, args):
    """(secret_key, server_key) read from the files of add_key_arguments, or (None, None).
    Exits through the parser when only one is given or a file cannot be used."""
    if bool(args.key) != bool(args.server_key):
        parser.error("CURVE needs both --key (the partner's secret key) and --server-key "
                     "(the daemon's public key)")
    if not args.key:
        return None, None
    try:
        return read_key(args.key, secret=True), read_key(args.server_key, secret=False)
    except (OSError, ValueError) as error:
        parser.exit(2, f"{error}\n")


def _dealer(secret_key, server_key):
    """A DEALER socket that never lingers on close, a CURVE client when keys are given."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        _secure(sock, secret_key, server_key)
    except BaseException:
        sock.close()
        raise
    return sock


def _secure(sock, secret_key, server_key):
    """Makes sock a CURVE client: secret_key is the partner's, server_key the daemon's public
    key, both Z85 (bytes or str); the public key is derived from the secret one."""
    if secret_key is None and server_key is None:
        return
    if secret_key is None or server_key is None:
        raise ValueError("CURVE needs both secret_key (the partner's) and server_key (the "
                         "daemon's public key)")
    secret_key = secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key)
    server_key = server_key.encode() if isinstance(server_key, str) else bytes(server_key)
    sock.curve_secretkey = secret_key
    sock.curve_publickey = zmq.curve_public(secret_key)
    sock.curve_serverkey = server_key


def pseudonym(territory_key, identifier):
    """The beneficiary id of a person, from the partner's own identifier of them (for instance
    the NIR, written as the territory agrees: 13 digits, no key, no spaces): HMAC-SHA-256 under
    the territory's key (at least 32 bytes), in lowercase hexadecimal, as parcours_pseudonym()
    makes it in C. Every partner with the key derives the same id; the NIR never leaves."""
    if not isinstance(territory_key, (bytes, bytearray)) or len(territory_key) < 32:
        raise ValueError("the territory key is at least 32 bytes")
    raw = identifier.encode("utf-8") if isinstance(identifier, str) else bytes(identifier)
    if not 1 <= len(raw) <= 256:
        raise ValueError("the identifier is 1 to 256 bytes")
    return hmac.new(bytes(territory_key), raw, hashlib.sha256).hexdigest()


def new_event_id():
    """A time-ordered id (48-bit milliseconds, 80 random bits, Crockford base32, 26 chars).

    The daemon's dedupe index stores time-ordered ids far faster than random ones, because
    consecutive events then touch the same B-tree pages."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


class Partner:
    """One partner's connection to a territory's parcoursd."""

    def __init__(self, endpoint, partner_id, ack_timeout=5.0, max_attempts=5, secret_key=None,
                 server_key=None):
        """secret_key, server_key: for CURVE, the partner's secret key and the daemon's public
        key, Z85 bytes or str (read_key reads them from files); None for a plain daemon."""
        self.partner_id = partner_id
        self.endpoint = endpoint
        self.ack_timeout = ack_timeout
        self.max_attempts = max_attempts
        self._socket = _dealer(secret_key, server_key)
        self._handshakes = _Handshakes(self._socket)
        self._socket.connect(endpoint)
        self._in_flight = {}  # event_id -> [frame bytes, attempts (0: not sent yet), deadline]

    def close(self):
        self._handshakes.close()
        self._socket.close()

    def event(self, beneficiary_id, **payload):
        """Builds an Event: event(beneficiary, job_placed=pb.JobPlaced(...))."""
        event = pb.Event(
            event_id=new_event_id(),
            partner_id=self.partner_id,
            beneficiary_id=beneficiary_id,
            occurred_at=int(time.time() * 1000),
        )
        for name, message in payload.items():
            getattr(event, name).CopyFrom(message)
        return event

    def publish(self, event):
        """Sends an event without waiting (once a handshake succeeded; until then it waits
        in the Partner, and acks() sends it); its ack comes from acks(). Raises
        ConnectionRefused when the daemon refused the connection."""
        self._handshakes.check()
        self._in_flight[event.event_id] = [event.SerializeToString(), 0, 0.0]
        self._send_waiting()

    def _send_waiting(self):
        """Sends the events not sent yet, while the connection takes them."""
        if not self._handshakes.connected:
            return
        for entry in self._in_flight.values():
            if entry[1] == 0:
                try:
                    self._socket.send(entry[0], zmq.NOBLOCK)
                except zmq.Again:
                    return  # the connection is gone for now: sent once it is back
                entry[1], entry[2] = 1, time.monotonic() + self.ack_timeout

    def acks(self, timeout=30.0):
        """Yields the final Ack of every event in flight (RETRY and timeouts are handled here)."""
        give_up = time.monotonic() + timeout
        while self._in_flight:
            self._handshakes.check()
            self._send_waiting()
            if time.monotonic() > give_up:
                if not self._handshakes.connected:
                    raise TimeoutError(f"parcoursd did not answer on {self.endpoint} within "
                                       f"{int(timeout * 1000)} ms: is parcoursd running?")
                raise TimeoutError(f"{len(self._in_flight)} events were not acknowledged")
            if self._socket.poll(100):
                ack = pb.Ack.FromString(self._socket.recv())
                entry = self._in_flight.get(ack.event_id)
                if entry is None:
                    continue  # the ack of an attempt we already re-sent and settled
                if ack.status == pb.ACK_STATUS_RETRY:
                    entry[2] = time.monotonic() + 0.2 * entry[1]  # back off, then re-send
                    continue
                del self._in_flight[ack.event_id]
                yield ack
            now = time.monotonic()
            for event_id, entry in list(self._in_flight.items()):
                if entry[1] == 0 or now < entry[2]:
                    continue
                if entry[1] >= self.max_attempts:
                    del self._in_flight[event_id]
                    raise TimeoutError(f"event {event_id}: no answer after {entry[1]} sends")
                entry[1] += 1
                entry[2] = now + self.ack_timeout
                try:
                    self._socket.send(entry[0], zmq.NOBLOCK)  # the same bytes: the daemon dedupes
                except zmq.Again:
                    entry[1], entry[2] = entry[1] - 1, now  # no connection now: the next round

    def send(self, event, timeout=30.0):
        """Publishes one event and returns its final Ack."""
        self.publish(event)
        for ack in self.acks(timeout):
            if ack.event_id == event.event_id:
                return ack
        raise TimeoutError(f"event {event.event_id} was not acknowledged")


def describe(ack):
    """One line for a person."""
    status = pb.AckStatus.Name(ack.status).removeprefix("ACK_STATUS_")
    if ack.status in (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE):
        return f"{ack.event_id} {status} seq={ack.seq} version={ack.version}"
    code = pb.ErrorCode.Name(ack.code).removeprefix("ERROR_CODE_")
    return f"{ack.event_id} {status} {code}: {ack.message}"


class Subscription:
    """A partner's notification stream: every notification meant for it, in order, at least once.

    The daemon numbers each partner's notifications partner_seq 1, 2, 3... with no gap and keeps
    the partner's cursor (the last partner_seq it acknowledged). This class subscribes on every
    (re)connection, with from=0 so that the daemon resumes after the cursor: a daemon restart
    or a network cut costs nothing but a few redeliveries, which it drops by partner_seq (and
    acknowledges again when it had acknowledged them, since the daemon may have lost that).

    A partner_seq names one notification within one stream_id only. A daemon restored from a
    backup answers with a new stream_id and numbers again from where the copy stood: the class
    then takes the stream anew after the restored cursor, so notifications come again from
    there, partner_seqs already seen included. Dedupe your own side on (stream_id, partner_seq),
    or on the event's (partner_id, event_id); an EMPLOYER or TRAINING_ORG partner receives the
    events it did not send without partner_id and event_id (who else acts on the pathway is not
    its to know), so it dedupes on (stream_id, partner_seq), or on the notification's seq.

    The rules are libparcours' (clients/libparcours/subscription.c): between a Subscribe and its
    Subscribed, notifications are dropped (they come again) and no acknowledgement goes out; an
    acknowledgement never goes beyond what the current subscription sent.
    """

    def __init__(self, endpoint, partner_id, window=100, types=(), secret_key=None,
                 server_key=None, start=0):
        """secret_key, server_key: for CURVE, as for Partner; the key must be partner_id's.
        start: the partner_seq the first subscription starts from (0: after the durable
        cursor), to take the stream again from an earlier point; reconnections resume after
        the cursor."""
        self.partner_id = partner_id
        self.window = window
        self.types = list(types)
        self.last_partner_seq = 0  # the last one handed to the caller and dealt with
        self.subscribed = None
        self._acked = 0  # the highest acknowledgement asked for
        self._sent_max = 0  # the highest partner_seq the current subscription sent
        self._awaiting = False  # a Subscribe is out and its Subscribed has not come
        self._again_from = 0  # a notification the caller did not finish with: ask for it again
        self._start = start  # the first subscription's from
        self._socket = _dealer(secret_key, server_key)
        # The monitor tells us when a connection is (re)established (subscribe again then), or
        # refused (ConnectionRefused).
        self._handshakes = _Handshakes(self._socket)
        self._monitor = self._handshakes.socket
        self._socket.connect(endpoint)

    def close(self):
        self._handshakes.close()
        self._socket.close()

    def _subscribe(self, start=0):
        """Subscribes this connection from partner_seq `start` (0: after the durable cursor)."""
        request = pb.DeliverRequest()
        request.subscribe.partner_id = self.partner_id
        request.subscribe.window = self.window
        request.subscribe.types.extend(self.types)
        setattr(request.subscribe, "from", start)  # `from` is a Python keyword
        self._socket.send(request.SerializeToString())
        # Until its Subscribed comes, what arrives belongs to the subscription it replaces (it
        # comes again) and no acknowledgement goes out (the daemon checks them against the new
        # subscription, or, restored from a backup, against another stream).
        self._awaiting = True

    def ack(self, up_to):
        """Moves the durable cursor: notifications up to up_to will not come again. Never
        beyond the last one handed; held while a subscription is being answered, and never
        beyond what the current subscription sent (what is left out is acknowledged when it
        comes again)."""
        up_to = min(up_to, self.last_partner_seq)
        self._acked = max(self._acked, up_to)
        up_to = min(up_to, self._sent_max)
        if self._awaiting or up_to <= 0:
            return
        self._socket.send(pb.DeliverRequest(ack=pb.DeliveryAck(up_to=up_to)).SerializeToString())

    def notifications(self, timeout=None, auto_ack=True):
        """Yields new Notifications as they arrive; stops after `timeout` seconds without one
        (heartbeats and redeliveries do not count).

        With auto_ack, each is acknowledged once the caller's loop body has run for it (that is,
        when the next one is asked for). If the loop stops on a notification (its body raised,
        or a break), that one is not acknowledged and the next call asks the daemon for it
        again: the class cannot tell a finished body from an interrupted one, and at least once
        is the promise."""
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        if self._again_from:
            self._subscribe(self._again_from)
            self._again_from = 0
        pending_ack = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if pending_ack:
                self.ack(pending_ack)
                pending_ack = 0
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = dict(poller.poll(None if wait is None else int(wait * 1000)))
            if not ready and deadline is not None and time.monotonic() >= deadline:
                return
            if self._monitor in ready and self._handshakes.check():
                self._subscribe(self._start)
                self._start = 0
            if self._socket not in ready:
                continue
            reply = pb.DeliverReply.FromString(self._socket.recv())
            kind = reply.WhichOneof("kind")
            if kind == "subscribed":
                self._on_subscribed(reply.subscribed)
            elif kind == "error":
                self._on_error(reply.error)
            elif kind != "notification":
                continue  # a Heartbeat (the daemon checking the connection), or a newer kind
            elif self._awaiting or (self.subscribed is not None and
                                    reply.notification.stream_id != self.subscribed.stream_id):
                continue  # from a subscription being replaced: it comes again
            else:
                n = reply.notification
                self._sent_max = max(self._sent_max, n.partner_seq)
                if n.partner_seq <= self.last_partner_seq:
                    # A redelivery. If it was acknowledged before, the daemon lost that (a
                    # restart): say it again, which frees the daemon's window.
                    if auto_ack and n.partner_seq <= self._acked:
                        pending_ack = max(pending_ack, n.partner_seq)
                    continue
                dealt_with = False
                try:
                    yield n
                    dealt_with = True
                finally:
                    if not dealt_with:
                        self._again_from = n.partner_seq
                self.last_partner_seq = n.partner_seq
                if deadline is not None:
                    deadline = time.monotonic() + timeout
                if auto_ack:
                    pending_ack = self.last_partner_seq

    def _on_subscribed(self, answer):
        if self.subscribed and answer.stream_id != self.subscribed.stream_id:
            # Restored from a backup: what was seen past the restored cursor may be other
            # notifications now, and acknowledgements of the old stream mean nothing here.
            self.last_partner_seq = min(self.last_partner_seq, answer.cursor)
            self._acked = min(self._acked, answer.cursor)
        start = getattr(answer, "from")
        self._sent_max = max(start - 1, 0)  # the daemon takes acknowledgements below its start
        self.subscribed = answer
        self._awaiting = False
        if self.last_partner_seq and start > self.last_partner_seq + 1:
            # It would leave a gap (another connection acknowledged ahead): ask for the rest.
            self._subscribe(self.last_partner_seq + 1)

    def _on_error(self, error):
        if error.code == pb.ERROR_CODE_NOT_SUBSCRIBED:
            # An acknowledgement reached a connection with no subscription (a daemon restart).
            # A Subscribe already out was sent after it: wait for that one.
            if not self._awaiting:
                self._subscribe()
            return
        if error.code == pb.ERROR_CODE_MALFORMED and self.subscribed and not self._awaiting:
            # With no Subscribe out this is about an acknowledgement: subscribing again puts
            # both sides back in step rather than ending a working stream.
            self._subscribe()
            return
        code = pb.ErrorCode.Name(error.code).removeprefix("ERROR_CODE_")
        raise RuntimeError(f"{code}: {error.message}")
