#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 300) and prints its execution count.
# Not part of CI: fuzzing matters when it runs long. cargo-fuzz needs nightly features; with the
# stable toolchain they are unlocked with RUSTC_BOOTSTRAP=1 (the only nightly-only use here).
#   scripts/fuzz.sh            # 5 minutes per target
#   scripts/fuzz.sh 3600       # an hour per target
# Any crash is saved under fuzz/artifacts/<target>/ and must become a regression test.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-300}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  printf '%-20s ' "$target"
  cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096 2>&1 \
    | grep -E '^(Done|#[0-9]+ +DONE)|panicked|SUMMARY' | tail -n 1
done
