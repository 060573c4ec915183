#!/usr/bin/env bash
# Builds Parcours optimised (no sanitizers) and prints parcours-bench's figures, side by side in
# one run: durable ingest with CURVE (as in production) with 1 and 8 pipelined clients, then 8
# clients with 8 live subscribers each told of every event, 8 clients with one subscriber that
# never acknowledges (G5: it must not slow ingest), 8 clients without CURVE for the cost of
# encryption, then 8 clients with CURVE while hot backups run back to back (what a backup costs
# ingest, next to the second row). A benchmark prints; it judges nothing.
#   tests/bench.sh [EVENTS]
#   tests/bench.sh --peers [ROUNDS]   Parcours beside Redis, NATS JetStream and PostgreSQL, in the
#                                     same run, rows interleaved round after round (3 by
#                                     default), then each row's median and Parcours's ratios
#   tests/bench.sh --national         the national scale simulated (docs/national-scale.md):
#                                     several territories' daemons fed by one publisher
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. tests/deps.sh
parcours_install_deps
build="$root/build/release"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j "$(nproc)" --target parcoursd parcours-bench > /dev/null
if [ "${1:-}" = "--national" ]; then
  cmake --build "$build" -j "$(nproc)" --target parcours_python_proto > /dev/null
  for k in 1 4 8; do
    PARCOURS_PB_DIR="$build/gen/python" /usr/bin/python3 tests/bench/national.py \
      --daemon "$build/daemon/parcoursd" --territories "$k" --people $((10000 * k)) --rounds 5
  done
  exit 0
fi
peers=0
if [ "${1:-}" = "--peers" ]; then
  peers=1
  shift
fi
events="${1:-200000}"
bench() {
  "$build/tests/parcours-bench" --daemon "$build/daemon/parcoursd" --window 200 \
    --events "$events" --beneficiaries 10000 --ids pseudonyms "$@"
}
echo "parcours-bench on $(nproc) cores, $(date -u +%Y-%m-%d), $(uname -m)"
if [ "$peers" -eq 0 ]; then
  bench --clients 1
  bench --clients 8
  bench --clients 8 --subscribers 8
  bench --clients 8 --fanout realistic
  bench --clients 8 --mix realistic
  bench --clients 8 --mix realistic --fanout realistic
  bench --clients 8 --subscribers 1 --stalled yes
  bench --clients 8 --curve no
  bench --clients 8 --backup yes
  exit 0
fi

# --- Side by side with the peers (tests/bench/peers.sh says what each does) ------------------
rounds="${1:-3}"
. tests/bench/peers.sh
peers_install
peers_nats_bench="$build/nats-bench"
cc -O2 -o "$peers_nats_bench" tests/bench/nats_bench.c $(pkg-config --cflags --libs libnats)
trap peers_stop_all EXIT
# One line per run, as peers.sh prints them: "<system> <setup> events/s N p50 X p99 Y".
parcours_row() {
  local setup="$1"
  shift
  bench "$@" | awk -v s="$setup" '
    /events\/s/ { eps = $2 } /ack latency ms/ { p50 = $5; p99 = $7 }
    END { printf "parcours %s events/s %s p50 %s p99 %s\n", s, eps, p50, p99 }'
}
results="$(mktemp)"
for round in $(seq "$rounds"); do
  echo "== round $round of $rounds"
  # Not a pipe: the rows run in this shell, so that the servers they start are known to the
  # EXIT trap that stops them.
  round_out="$(mktemp)"
  {
    parcours_row durable-curve-c8 --clients 8 --events 100000
    # The same depth in flight as redis-benchmark -c 8 -P 32: 8 x 32.
    parcours_row durable-curve-c8-w32 --clients 8 --window 32 --events 100000
    # A territory's store: a million pathways registered before the load.
    parcours_row durable-curve-c8-1M --clients 8 --events 100000 --preload 1000000
    peers_redis 8 32 100000
    peers_nats default async 100000
    peers_postgres 8 5
    peers_nats sync-writes async 5000
    parcours_row durable-curve-c1-sync --clients 1 --window 1 --events 3000
    peers_redis 1 1 3000
    peers_nats default sync 3000
    peers_postgres 1 5
  } > "$round_out"
  cat "$round_out"
  cat "$round_out" >> "$results"
  rm -f "$round_out"
done
# Latency under a moderate load: half the median rate of the 8-client rows, without subscribers,
# then with the realistic fan-out subscribed (publish to notification).
half="$(awk '$1 == "parcours" && $2 == "durable-curve-c8" { print $4 }' "$results" | sort -n |
  awk '{ v[NR] = $1 } END { print int(v[int((NR + 1) / 2)] / 2) }')"
echo "== at half the maximum rate ($half events/s)"
bench --clients 8 --events $((half * 10)) --rate "$half"
bench --clients 8 --events $((half * 10)) --rate "$half" --fanout realistic
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 8 or f[2] != "events/s" or f[3] == "-":
        continue
    rows.setdefault((f[0], f[1]), []).append((float(f[3]), f[5], f[7]))
def med(values):
    values = [float(v) for v in values if v not in ("-", "")]
    return statistics.median(values) if values else None
print("\nmedians of the rounds (events/s; ack latency ms p50 / p99):")
summary = {}
for (system, setup), runs in rows.items():
    eps, p50, p99 = med(r[0] for r in runs), med(r[1] for r in runs), med(r[2] for r in runs)
    summary[(system, setup)] = (eps, p50, p99)
    lat = f"{p50:.2f} / {p99:.2f}" if p50 is not None else "-"
    print(f"  {system:9} {setup:24} {eps:9.0f}   {lat}   ({len(runs)} runs)")
def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"
c8 = summary.get(("parcours", "durable-curve-c8"), (None,))[0]
w32 = summary.get(("parcours", "durable-curve-c8-w32"), (None,))[0]
m1 = summary.get(("parcours", "durable-curve-c8-1M"), (None,))[0]
c1 = summary.get(("parcours", "durable-curve-c1-sync"), (None, None))[1]
print("\nParcours / peer, throughput with 8 clients (above 1: Parcours faster; window 200, 32 as"
      " redis -P 32, and window 200 over a million pathways):")
for key in (("redis", "always-c8-P32"), ("nats", "default-async"), ("postgres", "sync-commit-c8"),
            ("nats", "sync-writes-async")):
    if key in summary:
        print(f"  {key[0]} {key[1]:22} {ratio(c8, summary[key][0])}  "
              f"{ratio(w32, summary[key][0])}  {ratio(m1, summary[key][0])}")
print("peer / Parcours, ack p50 of one synchronous client (above 1: Parcours faster):")
for key in (("redis", "always-c1-P1"), ("nats", "default-sync"), ("postgres", "sync-commit-c1")):
    if key in summary and summary[key][1]:
        print(f"  {key[0]} {key[1]:22} {ratio(summary[key][1], c1)}")
PY
rm -f "$results"
