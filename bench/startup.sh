#!/usr/bin/env bash
# Start-up time and idle memory of `onboard serve`.
#
#   bench/startup.sh [sqlite|postgres|all]       (default: all)
#
# Each run starts the release binary on a fresh data directory (and, for PostgreSQL, a
# fresh database, so migrations run as on a first start), polls GET /readyz every few
# milliseconds from the moment the process is spawned, and records the time to the first
# 200. After IDLE seconds without requests it reads VmRSS (and the peak, VmHWM) from
# /proc/<pid>/status, then stops the server with SIGTERM. Prints every run and the median.
# Targets: ready in under 300 ms, under 40 MB resident at idle.
#
# Environment: RUNS (5), IDLE (2), SKIP_BUILD=1, ONBOARD_TEST_PG_URL
# (postgres://root@127.0.0.1:5432/postgres). Needs bash 5 ($EPOCHREALTIME); psql for
# PostgreSQL. The readiness probe is bash's /dev/tcp, not a process per poll.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release/onboard
RUNS=${RUNS:-5}
IDLE=${IDLE:-2}
PG_URL=${ONBOARD_TEST_PG_URL:-postgres://root@127.0.0.1:5432/postgres}
BACKENDS=${1:-all}
[ "$BACKENDS" = all ] && BACKENDS="sqlite postgres"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p onboard --bin onboard
fi

source "$ROOT/bench/common.sh"

# A TCP port nobody listens on now.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# Whether GET /readyz answers 200 (one try).
ready() {
    local status
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    read -r -t 1 _ status _ <&3 || status=""
    exec 3<&- 3>&-
    [ "$status" = 200 ]
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}


for backend in $BACKENDS; do
    echo "== $backend: $RUNS runs, idle ${IDLE}s before reading memory"
    ready_ms=() rss_mb=()
    for run in $(seq 1 "$RUNS"); do
        WORK=$(mktemp -d /tmp/onboard-startup.XXXXXX)
        args=()
        if [ "$backend" = postgres ]; then
            PG_DB=onboard_bench_$(date +%s)_$RANDOM
            psql -q "$PG_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
            args=(--database-url "$(pg_database_url "$PG_DB")")
        fi
        port=$(free_port)
        started=$EPOCHREALTIME
        ONBOARD_ADMIN_TOKEN=bench "$BIN" serve --data-dir "$WORK/data" \
            --listen "127.0.0.1:$port" --program program "${args[@]}" \
            >"$WORK/stdout" 2>"$WORK/server.log" &
        SERVER_PID=$!
        until ready "$port" 2>/dev/null; do
            kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
            sleep 0.002
        done
        ms=$(awk -v s="$started" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (n - s) * 1000 }')
        sleep "$IDLE"
        rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")
        hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")
        threads=$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status")
        echo "   run $run: ready in $ms ms, idle VmRSS $rss MB (peak VmHWM $hwm MB, $threads threads)"
        ready_ms+=("$ms") rss_mb+=("$rss")
        cleanup
    done
    ready_median=$(printf '%s\n' "${ready_ms[@]}" | median)
    rss_median=$(printf '%s\n' "${rss_mb[@]}" | median)
    verdict_ready=met verdict_rss=met
    awk -v v="$ready_median" 'BEGIN { exit !(v >= 300) }' && verdict_ready="NOT met"
    awk -v v="$rss_median" 'BEGIN { exit !(v >= 40) }' && verdict_rss="NOT met"
    echo "RESULT backend=$backend ready_ms_median=$ready_median (target 300: $verdict_ready)" \
        "idle_rss_mb_median=$rss_median (target 40: $verdict_rss)"
done
