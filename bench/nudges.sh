#!/usr/bin/env bash
# Load test of nudge polling: GET /v1/nudges?userId=… from CONNECTIONS concurrent clients
# (wrk), each user with a pending nudge. Target: 10,000 requests/s with p99 under 10 ms.
#
#   bench/nudges.sh [sqlite|postgres|all]        (default: sqlite)
#
# Per backend: starts `onboard serve` on a fresh data directory (and database) with the
# example program, seeds ACCOUNTS won deals of 5 people each, identifies every person as a
# product user (`u-<n>`, through /v1/batch), and has each finish the Academy's import module,
# which makes the example program's `import-nudge` for them; waits until all of it is
# processed, then runs wrk for DURATION seconds over all users and prints the rate and the
# latency percentiles.
#
# Environment: DURATION (10), CONNECTIONS (32), THREADS (2), ACCOUNTS (200), SKIP_BUILD=1,
# ONBOARD_TEST_PG_URL. Needs wrk, curl, jq; psql for PostgreSQL. Loopback only.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release/onboard
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ACCOUNTS=${ACCOUNTS:-200}
PG_URL=${ONBOARD_TEST_PG_URL:-postgres://root@127.0.0.1:5432/postgres}
TOKEN=bench-token-$RANDOM$RANDOM
WRITE_KEY=bench-write-key
BACKENDS=${1:-sqlite}
[ "$BACKENDS" = all ] && BACKENDS="sqlite postgres"

for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p onboard --bin onboard
fi

source "$ROOT/bench/common.sh"

metric() {
    curl -sf -H "Authorization: Bearer $TOKEN" "$1/metrics" |
        awk -v name="$2" '$1 == name { printf "%d", $2; found = 1 } END { if (!found) print 0 }'
}

wait_processed() {
    local base=$1
    until [ "$(metric "$base" onboard_events_unprocessed)" -eq 0 ]; do sleep 0.2; done
}

run_backend() {
    local backend=$1 args=()
    WORK=$(mktemp -d /tmp/onboard-nudges.XXXXXX)
    if [ "$backend" = postgres ]; then
        PG_DB=onboard_bench_$(date +%s)_$RANDOM
        psql -q "$PG_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
        args=(--database-url "$(pg_database_url "$PG_DB")")
    fi
    ONBOARD_ADMIN_TOKEN=$TOKEN ONBOARD_WRITE_KEY=$WRITE_KEY "$BIN" serve \
        --data-dir "$WORK/data" --listen 127.0.0.1:0 --program program "${args[@]}" \
        >"$WORK/stdout" 2>"$WORK/server.log" &
    SERVER_PID=$!
    local port="" i
    for i in $(seq 1 500); do
        port=$(sed -n 's|^onboard listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$WORK/stdout")
        [ -n "$port" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
        sleep 0.02
    done
    [ -n "$port" ] || { echo "error: the server did not start" >&2; exit 1; }
    local base=http://127.0.0.1:$port
    until curl -sf -o /dev/null "$base/readyz"; do sleep 0.01; done
    local users=$((ACCOUNTS * 5))
    echo "== $backend: seeding $ACCOUNTS accounts, $users product users with a nudge each"

    # Won deals, 5 people each.
    jq -nc --argjson accounts "$ACCOUNTS" '[range(0; $accounts) as $a | {
        id: "deal-\($a)", type: "deal.won", account: "acct-\($a)",
        data: {account_name: "Account \($a)", contacts: [range(0; 5) as $p |
            {email: "p\($a * 5 + $p)@acct-\($a).example", name: "Person \($a * 5 + $p)"}]}}]' |
        jq -c '_nwise(500)' | while read -r chunk; do
            curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
                -H "Content-Type: application/json" --data-binary "$chunk" "$base/api/events"
        done
    wait_processed "$base"
    # Each person identified as product user u-<n>.
    jq -nc --argjson users "$users" '[range(0; $users) as $u | {type: "identify",
        userId: "u-\($u)", messageId: "identify-\($u)",
        traits: {email: "p\($u)@acct-\(($u / 5 | floor)).example"}}]' |
        jq -c '_nwise(100) | {batch: .}' | while read -r chunk; do
            curl -sf -o /dev/null -u "$WRITE_KEY:" -H "Content-Type: application/json" \
                --data-binary "$chunk" "$base/v1/batch"
        done
    # Each finishes the import module: the example program nudges them to Import.
    jq -nc --argjson users "$users" '[range(0; $users) as $u | {id: "import-\($u)",
        type: "module.completed", account: "acct-\(($u / 5 | floor))",
        data: {email: "p\($u)@acct-\(($u / 5 | floor)).example",
               journey: "everyday-selling", module: "02-import-your-leads"}}]' |
        jq -c '_nwise(500)' | while read -r chunk; do
            curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
                -H "Content-Type: application/json" --data-binary "$chunk" "$base/api/events"
        done
    wait_processed "$base"
    local sample
    sample=$(curl -sf -u "$WRITE_KEY:" "$base/v1/nudges?userId=u-7" | jq '.nudges | length')
    [ "$sample" = 1 ] || { echo "error: user u-7 has $sample nudges, not 1" >&2; exit 1; }

    echo "== $backend: $CONNECTIONS connections, $THREADS wrk threads, ${DURATION}s of polling"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
        -H "Authorization: Basic $(printf '%s:' "$WRITE_KEY" | base64)" \
        -s bench/nudges.lua "$base" -- "$users" | tee "$WORK/wrk.txt"
    local result rate p99
    result=$(grep '^RESULT ' "$WORK/wrk.txt")
    rate=$(sed -n 's/.* rate=\([^ ]*\).*/\1/p' <<<"$result")
    p99=$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<<"$result")
    local verdict=met
    awk -v r="$rate" -v p="$p99" 'BEGIN { exit !(r < 10000 || p >= 10) }' && verdict="NOT met"
    echo "RESULT backend=$backend requests_per_s=$rate p99_ms=$p99 target=10000/s,p99<10ms ($verdict)"
    cleanup
}

for backend in $BACKENDS; do
    run_backend "$backend"
done
