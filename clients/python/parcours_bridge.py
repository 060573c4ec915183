#!/usr/bin/python3
"""parcours-bridge: hands the people who move away from one territory over to the daemons of the
territories they move to (docs/transfers.md).

One daemon serves one territory, and no state is shared between two daemons: a move goes through
the wire contract, by a bridge that is a partner of both. The origin's daemon tells its BRIDGE
partners of each pathway that exits MOVED with a TransferAnnounced (a reference, the two
territories, the date: nothing of the person, nor of the pathway left behind); the bridge sends
the same TransferAnnounced to the destination's daemon, where the territory's departement is told,
and acknowledges it to the origin only once the destination acknowledged it (ACCEPTED, or
DUPLICATE for a move it had already): nothing is lost to a crash of either side or of the bridge,
and sending a move twice is safe (its event_id is its reference).

A move the bridge cannot hand over (no daemon configured for its destination, or a destination
that refuses it) is not skipped: the bridge says why, once a minute, and tries again, holding the
moves after it, until the configuration is mended and the bridge restarted. The stream of a
partner is in order, and a move acknowledged to the origin is one the destination holds.

Configuration (INI), one bridge process per origin daemon:

    [origin]
    territory = 75
    deliver = tcp://parcours-75.example:7002     # the origin daemon's deliver endpoint
    partner_id = bridge-idf                      # the bridge's id in the origin's partners file
    key = /etc/parcours/bridge-75.secret         # CURVE: the bridge's secret key there
    server_key = /etc/parcours/parcoursd-75.public

    [destination 93]
    ingest = tcp://parcours-93.example:7001
    partner_id = bridge-idf                      # default: the origin's partner_id
    key = /etc/parcours/bridge-93.secret
    server_key = /etc/parcours/parcoursd-93.public

Exit status: 0 when stopped (SIGTERM, or --idle seconds without a notification), 2 for a bad
command line or configuration, 1 when a daemon refused the bridge's key.
"""

import argparse
import configparser
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from parcours_partner import (ConnectionRefused, Partner, Subscription, describe,  # noqa: E402
                              pb, read_key)

RETRY_SECONDS = 2.0
SAY_AGAIN_SECONDS = 60.0


def say(line):
    print(f"parcours-bridge: {line}", file=sys.stderr, flush=True)


class Configuration:
    """What the INI file says, checked whole before anything connects."""

    def __init__(self, path):
        parser = configparser.ConfigParser()
        try:
            with open(path, encoding="utf-8") as f:
                parser.read_file(f)
        except (OSError, configparser.Error, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: {error}") from error
        if not parser.has_section("origin"):
            raise ValueError(f"{path}: no [origin] section")
        origin = parser["origin"]
        for key in ("territory", "deliver", "partner_id"):
            if not origin.get(key):
                raise ValueError(f"{path}: [origin] {key} is required")
        self.territory = origin["territory"]
        self.deliver = origin["deliver"]
        self.partner_id = origin["partner_id"]
        self.keys = self._keys(path, "origin", origin)
        self.destinations = {}
        for section in parser.sections():
            if not section.startswith("destination "):
                if section != "origin":
                    raise ValueError(f"{path}: unknown section [{section}]: [origin] or "
                                     f"[destination TERRITORY]")
                continue
            territory = section.split(" ", 1)[1].strip()
            if not territory or territory == self.territory:
                raise ValueError(f"{path}: [{section}] must name another territory than the "
                                 f"origin's")
            values = parser[section]
            if not values.get("ingest"):
                raise ValueError(f"{path}: [{section}] ingest is required")
            self.destinations[territory] = {
                "ingest": values["ingest"],
                "partner_id": values.get("partner_id") or self.partner_id,
                "keys": self._keys(path, section, values),
            }
        if not self.destinations:
            raise ValueError(f"{path}: no [destination TERRITORY] section: where would moves go?")

    @staticmethod
    def _keys(path, section, values):
        key, server = values.get("key"), values.get("server_key")
        if bool(key) != bool(server):
            raise ValueError(f"{path}: [{section}] needs both key and server_key, or neither")
        if not key:
            return None, None
        try:
            return read_key(key, secret=True), read_key(server, secret=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: [{section}] {error}") from error


class Bridge:
    def __init__(self, config):
        self.config = config
        self.partners = {}  # destination territory -> Partner, connected on first need
        self.said = {}  # reason -> when it was last said
        self.stopping = False

    def destination(self, territory):
        if territory not in self.partners:
            d = self.config.destinations[territory]
            secret, server = d["keys"]
            self.partners[territory] = Partner(d["ingest"], d["partner_id"], secret_key=secret,
                                               server_key=server)
        return self.partners[territory]

    def say_once_a_minute(self, reason):
        now = time.monotonic()
        if now - self.said.get(reason, -SAY_AGAIN_SECONDS) >= SAY_AGAIN_SECONDS:
            self.said[reason] = now
            say(reason)

    def hand_over(self, transfer, give_up=None):
        """Sends one move to its destination until it holds it. False when stopping first, or
        when give_up (a time.monotonic() value) passes: the move is not acknowledged, and comes
        again at the next run."""
        while not self.stopping and (give_up is None or time.monotonic() < give_up):
            territory = transfer.destination_territory
            if territory not in self.config.destinations:
                self.say_once_a_minute(
                    f"a move to territory {territory} waits: the configuration has no "
                    f"[destination {territory}]; add it and restart the bridge (the moves after "
                    f"it wait too, in order)")
                time.sleep(RETRY_SECONDS)
                continue
            partner = self.destination(territory)
            event = pb.Event(event_id=transfer.reference, partner_id=partner.partner_id,
                             beneficiary_id=transfer.reference, occurred_at=transfer.moved_at)
            event.transfer_announced.transfer.CopyFrom(transfer)
            try:
                ack = partner.send(event, timeout=10.0)
            except TimeoutError as error:
                self.say_once_a_minute(f"territory {territory}'s daemon does not answer ({error});"
                                       f" the move is sent again")
                continue
            if ack.status in (pb.ACK_STATUS_ACCEPTED, pb.ACK_STATUS_DUPLICATE):
                say(f"move {transfer.reference} from {transfer.origin_territory} handed over to "
                    f"{territory}: {describe(ack)}")
                return True
            self.say_once_a_minute(f"territory {territory}'s daemon refuses move "
                                   f"{transfer.reference}: {describe(ack)}; it is tried again "
                                   f"(mend its partners file, or this bridge's configuration)")
            time.sleep(RETRY_SECONDS)
        return False

    def run(self, idle, start=0):
        secret, server = self.config.keys
        subscription = Subscription(self.config.deliver, self.config.partner_id,
                                    secret_key=secret, server_key=server, start=start)
        try:
            while not self.stopping:
                for n in subscription.notifications(timeout=idle if idle else 1.0):
                    if self.stopping:
                        raise KeyboardInterrupt  # not acknowledged: it comes again
                    if n.withdrawn or not n.HasField("event"):
                        continue  # destroyed since (acknowledged by the destination already)
                    if n.event.WhichOneof("payload") != "transfer_announced":
                        say(f"notification {n.partner_seq} is not a move; a bridge is told of "
                            f"nothing else (check the origin's daemon version)")
                        continue
                    give_up = time.monotonic() + idle if idle else None
                    if not self.hand_over(n.event.transfer_announced.transfer, give_up):
                        if not self.stopping:
                            say(f"stopping after {idle:g} s with move {n.partner_seq} not handed"
                                f" over (--idle): it comes again at the next run")
                        raise KeyboardInterrupt
                if idle:
                    return
        except KeyboardInterrupt:
            pass
        finally:
            subscription.close()
            for partner in self.partners.values():
                partner.close()


def main():
    parser = argparse.ArgumentParser(
        prog="parcours-bridge",
        description="Hands the people who move away from a territory over to the daemons of "
                    "the territories they move to.")
    parser.add_argument("--config", "-c", required=True, metavar="FILE",
                        help="the bridge's configuration (see the module's documentation)")
    parser.add_argument("--idle", type=float, default=0.0, metavar="SECONDS",
                        help="stop after this many seconds without a notification, or trying to"
                             " hand one move over (0: never)")
    parser.add_argument("--from", dest="start", type=int, default=0, metavar="PARTNER_SEQ",
                        help="take the origin's stream again from this partner_seq (after a "
                             "destination was restored from a backup: the moves it lost come "
                             "again, those it holds answer DUPLICATE)")
    args = parser.parse_args()
    try:
        config = Configuration(args.config)
    except ValueError as error:
        parser.exit(2, f"parcours-bridge: {error}\n")
    bridge = Bridge(config)

    def stop(signum, frame):
        bridge.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    say(f"territory {config.territory}'s moves to {', '.join(sorted(config.destinations))}")
    try:
        bridge.run(args.idle, args.start)
    except ConnectionRefused as error:
        say(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
