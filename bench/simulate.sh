#!/usr/bin/env bash
# The what-if simulator at full size: `onboard simulate` running 10,000 seeded accounts
# through 90 days of the bundled example program on the manual clock (the whole command:
# generating the cohort, the engine on the in-process memory store, the report; STORE=sqlite
# for in-memory SQLite).
#
#   bench/simulate.sh
#
# Runs the release binary once and prints its report (with wall time, simulated events per
# second and events processed per second), the peak resident memory when /usr/bin/time is
# present, and the JSON report's path. Target: under 60 s.
#
# Environment: ACCOUNTS (10000), DAYS (90), SEED (1), SHARDS (the command's default, 4:
# the cohort split by account, the shards run at once), STORE (the command's default,
# memory; or sqlite), SKIP_BUILD=1, BIN (another build of
# the binary, to compare two commits).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/target/release/onboard}
ACCOUNTS=${ACCOUNTS:-10000}
DAYS=${DAYS:-90}
SEED=${SEED:-1}
OUT=$ROOT/target/bench/simulate-$ACCOUNTS-$DAYS-$SEED.json

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p onboard --bin onboard
fi
mkdir -p "$(dirname "$OUT")"

args=(simulate --accounts "$ACCOUNTS" --days "$DAYS" --seed "$SEED" --json "$OUT")
if [ -n "${SHARDS:-}" ]; then
    args+=(--shards "$SHARDS")
fi
if [ -n "${STORE:-}" ]; then
    args+=(--store "$STORE")
fi
if [ -x /usr/bin/time ]; then
    /usr/bin/time -f 'whole command: %e s wall, peak %M KB resident' "$BIN" "${args[@]}"
else
    time "$BIN" "${args[@]}"
fi
echo "target: $ACCOUNTS accounts x $DAYS days in under 60 s (figures under \"performance\" in $OUT)"
