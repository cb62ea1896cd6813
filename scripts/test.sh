#!/usr/bin/env bash
# Runs kassa's whole test suite: unit tests, property tests and the behavioural suite against
# real servers, on SQLite and on PostgreSQL, with Redis for the cluster rate-limit tests.
#
# It uses the PostgreSQL and Redis named by KASSA_TEST_DATABASE_URL / KASSA_TEST_REDIS_URL when
# they are set; otherwise it starts a throwaway PostgreSQL (initdb + pg_ctl on a free port in a
# temporary directory) and a throwaway redis-server, and stops them at the end. What the tests
# need and is missing is installed from the OS packages (Debian/Ubuntu): PostgreSQL, Redis, a JDK
# for the seed's Java example, Chromium for the docs page, Python's `requests` for the seed's
# Python example, schemathesis (PyPI) for the schema-driven API fuzzing, and cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v java >/dev/null || need_apt+=(default-jdk-headless)
[ -n "${KASSA_TEST_DATABASE_URL:-}" ] || [ -n "$(pg_bin_dir)" ] || need_apt+=(postgresql)
[ -n "${KASSA_TEST_REDIS_URL:-}" ] || command -v redis-server >/dev/null || need_apt+=(redis-server)
# Headless Chromium renders the /docs page (a test checks it and leaves a screenshot in target/).
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}"
fi
if ! python3 -c 'import requests' 2>/dev/null; then
  say "installing Python requests"
  python3 -m pip install --quiet requests || python3 -m pip install --quiet --break-system-packages requests
fi
# Schemathesis fuzzes the API from openapi.json; its hooks use one internal API, so the version is pinned.
SCHEMATHESIS_VERSION=4.32.5
if ! st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  say "installing schemathesis $SCHEMATHESIS_VERSION"
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" \
    || python3 -m pip install --quiet --break-system-packages "schemathesis==$SCHEMATHESIS_VERSION"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

scratch=$(mktemp -d /tmp/kassa-test.XXXXXX)
cleanup() {
  if [ -f "$scratch/pg/PG_VERSION" ]; then
    run_pg "$(pg_bin_dir)/pg_ctl" -D "$scratch/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -f "$scratch/redis.pid" ]; then kill "$(cat "$scratch/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# PostgreSQL refuses to run as root; a throwaway cluster runs as the `postgres` user then.
run_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ -z "${KASSA_TEST_DATABASE_URL:-}" ]; then
  bin=$(pg_bin_dir)
  port=$(free_port)
  say "starting a throwaway PostgreSQL ($bin) on port $port"
  mkdir -p "$scratch/pg"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$scratch" && chmod 755 "$scratch"
  run_pg "$bin/initdb" -D "$scratch/pg" -U postgres -A trust --no-sync >/dev/null
  # fsync off: this cluster holds test data only; kassa's own durability is tested by killing kassa.
  run_pg "$bin/pg_ctl" -D "$scratch/pg" -l "$scratch/pg.log" -w \
    -o "-p $port -k $scratch -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  export KASSA_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
fi
export KASSA_TEST_PG_BIN="${KASSA_TEST_PG_BIN:-$(pg_bin_dir)}"

if [ -z "${KASSA_TEST_REDIS_URL:-}" ]; then
  port=$(free_port)
  say "starting a throwaway redis-server on port $port"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --pidfile "$scratch/redis.pid" --logfile "$scratch/redis.log" --dir "$scratch"
  for _ in $(seq 50); do [ -f "$scratch/redis.pid" ] && break; sleep 0.1; done
  export KASSA_TEST_REDIS_URL="redis://127.0.0.1:$port"
fi

say "running the test suite (PostgreSQL: ${KASSA_TEST_DATABASE_URL%%\?*}, Redis: $KASSA_TEST_REDIS_URL)"
cargo nextest run --workspace --no-fail-fast "$@"
