#!/usr/bin/env bash
# Reproduces every figure of BENCHMARKS.md: each scenario on SQLite and on PostgreSQL, the
# client-count sweep, the table-size sweep, and pgbench as the PostgreSQL yardstick. Each run is
# a `kassa bench` (a fresh server, signed load, the books checked afterwards); the JSON reports
# go to bench-results/<date>/ and a summary table to bench-results/<date>/summary.md.
#
#   scripts/bench.sh                 # everything (about 25 minutes on 2 cores)
#   scripts/bench.sh sqlite          # only the SQLite part
#   scripts/bench.sh postgres        # only the PostgreSQL part
#   DURATION=10 scripts/bench.sh     # shorter runs (the targets are stated for 30 s)
#   BENCH_OUT=bench-results/x scripts/bench.sh   # reports somewhere else than bench-results/<date>
#
# PostgreSQL: a throwaway cluster with the durable defaults (fsync=on, synchronous_commit=on),
# unless KASSA_BENCH_DATABASE_URL names one (kassa's tables and pgbench's go into it).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
duration="${DURATION:-30}"
sweep="${SWEEP_DURATION:-10}"
out="${BENCH_OUT:-bench-results/$(date +%Y-%m-%d)}"
mkdir -p "$out"

say() { printf '\n==> %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
run_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

say "building kassa (release)"
cargo build --release --quiet --bin kassa
kassa="$PWD/target/release/kassa"
{
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "kernel: $(uname -r); rustc: $(rustc --version)"
} | tee "$out/machine.txt" >&2

bench() { # name, then kassa bench arguments
  local name="$1"; shift
  say "$name"
  "$kassa" bench "$@" --report "$out/$name.json" >/dev/null
}

sqlite() {
  for scenario in orders orders-hot mixed; do
    bench "sqlite-$scenario" --scenario "$scenario" --concurrency 64 --duration "$duration"
  done
  # One server, one after the other: the balance target is a share of healthz in the same run.
  bench "sqlite-healthz-balance" --scenario healthz,balance --concurrency 64 --duration "$duration"
  for clients in 1 4 16 64 256; do
    bench "sqlite-orders-c$clients" --scenario orders --concurrency "$clients" --duration "$sweep"
    bench "sqlite-balance-c$clients" --scenario balance --concurrency "$clients" --duration "$sweep"
  done
  for rows in 1000 10000 100000 1000000; do
    bench "sqlite-reads-n$rows" --scenario order-status,order-list --concurrency 16 --duration "$sweep" --wallets 10 --preload "$rows"
  done
  # Open loop at a fixed rate: latency from when each request was due.
  bench "sqlite-orders-open-2k" --scenario orders --concurrency 256 --rate 2000 --duration "$duration"
}

postgres() {
  local url="${KASSA_BENCH_DATABASE_URL:-}" scratch=""
  if [ -z "$url" ]; then
    local bin port
    bin=$(pg_bin_dir); port=$(free_port)
    scratch=$(mktemp -d /tmp/kassa-bench-pg.XXXXXX)
    [ "$(id -u)" -eq 0 ] && chown postgres "$scratch"
    say "starting a throwaway PostgreSQL on port $port (fsync=on, synchronous_commit=on)"
    run_pg "$bin/initdb" -D "$scratch/pg" -U postgres -A trust >/dev/null
    run_pg "$bin/pg_ctl" -D "$scratch/pg" -l "$scratch/pg.log" -w \
      -o "-p $port -k $scratch -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=512MB" start >/dev/null
    trap 'run_pg "$(pg_bin_dir)/pg_ctl" -D "'"$scratch"'/pg" -m fast stop >/dev/null 2>&1; rm -rf "'"$scratch"'"' EXIT
    url="postgres://postgres@127.0.0.1:$port/postgres"
  fi
  export KASSA_DATABASE_URL="$url"
  export KASSA_MASTER_KEY="${KASSA_MASTER_KEY:-$(openssl rand -hex 32)}"
  "$kassa" migrate >/dev/null
  bench "postgres-orders" --scenario orders --concurrency 64 --duration "$duration" --pgbench
  for scenario in orders-hot mixed; do
    bench "postgres-$scenario" --scenario "$scenario" --concurrency 64 --duration "$duration"
  done
  bench "postgres-healthz-balance" --scenario healthz,balance --concurrency 64 --duration "$duration"
  for clients in 1 4 16 64 256; do
    bench "postgres-orders-c$clients" --scenario orders --concurrency "$clients" --duration "$sweep"
  done
  # The table grows from run to run (each adds its orders to the same database): 1k, 11k, 111k, 1.1M.
  for rows in 1000 10000 100000 1000000; do
    bench "postgres-reads-n$rows" --scenario order-status,order-list --concurrency 16 --duration "$sweep" --wallets 10 --preload "$rows"
  done
  unset KASSA_DATABASE_URL
}

case "$which" in
  sqlite) sqlite ;;
  postgres) postgres ;;
  all) sqlite; postgres ;;
  *) echo "usage: $0 [all|sqlite|postgres]" >&2; exit 2 ;;
esac

python3 scripts/bench_summary.py "$out" | tee "$out/summary.md"
