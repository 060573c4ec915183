#!/usr/bin/env bash
# Builds the fuzz_ingest libFuzzer target with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer from the project's sources, generates its seed corpus, fuzzes for a
# bounded time and prints how many inputs ran.
#
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]
#
# SECONDS defaults to 60; PARCOURS_FUZZ_SECONDS overrides it. BUILD_DIR is a configured and
# built CMake build directory (for the generated protobuf-c code in BUILD_DIR/gen); it defaults
# to PARCOURS_BUILD_DIR, then build/sanitize. Findings (crash-*, leak-*, timeout-*, oom-*) are
# saved in PARCOURS_FUZZ_ARTIFACTS (default BUILD_DIR/fuzz-artifacts). The exit status is
# libFuzzer's: 0 when nothing was found.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${PARCOURS_FUZZ_SECONDS:-${1:-60}}"
build="$(cd "${2:-${PARCOURS_BUILD_DIR:-$root/build/sanitize}}" && pwd)"
gen="$build/gen"
artifacts="${PARCOURS_FUZZ_ARTIFACTS:-$build/fuzz-artifacts}"
cc="${PARCOURS_FUZZ_CC:-clang}"

if [ ! -f "$gen/parcours.pb-c.c" ]; then
    echo "fuzz_ingest: $gen/parcours.pb-c.c is missing: build $build first" >&2
    exit 2
fi
if ! command -v "$cc" >/dev/null; then
    echo "fuzz_ingest: $cc is missing: tests/deps.sh installs clang and libclang-rt-14-dev" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/parcours-fuzz-run.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/seeds" "$work/corpus" "$artifacts"

# The project's warnings (as errors) for the target and the generator; the project's sources
# were checked by the build's compiler, and the generated code is compiled as is.
read -ra pkg_cflags <<<"$(pkg-config --cflags libprotobuf-c lmdb libsodium)"
read -ra libs <<<"$(pkg-config --libs libprotobuf-c lmdb libsodium)"
common=(-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-omit-frame-pointer
        -I"$root/common" -I"$root/daemon/rules" -I"$root/daemon/handlers" -I"$root/store" -I"$root/tests/fuzz" -I"$gen"
        "${pkg_cflags[@]}")
warnings=(-Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
          -Wold-style-definition -Wpointer-arith -Wvla -Werror)
sanitize=("-fsanitize=address,undefined" -fno-sanitize-recover=all)
# common/keyfile.c is left out: the daemon's rules and store read no key file.
sources=("$root"/daemon/rules/*.c
         "$root/daemon/handlers/ingest_apply.c" "$root/common/identifier.c" "$root/common/pbwalk.c"
         "$root"/store/*.c "$gen/parcours.pb-c.c")

echo "fuzz_ingest: building with $("$cc" --version | head -n 1)"
objects=()
for src in "${sources[@]}"; do
    # Named by folder too: store/stats.c and daemon/rules/stats.c are two modules.
    obj="$work/$(basename "$(dirname "$src")")-$(basename "$src" .c).o"
    "$cc" "${common[@]}" "${sanitize[@]}" -fsanitize=fuzzer-no-link -c -o "$obj" "$src"
    objects+=("$obj")
done
"$cc" "${common[@]}" "${warnings[@]}" "${sanitize[@]}" -fsanitize=fuzzer -o "$work/fuzz_ingest" \
    "$root/tests/fuzz/fuzz_ingest.c" "${objects[@]}" "${libs[@]}"
"$cc" "${common[@]}" "${warnings[@]}" "${sanitize[@]}" -o "$work/make_corpus" \
    "$root/tests/fuzz/make_corpus.c" "$gen/parcours.pb-c.c" "${libs[@]}"

"$work/make_corpus" "$work/seeds" "$work/fuzz.dict"

# Leaks and undefined behaviour are findings; libFuzzer saves the input and stops.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
export TMPDIR="$work"
echo "fuzz_ingest: fuzzing for $seconds s"
status=0
"$work/fuzz_ingest" -max_total_time="$seconds" -print_final_stats=1 -max_len=8192 \
    -timeout=10 -rss_limit_mb=2048 -dict="$work/fuzz.dict" -artifact_prefix="$artifacts/" \
    "$work/corpus" "$work/seeds" 2>&1 | tee "$work/fuzz.log" || status=${PIPESTATUS[0]}

runs="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/fuzz.log" | tail -n 1)"
took="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/fuzz.log" | tail -n 1)"
if [ "$status" -eq 0 ]; then
    echo "fuzz_ingest: ${runs:-?} executions in ${took:-$seconds} s, no finding"
else
    # Keep the binary beside the reproducer: `$artifacts/fuzz_ingest $artifacts/crash-...`
    # replays it (from an empty store: a finding that needs earlier inputs' state may not).
    cp "$work/fuzz_ingest" "$artifacts/fuzz_ingest"
    echo "fuzz_ingest: FINDING (libFuzzer exit status $status) after ${runs:-?} executions;" \
         "reproducer and binary in $artifacts" >&2
fi
exit "$status"
