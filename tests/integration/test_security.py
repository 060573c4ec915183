#!/usr/bin/env python3
"""G7: nobody unknown gets in; nobody acts or reads beyond their rights. With CURVE on, over
real connections: no key, unknown key, revoked key (after SIGHUP), partner A emitting as B, a
type A lacks the right for, another territory, A subscribing as B, the no-oracle rule, and the
daemon refusing to start when its ZAP handler is not running."""

import os
import signal
import subprocess
import time
import unittest

import zmq

from harness import (PARCOURSD, Daemon, Subscriber, appointment, blind_sentence, decided, event,
                     pb, registered, send_and_wait)


def no_answer(sock, frame, wait=1.5):
    sock.send(frame.SerializeToString())
    return not sock.poll(int(wait * 1000))


class CurveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(curve=True).start()
        sock = cls.daemon.connect("cd93")
        acks = send_and_wait(sock, [registered("s-reg", "cd93", "B-sec-1"),
                                    event("s-ml", "cd93", "B-sec-1",
                                          member_joined=pb.MemberJoined(member_id="ml93"))])
        sock.close()
        assert all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        cls.daemon.cleanup()
        assert rc == 0, rc

    def ack(self, partner, e):
        sock = self.daemon.connect(partner)
        try:
            return send_and_wait(sock, [e], timeout=10)[0]
        finally:
            sock.close()

    def test_no_key_is_refused(self):
        before = self.daemon.status().last_seq
        sock = self.daemon.connect()  # plain, no CURVE
        self.assertTrue(no_answer(sock, appointment("s-nokey", "cd93", "B-sec-1")))
        sock.close()
        self.assertEqual(self.daemon.status().last_seq, before)

    def test_unknown_key_is_refused(self):
        before = self.daemon.status().last_seq
        sock = self.daemon.connect(keys=zmq.curve_keypair())
        self.assertTrue(no_answer(sock, appointment("s-unknown", "cd93", "B-sec-1")))
        sock.close()
        s = self.daemon.connect(keys=zmq.curve_keypair(), endpoint=self.daemon.deliver)
        s.send(pb.DeliverRequest(subscribe=pb.Subscribe(partner_id="ft93")).SerializeToString())
        self.assertFalse(s.poll(1500), "an unknown key was answered on the deliver endpoint")
        s.close()
        self.assertEqual(self.daemon.status().last_seq, before)
        self.assertRegex(self.daemon.log(), r"zap: connection refused on (ingest|deliver)")

    def test_partner_cannot_emit_as_another(self):
        a = self.ack("ml93", appointment("s-as-b", "cd93", "B-sec-1"))
        self.assertEqual(a.status, pb.ACK_STATUS_REJECTED)
        self.assertEqual(a.code, pb.ERROR_CODE_NOT_AUTHORISED)
        self.assertIn("authenticated as partner ml93", a.message)
        own = self.ack("ml93", appointment("s-own", "ml93", "B-sec-1"))
        self.assertEqual(own.status, pb.ACK_STATUS_ACCEPTED, own.message)

    def test_type_without_the_right(self):
        # A well-formed decision (notified_at given), refused for the sender's kind alone.
        a = self.ack("ml93", decided("s-decide", "ml93", "B-sec-1", "ml93",
                                     pb.REFERENT_BODY_MISSION_LOCALE))
        self.assertEqual((a.status, a.code), (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED),
                         a.message)

    def test_another_territory(self):
        a = self.ack("cd75", appointment("s-75", "cd75", "B-sec-1"))
        self.assertEqual((a.status, a.code), (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED))
        r = self.ack("cd75", event("s-75-reg", "cd75", "B-sec-75", beneficiary_registered=
                                   pb.BeneficiaryRegistered(territory="93")))
        self.assertEqual((r.status, r.code), (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED))

    def test_no_oracle_over_the_wire(self):
        sock = self.daemon.connect("cd93")
        send_and_wait(sock, [registered("o-1", "cd93", "B-oracle-open"),
                             registered("o-2", "cd93", "B-oracle-exited"),
                             event("o-3", "cd93", "B-oracle-exited",
                                   pathway_exited=pb.PathwayExited(reason=pb.EXIT_REASON_MOVED))])
        sock.close()
        replies = []
        for b in ("B-oracle-missing", "B-oracle-open", "B-oracle-exited"):
            a = self.ack("employer93", event(f"o-{b}", "employer93", b, job_placed=pb.JobPlaced(
                kind=pb.EMPLOYMENT_KIND_CDI, start=1767225600000)))
            self.assertNotIn(b, a.message)  # no sentence names the beneficiary
            replies.append((a.status, a.code, a.message, a.version))
        self.assertEqual(replies[0][1], pb.ERROR_CODE_NOT_AUTHORISED)
        self.assertEqual(replies[0][2], blind_sentence("employer93"))
        self.assertEqual(len(set(replies)), 1, replies)

    def test_subscriber_reads_only_its_own_stream(self):
        as_other = Subscriber(self.daemon, "ft93", as_partner="employer93")
        self.assertTrue(self._wait(lambda: as_other.poll(0.1) or as_other.errors))
        self.assertEqual(as_other.errors[0].code, pb.ERROR_CODE_NOT_AUTHORISED)
        self.assertEqual(as_other.received, [])
        as_other.close()
        # Subscribing without naming itself gives the connection's own partner.
        own = Subscriber(self.daemon, "", as_partner="ml93")
        self.assertTrue(self._wait(lambda: own.poll(0.1) or own.subscribed))
        self.assertEqual(own.subscribed.partner_id, "ml93")
        own.close()

    def test_subscriber_never_receives_another_partners_notifications(self):
        sock = self.daemon.connect("cd93")
        acks = send_and_wait(sock, [registered("n-reg", "cd93", "B-sec-only-ft"),
                                    decided("n-dec", "cd93", "B-sec-only-ft", "cd93",
                                            pb.REFERENT_BODY_DEPARTEMENT,
                                            pathway_type=pb.PATHWAY_TYPE_SOCIAL)])
        sock.close()
        self.assertTrue(all(a.status == pb.ACK_STATUS_ACCEPTED for a in acks), acks)
        seqs = {a.seq for a in acks}
        employer = Subscriber(self.daemon, "employer93")
        ft = Subscriber(self.daemon, "ft93")
        self.assertTrue(self._wait(lambda: ft.poll(0.1) >= 0 and
                                   seqs <= {n.seq for n in ft.received}, timeout=10))
        employer.poll(0.5)
        self.assertTrue(seqs <= {n.seq for n in ft.received})
        self.assertEqual([n for n in employer.received if n.seq in seqs], [],
                         "an employer received notifications meant for France Travail")
        self.assertEqual(employer.subscribed.last_partner_seq, 0)
        employer.close()
        ft.close()

    @staticmethod
    def _wait(cond, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
        return False


class RevocationTest(unittest.TestCase):
    def test_revoked_key_after_sighup_and_a_bad_file_refused(self):
        daemon = Daemon(curve=True).start()
        try:
            ml = daemon.connect("ml93")
            cd = daemon.connect("cd93")
            send_and_wait(cd, [registered("r-reg", "cd93", "B-rev"), event(
                "r-ml", "cd93", "B-rev", member_joined=pb.MemberJoined(member_id="ml93"))])
            self.assertEqual(send_and_wait(ml, [appointment("r-1", "ml93", "B-rev")])[0].status,
                             pb.ACK_STATUS_ACCEPTED)
            partners_path = os.path.join(daemon.folder, "partners.ini")
            with open(partners_path) as f:
                original = f.read()

            # A malformed file is refused whole, with file:line, and the old one kept.
            with open(partners_path, "w") as f:
                f.write(original + "\n[broken93]\nkind = NOT_A_KIND\n")
            daemon.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while "reload refused" not in daemon.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertRegex(daemon.log(), r"reload refused.*\n.*partners\.ini:\d+: kind")
            self.assertEqual(send_and_wait(ml, [appointment("r-2", "ml93", "B-rev")])[0].status,
                             pb.ACK_STATUS_ACCEPTED)

            # ml93's key is revoked: its open connection is dropped and it cannot come back.
            ml_key = daemon.keys["ml93"][0].decode()
            with open(partners_path, "w") as f:
                f.write(original.replace(f"public_key = {ml_key}\n", ""))
            daemon.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while "partners file reloaded" not in daemon.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn("a key was revoked", daemon.log())
            before = daemon.status().last_seq
            self.assertTrue(no_answer(ml, appointment("r-3", "ml93", "B-rev"), wait=2.0))
            fresh = daemon.connect("ml93")
            self.assertTrue(no_answer(fresh, appointment("r-4", "ml93", "B-rev"), wait=1.5))
            self.assertEqual(daemon.status().last_seq, before)
            # Everyone else reconnects by themselves and carries on.
            deadline = time.monotonic() + 10
            while True:
                cd.send(appointment(f"r-cd-{time.monotonic()}", "cd93", "B-rev").SerializeToString())
                if cd.poll(500):
                    self.assertEqual(pb.Ack.FromString(cd.recv()).status, pb.ACK_STATUS_ACCEPTED)
                    break
                self.assertLess(time.monotonic(), deadline, "cd93 never got back in")
            for s in (ml, cd, fresh):
                s.close()
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


class AdminOverTcpTest(unittest.TestCase):
    def test_admin_endpoint_admits_admin_keys_only(self):
        from harness import free_port
        admin_public, admin_secret = zmq.curve_keypair()
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        daemon = Daemon(curve=True)
        with open(daemon.config) as f:
            config = f.read()
        config = config.replace(f"[admin]\nendpoint = {daemon.admin_endpoint}\n",
                                f"[admin]\nendpoint = {endpoint}\nkeys = {admin_public.decode()}\n")
        with open(daemon.config, "w") as f:
            f.write(config)
        daemon.admin_endpoint = endpoint
        try:
            with open(daemon.log_path, "a") as log:
                daemon.process = subprocess.Popen([PARCOURSD, "-c", daemon.config], stdout=log,
                                                  stderr=subprocess.STDOUT)

            def status(keys):
                s = daemon.connect(keys=keys, endpoint=endpoint)
                s.send(pb.AdminRequest(command=pb.ADMIN_COMMAND_STATUS).SerializeToString())
                answered = s.poll(1500)
                reply = pb.AdminReply.FromString(s.recv()) if answered else None
                s.close()
                return reply

            deadline = time.monotonic() + 20
            reply = None
            while reply is None and time.monotonic() < deadline:
                reply = status((admin_public, admin_secret))
            self.assertIsNotNone(reply, "the admin key was not admitted")
            self.assertTrue(reply.ok)
            self.assertIsNone(status(daemon.keys["cd93"]), "a partner's key opened the admin endpoint")
            self.assertIsNone(status(zmq.curve_keypair()), "an unknown key opened the admin endpoint")
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


class FailClosedTest(unittest.TestCase):
    def test_start_refused_without_zap_handler(self):
        daemon = Daemon(curve=True)
        try:
            env = dict(os.environ, PARCOURS_TEST_NO_ZAP="1")
            run = subprocess.run([PARCOURSD, "-c", daemon.config], env=env, capture_output=True,
                                 text=True, timeout=30)
            self.assertNotEqual(run.returncode, 0)
            self.assertIn("refusing to start", run.stderr)
            # Without the fault, the same configuration starts.
            daemon.start()
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
