#!/usr/bin/env bash
# Builds Parcours optimised (no sanitizers) and prints parcours-bench's figures: durable ingest
# with 1 and with 8 pipelined clients. A benchmark prints; it judges nothing.
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
echo "parcours-bench on $(nproc) cores, $(date -u +%Y-%m-%d), $(uname -m)"
for clients in 1 8; do
  "$build/tests/parcours-bench" --daemon "$build/daemon/parcoursd" --clients "$clients" \
    --window 200 --events "$events" --beneficiaries 10000
done
