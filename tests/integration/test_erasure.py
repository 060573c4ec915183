"""G10: an erasure really erases, proven on the raw files, under load (issue 12).

The real parcoursd, over real sockets: a person whose pathway several partners were told of is
erased with `parcoursctl erase` while other partners keep publishing. Then, read as bytes (free
pages included, the file not opened as a store): neither their id nor any payload of theirs is
in data.mdb, keys.vault or the daemon's log output; the vault slot that held their key is zero,
and that key is nowhere in either file. The partners told of them get an Erasure notice; a replay
of a partner's stream from 1 is still gap-free, the person's entries withdrawn; a re-sent old
event is a DUPLICATE that brings no one back; and a backup taken before the erasure, restored,
holds no one either: the register erases them again.
"""

import os
import secrets
import shutil
import subprocess
import threading
import time
import unittest

from harness import (PARCOURSCTL, PARCOURSD, Daemon, Subscriber, appointment, decided,
                     engagement, event, pb, registered, send_and_wait)

VAULT_HEADER = 4096
VAULT_SLOT = 32


def pseudonym():
    """A realistic beneficiary id: a keyed hash, so random-looking (never a NIR)."""
    return "p93-" + secrets.token_hex(16)


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def vault_slots(data):
    return [data[i:i + VAULT_SLOT] for i in range(VAULT_HEADER, len(data), VAULT_SLOT)]


class Load(threading.Thread):
    """Another partner publishing registrations of other people, all along."""

    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.sock = daemon.connect()
        self.stop_now = threading.Event()
        self.acked = 0
        self.error = None

    def run(self):
        try:
            n = 0
            while not self.stop_now.is_set():
                frames = []
                for _ in range(50):
                    b = pseudonym()
                    frames.append(registered(f"load-r-{n}", "caf93", b, rsa_recipient=True))
                    n += 1
                acks = send_and_wait(self.sock, frames)
                if any(a.status != pb.ACK_STATUS_ACCEPTED for a in acks):
                    raise AssertionError(f"load refused: {acks}")
                self.acked += len(acks)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e


def ctl(daemon, *args, timeout=60):
    return subprocess.run([PARCOURSCTL, "-c", daemon.config, *args], capture_output=True,
                          text=True, timeout=timeout)


class ErasureTest(unittest.TestCase):
    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()

    def daemon(self, extra=""):
        d = Daemon(extra_config=extra)
        self.daemons.append(d)
        return d

    def wait(self, sub, match, count, timeout=30):
        """Polls sub until count of its notifications match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for n in sub.received if match(n)) >= count:
                return True
            sub.poll(0.1)
        return False

    def absent(self, needle, haystack, where):
        """needle is nowhere in haystack (a short message, not the whole file)."""
        at = haystack.find(needle)
        self.assertEqual(at, -1, f"{needle!r} found in {where} at offset {at}")

    def publish_person(self, d, person, marker):
        """A pathway cd93, ml93 and ft93 are told of, its payloads carrying marker. Event ids
        are not personal (the dedupe keeps them): they carry a marker of their own."""
        sock = d.connect()
        ids = "ev" + secrets.token_hex(6)
        events = [
            registered(f"{ids}-1", "cd93", person),
            decided(f"{ids}-2", "cd93", person, "ml93", pb.REFERENT_BODY_MISSION_LOCALE),
            event(f"{ids}-r", "ml93", person, referent_assigned=pb.ReferentAssigned(
                referent_partner_id="ml93", professional_ref=f"ref-{marker}")),
            engagement(f"{ids}-3", "ml93", person, plan_action_ref=f"plan-{marker}"),
            appointment(f"{ids}-4", "ml93", person),
        ]
        acks = send_and_wait(sock, events)
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)
        sock.close()
        return events, acks

    def test_an_erasure_under_load_leaves_nothing_of_the_person(self):
        d = self.daemon().start()
        person, marker = pseudonym(), "mk" + secrets.token_hex(8)
        other, other_marker = pseudonym(), "mk" + secrets.token_hex(8)
        events, acks = self.publish_person(d, person, marker)
        self.publish_person(d, other, other_marker)
        # Sealed from the start: never in clear in the data file.
        data = file_bytes(os.path.join(d.data, "data.mdb"))
        self.absent(person.encode(), data, "data.mdb")
        self.absent(marker.encode(), data, "data.mdb")

        # Who was told of the person: ft93 and cd93 (territory-wide), ml93 (the orientation).
        subs = {p: Subscriber(d, p) for p in ("ft93", "cd93", "ml93")}
        told = {"ft93": 5, "cd93": 3, "ml93": 1}
        for p, sub in subs.items():
            self.assertTrue(self.wait(sub, lambda n: n.HasField("event") and
                                      n.event.beneficiary_id == person, told[p]), p)

        backup_dir = os.path.join(d.folder, "backup")
        run = subprocess.run([PARCOURSCTL, "--admin", d.admin_endpoint, "backup", backup_dir],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        vault_before = vault_slots(file_bytes(os.path.join(d.data, "keys.vault")))

        load = Load(d)
        load.start()
        time.sleep(0.5)
        run = ctl(d, "erase", person, "--reason", "request", "--yes")
        self.assertEqual(run.returncode, 0, run.stderr)
        vault_erased = vault_slots(file_bytes(os.path.join(d.data, "keys.vault")))
        self.assertIn("erased: 5 events", run.stdout)
        self.assertIn("3 partners were sent an Erasure notice", run.stdout)
        # Asked again: nothing is left to erase.
        again = ctl(d, "erase", person, "--reason", "request", "--yes")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("no pathway", again.stderr)
        # Without --yes and without a terminal, nothing happens.
        refused = ctl(d, "erase", other, "--reason", "request")
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("--yes", refused.stderr)
        self.assertIsNotNone(d.pathway(other))
        time.sleep(0.5)
        load.stop_now.set()
        load.join(60)
        self.assertIsNone(load.error)
        self.assertGreater(load.acked, 0)

        # The person is gone; a re-sent old event is a duplicate that brings no one back.
        self.assertIsNone(d.pathway(person))
        sock = d.connect()
        resent = send_and_wait(sock, [events[0]])[0]
        sock.close()
        self.assertEqual(resent.status, pb.ACK_STATUS_DUPLICATE)
        self.assertEqual(resent.seq, acks[0].seq)
        self.assertIsNone(d.pathway(person))
        self.assertIsNotNone(d.pathway(other))

        # Each partner told of the person gets the Erasure notice, with nothing else in it.
        for p, sub in subs.items():
            self.assertTrue(self.wait(sub, lambda n: n.HasField("erasure") and
                                      n.erasure.beneficiary_id == person, 1), p)
            notice = [n for n in sub.received if n.HasField("erasure")][0]
            self.assertEqual(notice.erasure.reason, pb.ERASURE_REASON_REQUEST)
            self.assertFalse(notice.HasField("event"))
            self.assertFalse(notice.HasField("pathway"))
        # A replay from 1 is gap-free; the person's entries come withdrawn, with nothing in them.
        replay = Subscriber(d, "ml93", start=1, auto_ack=False)
        self.assertTrue(self.wait(replay, lambda n: n.HasField("erasure"), 1))
        seqs = [n.partner_seq for n in replay.received]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        withdrawn = [n for n in replay.received if n.withdrawn]
        self.assertEqual(len(withdrawn), 1)
        for n in withdrawn:
            self.assertFalse(n.HasField("event"))
            self.assertFalse(n.HasField("pathway"))
        for n in replay.received:
            if n.HasField("event"):
                self.assertNotEqual(n.event.beneficiary_id, person)
        replay.close()
        # The person's key went with the erasure; once all have acknowledged the notice, its own
        # key (a slot handed out after the load's, so compared with the vault of then) goes too.
        person_keys = [k for k, now in zip(vault_before, vault_erased) if any(k) and not any(now)]
        self.assertEqual(len(person_keys), 1)
        deadline = time.monotonic() + 30
        notice_keys = []
        while time.monotonic() < deadline and not notice_keys:
            for sub in subs.values():
                sub.poll(0.1)
            notice_keys = [k for k, now in zip(vault_erased, vault_slots(
                file_bytes(os.path.join(d.data, "keys.vault")))) if any(k) and not any(now)]
        self.assertEqual(len(notice_keys), 1, "the acknowledged notice kept its key")
        for sub in subs.values():
            sub.close()
        self.assertEqual(d.stop(), 0)

        # The raw files and the log: nothing of the person, free pages included.
        data = file_bytes(os.path.join(d.data, "data.mdb"))
        vault = file_bytes(os.path.join(d.data, "keys.vault"))
        log = d.log().encode()
        for needle in (person.encode(), marker.encode(), f"plan-{marker}".encode(),
                       f"ref-{marker}".encode()):
            self.absent(needle, data, "data.mdb")
            self.absent(needle, vault, "keys.vault")
            self.absent(needle, log, "the daemon's log")
        # The keys destroyed are nowhere in either file.
        for key in person_keys + notice_keys:
            self.absent(key, data, "data.mdb")
            self.absent(key, vault, "keys.vault")
        self.assertIn("a person destroyed (reason REQUEST)", d.log())

        # A backup from before the erasure, restored: the register erases the person again.
        register = os.path.join(d.folder, "erased.register")
        self.assertTrue(os.path.exists(register))
        self.assertNotIn(person, open(register).read())
        restored = self.daemon(extra=f"store.erased_register = {register}")
        run = subprocess.run([PARCOURSD, "-c", restored.config, "--restore",
                              os.path.join(backup_dir, "data.mdb")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("1 erased again by the register", run.stdout)
        restored.start()
        self.assertIsNone(restored.pathway(person))
        self.assertIsNotNone(restored.pathway(other))
        self.assertEqual(restored.stop(), 0)
        data = file_bytes(os.path.join(restored.data, "data.mdb"))
        self.absent(person.encode(), data, "the restored data.mdb")
        self.absent(marker.encode(), data, "the restored data.mdb")

    def test_bad_requests_get_a_clear_error(self):
        d = self.daemon().start()
        person = pseudonym()
        self.publish_person(d, person, "mk" + secrets.token_hex(8))
        for args, said in [
            (["erase", person, "--yes"], "--reason"),
            (["erase", person, "--reason", "retention", "--yes"], "--reason must be"),
            (["erase", "--reason", "request", "--yes"], "beneficiary"),
            (["erase", "not a valid id", "--reason", "request", "--yes"], "beneficiary_id"),
            (["erase", pseudonym(), "--reason", "request", "--yes"], "no pathway"),
        ]:
            run = ctl(d, *args)
            self.assertNotEqual(run.returncode, 0, args)
            self.assertIn(said, run.stderr, args)
        # The daemon refuses RETENTION and no reason from any client, not only parcoursctl.
        for reason in (pb.ERASURE_REASON_UNSPECIFIED, pb.ERASURE_REASON_RETENTION):
            s = d.context.socket(__import__("zmq").DEALER)
            s.connect(d.admin_endpoint)
            s.send(pb.AdminRequest(command=pb.ADMIN_COMMAND_ERASE, beneficiary_id=person,
                                   erasure_reason=reason).SerializeToString())
            self.assertTrue(s.poll(5000))
            reply = pb.AdminReply.FromString(s.recv())
            s.close(0)
            self.assertFalse(reply.ok)
            self.assertIn("reason", reply.error)
        self.assertIsNotNone(d.pathway(person))
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
