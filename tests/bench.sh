#!/usr/bin/env bash
# Builds Parcours optimised (no sanitizers) and prints parcours-bench's figures, side by side in
# one run: durable ingest with CURVE (as in production) with 1 and 8 pipelined clients, then 8
# clients with 8 live subscribers each told of every event, 8 clients with one subscriber that
# never acknowledges (G5: it must not slow ingest), 8 clients without CURVE for the cost of
# encryption, then 8 clients with CURVE while hot backups run back to back (what a backup costs
# ingest, next to the second row). A benchmark prints; it judges nothing.
#   tests/bench.sh [EVENTS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. tests/deps.sh
parcours_install_deps
build="$root/build/release"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j "$(nproc)" --target parcoursd parcours-bench > /dev/null
events="${1:-200000}"
bench() {
  "$build/tests/parcours-bench" --daemon "$build/daemon/parcoursd" --window 200 \
    --events "$events" --beneficiaries 10000 --ids pseudonyms "$@"
}
echo "parcours-bench on $(nproc) cores, $(date -u +%Y-%m-%d), $(uname -m)"
bench --clients 1
bench --clients 8
bench --clients 8 --subscribers 8
bench --clients 8 --subscribers 1 --stalled yes
bench --clients 8 --curve no
bench --clients 8 --backup yes
