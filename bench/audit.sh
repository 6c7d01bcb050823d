#!/usr/bin/env bash
# The infrastructure audit on 1,000,000 rows: `onboard audit` reading, classifying and
# adding up a CSV of CSM interactions, with the terminal report (the whole command).
#
#   bench/audit.sh
#
# Generates the CSV with the sample's own generator (scripts/interactions.py, seed 7, the
# sample's three months) once into target/bench/, then runs the release binary on it RUNS
# times with the bundled program and prints each run's wall time and peak memory (from
# /usr/bin/time when present, else bash's `time`) and the median. Target: under 5 s.
#
# Environment: ROWS (1000000), RUNS (3), SKIP_BUILD=1. Needs python3.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release/onboard
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-3}
CSV=$ROOT/target/bench/interactions-$ROWS.csv

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p onboard --bin onboard
fi

mkdir -p "$(dirname "$CSV")"
if [ ! -s "$CSV" ]; then
    echo "generating $ROWS rows into $CSV"
    python3 scripts/interactions.py --rows "$ROWS" --seed 7 >"$CSV.tmp"
    mv "$CSV.tmp" "$CSV"
fi
echo "input: $(wc -l <"$CSV") lines, $(du -h "$CSV" | cut -f1)"

median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

times=()
for run in $(seq 1 "$RUNS"); do
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %M' -o "$CSV.time" "$BIN" audit "$CSV" >/dev/null
        read -r seconds kb <"$CSV.time"
        rm -f "$CSV.time"
        echo "run $run: ${seconds} s, peak ${kb} KB resident"
    else
        start=$EPOCHREALTIME
        "$BIN" audit "$CSV" >/dev/null
        seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
        echo "run $run: ${seconds} s"
    fi
    times+=("$seconds")
done
echo "median: $(printf '%s\n' "${times[@]}" | median) s for $ROWS rows (target: under 5 s)"
