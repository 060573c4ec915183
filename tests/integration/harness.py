"""Starts the real parcoursd on a temporary data directory and talks to it over real sockets.

Every integration test uses this: a Daemon writes its own configuration and partners file into
a fresh temporary folder, binds free loopback ports, and is stopped (or killed) by the test.
Paths come from the environment that ctest sets: PARCOURSD, PARCOURSCTL, PARCOURS_PB_DIR.
"""

import atexit
import http.client
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.environ["PARCOURS_PB_DIR"])
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))

import zmq  # noqa: E402

import parcours_pb2 as pb  # noqa: E402

PARCOURSD = os.environ["PARCOURSD"]
PARCOURSCTL = os.environ.get("PARCOURSCTL", "")

# The synthetic territory of the tests: every kind of partner of territory 93, plus a
# departement of another territory.
PARTNERS = """
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
[trainer93]
name = Training provider 93 (synthetic)
kind = TRAINING_ORG
territory = 93
[employer93]
name = Employer 93 (synthetic)
kind = EMPLOYER
territory = 93
[ccas93]
name = CCAS 93 (synthetic)
kind = CCAS
territory = 93
[cd75]
name = Departement 75 (synthetic)
kind = DEPARTEMENT
territory = 75
"""


# PARCOURS_VALGRIND (see Daemon._valgrind): memcheck's exit status on a finding, how many
# times longer start() and stop() may take, and the suppressions of other libraries' reports.
VALGRIND_EXIT = 99
VALGRIND_SLOWDOWN = 10
VALGRIND_SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                     "valgrind.supp")


PORTS_TAKEN = os.path.join(tempfile.gettempdir(), "parcours-it-ports")
_ports_mine = []


def _ports_release():
    for port in _ports_mine:
        try:
            os.unlink(os.path.join(PORTS_TAKEN, str(port)))
        except OSError:
            pass


atexit.register(_ports_release)


def fault_env(interposer, trigger):
    """The environment of a daemon run under an LD_PRELOAD interposer of tests/fault, armed
    while the file `trigger` exists."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {
        "LD_PRELOAD": interposer,
        "PARCOURS_FAULT_TRIGGER": trigger,
        # The interposer comes before the sanitizer's runtime on purpose.
        "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0",
    }


def free_port():
    """A free port below the kernel's ephemeral range (32768 and up), so that no outgoing
    connection or bind(0) of a test running beside this one can take it between the moment it
    is chosen and a (re)start of the daemon. A daemon's ports are chosen when it is made and
    bound when it starts (and again at each restart): each is also taken for the whole test
    process by a file in PORTS_TAKEN, so that a test running beside this one (ctest -j) never
    chooses a port this one's stopped daemon will bind again."""
    rng = random.SystemRandom()
    os.makedirs(PORTS_TAKEN, exist_ok=True)
    while True:
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        try:
            os.close(os.open(os.path.join(PORTS_TAKEN, str(port)),
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            continue
        _ports_mine.append(port)
        return port


def now_ms():
    return int(time.time() * 1000)


def curve_keypair():
    """A CURVE key pair, Z85. (A Z85 key never starts with '#': the first character of a group
    encodes at most 2^32 - 1, index 82 of the 85, so key files can keep '#' for comments.)"""
    return zmq.curve_keypair()


class Daemon:
    """One parcoursd process with its own folder, config and ports."""

    def __init__(self, partners=PARTNERS, extra_config="", folder=None, curve=False,
                 own_keys=False, deadlines=False):
        """With curve, every partner gets a key pair made here (self.keys), unless own_keys:
        the partners text then carries its own public_key lines, and self.keys stays empty.
        Without deadlines, the daemon watches none ([deadlines] all 0, unless extra_config sets
        them): most tests send events dated in the past, whose deadlines would have passed, and
        the DeadlineMissed events the daemon would add would change the streams they check
        (test_deadlines.py is the deadlines' test)."""
        if not deadlines and "deadlines." not in extra_config:
            extra_config += "".join(f"\ndeadlines.{k}_days = 0" for k in
                                    ("orientation", "contract", "referent", "inactivity"))
        self.folder = folder or tempfile.mkdtemp(prefix="parcours-it-")
        self.curve = curve
        self.keys = {}  # partner id -> (public, secret), Z85 bytes, made at run time
        if curve and not own_keys:
            partners = self._with_keys(partners)
        self.data = os.path.join(self.folder, "data")
        self.ingest = f"tcp://127.0.0.1:{free_port()}"
        self.deliver = f"tcp://127.0.0.1:{free_port()}"
        self.admin_endpoint = f"ipc://{self.folder}/admin.sock"
        self.config = os.path.join(self.folder, "parcoursd.conf")
        with open(os.path.join(self.folder, "partners.ini"), "w") as f:
            f.write(partners)
        # No HTTP unless a test asks for it: parallel daemons would all want the default port.
        http = self._section(extra_config, "http") or "listen =\n"
        with open(self.config, "w") as f:
            f.write(
                f"[store]\npath = {self.data}\n{self._section(extra_config, 'store')}"
                f"[ingest]\nendpoint = {self.ingest}\n{self._section(extra_config, 'ingest')}"
                f"[deliver]\nendpoint = {self.deliver}\n{self._section(extra_config, 'deliver')}"
                f"[admin]\nendpoint = {self.admin_endpoint}\n{self._section(extra_config, 'admin')}"
                f"[http]\n{http}"
                f"[partners]\nfile = partners.ini\n"
                + (f"[security]\ncurve = yes\nsecret_key = {self._server_key()}\n"
                   if curve else "[security]\ncurve = no\n")
                + "".join(f"[{name}]\n{self._section(extra_config, name)}"
                          for name in ("retention", "rules", "log", "journal", "deadlines")
                          if self._section(extra_config, name))
            )
        self.process = None
        self.log_path = os.path.join(self.folder, "parcoursd.log")
        self.context = zmq.Context.instance()

    def _with_keys(self, partners):
        """Gives every partner of the file a key pair and its public_key line."""
        out = []
        for line in partners.splitlines():
            out.append(line)
            if line.startswith("[") and line.endswith("]"):
                public, secret = curve_keypair()
                self.keys[line[1:-1]] = (public, secret)
                out.append(f"public_key = {public.decode()}")
        return "\n".join(out) + "\n"

    def _server_key(self):
        """parcoursd.secret, and parcoursd.public beside it, where clients given -c look."""
        self.server_public, server_secret = curve_keypair()
        path = os.path.join(self.folder, "parcoursd.secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"# parcoursd's secret key, made by the test\n" + server_secret + b"\n")
        os.close(fd)
        with open(os.path.join(self.folder, "parcoursd.public"), "wb") as f:
            f.write(b"# parcoursd's public key, made by the test\n" + self.server_public + b"\n")
        return path

    def secure(self, sock, partner, keys=None):
        """Makes sock a CURVE client of this daemon with the partner's keys (or given ones)."""
        public, secret = keys or self.keys[partner]
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.curve_serverkey = self.server_public

    @staticmethod
    def _section(extra, name):
        """Lines of extra_config ("section.key = value", one a line) for one section."""
        lines = [l.split(".", 1)[1] for l in extra.splitlines() if l.startswith(name + ".")]
        return "".join(l + "\n" for l in lines)

    def start(self, timeout=30.0, env=None):
        """Starts parcoursd and waits for its admin endpoint; env adds variables to its
        environment (an LD_PRELOAD, for instance)."""
        log = open(self.log_path, "a")
        command = [PARCOURSD, "-c", self.config]
        if os.environ.get("PARCOURS_VALGRIND"):
            command = self._valgrind() + command
            timeout *= VALGRIND_SLOWDOWN
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, **env) if env else None
        )
        if os.environ.get("PARCOURS_VALGRIND"):  # valgrind runs parcoursd in its own process
            self.valgrind_log_paths.append(f"{self.valgrind_prefix}.{self.process.pid}.log")
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"parcoursd exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.admin(pb.ADMIN_COMMAND_STATUS, timeout_ms=200).ok:
                    return self
            except TimeoutError:
                pass
        raise RuntimeError(f"parcoursd did not answer within {timeout}s:\n{self.log()}")

    def _valgrind(self):
        """Opt-in (G11): PARCOURS_VALGRIND=1 puts memcheck's log in this daemon's folder,
        another value is a log path prefix; either way one file per process, ending in
        .<pid>.log, listed in self.valgrind_log_paths (oldest first). Any error or definite/indirect leak makes
        parcoursd exit with VALGRIND_EXIT, so stop() returns it instead of 0."""
        prefix = os.environ["PARCOURS_VALGRIND"]
        if prefix == "1":
            prefix = os.path.join(self.folder, "valgrind")
        self.valgrind_prefix = prefix
        if not hasattr(self, "valgrind_log_paths"):
            self.valgrind_log_paths = []
        os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
        command = ["valgrind", "--tool=memcheck", f"--error-exitcode={VALGRIND_EXIT}",
                   "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                   "--show-leak-kinds=definite,indirect", "--track-origins=no",
                   "--num-callers=30", f"--log-file={prefix}.%p.log"]
        if os.path.exists(VALGRIND_SUPPRESSIONS):
            command.append(f"--suppressions={VALGRIND_SUPPRESSIONS}")
        return command

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=30.0):
        """SIGTERM, and the exit status (which must be 0)."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        if os.environ.get("PARCOURS_VALGRIND"):
            timeout *= VALGRIND_SLOWDOWN
        rc = self.process.wait(timeout)
        self.process = None
        return rc

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    def cleanup(self):
        if self.process is not None:
            self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def admin(self, command, beneficiary_id="", timeout_ms=5000):
        s = self.context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.admin_endpoint)
        try:
            s.send(pb.AdminRequest(command=command, beneficiary_id=beneficiary_id).SerializeToString())
            if not s.poll(timeout_ms):
                raise TimeoutError("the admin endpoint did not answer")
            return pb.AdminReply.FromString(s.recv())
        finally:
            s.close()

    def status(self):
        return self.admin(pb.ADMIN_COMMAND_STATUS).status

    def pathway(self, beneficiary_id):
        reply = self.admin(pb.ADMIN_COMMAND_SHOW, beneficiary_id)
        return reply.pathway if reply.ok else None

    def history(self, beneficiary_id):
        reply = self.admin(pb.ADMIN_COMMAND_HISTORY, beneficiary_id)
        return list(reply.history) if reply.ok else None

    def connect(self, partner=None, keys=None, endpoint=None):
        """A raw DEALER on the ingest endpoint (or another), as partner when CURVE is on."""
        s = self.context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        if self.curve and (partner or keys):
            self.secure(s, partner, keys)
        s.connect(endpoint or self.ingest)
        return s


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')


def parse_prometheus(text):
    """A strict parser of the text format: returns {family: {"type", "help", "samples"}} with
    samples a list of (name, labels dict, float). Raises AssertionError on any deviation."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families = {}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in families, f"line {number}: {name} described twice"
            assert help_text, f"line {number}: empty HELP"
            families[name] = {"help": help_text, "type": None, "samples": []}
            current = name
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == current and families[name]["type"] is None, \
                f"line {number}: TYPE of {name} must follow its HELP, once"
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            families[name]["type"] = kind
            continue
        assert not line.startswith("#"), f"line {number}: unexpected comment {line!r}"
        m = SAMPLE.match(line)
        assert m, f"line {number}: not a sample: {line!r}"
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        labels = {}
        pos = 0
        while pos < len(labels_text):
            lm = LABEL.match(labels_text, pos)
            assert lm, f"line {number}: bad labels {labels_text!r}"
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        assert current is not None and families[current]["type"] is not None, \
            f"line {number}: sample before HELP and TYPE"
        family = families[current]
        allowed = {current}
        if family["type"] == "histogram":
            allowed = {current + "_bucket", current + "_sum", current + "_count"}
        assert name in allowed, f"line {number}: {name} outside its family {current}"
        family["samples"].append((name, labels, float(value)))
    for name, family in families.items():
        if family["type"] != "histogram":
            continue
        buckets = [(s[1]["le"], s[2]) for s in family["samples"] if s[0] == name + "_bucket"]
        count = [s[2] for s in family["samples"] if s[0] == name + "_count"]
        assert buckets and buckets[-1][0] == "+Inf", f"{name}: buckets must end with +Inf"
        assert len(count) == 1 and buckets[-1][1] == count[0], f"{name}: +Inf != _count"
        bounds = [float(le) for le, _ in buckets]
        assert bounds == sorted(bounds), f"{name}: bucket bounds not increasing"
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{name}: buckets not cumulative"
    return families


def value(families, family, name=None, **labels):
    for sample_name, sample_labels, v in families[family]["samples"]:
        if sample_name == (name or family) and sample_labels == labels:
            return v
    return 0.0


def http_get(port, path, method="GET"):
    """One request to the daemon's HTTP endpoint on loopback: (status, content type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        conn.close()


def metrics(port):
    """/metrics, parsed strictly (parse_prometheus)."""
    status, content_type, body = http_get(port, "/metrics")
    assert status == 200, f"/metrics answered {status}"
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    return parse_prometheus(body)


def event(event_id, partner, beneficiary, expected_version=0, **payload):
    e = pb.Event(event_id=event_id, partner_id=partner, beneficiary_id=beneficiary,
                 occurred_at=now_ms(), expected_version=expected_version)
    for name, message in payload.items():
        getattr(e, name).CopyFrom(message)
    return e


# The one sentence every sender blind to a pathway gets, whatever the event type, whether the
# pathway exists or not (docs/domain.md, "No oracle"); only the sender's id varies.
BLIND_SENTENCE = ("Partner {partner} may not act on this beneficiary: only the members of the "
                  "beneficiary's follow-up group and the territory's departement and France "
                  "Travail may. If you follow this person, ask the referent to add you.")


def blind_sentence(partner):
    return BLIND_SENTENCE.format(partner=partner)


def registered(event_id, partner, beneficiary, rsa_recipient=False, territory=""):
    """A registration; rsa_recipient for an RSA recipient (always, when a CAF registers)."""
    return event(event_id, partner, beneficiary, beneficiary_registered=pb.BeneficiaryRegistered(
        territory=territory, rsa_recipient=rsa_recipient))


def decided(event_id, partner, beneficiary, structure_id, referent_body,
            pathway_type=pb.PATHWAY_TYPE_EMPLOI, notified_at=None, expected_version=0):
    """An OrientationDecided; notified_at (required by the 2023 law) defaults to now.
    referent_body must fit the structure's kind: DEPARTEMENT, FRANCE_TRAVAIL, MISSION_LOCALE and
    CAP_EMPLOI their own kind, DELEGATED a CCAS or an ASSOCIATION."""
    return event(event_id, partner, beneficiary, expected_version=expected_version,
                 orientation_decided=pb.OrientationDecided(
                     pathway_type=pathway_type, referent_body=referent_body,
                     structure_id=structure_id,
                     notified_at=now_ms() if notified_at is None else notified_at))


def engagement(event_id, partner, beneficiary, plan_action_ref, weekly_hours=0,
               reduced_hours_reason=pb.REDUCED_HOURS_REASON_UNSPECIFIED, hours_exempted=False,
               start=None, end=0):
    """A ContractSigned of the 2023 law's contrat d'engagement (CER and PPAE starting from the
    territory's cut-over date, 2025-01-01 by default, are refused): a plan d'action reference
    and weekly hours (0 = 15; below 15, or hours_exempted, with a reduced_hours_reason)."""
    return event(event_id, partner, beneficiary, contract_signed=pb.ContractSigned(
        kind=pb.CONTRACT_KIND_CONTRAT_ENGAGEMENT, start=now_ms() if start is None else start,
        end=end, plan_action_ref=plan_action_ref, weekly_hours=weekly_hours,
        reduced_hours_reason=reduced_hours_reason, hours_exempted=hours_exempted))


def appointment(event_id, partner, beneficiary):
    return event(event_id, partner, beneficiary, appointment_recorded=pb.AppointmentRecorded(
        kind=pb.APPOINTMENT_KIND_INDIVIDUAL, status=pb.APPOINTMENT_STATUS_SEEN, at=now_ms()))


def send_and_wait(sock, frames, timeout=30.0):
    """Sends raw frames (bytes or Events) pipelined; returns their acks in arrival order."""
    for f in frames:
        sock.send(f if isinstance(f, bytes) else f.SerializeToString())
    acks = []
    deadline = time.monotonic() + timeout
    while len(acks) < len(frames):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(frames) - len(acks)} acks missing")
        if sock.poll(100):
            acks.append(pb.Ack.FromString(sock.recv()))
    return acks


class Subscriber:
    """A partner reading its notification stream on the deliver endpoint."""

    def __init__(self, daemon, partner_id, start=0, window=100, types=(), auto_ack=True,
                 as_partner=None):
        """Subscribes as partner_id; with CURVE, the connection uses as_partner's keys (by
        default partner_id's own)."""
        self.partner_id = partner_id
        self.auto_ack = auto_ack
        self.sock = daemon.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if daemon.curve:
            daemon.secure(self.sock, as_partner or partner_id)
        self.sock.connect(daemon.deliver)
        self.received = []  # Notifications, in arrival order
        self.errors = []
        self.heartbeats = 0
        self.subscribed = None
        request = pb.DeliverRequest(subscribe=pb.Subscribe(
            partner_id=partner_id, window=window, types=list(types)))
        setattr(request.subscribe, "from", start)  # `from` is a Python keyword
        self.sock.send(request.SerializeToString())

    def ack(self, up_to):
        self.sock.send(pb.DeliverRequest(ack=pb.DeliveryAck(up_to=up_to)).SerializeToString())

    def poll(self, timeout=0.0):
        """Reads what has arrived (waiting up to timeout for the first frame)."""
        got = 0
        while self.sock.poll(int(timeout * 1000) if got == 0 else 0):
            reply = pb.DeliverReply.FromString(self.sock.recv())
            kind = reply.WhichOneof("kind")
            if kind == "subscribed":
                self.subscribed = reply.subscribed
            elif kind == "error":
                self.errors.append(reply.error)
            elif kind == "heartbeat":
                self.heartbeats += 1
            else:
                self.received.append(reply.notification)
                got += 1
        if got and self.auto_ack:
            self.ack(self.received[-1].partner_seq)
        return got

    def wait_for(self, count, timeout=30.0):
        """Polls until `count` notifications have arrived in all."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self.poll(0.1)
        return len(self.received) >= count

    def close(self):
        self.sock.close()


def varint(n):
    """n as a protobuf varint, to build frames by hand."""
    out = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        out.append(c | (0x80 if n else 0))
        if not n:
            return bytes(out)
