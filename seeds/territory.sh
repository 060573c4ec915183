#!/usr/bin/env bash
# A synthetic territory at scale: installs what is missing, builds, starts parcoursd on an
# embedded data directory (build/territory, rebuilt at every run) with a dozen partners and
# their CURVE keys, replays two years of what they did for 10,000 invented people
# (seeds/territory.py: deterministic, dated up to today), lets the daemon write the deadlines
# nobody met, then shows the statistics, draws them (build/territory/stats.svg), counts the
# alerts each partner received, and hands the people who moved to Val-de-Marne over to a second
# daemon (94) through the bridge (docs/transfers.md).
#   seeds/territory.sh                 10,000 people (a few minutes on 2 cores)
#   seeds/territory.sh --people 500    a smaller territory (the CI runs one)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
people=10000
seed=93
while [ $# -gt 0 ]; do
  case "$1" in
    --people) people="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    *) echo "usage: seeds/territory.sh [--people N] [--seed S]" >&2; exit 2 ;;
  esac
done
. tests/deps.sh
parcours_install_deps

build="${PARCOURS_BUILD_DIR:-$root/build/release}"
if [ -z "${PARCOURS_BUILD_DIR:-}" ]; then
  echo "== Building Parcours (release) in $build"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build "$build" -j "$(nproc)" --target parcoursd parcoursctl parcours_proto > /dev/null
fi
parcoursd="$build/daemon/parcoursd"
dir="${PARCOURS_TERRITORY_DIR:-$root/build/territory}"
rm -rf "$dir"
mkdir -p "$dir/keys"
ctl() { "$build/clients/parcoursctl" -c "$dir/parcoursd.conf" "$@"; }
. seeds/daemon.sh

echo "== Keys: the daemon's, one per partner, and the territory's pseudonym key (made now)"
seeds_keys seeds/territory-partners.ini "$dir"
"$build/clients/parcoursctl" territory-key "$dir/territory.key" > /dev/null
# A free port below the kernel's ephemeral range (32768 and up), where outgoing connections
# (other programs', the tests') cannot take it between this choice and the daemon's bind; and
# below the range the tests' harness and the bench choose from (20000 and up).
port() {
  /usr/bin/python3 -c '
import random, socket
while True:
    p = random.randrange(12000, 20000)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
    print(p)
    break'
}
ingest="tcp://127.0.0.1:$(port)"
deliver="tcp://127.0.0.1:$(port)"
# territory_conf DIR INGEST DELIVER TITLE: a territory's daemon on DIR (its store, partners file
# and keys there), durable and over CURVE as in production, quiet but for warnings.
territory_conf() {
  cat > "$1/parcoursd.conf" <<CONF
; $4 (seeds/territory.sh), rebuilt at every run.
[store]
path = $1/data
[ingest]
endpoint = $2
[deliver]
endpoint = $3
[partners]
file = $1/partners.ini
[security]
curve = yes
secret_key = $1/keys/parcoursd.secret
[http]
listen =
[log]
level = warning
CONF
}
territory_conf "$dir" "$ingest" "$deliver" "The territory at scale"
# Two years replayed in a second or two arrive in rounds: a deadline met in the past would be
# seen missed between the round of its clock and the round of its step. So the replay runs with
# the deadlines off, and the daemon is started again with them on: it indexes every pathway then
# (its [deadlines] changed), from the whole history.
cp "$dir/parcoursd.conf" "$dir/parcoursd-replay.conf"
printf '[deadlines]\norientation_days = 0\ncontract_days = 0\nreferent_days = 0\ninactivity_days = 0\n' \
  >> "$dir/parcoursd-replay.conf"
"$parcoursd" -n -c "$dir/parcoursd.conf" > /dev/null

echo "== Starting parcoursd (log: $dir/parcoursd.log)"
seeds_start "$dir/parcoursd-replay.conf" "$dir/parcoursd.log"

echo
echo "== Replaying two years of the partners' acts"
/usr/bin/python3 seeds/territory.py --people "$people" --seed "$seed" --endpoint "$ingest" \
  --keys "$dir/keys" --server-key "$dir/keys/parcoursd.public" \
  --territory-key "$dir/territory.key"

echo
echo "== Today: parcoursd again, with the territory's deadlines (log: $dir/parcoursd.log)"
seeds_stop
seeds_start "$dir/parcoursd.conf" "$dir/parcoursd.log"

echo
echo "== The deadlines nobody met: parcoursd writes them itself, a batch a second"
for _ in $(seq 600); do
  due=$(ctl due --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  [ "$due" = "0" ] && break
  sleep 0.5
done
ctl due --within 14d | head -8 || true

echo
echo "== The statistics for the comite territorial pour l'emploi"
ctl stats
ctl stats --svg "$dir/stats.svg" > /dev/null
echo "(drawn in $dir/stats.svg)"

echo
echo "== The alerts each partner received (DeadlineMissed in its stream)"
for partner in $(sed -n 's/^\[\(.*\)\]$/\1/p' seeds/territory-partners.ini); do
  n=$(ctl tail --as "$partner" --idle 1 --no-ack --json | grep -c '"type":"DeadlineMissed"' || true)
  printf '  %-18s %s\n' "$partner" "$n"
done

echo
echo "== Moving away: Val-de-Marne (94) has a daemon of its own, and a bridge joins the two"
dir94="$dir/94"
seeds_keys seeds/territory-94-partners.ini "$dir94"
"$build/clients/parcoursctl" territory-key "$dir94/territory.key" > /dev/null
ingest94="tcp://127.0.0.1:$(port)"
territory_conf "$dir94" "$ingest94" "tcp://127.0.0.1:$(port)" \
  "Val-de-Marne (94), where some of the territory's people move"
seeds_start "$dir94/parcoursd.conf" "$dir94/parcoursd.log"
ctl94() { "$build/clients/parcoursctl" -c "$dir94/parcoursd.conf" "$@"; }
cat > "$dir/bridge.ini" <<INI
; The bridge between 93 and 94 (clients/python/parcours_bridge.py, docs/transfers.md): a partner
; of both daemons, with its own key in each.
[origin]
territory = 93
deliver = $deliver
partner_id = bridge-idf
key = $dir/keys/bridge-idf.secret
server_key = $dir/keys/parcoursd.public
[destination 94]
ingest = $ingest94
key = $dir94/keys/bridge-idf.secret
server_key = $dir94/keys/parcoursd.public
INI
/usr/bin/python3 clients/python/parcours_bridge.py -c "$dir/bridge.ini" --idle 3 \
  2> "$dir/bridge.log"
echo "  the bridge handed $(grep -c 'handed over' "$dir/bridge.log" || true) moves over to 94" \
  "(log: $dir/bridge.log)"
ctl94 tail --as cd94 --idle 1 --json > "$dir94/cd94.jsonl"
echo "  94's departement was told of $(grep -c '"transfer_announced"' "$dir94/cd94.jsonl" || true)" \
  "moves, each a reference, the two territories and a date: nothing of the person's past"
# The CAF of 94 registers each person who arrives, under 94's own pseudonym of them, naming the
# move whose reference came with their file.
/usr/bin/python3 - "$dir94/cd94.jsonl" "$dir94/territory.key" > "$dir94/arrivals.jsonl" <<'PY'
import hashlib, hmac, json, sys
key = bytes.fromhex(open(sys.argv[2]).read().strip())
for line in open(sys.argv[1]):
    t = (json.loads(line).get("event") or {}).get("transfer_announced")
    if t:
        ref = t["transfer"]["reference"]
        person = hmac.new(key, f"arriving-{ref}".encode(), hashlib.sha256).hexdigest()
        print(json.dumps({"type": "BeneficiaryRegistered", "as": "caf94", "beneficiary": person,
                          "rsa_recipient": True, "origin_reference": ref}))
PY
ctl94 emit --json "$dir94/arrivals.jsonl" --output json > "$dir94/arrivals.acks"
echo "  the CAF of 94 registered $(grep -c 'ACCEPTED' "$dir94/arrivals.acks" || true) of them" \
  "there, their deadlines counted from the arrival:"
ctl94 due --within 60d | head -4 || true

echo
echo "== Status"
ctl status | head -12 || true
echo
echo "The territory's data stays in $dir; run seeds/territory.sh again to start afresh."
