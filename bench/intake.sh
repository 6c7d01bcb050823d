#!/usr/bin/env bash
# Load test of the HTTP intake: one event per POST /api/events, every id unique, from
# CONNECTIONS concurrent clients (wrk), durable (the server answers after the commit).
#
#   bench/intake.sh [sqlite|postgres|all]        (default: all)
#
# Per backend: builds the release binary (once), starts `onboard serve` on a fresh data
# directory (and, for PostgreSQL, a fresh database), waits for /readyz, runs wrk for
# DURATION seconds of posting (bench/intake.lua), then checks through GET /api/events that
# the events stored equal the POSTs answered 200 "new", stops the server with SIGTERM and
# prints events/s. Target: 20,000 events/s with 64 clients.
#
# Environment: DURATION (10), CONNECTIONS (64), THREADS (wrk threads, 2), TAIL (seconds of
# health checks after the window so that every POST in flight is answered, 2),
# SKIP_BUILD=1, ONBOARD_TEST_PG_URL (postgres://root@127.0.0.1:5432/postgres), BIN (another
# build of the server, to compare two commits), PERF_OUT (a file: profile the server with
# perf during the load, at 499 Hz), PERF_CALLGRAPH (perf's call-graph flags, default -g;
# e.g. "--call-graph dwarf,16384" for Rust's inlined frames).
# Needs wrk (apt-get install -y wrk), curl, jq; psql for PostgreSQL. Loopback only.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/target/release/onboard}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
TAIL=${TAIL:-2}
PG_URL=${ONBOARD_TEST_PG_URL:-postgres://root@127.0.0.1:5432/postgres}
TOKEN=bench-token-$RANDOM$RANDOM
BACKENDS=${1:-all}
[ "$BACKENDS" = all ] && BACKENDS="sqlite postgres"

for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p onboard --bin onboard
fi

source "$ROOT/bench/common.sh"


# Counts the stored events of this run, paging through GET /api/events?type=bench.event.
count_stored() {
    local base=$1 after=0 total=0 page n next
    while :; do
        page=$(curl -sf -H "Authorization: Bearer $TOKEN" \
            "$base/api/events?type=bench.event&limit=1000&after=$after")
        n=$(jq '.events | length' <<<"$page")
        total=$((total + n))
        next=$(jq -r '.next // empty' <<<"$page")
        [ -z "$next" ] && break
        after=$next
    done
    echo "$total"
}

# The value of a Prometheus gauge, 0 when absent.
metric() {
    curl -sf -H "Authorization: Bearer $TOKEN" "$1/metrics" |
        awk -v name="$2" '$1 == name { printf "%d", $2; found = 1 } END { if (!found) print 0 }'
}

run_backend() {
    local backend=$1 args=()
    WORK=$(mktemp -d /tmp/onboard-intake.XXXXXX)
    if [ "$backend" = postgres ]; then
        PG_DB=onboard_bench_$(date +%s)_$RANDOM
        psql -q "$PG_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
        args=(--database-url "$(pg_database_url "$PG_DB")")
    fi
    ONBOARD_ADMIN_TOKEN=$TOKEN "$BIN" serve --data-dir "$WORK/data" \
        --listen 127.0.0.1:0 --program program "${args[@]}" \
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

    local run=r$(date +%s)$RANDOM
    echo "== $backend: $CONNECTIONS connections, $THREADS wrk threads, ${DURATION}s of POSTs"
    local perf_pid=""
    if [ -n "${PERF_OUT:-}" ]; then
        perf record -F 499 ${PERF_CALLGRAPH:--g} -p "$SERVER_PID" -o "$PERF_OUT" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$((DURATION + TAIL))s" --timeout 10s \
        -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        -s bench/intake.lua "$base" -- "$run" "$DURATION" | tee "$WORK/wrk.txt"
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
    fi
    local result
    result=$(grep '^RESULT ' "$WORK/wrk.txt")
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${result#RESULT }"; }
    local ok rate failed dup errors_timeout
    ok=$(field ok) rate=$(field rate) failed=$(field failed) dup=$(field duplicate)
    errors_timeout=$(field errors_timeout)

    # The engine processes events while they arrive; how far behind was it?
    local backlog started=$EPOCHREALTIME drained
    backlog=$(metric "$base" onboard_events_unprocessed)
    echo "   unprocessed events when the load ended: $backlog"
    while [ "$(metric "$base" onboard_events_unprocessed)" -gt 0 ]; do
        if awk -v s="$started" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n - s > 300) }'; then
            break
        fi
        sleep 0.1
    done
    drained=$(awk -v s="$started" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1f", n - s }')
    echo "   ... processed in ${drained}s more (backlog now $(metric "$base" onboard_events_unprocessed))"

    local stored batches events_committed
    stored=$(count_stored "$base")
    events_committed=$(metric "$base" onboard_intake_batch_events_sum)
    batches=$(metric "$base" onboard_intake_batch_events_count)
    echo "   intake commits: $batches, $(awk -v e="$events_committed" -v b="$batches" \
        'BEGIN { printf "%.1f", e / (b > 0 ? b : 1) }') events per commit on average"
    echo "   server memory after the load: VmRSS $(awk '/^VmRSS:/ { printf "%.1f MB", $2 / 1024 }' \
        "/proc/$SERVER_PID/status"), peak VmHWM $(awk '/^VmHWM:/ { printf "%.1f MB", $2 / 1024 }' \
        "/proc/$SERVER_PID/status")"
    kill -TERM "$SERVER_PID"
    local status=0
    wait "$SERVER_PID" || status=$?
    SERVER_PID=""

    local check=PASS
    if [ "$stored" != "$ok" ] || [ "$failed" != 0 ] || [ "$dup" != 0 ]; then check=FAIL; fi
    echo "   stored events: $stored, POSTs answered 200 new: $ok, duplicates: $dup," \
        "failed: $failed, timeouts: $errors_timeout -> $check"
    echo "   server exit status after SIGTERM: $status"
    local verdict=met
    awk -v r="$rate" 'BEGIN { exit !(r < 20000) }' && verdict="NOT met"
    echo "RESULT backend=$backend events_per_s=$rate ok=$ok stored=$stored check=$check" \
        "target=20000 ($verdict)"
    cleanup
}

for backend in $BACKENDS; do
    run_backend "$backend"
done
