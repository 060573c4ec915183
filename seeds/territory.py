#!/usr/bin/env python3
"""A synthetic territory at scale, for seeds/territory.sh: a deterministic generator of people
and of what a dozen partners do on their pathways over two years, replayed through a running
parcoursd over ZeroMQ with CURVE, as the partners' systems would publish it.

Every person is invented. A beneficiary id is the pseudonym a partner derives (HMAC-SHA-256 under
the territory's key, clients/python/parcours_partner.pseudonym) from a made-up identifier, so the
ids look as the daemon sees them in a real territory. The same seed and the same day give the
same territory: the dates run up to today, midnight UTC.

The replay sends the people's events in rounds: the k-th event of every person in round k, each
partner on its own connection, pipelined; a person's events are applied in their order, and
people do not wait for each other.

    territory.py --people N --seed S --endpoint tcp://127.0.0.1:7401 --keys DIR
                 --server-key FILE --territory-key FILE
"""

import argparse
import os
import random
import sys
import time
from collections import Counter
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
for build in ("release", "sanitize"):
    sys.path.insert(0, os.path.join(ROOT, "build", build, "gen", "python"))

import zmq  # noqa: E402

import parcours_pb2 as pb  # noqa: E402
from parcours_partner import pseudonym  # noqa: E402

DAY, HOUR = 86400000, 3600000

# The partners of the territory (seeds/territory-partners.ini), by role.
REGISTER = ["cd93"] * 12 + ["caf93"] * 5 + ["ft93"] * 3
STRUCTURES = {
    pb.PATHWAY_TYPE_EMPLOI: [("ft93", pb.REFERENT_BODY_FRANCE_TRAVAIL),
                             ("ml93", pb.REFERENT_BODY_MISSION_LOCALE),
                             ("capemploi93", pb.REFERENT_BODY_CAP_EMPLOI)],
    pb.PATHWAY_TYPE_SOCIO_PRO: [("cd93", pb.REFERENT_BODY_DEPARTEMENT),
                                ("asso-insertion93", pb.REFERENT_BODY_DELEGATED)],
    pb.PATHWAY_TYPE_SOCIAL: [("ccas-est93", pb.REFERENT_BODY_DELEGATED),
                             ("ccas-ouest93", pb.REFERENT_BODY_DELEGATED)],
}
TRAINERS = ["formapro93", "competences93"]
EMPLOYERS = ["logistique93", "restauration93"]


def read_key(path):
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(b"#"):
                return line
    raise SystemExit(f"territory.py: no key in {path}")


def person_events(rng, i, key, now):
    """The events of person i, in their order: (partner, Event) pairs, all dated before now."""
    out = []
    ids = iter(range(1, 1000))
    b = pseudonym(key, f"synthetic-person-{i:07d}")

    def ev(partner, at, **payload):
        if at >= now:
            return False
        e = pb.Event(event_id=f"t{i:07d}-{next(ids):03d}", partner_id=partner,
                     beneficiary_id=b, occurred_at=at)
        for name, message in payload.items():
            getattr(e, name).CopyFrom(message)
        out.append((partner, e))
        return True

    t = now - rng.randrange(7, 730) * DAY - rng.randrange(0, 20) * HOUR
    registrar = rng.choice(REGISTER)
    rsa = registrar == "caf93" or rng.random() < 0.5
    ev(registrar, t, beneficiary_registered=pb.BeneficiaryRegistered(rsa_recipient=rsa))
    if rng.random() < 0.08:
        return b, out  # never oriented (yet): its six weeks run
    # Most orientations come within the six weeks, some late.
    t += (rng.randrange(1, 42) if rng.random() < 0.75 else rng.randrange(42, 120)) * DAY
    ptype = rng.choices(list(STRUCTURES), weights=[6, 3, 1])[0]
    structure, body = rng.choice(STRUCTURES[ptype])
    decider = "cd93" if rng.random() < 0.7 else "ft93"
    if not ev(decider, t, orientation_decided=pb.OrientationDecided(
            pathway_type=ptype, referent_body=body, structure_id=structure, notified_at=t)):
        return b, out
    notified = t
    if rng.random() < 0.12:
        return b, out  # no referent yet
    t = notified + rng.randrange(1, 50) * DAY + rng.randrange(0, 8) * HOUR
    if not ev(structure, t, referent_assigned=pb.ReferentAssigned(
            referent_partner_id=structure, professional_ref=f"conseiller-{rng.randrange(1, 40)}")):
        return b, out
    if rng.random() < 0.85:
        t = max(t, notified + rng.randrange(1, 55) * DAY)
        if not ev(structure, t, contract_signed=pb.ContractSigned(
                kind=pb.CONTRACT_KIND_CONTRAT_ENGAGEMENT, start=t,
                plan_action_ref=f"pa-{structure}-{i:07d}", weekly_hours=15)):
            return b, out
    for _ in range(rng.randrange(0, 5)):
        t += rng.randrange(5, 60) * DAY
        if not ev(structure, t, appointment_recorded=pb.AppointmentRecorded(
                kind=pb.APPOINTMENT_KIND_INDIVIDUAL,
                status=rng.choices([pb.APPOINTMENT_STATUS_SEEN, pb.APPOINTMENT_STATUS_NOSHOW],
                                   weights=[5, 1])[0], at=t)):
            return b, out
    roll = rng.random()
    if roll < 0.25:
        trainer = rng.choice(TRAINERS)
        t += rng.randrange(10, 90) * DAY
        if not ev(structure, t, training_entered=pb.TrainingEntered(
                provider_id=trainer, programme_code=f"RNCP{rng.randrange(30000, 39999)}",
                start=t)):
            return b, out
        t += rng.randrange(30, 200) * DAY
        ev(trainer, t, training_exited=pb.TrainingExited(outcome=rng.choices(
            [pb.TRAINING_OUTCOME_COMPLETED, pb.TRAINING_OUTCOME_CERTIFIED,
             pb.TRAINING_OUTCOME_ABANDONED], weights=[4, 3, 2])[0]))
    elif roll < 0.55:
        t += rng.randrange(10, 150) * DAY
        employer = rng.choice(EMPLOYERS + [""])
        ev(structure, t, job_placed=pb.JobPlaced(
            kind=rng.choices([pb.EMPLOYMENT_KIND_CDI, pb.EMPLOYMENT_KIND_CDD,
                              pb.EMPLOYMENT_KIND_IAE, pb.EMPLOYMENT_KIND_INTERIM],
                             weights=[2, 4, 2, 2])[0],
            employer_partner_id=employer, start=t))
    if rng.random() < 0.3:
        t += rng.randrange(30, 200) * DAY
        reason = rng.choices([pb.EXIT_REASON_SUSTAINED_EMPLOYMENT, pb.EXIT_REASON_MOVED,
                              pb.EXIT_REASON_RIGHT_ENDED, pb.EXIT_REASON_OTHER],
                             weights=[5, 2, 3, 1])[0]
        # Most who move go next door, to Val-de-Marne (94), whose daemon the demo hands them
        # over to; the others leave for nowhere Parcours knows (abroad, another region).
        destination = ""
        if reason == pb.EXIT_REASON_MOVED and rng.random() < 0.8:
            destination = "94"
        ev("cd93", t, pathway_exited=pb.PathwayExited(reason=reason,
                                                      destination_territory=destination))
    return b, out


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--people", type=int, default=10000)
    a.add_argument("--seed", type=int, default=93)
    a.add_argument("--endpoint", required=True)
    a.add_argument("--keys", required=True, help="folder of the partners' NAME.secret files")
    a.add_argument("--server-key", required=True)
    a.add_argument("--territory-key", required=True)
    args = a.parse_args()
    with open(args.territory_key) as f:
        key = bytes.fromhex(f.read().strip())
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    now = int(today.timestamp() * 1000)
    rng = random.Random(args.seed)
    people = [person_events(rng, i, key, now)[1] for i in range(args.people)]
    total = sum(len(p) for p in people)
    types = Counter(e.WhichOneof("payload") for p in people for _, e in p)
    print(f"territory: {args.people} people, {total} events over two years "
          f"(seed {args.seed}, dated up to {today:%Y-%m-%d}):")
    print("  " + ", ".join(f"{k} {n}" for k, n in types.most_common()))

    context = zmq.Context.instance()
    server = read_key(args.server_key)
    sockets = {}

    def socket_of(partner):
        if partner not in sockets:
            s = context.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            secret = read_key(os.path.join(args.keys, f"{partner}.secret"))
            s.curve_secretkey = secret
            s.curve_publickey = zmq.curve_public(secret)
            s.curve_serverkey = server
            s.connect(args.endpoint)
            sockets[partner] = s
        return sockets[partner]

    start = time.monotonic()
    outcomes = Counter()
    rounds = max(len(p) for p in people)
    for k in range(rounds):
        batch = [p[k] for p in people if len(p) > k]
        waiting = Counter()
        for partner, e in batch:
            socket_of(partner).send(e.SerializeToString())
            waiting[partner] += 1
        poller = zmq.Poller()
        for partner in waiting:
            poller.register(sockets[partner], zmq.POLLIN)
        deadline = time.monotonic() + 120
        while sum(waiting.values()) > 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"territory.py: {sum(waiting.values())} acks missing")
            for s, _ in poller.poll(1000):
                partner = next(p for p, x in sockets.items() if x is s)
                while waiting[partner] > 0:
                    try:
                        ack = pb.Ack.FromString(s.recv(zmq.NOBLOCK))
                    except zmq.Again:
                        break
                    waiting[partner] -= 1
                    if ack.status == pb.ACK_STATUS_REJECTED:
                        outcomes[pb.ErrorCode.Name(ack.code)] += 1
                    else:
                        outcomes[pb.AckStatus.Name(ack.status)] += 1
    took = time.monotonic() - start
    for s in sockets.values():
        s.close()
    print(f"replayed in {took:.1f} s ({total / took:,.0f} events/s), {rounds} rounds: "
          + ", ".join(f"{k} {n}" for k, n in outcomes.most_common()))
    if outcomes["ACK_STATUS_ACCEPTED"] + outcomes["ACK_STATUS_DUPLICATE"] != total:
        raise SystemExit("territory.py: some events were not applied (see above)")


if __name__ == "__main__":
    main()
