#!/usr/bin/env bash
# The test command: installs what is missing, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer (warnings are errors), and runs the whole suite through ctest.
# Then a second, plain build (no sanitizers: valgrind cannot run an ASan binary) runs the tests
# labelled valgrind: parcoursd under memcheck (G11).
#   tests/run.sh             the whole suite
#   tests/run.sh -R store    only the tests whose name matches (any ctest arguments pass through)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. tests/deps.sh
parcours_install_deps
# The Node.js example partner's test (clients/node): Node.js and npm from Debian when either is
# missing (a machine with another Node.js keeps it), then its packages from the lockfile.
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends nodejs npm
fi
(cd clients/node && npm ci --no-audit --no-fund --loglevel=error)

build="${PARCOURS_BUILD_DIR:-$root/build/sanitize}"
valgrind_build="${PARCOURS_VALGRIND_BUILD_DIR:-$root/build/valgrind}"
jobs="$(nproc)"
cmake -S . -B "$build" -DPARCOURS_SANITIZE=ON -DPARCOURS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j "$jobs"
# Leaks are errors too; abort on the first sanitizer report so that ctest shows it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$build"
status=0
# The integration tests take their ports for a whole test process (tests/integration/harness.py,
# free_port): what a killed run left is not taken any more.
rm -rf "${TMPDIR:-/tmp}/parcours-it-ports"
ctest --output-on-failure --timeout 900 -j "$jobs" "$@" || status=$?
# ctest shows a passing test's output only in its log: print the figures the tests measured
# (fuzz executions, crash kills, memory bounds, full disk, backup) so that every run shows them.
grep -h -o -E '(fuzz_ingest|crash test|power loss|no-oracle|G5|G8|G9)( \([^)]*\))?: .*' Testing/Temporary/LastTest.log 2> /dev/null || true

# The valgrind half of G11, on a plain build (same ctest arguments, so `-R store` selects none).
cd "$root"
cmake -S . -B "$valgrind_build" -DPARCOURS_SANITIZE=OFF -DPARCOURS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$valgrind_build" -j "$jobs"
cd "$valgrind_build"
ctest --output-on-failure --timeout 900 -j "$jobs" -L valgrind "$@" || status=$?
grep -h -o -E 'valgrind( \([a-z ]+\))?: .*' Testing/Temporary/LastTest.log 2> /dev/null || true
exit "$status"
