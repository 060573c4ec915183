#!/usr/bin/env bash
# The demo territory (Seine-Saint-Denis, synthetic): installs what is missing, builds, starts
# parcoursd on an embedded data directory (build/demo, rebuilt at every run), replays the demo
# partners' events (seeds/scenario.jsonl), shows the pathways and what each partner was told,
# exports one person, erases another, shows the retention's dry run, stops the daemon and
# verifies the access journal.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. tests/deps.sh
parcours_install_deps

build="$root/build/release"
echo "== Building Parcours (release) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j "$(nproc)" --target parcoursd parcoursctl > /dev/null
parcoursd="$build/daemon/parcoursd"
conf="$root/seeds/parcoursd.conf"
ctl() { "$build/clients/parcoursctl" -c "$conf" "$@"; }
. seeds/daemon.sh

rm -rf "$root/build/demo"
# CURVE keys, made now and never committed: the daemon's pair, and one pair per partner, whose
# public key goes into the demo's partners file (seeds/partners.ini plus a public_key line in
# each section). parcoursctl finds them through [security] secret_key in the configuration.
echo "== Making the CURVE keys of the daemon and of each partner (build/demo/keys)"
seeds_keys seeds/partners.ini "$root/build/demo"
echo "== Checking the configuration"
"$parcoursd" -n -c "$conf"

echo "== Starting parcoursd (log: build/demo/parcoursd.log)"
seeds_start "$conf" "$root/build/demo/parcoursd.log"

echo
echo "== The partners of the territory"
ctl partners

echo
echo "== Replaying the partners' events (seeds/scenario.jsonl); the last six are refused"
ctl emit --json seeds/scenario.jsonl || true

for b in B-93-0001 B-93-0002 B-93-0003 B-93-0004; do
  echo
  echo "== Pathway of $b"
  ctl show "$b"
done

echo
echo "== History of B-93-0001"
ctl history B-93-0001

echo
echo "== History of B-93-0003 (a suspension-remobilisation decided and lifted by the departement)"
ctl history B-93-0003

if ctl help 2>&1 | grep -q '^  tail'; then
  for p in cd93 ft93 ml93 capemploi93 ccas-est93 formapro93 logistique93; do
    echo
    echo "== What $p was told"
    ctl tail --as "$p" --idle 1 || true
  done
fi

# The tails have ended; their connections stop counting at the next heartbeats.
sleep 2.5
echo
echo "== Status"
ctl status

echo
echo "== A hot backup, taken while the daemon serves (restore: parcoursd --restore, README)"
rm -rf "$root/build/demo/backup"
ctl backup "$root/build/demo/backup"

echo
echo "== The right of access: everything held about B-93-0002, and who was told (RGPD art. 15)"
ctl export B-93-0002

echo
echo "== Erasure of B-93-0004 at its request: every partner told of it gets an Erasure notice"
ctl erase B-93-0004 --reason request --yes
ctl show B-93-0004 || true

echo
echo "== What the retention would destroy today (none: the demo's pathways are recent)"
ctl purge --dry-run

seeds_stop
echo
echo "== The access journal: who did what (uid, admin key or partner; persons as hashes)"
tail -n 5 "$root/build/demo/journal/"*.journal | cut -f 2-6
ctl journal verify
trap - EXIT
echo
echo "The demo's data stays in build/demo; run seeds/demo.sh again to start afresh."
