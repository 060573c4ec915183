#!/usr/bin/env python3
"""Example: a mission locale's system follows a young person on Parcours.

    PARCOURS_PB_DIR=build/gen/python python3 clients/python/example_partner.py \
        --endpoint tcp://127.0.0.1:7401 --as ml93 --beneficiary B-93-0100 \
        [--key ml93.secret --server-key parcoursd.public]

It registers the person, asks for an orientation, then records an appointment, printing
each ack; the exit status is 0 when every event was accepted (or had been already). With
CURVE on the daemon, --key is the partner's secret key and --server-key the daemon's public
key (files made by parcoursctl keygen).
"""

import argparse
import sys
import time

from parcours_partner import (ConnectionRefused, Partner, add_key_arguments, describe,
                              keys_from_arguments, pb)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:7401")
    parser.add_argument("--as", dest="partner", default="ml93")
    parser.add_argument("--beneficiary", default="B-93-0100")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for every ack (default 30)")
    add_key_arguments(parser)
    args = parser.parse_args()
    secret_key, server_key = keys_from_arguments(parser, args)
    partner = Partner(args.endpoint, args.partner, secret_key=secret_key, server_key=server_key)
    now = int(time.time() * 1000)
    events = [
        partner.event(args.beneficiary, beneficiary_registered=pb.BeneficiaryRegistered()),
        partner.event(
            args.beneficiary,
            orientation_requested=pb.OrientationRequested(
                requested_type=pb.PATHWAY_TYPE_EMPLOI,
                reason=pb.ORIENTATION_REQUEST_REASON_FIRST_ORIENTATION,
            ),
        ),
        partner.event(
            args.beneficiary,
            appointment_recorded=pb.AppointmentRecorded(
                kind=pb.APPOINTMENT_KIND_INDIVIDUAL, status=pb.APPOINTMENT_STATUS_SEEN, at=now
            ),
        ),
    ]
    # Pipelined: all three are in flight at once; the daemon applies them in order.
    ok = True
    try:
        for event in events:
            partner.publish(event)
        for ack in partner.acks(timeout=args.timeout):
            print(describe(ack))
            ok &= ack.status in (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE)
    except ConnectionRefused as refused:  # exit 1, as parcoursctl for a refused key
        print(f"{parser.prog}: {refused}", file=sys.stderr)
        return 1
    except TimeoutError as silence:  # exit 3, as parcoursctl for an unreachable daemon
        print(f"{parser.prog}: {silence}", file=sys.stderr)
        return 3
    finally:
        partner.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
