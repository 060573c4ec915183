#!/usr/bin/python3
"""The national scale, simulated on one machine (docs/national-scale.md): K territories, one
parcoursd each (durable, CURVE, as in production), fed by one publisher, the national operator,
as France Travail's system would feed every territory's daemon: one connection per territory,
each with its own window of events in flight, all driven by one process.

Territories get people in proportion to invented but realistic weights (a few large
departements, many small), pseudonymous ids (keyed hashes under a key drawn for the run), and
each person walks a pathway (registration, orientation, referent, contract, appointments, exit)
one step a round, so that a person's steps go in order on their territory's connection. The
bench prints, for the run and for each territory: events/s, the ack latency percentiles, each
daemon's peak memory and its store's size on disk. It prints; it does not judge.

    national.py --daemon PATH [--territories K] [--people N] [--rounds R] [--window W]
"""

import argparse
import hashlib
import hmac
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import zmq

sys.path.insert(0, os.environ.get("PARCOURS_PB_DIR", ""))
import parcours_pb2 as pb  # noqa: E402

def weights(k):
    """Invented sizes for k territories, largest first: a Zipf-like law, a handful of big
    departements and a long tail, roughly as France's RSA recipients spread over its 101."""
    return [1.0 / (i + 1) ** 0.8 for i in range(k)]
STEPS = 8  # register, orient, referent, contract, 3 appointments, exit; then again


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def event(step, territory, person, counter, at):
    """The step-th event of a person's pathway, sent by the national operator."""
    e = pb.Event(event_id=f"n{territory}-{counter:010d}", partner_id="ft-national",
                 beneficiary_id=person, occurred_at=at)
    k = step % STEPS
    if k == 0:
        e.beneficiary_registered.territory = territory
    elif k == 1:
        e.orientation_decided.CopyFrom(pb.OrientationDecided(
            pathway_type=pb.PATHWAY_TYPE_EMPLOI, referent_body=pb.REFERENT_BODY_FRANCE_TRAVAIL,
            structure_id="ft-national", notified_at=at))
    elif k == 2:
        e.referent_assigned.referent_partner_id = "ft-national"
    elif k == 3:
        e.contract_signed.CopyFrom(pb.ContractSigned(
            kind=pb.CONTRACT_KIND_CONTRAT_ENGAGEMENT, start=at, plan_action_ref="pa-national"))
    elif k < STEPS - 1:
        e.appointment_recorded.CopyFrom(pb.AppointmentRecorded(
            kind=pb.APPOINTMENT_KIND_INDIVIDUAL, status=pb.APPOINTMENT_STATUS_SEEN, at=at))
    else:
        e.pathway_exited.reason = pb.EXIT_REASON_SUSTAINED_EMPLOYMENT
    return e.SerializeToString()


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--daemon", required=True)
    a.add_argument("--territories", type=int, default=8)
    a.add_argument("--people", type=int, default=40000, help="in all the territories")
    a.add_argument("--rounds", type=int, default=5, help="pathway steps per person")
    a.add_argument("--window", type=int, default=200, help="events in flight per connection")
    args = a.parse_args()
    k = args.territories
    if not 1 <= k <= 101:
        raise SystemExit("national: --territories is 1 to 101")
    codes = [f"{n:03d}" for n in range(1, k + 1)]
    w = weights(k)
    people = {c: max(1, int(args.people * x / sum(w))) for c, x in zip(codes, w)}
    folder = tempfile.mkdtemp(prefix="parcours-national-")
    id_key = secrets.token_bytes(32)
    server_public, server_secret = zmq.curve_keypair()
    ft_public, ft_secret = zmq.curve_keypair()
    daemons = {}
    try:
        for c in codes:
            d = os.path.join(folder, c)
            os.makedirs(d)
            with open(os.path.join(d, "partners.ini"), "w") as f:
                f.write(f"[ft-national]\nname = National operator (synthetic)\n"
                        f"kind = FRANCE_TRAVAIL\nterritory = {c}\npublic_key = {ft_public.decode()}\n"
                        f"[cd{c}]\nname = Departement {c} (synthetic)\nkind = DEPARTEMENT\n"
                        f"territory = {c}\n")
            fd = os.open(os.path.join(d, "parcoursd.secret"), os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, server_secret + b"\n")
            os.close(fd)
            ingest = f"tcp://127.0.0.1:{free_port()}"
            with open(os.path.join(d, "parcoursd.conf"), "w") as f:
                f.write(f"[store]\npath = {d}/data\n[ingest]\nendpoint = {ingest}\n"
                        f"[deliver]\nendpoint = tcp://127.0.0.1:{free_port()}\n"
                        f"[admin]\nendpoint = ipc://{d}/admin.sock\n[partners]\nfile = partners.ini\n"
                        f"[security]\ncurve = yes\nsecret_key = parcoursd.secret\n[http]\nlisten =\n"
                        f"[log]\nlevel = warning\n[deadlines]\norientation_days = 0\n"
                        f"contract_days = 0\nreferent_days = 0\ninactivity_days = 0\n")
            log = open(os.path.join(d, "log"), "w")
            proc = subprocess.Popen([args.daemon, "-c", os.path.join(d, "parcoursd.conf")],
                                    stdout=log, stderr=subprocess.STDOUT)
            daemons[c] = (proc, ingest, d)
        time.sleep(1.0)
        for c, (proc, _, d) in daemons.items():
            if proc.poll() is not None:
                raise SystemExit(f"national: the daemon of {c} exited: "
                                 f"{open(os.path.join(d, 'log')).read()}")

        # The national operator's process: one DEALER per territory, its own window on each.
        ctx = zmq.Context.instance()
        socks = {}
        for c, (_, ingest, _) in daemons.items():
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDHWM, 0)
            s.setsockopt(zmq.RCVHWM, 0)
            s.curve_secretkey, s.curve_publickey, s.curve_serverkey = ft_secret, ft_public, server_public
            s.connect(ingest)
            socks[c] = s
        pseud = {c: [hmac.new(id_key, f"{c}-{i}".encode(), hashlib.sha256).hexdigest()
                     for i in range(people[c])] for c in codes}
        now = int(time.time() * 1000)
        # Every frame made before the clock starts: the publisher's own cost is the sending.
        frames = {c: [event(r, c, pseud[c][i], r * people[c] + i, now)
                      for r in range(args.rounds) for i in range(people[c])] for c in codes}
        total = sum(len(v) for v in frames.values())
        nxt = {c: 0 for c in codes}
        inflight = {c: {} for c in codes}
        lat = {c: [] for c in codes}
        bad = 0
        poller = zmq.Poller()
        for s in socks.values():
            poller.register(s, zmq.POLLIN)
        by_sock = {s: c for c, s in socks.items()}
        done = 0
        cpu0 = time.process_time()
        start = time.monotonic()
        finished = {}
        while done < total:
            for c in codes:
                f = frames[c]
                while nxt[c] < len(f) and len(inflight[c]) < args.window:
                    eid = f"n{c}-{nxt[c]:010d}"
                    inflight[c][eid] = time.monotonic()
                    socks[c].send(f[nxt[c]], zmq.NOBLOCK)
                    nxt[c] += 1
            for s, _ in poller.poll(1000):
                c = by_sock[s]
                while True:
                    try:
                        ack = pb.Ack.FromString(s.recv(zmq.NOBLOCK))
                    except zmq.Again:
                        break
                    t0 = inflight[c].pop(ack.event_id, None)
                    if t0 is None:
                        continue
                    lat[c].append(time.monotonic() - t0)
                    if ack.status != pb.ACK_STATUS_ACCEPTED:
                        bad += 1
                    done += 1
                    if len(lat[c]) == len(frames[c]):
                        finished[c] = time.monotonic() - start
            if time.monotonic() - start > 600:
                raise SystemExit("national: no end after 600 s")
        took = time.monotonic() - start
        cpu = time.process_time() - cpu0
        all_lat = sorted(x for v in lat.values() for x in v)
        print(f"national simulation on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d', time.gmtime())}: "
              f"{k} territories, one durable CURVE daemon each, one publisher (Python, "
              f"{len(codes)} connections, window {args.window} each)")
        print(f"  {total} events for {sum(people.values())} people in {took:.1f} s: "
              f"{total / took:,.0f} events/s in all; ack latency ms p50 "
              f"{1000 * percentile(all_lat, 0.5):.2f} p99 {1000 * percentile(all_lat, 0.99):.2f}; "
              f"not accepted {bad}; publisher CPU {100 * cpu / took:.0f}% of a core")
        rss_total = 0
        print("  territory  people  events  events/s  p50 ms  p99 ms  peak RSS MiB  "
              "store MiB (64 MiB of it kept allocated ahead)")
        for c in codes:
            proc, _, d = daemons[c]
            v = sorted(lat[c])
            rss = peak_rss_kib(proc.pid)
            rss_total += max(rss, 0)
            size = sum(os.path.getsize(os.path.join(d, "data", n))
                       for n in os.listdir(os.path.join(d, "data")))
            print(f"  {c:>9}  {people[c]:6d}  {len(v):6d}  {len(v) / finished.get(c, took):8,.0f}"
                  f"  {1000 * percentile(v, 0.5):6.2f}  {1000 * percentile(v, 0.99):6.2f}"
                  f"  {rss / 1024:12.1f}  {size / 1048576:9.1f}")
        print(f"  all daemons' peak RSS {rss_total / 1024:.0f} MiB")
        for s in socks.values():
            s.close()
    finally:
        for proc, _, _ in daemons.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _, _ in daemons.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
