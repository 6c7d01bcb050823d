# Shared by the load scripts: the test database URL and the clean-up of a run's server,
# database and files. Source it after setting PG_URL.

# The server URL with the database replaced by $1.
pg_database_url() {
    local base=${PG_URL%%\?*} query=""
    [ "$base" != "$PG_URL" ] && query="?${PG_URL#*\?}"
    echo "${base%/*}/$1$query"
}

SERVER_PID=""
WORK=""
PG_DB=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DB" ]; then
        psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    [ -n "$WORK" ] && rm -rf "$WORK"
    SERVER_PID="" WORK="" PG_DB=""
}
trap cleanup EXIT
