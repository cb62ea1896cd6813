#!/usr/bin/env bash
# A long schema-driven fuzzing run: schemathesis generates requests from openapi.json against a
# real `kassa serve` (release build) and checks every answer. CI runs a shorter form of the same
# in the test suite (crates/kassa/tests/suite/schemathesis.rs).
#
#   scripts/schemathesis.sh              # 300 examples per operation, embedded SQLite
#   scripts/schemathesis.sh 1000         # more
#   KASSA_DATABASE_URL=postgres://... KASSA_MASTER_KEY=<hex> scripts/schemathesis.sh
#
# Prints schemathesis' summary, including how many cases were generated, and the seed that
# reproduces the run (`st run ... --seed N`).
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-300}"
st --version >/dev/null 2>&1 || python3 -m pip install --quiet "schemathesis==4.32.5"
cargo build --release --quiet --bin kassa
kassa="$PWD/target/release/kassa"
scratch=$(mktemp -d /tmp/kassa-schemathesis.XXXXXX)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$scratch"' EXIT
export KASSA_DATA_DIR="$scratch/data" KASSA_LOG=warn
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "==> preparing a customer, services and a key"
"$kassa" migrate >/dev/null
customer=$("$kassa" admin customer create --email "fuzz-$(date +%s)@example.com" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$kassa" admin wallet credit --customer "$customer" --amount 1000000 --json >/dev/null
"$kassa" admin service create --name Likes --category Social --type default --price-per-1000 0.45 --min 10 --max 10000 --json >/dev/null
"$kassa" admin service create --name Comments --category Social --type custom_comments --price-per-1000 2 --min 1 --max 100 --json >/dev/null
"$kassa" admin key create --customer "$customer" --rate-limit-per-minute 100000000 --json > "$scratch/key.json"
export KASSA_API_KEY KASSA_API_SECRET
KASSA_API_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_key"])' "$scratch/key.json")
KASSA_API_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_secret"])' "$scratch/key.json")

echo "==> kassa serve on 127.0.0.1:$port"
"$kassa" serve --listen "127.0.0.1:$port" --no-worker > "$scratch/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

echo "==> schemathesis, $examples examples per operation"
cd "$scratch"
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$OLDPWD/tests/schemathesis" \
  st --config-file "$OLDPWD/tests/schemathesis/schemathesis.toml" run "$OLDPWD/openapi.json" \
  --url "http://127.0.0.1:$port" --checks all --exclude-checks ignored_auth,positive_data_acceptance \
  --max-examples "$examples"
if grep -q ' 5[0-9][0-9] ' "$scratch/serve.log"; then
  echo "the server logged 5xx answers:"; grep ' 5[0-9][0-9] ' "$scratch/serve.log"; exit 1
fi
