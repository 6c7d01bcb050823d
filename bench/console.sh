#!/usr/bin/env bash
# Load test of the console's portfolio page: GET /console for a signed-in team member over a
# book of ACCOUNTS accounts, from CONNECTIONS concurrent clients (wrk). Target: the portfolio
# page for 10,000 accounts renders in under 50 ms server-side (p99) with SQLite.
#
#   bench/console.sh
#
# Starts `onboard serve` (SQLite, the example program, the development mailbox, the system
# clock) on a fresh data directory and wins ACCOUNTS deals (POST /api/events, 1,000 a
# request) spread over the example program's CSMs, dated over the last 48 hours (`at`), so
# the accounts differ in age and the first reminders fire; waits until nothing is left to
# process, fire or send. Then it signs the admin in as a browser does (the sign-in form without a password,
# the link of the email in the development mailbox, the button that spends it), checks that
# each page answers 200 with 50 rows, and runs wrk for DURATION seconds on three views:
# the whole book (`/console?book=all`), a flag (`&flag=no_aha`), and a search (`&q=acct-1`).
# Prints the rate and latency percentiles of each, as wrk sees them on the same 2 cores.
#
# Environment: DURATION (10), CONNECTIONS (8), THREADS (2), ACCOUNTS (10000), SKIP_BUILD=1.
# Needs wrk, curl, jq, python3. Loopback only.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release/onboard
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-2}
ACCOUNTS=${ACCOUNTS:-10000}
TOKEN=bench-token-$RANDOM$RANDOM
ADMIN=alex@pipeflow.example

for tool in wrk curl jq python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p onboard --bin onboard
fi

PG_URL=unused
source "$ROOT/bench/common.sh"

metric() {
    curl -sf -H "Authorization: Bearer $TOKEN" "$1/metrics" |
        awk -v name="$2" '$1 == name { printf "%d", $2; found = 1 } END { if (!found) print 0 }'
}

WORK=$(mktemp -d /tmp/onboard-console.XXXXXX)
ONBOARD_ADMIN_TOKEN=$TOKEN "$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 \
    --program program >"$WORK/stdout" 2>"$WORK/server.log" &
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

# The example program's CSMs, from its [[team]].
csms=$(awk '/^\[\[team\]\]/ { email = "" } /^email = / { gsub(/"/, "", $3); email = $3 }
    /^role = "csm"/ { print email }' program/program.toml | jq -R . | jq -sc .)
echo "== seeding $ACCOUNTS won deals over the last 48 hours, spread over $(jq length <<<"$csms") CSMs"
started=$(date +%s)
jq -nc --argjson accounts "$ACCOUNTS" --argjson csms "$csms" --argjson now "$started" \
    '[range(0; $accounts) as $a | {
    id: "deal-\($a)", type: "deal.won", account: "acct-\($a)",
    at: ($now - 60 - ($a % 48) * 3600 | todate),
    data: {account_name: "Account \($a)", csm: $csms[$a % ($csms | length)],
        contacts: [{email: "admin@acct-\($a).example", name: "Admin \($a)", persona: "admin"}]}}]' |
    jq -c '_nwise(1000)' | while read -r chunk; do
        printf '%s' "$chunk" | curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
            -H "Content-Type: application/json" --data-binary @- "$base/api/events"
    done
until [ "$(metric "$base" onboard_events_unprocessed)" -eq 0 ] &&
    [ "$(metric "$base" onboard_timers_due)" -eq 0 ] &&
    [ "$(metric "$base" onboard_outbox_queued)" -eq 0 ]; do
    sleep 1
done
echo "   settled in $(($(date +%s) - started)) s: $(find "$WORK/data/mailbox" -name '*.eml' | wc -l) emails sent"

echo "== signing $ADMIN in with a link from the sign-in form"
touch "$WORK/asked"
curl -sf -o /dev/null -d "email=$ADMIN" "$base/console/sign-in"
link=""
for i in $(seq 1 600); do
    # The emails written since the request, decoded from quoted-printable.
    link=$(find "$WORK/data/mailbox" -name '*.eml' -newer "$WORK/asked" -print0 |
        xargs -0r python3 -c 'import quopri, re, sys
for name in sys.argv[1:]:
    raw = quopri.decodestring(open(name, "rb").read()).decode()
    found = re.search(r"/console/sign-in\?token=([A-Za-z0-9_-]+)", raw)
    if found:
        print(found.group(1))
        break' || true)
    [ -n "$link" ] && break
    sleep 0.1
done
[ -n "$link" ] || { echo "error: no sign-in email for $ADMIN" >&2; exit 1; }
cookie=$(curl -s -o /dev/null -D - -d "token=$link" "$base/console/sign-in/link" |
    sed -n 's/^[Ss]et-[Cc]ookie: \(onboard_console=[^;]*\).*/\1/p')
[ -n "$cookie" ] || { echo "error: the sign-in link opened no session" >&2; exit 1; }

run() {
    local name=$1 path=$2
    local status rows
    status=$(curl -s -o "$WORK/page.html" -w '%{http_code}' -H "Cookie: $cookie" "$base$path")
    [ "$status" = 200 ] || { echo "error: $path answered $status" >&2; exit 1; }
    rows=$(grep -o '<tr data-account=' "$WORK/page.html" | wc -l)
    [ "$rows" = 50 ] || { echo "error: $path shows $rows rows, not 50" >&2; exit 1; }
    echo "== $name: $path ($(sed -n 's|.*<p class="muted" id="count">\([^<]*\)<.*|\1|p' "$WORK/page.html"), $(wc -c <"$WORK/page.html") bytes)"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Cookie: $cookie" \
        "$base$path" | tee "$WORK/wrk.txt"
    local rate p50 p99 non2xx
    rate=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.txt")
    p50=$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")
    p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")
    non2xx=$(awk '/Non-2xx/ { print $5 }' "$WORK/wrk.txt")
    [ -z "$non2xx" ] || { echo "error: $non2xx answers were not 2xx" >&2; exit 1; }
    RESULTS+=("RESULT view=$name accounts=$ACCOUNTS requests_per_s=$rate p50=$p50 p99=$p99 target=p99<50ms")
}

RESULTS=()
run book "/console?book=all"
run flag "/console?book=all&flag=no_aha"
run search "/console?book=all&q=acct-1"
printf '%s\n' "${RESULTS[@]}"
