#!/usr/bin/env python3
"""Example: a partner's system follows what it needs to know about its beneficiaries.

    PARCOURS_PB_DIR=build/gen/python python3 clients/python/example_subscriber.py \
        --endpoint tcp://127.0.0.1:7402 --as ml93 [--idle 2] \
        [--key ml93.secret --server-key parcoursd.public]

Prints one line per notification (partner_seq, seq, type, beneficiary, phase) and acknowledges
it; stops after --idle seconds without news (default: never). Run it again: it resumes after
the last notification it acknowledged. With CURVE on the daemon, --key is the partner's secret
key and --server-key the daemon's public key (files made by parcoursctl keygen).
"""

import argparse
import sys

from parcours_partner import (ConnectionRefused, Subscription, add_key_arguments,
                              keys_from_arguments, pb)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:7402")
    parser.add_argument("--as", dest="partner", default="ml93")
    parser.add_argument("--idle", type=float, default=None)
    add_key_arguments(parser)
    args = parser.parse_args()
    secret_key, server_key = keys_from_arguments(parser, args)
    subscription = Subscription(args.endpoint, args.partner, secret_key=secret_key,
                                server_key=server_key)
    try:
        for n in subscription.notifications(timeout=args.idle):
            if n.HasField("erasure"):
                # The person was erased from Parcours: erase every copy of what you were told.
                print(f"{n.partner_seq} seq={n.seq} Erasure {n.erasure.beneficiary_id} "
                      f"{pb.ErasureReason.Name(n.erasure.reason)}", flush=True)
                continue
            if n.withdrawn:
                # What stood here was about a person since erased: nothing of it is left.
                print(f"{n.partner_seq} seq={n.seq} withdrawn", flush=True)
                continue
            kind = n.event.WhichOneof("payload")
            phase = pb.Phase.Name(n.pathway.phase).removeprefix("PHASE_") if n.HasField(
                "pathway") else "-"
            print(f"{n.partner_seq} seq={n.seq} {kind} {n.event.beneficiary_id} phase={phase}",
                  flush=True)
    except ConnectionRefused as refused:  # exit 1, as parcoursctl tail for a refused key
        print(f"{parser.prog}: {refused}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    finally:
        subscription.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
