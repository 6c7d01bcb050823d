#!/usr/bin/env bash
# Load test of the customer's Shared Space page: GET /space for a signed-in person, from
# CONNECTIONS concurrent clients (wrk). Target (issue: any Shared Space page under 20 ms
# server-side).
#
#   bench/space.sh
#
# Starts `onboard serve` (SQLite, the example program, the development mailbox) on a fresh
# data directory, wins ACCOUNTS deals of 5 people each (so the database holds that many
# accounts, projects and goals), signs the first account's admin in with the link of their
# welcome email (POST /academy/sign-in, as a browser does), checks that /space answers 200
# with their plan, then runs wrk for DURATION seconds on /space with that session cookie and
# prints the rate and latency percentiles (as wrk sees them, on the same 2 cores).
#
# Environment: DURATION (10), CONNECTIONS (8), THREADS (2), ACCOUNTS (1000), SKIP_BUILD=1.
# Needs wrk, curl, jq, python3. Loopback only.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release/onboard
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-2}
ACCOUNTS=${ACCOUNTS:-1000}
TOKEN=bench-token-$RANDOM$RANDOM

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

WORK=$(mktemp -d /tmp/onboard-space.XXXXXX)
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

echo "== seeding $ACCOUNTS won deals of 5 people each"
jq -nc --argjson accounts "$ACCOUNTS" '[range(0; $accounts) as $a | {
    id: "deal-\($a)", type: "deal.won", account: "acct-\($a)",
    data: {account_name: "Account \($a)", contacts: [range(0; 5) as $p |
        {email: "p\($a * 5 + $p)@acct-\($a).example", name: "Person \($a * 5 + $p)",
         persona: (if $p == 0 then "admin" else "end_user" end)}]}}]' |
    jq -c '_nwise(200)' | while read -r chunk; do
        printf '%s' "$chunk" | curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
            -H "Content-Type: application/json" --data-binary @- "$base/api/events"
    done
until [ "$(metric "$base" onboard_events_unprocessed)" -eq 0 ]; do sleep 0.2; done

echo "== signing in p0@acct-0.example with the link of their welcome email"
cookie=$(BASE=$base TOKEN=$TOKEN python3 - <<'PY'
import json, os, quopri, re, urllib.parse, urllib.request, time
base, token = os.environ["BASE"], os.environ["TOKEN"]
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    return urllib.request.urlopen(req).read()
for _ in range(200):
    emails = json.loads(get("/api/mailbox"))["emails"]
    mine = [e for e in emails if "p0@acct-0.example" in e["to"]]
    if mine:
        break
    time.sleep(0.05)
raw = quopri.decodestring(get("/api/mailbox/" + mine[0]["file"])).decode()
link = re.search(r"/academy/sign-in\?token=([A-Za-z0-9_-]+)", raw).group(1)
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
opener = urllib.request.build_opener(NoRedirect)
body = urllib.parse.urlencode({"token": link}).encode()
try:
    opener.open(urllib.request.Request(base + "/academy/sign-in", data=body))
    raise SystemExit("no redirect after sign-in")
except urllib.error.HTTPError as answer:
    if answer.code != 303:
        raise SystemExit(f"sign-in answered {answer.code}")
    print(answer.headers["Set-Cookie"].split(";")[0])
PY
)
status=$(curl -s -o "$WORK/space.html" -w '%{http_code}' -H "Cookie: $cookie" "$base/space")
[ "$status" = 200 ] || { echo "error: /space answered $status" >&2; exit 1; }
grep -q 'data-task="kickoff"' "$WORK/space.html" || { echo "error: no plan on /space" >&2; exit 1; }

echo "== $CONNECTIONS connections, $THREADS wrk threads, ${DURATION}s of GET /space"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Cookie: $cookie" \
    "$base/space" | tee "$WORK/wrk.txt"
rate=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.txt")
p50=$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")
p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")
non2xx=$(awk '/Non-2xx/ { print $5 }' "$WORK/wrk.txt")
[ -z "$non2xx" ] || { echo "error: $non2xx answers were not 2xx" >&2; exit 1; }
echo "RESULT page=/space accounts=$ACCOUNTS requests_per_s=$rate p50=$p50 p99=$p99 target=p99<20ms"
