"""What a partner could learn by probing: each case a review found, over the wire.

A probe is an event sent to be refused, so that it changes nothing and costs nothing; the
reply to it must not change with what the prober may not know (docs/domain.md, "No oracle",
"Minimisation"). Each test runs a probe before and after a change the prober may not see and
asserts the replies are the same, then checks what the prober is sent.
"""

import os
import signal
import time
import unittest

import zmq

from rules_wire import (PARTNERS_FULL, T0, RawSubscriber, RulesTestCase, fmt, key, ld, make_event,
                        pb, start_daemon, watchdog, Wire)


class ProbeTest(RulesTestCase):
    n = 0

    def ev(self, sender, b, t, payload=None, expected_version=0):
        ProbeTest.n += 1
        return self.wire.one(make_event(f"probe-{ProbeTest.n}", sender, b, t, payload,
                                        expected_version=expected_version))

    def accepted(self, *acks):
        for a in acks:
            self.assertEqual(a.status, pb.ACK_STATUS_ACCEPTED, fmt(a))
        return acks[-1]

    def same(self, before, after, what):
        self.assertEqual(key(before, with_seq=False), key(after, with_seq=False),
                         f"{what}: {fmt(before)} then {fmt(after)}")

    def test_a_member_cannot_read_a_suspension_from_the_version(self):
        # Told every event but suspensions, a member that is not the referent's partner must
        # not see the version or the date move when one is decided.
        b = "B-probe-1"
        cap = RawSubscriber(self.daemon, "cap93")
        cap.wait_subscribed()
        joined = self.accepted(
            self.ev("caf93", b, "beneficiary_registered", pb.BeneficiaryRegistered(rsa_recipient=True)),
            self.ev("cd93", b, "orientation_decided", pb.OrientationDecided(
                pathway_type=pb.PATHWAY_TYPE_SOCIAL, referent_body=pb.REFERENT_BODY_DELEGATED,
                structure_id="ccas93", notified_at=T0)),
            self.ev("ccas93", b, "member_joined", pb.MemberJoined(member_id="cap93")))
        # A notification carries the pathway as it is when it is sent: cap93 must hold this one
        # before the suspension, or both it and the next would show the state after it.
        self.assertTrue(cap.wait_seq(joined.seq), "cap93 was not told it joined")
        probe = lambda: self.ev("cap93", b, "appointment_recorded", None, 999)  # noqa: E731
        before = probe()
        self.assertEqual(before.code, pb.ERROR_CODE_VERSION_CONFLICT, fmt(before))
        self.accepted(self.ev("cd93", b, "suspension_decided", pb.SuspensionDecided(
            reason=pb.SUSPENSION_REASON_OBLIGATIONS_NOT_MET)))
        self.same(before, probe(), "cap93's probe across a suspension")
        last = self.accepted(self.ev("ccas93", b, "appointment_recorded"))
        self.assertTrue(cap.wait_seq(last.seq), "cap93 was not told of the appointment")
        cap.poll(0.2)
        versions = [n.pathway.version for _, _, n in cap.notifications if n.pathway.version]
        self.assertEqual(versions, sorted(versions))
        self.assertEqual(versions, list(range(versions[0], versions[0] + len(versions))),
                         "a version step without a notification tells of a suspension")
        for _, _, n in cap.notifications:
            self.assertNotEqual(n.event.WhichOneof("payload"), "suspension_decided")
            self.assertFalse(n.pathway.HasField("suspension"))
        cap.close()

    def test_an_employer_is_not_told_the_version(self):
        b = "B-probe-2"
        self.accepted(
            self.ev("caf93", b, "beneficiary_registered"),
            self.ev("cd93", b, "member_joined", pb.MemberJoined(member_id="employer93")))
        a = self.ev("employer93", b, "job_ended", None, 2)
        self.assertEqual((a.status, a.code), (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_NOT_AUTHORISED),
                         fmt(a))
        self.assertIn("expected_version 0", a.message)
        self.assertNotIn("version 2", a.message)
        a = self.accepted(self.ev("employer93", b, "job_placed", pb.JobPlaced(
            kind=pb.EMPLOYMENT_KIND_CDD, start=T0)))
        self.assertEqual(a.version, 0, "an employer's Ack carries the version")

    def test_a_provider_cannot_probe_the_orientation(self):
        b = "B-probe-3"
        self.accepted(
            self.ev("caf93", b, "beneficiary_registered"),
            self.ev("cd93", b, "member_joined", pb.MemberJoined(member_id="trainer93")))
        probes = [lambda p=p: self.ev("trainer93", b, "training_entered", pb.TrainingEntered(
            provider_id=p, programme_code="RNCP1", start=T0))
                  for p in ("trainer93b", "nobody93", "cap93")]
        before = [p() for p in probes]
        self.accepted(self.ev("cd93", b, "orientation_decided", pb.OrientationDecided(
            pathway_type=pb.PATHWAY_TYPE_SOCIAL, referent_body=pb.REFERENT_BODY_DELEGATED,
            structure_id="ccas93", notified_at=T0)))
        for p, a in zip(probes, before):
            self.same(a, p(), "trainer93's probe across an orientation")

    def test_an_employer_learns_no_other_partner(self):
        # Cap emploi (a disability recognition) enters a training with no provider named: it is
        # not the provider, and the employer of the same person reads no partner's id.
        b = "B-probe-4"
        emp = RawSubscriber(self.daemon, "employer93")
        emp.wait_subscribed()
        self.accepted(
            self.ev("caf93", b, "beneficiary_registered"),
            self.ev("cd93", b, "orientation_decided", pb.OrientationDecided(
                pathway_type=pb.PATHWAY_TYPE_EMPLOI, referent_body=pb.REFERENT_BODY_CAP_EMPLOI,
                structure_id="cap93", notified_at=T0)),
            self.ev("cap93", b, "member_joined", pb.MemberJoined(member_id="employer93")))
        a = self.ev("cap93", b, "training_entered", pb.TrainingEntered(provider_id="cap93",
                                                                      programme_code="RNCP1",
                                                                      start=T0))
        self.assertEqual(a.code, pb.ERROR_CODE_INVALID_TRANSITION, fmt(a))
        self.accepted(self.ev("cap93", b, "member_joined", pb.MemberJoined(member_id="trainer93")))
        t = self.accepted(self.ev("cap93", b, "training_entered", pb.TrainingEntered(
            provider_id="trainer93", programme_code="RNCP1", start=T0)))
        self.assertEqual(self.daemon.pathway(b).training.provider_id, "trainer93")
        j = self.accepted(self.ev("employer93", b, "job_placed", pb.JobPlaced(
            kind=pb.EMPLOYMENT_KIND_CDD, start=T0)))
        self.assertTrue(emp.wait_seq(t.seq), "the employer was not told of the training")
        time.sleep(0.2)
        emp.poll(0.2)
        got = [(raw, n) for raw, _, n in emp.notifications]
        self.assertTrue(got, "nothing received")
        for raw, n in got:
            for other in (b"cap93", b"trainer93", b"caf93", b"cd93"):
                self.assertNotIn(other, raw, f"{n.event.WhichOneof('payload')}: {n}")
            self.assertEqual(n.pathway.version, 0)
        self.assertNotIn(j.seq, [n.seq for _, n in got])  # its own event is not echoed
        emp.close()

    def test_a_former_member_cannot_tell_a_new_episode(self):
        b = "B-probe-5"
        self.accepted(
            self.ev("caf93", b, "beneficiary_registered"),
            self.ev("cd93", b, "member_joined", pb.MemberJoined(member_id="employer93")),
            self.ev("cd93", b, "member_joined", pb.MemberJoined(member_id="ccas93")),
            self.ev("cd93", b, "pathway_exited", pb.PathwayExited(reason=pb.EXIT_REASON_MOVED)))
        probes = [lambda: self.ev("employer93", b, "job_ended"),
                  lambda: self.ev("ccas93", b, "appointment_recorded", None, 999)]
        before = [p() for p in probes]
        for a in before:
            self.assertEqual(a.code, pb.ERROR_CODE_NOT_AUTHORISED, fmt(a))
        self.accepted(self.ev("ml93", b, "beneficiary_registered"))
        for p, a in zip(probes, before):
            self.same(a, p(), "a former member's probe across a new episode")
        # The same replies as about a beneficiary nobody registered.
        self.same(before[0], self.ev("employer93", "B-probe-nobody", "job_ended"),
                  "a former member's probe against no pathway")

    def test_a_routing_id_a_client_chose_is_not_served(self):
        # A routing id the client chose could be taken by another connection once this one
        # went, and the daemon would send that one this stream or these acks.
        sock = self.daemon.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTING_ID, b"ml93-fixed")
        sock.connect(self.daemon.deliver)
        sock.send(ld(1, pb.Subscribe(partner_id="ml93").SerializeToString()))
        self.assertTrue(sock.poll(5000), "no answer to a Subscribe")
        reply = pb.DeliverReply.FromString(sock.recv())
        self.assertEqual(reply.WhichOneof("kind"), "error", reply)
        self.assertEqual(reply.error.code, pb.ERROR_CODE_MALFORMED)
        self.assertIn("ZMQ_ROUTING_ID", reply.error.message)
        sock.close()
        sock = self.daemon.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTING_ID, b"cd93-fixed")
        sock.connect(self.daemon.ingest)
        before = self.daemon.status().last_seq
        sock.send(make_event("probe-rid", "cd93", "B-probe-rid", "beneficiary_registered",
                             pb.BeneficiaryRegistered()).SerializeToString())
        self.assertTrue(sock.poll(5000), "no ack")
        ack = pb.Ack.FromString(sock.recv())
        self.assertEqual((ack.status, ack.code), (pb.ACK_STATUS_REJECTED, pb.ERROR_CODE_MALFORMED))
        self.assertIn("ZMQ_ROUTING_ID", ack.message)
        self.assertEqual(self.daemon.status().last_seq, before)
        sock.close()


class ReloadTest(unittest.TestCase):
    def test_a_reclassified_partner_is_not_replayed_what_it_may_no_longer_know(self):
        # Its outbox was written for what it was; once the partners file makes it an employer,
        # or moves it to another territory, a replay sends it only what it may know now.
        daemon = start_daemon(PARTNERS_FULL)
        try:
            wire = Wire(daemon)
            n = [0]

            def ev(sender, t, payload=None):
                n[0] += 1
                a = wire.one(make_event(f"reload-{n[0]}", sender, "B-reload", t, payload))
                self.assertEqual(a.status, pb.ACK_STATUS_ACCEPTED, fmt(a))
                return a

            ev("cd93", "beneficiary_registered", pb.BeneficiaryRegistered())
            ev("cd93", "orientation_decided", pb.OrientationDecided(
                pathway_type=pb.PATHWAY_TYPE_SOCIAL, referent_body=pb.REFERENT_BODY_DELEGATED,
                structure_id="ccas93", notified_at=T0))
            ev("ccas93", "member_joined", pb.MemberJoined(member_id="ml93"))
            ev("ccas93", "member_joined", pb.MemberJoined(member_id="cap93"))
            ev("ccas93", "referent_assigned", pb.ReferentAssigned(referent_partner_id="ccas93"))
            last = ev("ccas93", "job_placed", pb.JobPlaced(kind=pb.EMPLOYMENT_KIND_CDD, start=T0))
            sub = RawSubscriber(daemon, "ml93")
            self.assertTrue(sub.wait_seq(last.seq), "ml93 was not told")
            told = {n.event.WhichOneof("payload") for _, _, n in sub.notifications}
            self.assertIn("referent_assigned", told)
            sub.close()
            wire.close()

            for change, allowed in (("kind = MISSION_LOCALE", "kind = EMPLOYER"),
                                    ("territory = 93", "territory = 75")):
                path = os.path.join(daemon.folder, "partners.ini")
                with open(path) as f:
                    text = f.read()
                head, _, tail = text.partition("[ml93]\n")
                section, sep, rest = tail.partition("\n[")
                text = head + "[ml93]\n" + section.replace(change, allowed) + sep + rest
                with open(path, "w") as f:
                    f.write(text)
                daemon.process.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + 10
                while allowed.split(" = ")[1] not in {
                        (pb.PartnerKind.Name(p.kind).replace("PARTNER_KIND_", "") if "kind" in allowed
                         else ",".join(p.territories))
                        for p in daemon.admin(pb.ADMIN_COMMAND_PARTNERS).partners
                        if p.partner_id == "ml93"}:
                    self.assertLess(time.monotonic(), deadline, "the reload did not happen")
                    time.sleep(0.1)
                sub = RawSubscriber(daemon, "ml93", subscribe=False)
                sub.send_subscribe(pb.Subscribe(partner_id="ml93", **{"from": 1}).SerializeToString())
                self.assertTrue(sub.wait_subscribed(), "no Subscribed")
                sub.wait(lambda: False, timeout=1.0)
                got = [(raw, n) for raw, _, n in sub.notifications]
                types = {n.event.WhichOneof("payload") for _, n in got}
                if "EMPLOYER" in allowed:
                    self.assertLessEqual(types, {"job_placed", "member_joined"}, types)
                    for raw, n in got:
                        self.assertNotIn(b"ccas93", raw, n)
                        self.assertNotIn(b"cap93", raw, n)
                        self.assertEqual(n.pathway.version, 0)
                else:
                    self.assertEqual(got, [], "a partner moved to 75 replays 93's events")
                sub.close()
            self.assertEqual(daemon.stop(), 0)
        finally:
            daemon.cleanup()


if __name__ == "__main__":
    watchdog(90)
    unittest.main(verbosity=2)
