#!/usr/bin/env bash
# Runs kassa's whole test suite: unit tests, property tests and the behavioural suite against
# real servers. Installs what the tests need and is missing (on Debian: the JDK for the seed's
# Java example, Python's `requests` for its Python example, cargo-nextest).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v java >/dev/null || need_apt+=(default-jdk-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${need_apt[@]}"
fi
if ! python3 -c 'import requests' 2>/dev/null; then
  say "installing Python requests"
  python3 -m pip install --quiet requests || python3 -m pip install --quiet --break-system-packages requests
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

say "running the test suite"
cargo nextest run --workspace --no-fail-fast "$@"
