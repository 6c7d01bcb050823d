#!/usr/bin/env bash
# Load test of the Segment-compatible usage intake on SQLite: POST /v1/batch with EVENTS
# (100) track calls per request from CONNECTIONS (32) concurrent clients (wrk), durable (the
# server answers 200 after the commit). Targets: at least 50,000 events/s, and at least 60 %
# of the raw SQLite insert rate of the same rows with the same indexes, measured in the same
# run.
#
#   bench/usage.sh
#
# Starts `onboard serve` on a fresh data directory with the example program, seeds ACCOUNTS
# (200) won deals of 5 people each and identifies every person as a product user (u-<n>), so
# that every tracked event is linked to an account and appended to the log. Then wrk posts
# batches for DURATION (10) seconds, the engine processing them as it always does. The server
# is stopped (SIGTERM); the events it logged are checked against the 200 answers (every
# acknowledged event is there, exactly once); then `raw_insert` (crates/onboard-store/
# examples) inserts those same rows into a fresh database made by the same migrations,
# RAW_ROWS_PER_TX (100, one request's worth) per transaction, straight through SQLite with
# the server's durability settings. Prints both rates and their ratio, and the processor's
# rate beside the load and while it works off the backlog the load left.
#
# Environment: DURATION, CONNECTIONS, THREADS (wrk threads, 2), ACCOUNTS, EVENTS,
# RAW_ROWS_PER_TX, SKIP_BUILD=1, BIN (another build of the server, to compare two commits),
# PERF_OUT (a file: profile the server with perf meanwhile). Needs wrk, curl, jq, sqlite3 is
# not needed. Loopback only.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/target/release/onboard}
RAW=$ROOT/target/release/examples/raw_insert
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ACCOUNTS=${ACCOUNTS:-200}
EVENTS=${EVENTS:-100}
RAW_ROWS_PER_TX=${RAW_ROWS_PER_TX:-100}
TOKEN=bench-token-$RANDOM$RANDOM
WRITE_KEY=bench-write-key
RUN=run$(date +%s)

for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p onboard --bin onboard
    cargo build --release -p onboard-store --example raw_insert
fi

PG_URL=unused
source "$ROOT/bench/common.sh"

metric() {
    curl -sf -H "Authorization: Bearer $TOKEN" "$1/metrics" |
        awk -v name="$2" '$1 == name { printf "%d", $2; found = 1 } END { if (!found) print 0 }'
}

wait_processed() {
    local base=$1
    until [ "$(metric "$base" onboard_events_unprocessed)" -eq 0 ]; do sleep 0.2; done
}

WORK=$(mktemp -d /tmp/onboard-usage.XXXXXX)
ONBOARD_ADMIN_TOKEN=$TOKEN ONBOARD_WRITE_KEY=$WRITE_KEY "$BIN" serve \
    --data-dir "$WORK/data" --listen 127.0.0.1:0 --program program \
    >"$WORK/stdout" 2>"$WORK/server.log" &
SERVER_PID=$!
port=""
for i in $(seq 1 500); do
    port=$(sed -n 's|^onboard listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$WORK/stdout")
    [ -n "$port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.02
done
[ -n "$port" ] || { echo "error: the server did not start" >&2; exit 1; }
base=http://127.0.0.1:$port
until curl -sf -o /dev/null "$base/readyz"; do sleep 0.01; done
users=$((ACCOUNTS * 5))
echo "== seeding $ACCOUNTS accounts and $users product users linked to them"
jq -nc --argjson accounts "$ACCOUNTS" '[range(0; $accounts) as $a | {
    id: "deal-\($a)", type: "deal.won", account: "acct-\($a)",
    data: {account_name: "Account \($a)", contacts: [range(0; 5) as $p |
        {email: "p\($a * 5 + $p)@acct-\($a).example", name: "Person \($a * 5 + $p)"}]}}]' |
    jq -c '_nwise(500)' | while read -r chunk; do
        curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
            -H "Content-Type: application/json" --data-binary "$chunk" "$base/api/events"
    done
wait_processed "$base"
jq -nc --argjson users "$users" '[range(0; $users) as $u | {type: "identify",
    userId: "u-\($u)", messageId: "identify-\($u)",
    traits: {email: "p\($u)@acct-\(($u / 5 | floor)).example"}}]' |
    jq -c '_nwise(100) | {batch: .}' | while read -r chunk; do
        curl -sf -o /dev/null -u "$WRITE_KEY:" -H "Content-Type: application/json" \
            --data-binary "$chunk" "$base/v1/batch"
    done
wait_processed "$base"

echo "== $CONNECTIONS connections, $THREADS wrk threads, ${DURATION}s of /v1/batch with $EVENTS events each"
perf_pid=""
if [ -n "${PERF_OUT:-}" ]; then
    perf record -F 999 -g -p "$SERVER_PID" -o "$PERF_OUT" >/dev/null 2>&1 &
    perf_pid=$!
fi
processed_before=$(metric "$base" onboard_events_processed_total)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
    -H "Authorization: Basic $(printf '%s:' "$WRITE_KEY" | base64)" \
    -s bench/usage.lua "$base" -- "$RUN" "$users" "$EVENTS" | tee "$WORK/wrk.txt"
[ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
result=$(grep '^RESULT ' "$WORK/wrk.txt")
acked=$(sed -n 's/.* events=\([0-9]*\).*/\1/p' <<<"$result")
rate=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$result")
failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$result")
held=$(metric "$base" 'onboard_usage_events_total{outcome="held"}')
# The processor beside the load (events processed while wrk ran, over its duration), and
# alone after it: the backlog the load left, and how fast it is worked off.
processed_during=$(( $(metric "$base" onboard_events_processed_total) - processed_before ))
backlog=$(metric "$base" onboard_events_unprocessed)
drain_start=$(date +%s.%N)
wait_processed "$base"
drain_s=$(awk -v a="$drain_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "PROCESSOR during_load_per_s=$(( processed_during / DURATION )) backlog_after_load=$backlog" \
    "drained_in_s=$drain_s drain_per_s=$(awk -v n="$backlog" -v s="$drain_s" \
    'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || { echo "error: the server did not stop cleanly" >&2; exit 1; }
SERVER_PID=""
[ "$failed" = 0 ] || { echo "error: $failed requests failed" >&2; exit 1; }
[ "$held" = 0 ] || { echo "error: $held events were held, not linked" >&2; exit 1; }

echo "== the same rows, straight into SQLite, $RAW_ROWS_PER_TX per transaction"
raw=$("$RAW" --from "$WORK/data/onboard.db" --to "$WORK/raw.db" --kind product.track \
    --rows-per-tx "$RAW_ROWS_PER_TX")
echo "$raw"
stored=$(sed -n 's/.* rows=\([0-9]*\).*/\1/p' <<<"$raw")
raw_rate=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$raw")
# Requests in flight when wrk stopped may have committed without being counted.
if [ "$stored" -lt "$acked" ] || [ "$stored" -gt $((acked + CONNECTIONS * EVENTS)) ]; then
    echo "error: $acked events acknowledged, $stored stored" >&2
    exit 1
fi
ratio=$(awk -v a="$rate" -v b="$raw_rate" 'BEGIN { printf "%.2f", a / b }')
verdict=met
awk -v r="$rate" -v q="$ratio" 'BEGIN { exit !(r < 50000 || q < 0.6) }' && verdict="NOT met"
echo "RESULT intake_events_per_s=$rate raw_sqlite_rows_per_s=$raw_rate ratio=$ratio acknowledged=$acked stored=$stored target=50000/s,ratio>=0.60 ($verdict)"
