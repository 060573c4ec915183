#!/usr/bin/env bash
# The peers of tests/bench.sh --peers: Redis 7, NATS JetStream and PostgreSQL 15, each from
# Debian, each local (Redis and NATS on loopback, PostgreSQL on a unix socket, its fastest local
# path) on a temporary directory of its own, started and stopped by pid,
# doing what stands for one of Parcours's events (README.md, "Benchmarks"; the setups are those
# the project compares with):
#   Redis       appendfsync always; one EVAL: XADD to a stream + HINCRBY of the beneficiary's
#               version, random beneficiaries among 10,000 (as Parcours's rows), 200-byte
#               payloads; redis-benchmark -c 8 -P 32
#               (and -c 1 -P 1: one synchronous client)
#   NATS        JetStream file store, one replica, a unique Nats-Msg-Id per message: its
#               default (no fsync before the ack) and, where the file system allows it, every
#               write synchronous (chattr +S on the store directory); tests/bench/nats_bench.c
#   PostgreSQL  synchronous_commit on: one transaction INSERTs the event, UPSERTs the
#               beneficiary's version, pg_notify; pgbench -M prepared -c 8 -j 2 (and -c 1)
# Each function prints one line: "<peer> <setup> events/s N p50 X p99 Y" (ms; "-" if none).
# Sourced by tests/bench.sh; every server it starts is stopped by peers_stop_all.

peers_pids=()
peers_dirs=()
peers_payload="$(printf 'x%.0s' $(seq 1 200))"
peers_redis_script="redis.call('XADD','events','*','b',ARGV[1],'p',ARGV[2]) return redis.call('HINCRBY','v:'..ARGV[1],'n',1)"

peers_install() {
  local missing=() p
  for p in redis-server redis-tools nats-server libnats-dev postgresql e2fsprogs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing the peers' Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
}

peers_stop_all() {
  local pid
  for pid in "${peers_pids[@]}"; do
    kill "$pid" 2> /dev/null || true
  done
  for pid in "${peers_pids[@]}"; do
    while kill -0 "$pid" 2> /dev/null; do sleep 0.1; done
  done
  peers_pids=()
  local d
  for d in "${peers_dirs[@]}"; do
    chattr -R -S "$d" 2> /dev/null || true
    rm -rf "$d"
  done
  peers_dirs=()
}

# A server stopped by its own function: the EXIT trap must not signal its pid, which the system
# may give another process.
peers_forget() {
  local keep=() p
  for p in "${peers_pids[@]}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  peers_pids=("${keep[@]}")
}

# A temporary directory in $peers_dir, remembered for peers_stop_all (not echoed: a command
# substitution would remember it in a subshell).
peers_tmp() {
  peers_dir="$(mktemp -d "${TMPDIR:-/tmp}/parcours-peer-XXXXXX")"
  peers_dirs+=("$peers_dir")
}

peers_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# redis CLIENTS PIPELINE EVENTS
peers_redis() {
  local clients="$1" pipeline="$2" events="$3" dir port pid line
  peers_tmp
  dir="$peers_dir"
  port="$(peers_free_port)"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
    --appendfsync always --save "" --daemonize no > "$dir/log" 2>&1 &
  pid=$!
  peers_pids+=("$pid")
  local tries=0
  until redis-cli -p "$port" ping > /dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 200 ] || { echo "redis did not start: $(tail -3 "$dir/log")" >&2; return 1; }
    sleep 0.05
  done
  line="$(redis-benchmark -p "$port" -c "$clients" -P "$pipeline" -n "$events" -r 10000 \
    --csv EVAL "$peers_redis_script" 0 p93-__rand_int__ "$peers_payload" | tail -1)"
  redis-cli -p "$port" shutdown nosave > /dev/null 2>&1 || kill "$pid"
  while kill -0 "$pid" 2> /dev/null; do sleep 0.05; done
  peers_forget "$pid"
  # "test","rps","avg","min","p50","p95","p99","max"
  echo "$line" | awk -F'","' -v c="$clients" -v p="$pipeline" '{
    gsub(/"/, "", $NF); printf "redis always-c%s-P%s events/s %.0f p50 %s p99 %s\n", c, p, $2, $5, $7 }'
}

# nats SETUP(default|sync-writes) MODE(async|sync) EVENTS
peers_nats() {
  local setup="$1" mode="$2" events="$3" dir port pid out
  peers_tmp
  dir="$peers_dir"
  port="$(peers_free_port)"
  if [ "$setup" = "sync-writes" ] && ! chattr +S "$dir" 2> /dev/null; then
    echo "nats $setup-$mode events/s - p50 - p99 - (chattr +S refused by this file system)"
    return 0
  fi
  nats-server -js -sd "$dir" -a 127.0.0.1 -p "$port" > "$dir/log" 2>&1 &
  pid=$!
  peers_pids+=("$pid")
  local i
  for i in $(seq 100); do
    (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break
    sleep 0.05
  done
  out="$("$peers_nats_bench" "nats://127.0.0.1:$port" "$events" $([ "$mode" = sync ] && echo --sync))"
  kill "$pid"
  while kill -0 "$pid" 2> /dev/null; do sleep 0.05; done
  peers_forget "$pid"
  echo "$out" | awk -v s="$setup-$mode" '
    /events\/s/ { eps = $2 } /ack latency/ { p50 = $5; p99 = $7 }
    END { printf "nats %s events/s %s p50 %s p99 %s\n", s, eps, p50 ? p50 : "-", p99 ? p99 : "-" }'
}

# postgres CLIENTS SECONDS
peers_postgres() {
  local clients="$1" seconds="$2" dir port bin run=() out
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  peers_tmp
  dir="$peers_dir"
  port="$(peers_free_port)"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bin/initdb" -D "$dir/data" -A trust -U bench > /dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses='' -c synchronous_commit=on -c fsync=on" start > /dev/null
  local pg_pid
  pg_pid="$(head -1 "$dir/data/postmaster.pid")"
  peers_pids+=("$pg_pid")
  "$bin/psql" -q -h "$dir" -p "$port" -U bench postgres -c \
    "CREATE TABLE events (id bigserial PRIMARY KEY, b text NOT NULL, payload text NOT NULL);
     CREATE TABLE state (b text PRIMARY KEY, version bigint NOT NULL);" > /dev/null
  cat > "$dir/event.sql" <<EOF
\\set b random(1, 10000)
BEGIN;
INSERT INTO events (b, payload) VALUES ('p93-' || :b, '$peers_payload');
INSERT INTO state (b, version) VALUES ('p93-' || :b, 1)
  ON CONFLICT (b) DO UPDATE SET version = state.version + 1;
SELECT pg_notify('events', 'p93-' || :b);
END;
EOF
  chmod a+r "$dir/event.sql"
  out="$(cd "$dir" && "${run[@]}" "$bin/pgbench" -h "$dir" -p "$port" -U bench -n -M prepared \
    -c "$clients" -j 2 -T "$seconds" -f "$dir/event.sql" -l --log-prefix="$dir/lat" postgres 2>&1)"
  local tps
  tps="$(echo "$out" | awk '/^tps/ { print $3; exit }')"
  # pgbench -l: one line per transaction, its latency in microseconds in the third column.
  cat "$dir"/lat.* | awk '{ print $3 }' | sort -n > "$dir/lat.sorted"
  local n p50 p99
  n="$(wc -l < "$dir/lat.sorted")"
  p50="$(awk -v n="$n" 'NR == int(n * 0.50) + 1 { printf "%.2f", $1 / 1000; exit }' "$dir/lat.sorted")"
  p99="$(awk -v n="$n" 'NR == int(n * 0.99) + 1 { printf "%.2f", $1 / 1000; exit }' "$dir/lat.sorted")"
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null
  peers_forget "$pg_pid"
  printf "postgres sync-commit-c%s events/s %.0f p50 %s p99 %s\n" "$clients" "$tps" "$p50" "$p99"
}
