#!/usr/bin/env bash
# What seeds/demo.sh and seeds/territory.sh share, sourced by both: the CURVE keys of a daemon
# and its partners, made at run time and never committed, and a parcoursd started in the
# background, waited for, and stopped when the script exits. The caller defines ctl (its
# parcoursctl with -c of its configuration), parcoursd (the daemon's binary) and build (the build
# folder).

# seeds_keys PARTNERS_FILE DIR: the daemon's key pair in DIR/keys, one pair per partner of
# PARTNERS_FILE, and DIR/partners.ini, the file with each section's public_key line added.
seeds_keys() {
  local partners="$1" dir="$2" partner line
  mkdir -p "$dir/keys"
  ctl keygen parcoursd --dir "$dir/keys" > /dev/null 2>&1
  cp "$partners" "$dir/partners.ini"
  for partner in $(sed -n 's/^\[\(.*\)\]$/\1/p' "$partners"); do
    line=$(ctl keygen "$partner" --dir "$dir/keys" 2> /dev/null)
    awk -v section="[$partner]" -v line="$line" '{ print } $0 == section { print line }' \
      "$dir/partners.ini" > "$dir/partners.tmp"
    mv "$dir/partners.tmp" "$dir/partners.ini"
  done
}

# seeds_start CONF LOG: starts parcoursd -c CONF (stderr to LOG), waits until it answers, and
# stops it (SIGTERM, then its exit waited for) when the script exits. May be called for more
# than one daemon: all are stopped.
seeds_daemons=()
seeds_start() {
  local conf="$1" log="$2" pid
  "$parcoursd" -c "$conf" 2>> "$log" &
  pid=$!
  seeds_daemons+=("$pid")
  trap seeds_stop EXIT
  for _ in $(seq 100); do
    "$build/clients/parcoursctl" -c "$conf" --timeout 200 status > /dev/null 2>&1 && return 0
    kill -0 "$pid" 2> /dev/null || { cat "$log"; exit 1; }
    sleep 0.1
  done
  echo "parcoursd did not answer within 10 s (log: $log)" >&2
  exit 1
}

seeds_stop() {
  local pid
  for pid in "${seeds_daemons[@]}"; do
    if kill -0 "$pid" 2> /dev/null; then
      kill -TERM "$pid"
      wait "$pid" || true
    fi
  done
}
