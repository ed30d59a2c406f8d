#!/usr/bin/env bash
# Benchmark: what the energy history costs and how fast its reports answer.
#
# Part 1, the sync: plant syncs of ACCOUNTS Solarman accounts x PLANTS plants from the
# built-in simulator (its own process, loopback), with the history written
# (history.enabled=true) and without (false), in alternating order, REPEATS times each, on the
# default settings otherwise (a 30-day backfill). The simulator moves every plant's readings
# once a second (`--move-readings-secs 1`) and the bench waits a second before each sync, so
# every sync sees new readings, as a site does every 15 minutes: the plants are updated, and
# the history gets a higher day value and a new power sample for every plant. A first sync
# creates every plant and backfills their 30 days from the simulator's history; the measured
# syncs then have no gap to fill (a steady site). Goal: the sync with history at most 1.10x
# the sync without, medians of the same run. Also measured, REPEATS times: a sync with
# history whose gap search is not skipped (the note of the last search deleted first) and
# finds nothing, what the first sync after a plant's midnight pays before it asks the
# portal for the day that ended. Run twice: on
# loopback with no delay (the agent's own work against a simulator on the same cores: the
# hard case), and with every response delayed BENCH_LATENCY_MS (default 200, as in
# `benches/sync_latency.sh`) for a tenth of the plants, where the time goes where it goes in
# production: waiting for the portal.
#
# Part 2, the reads: a store of 1,000 plants with two years of daily rows and 90 days of
# power samples (every 15 minutes: 8.64 million), generated with the sqlite3 CLI; then
# `plantsync report daily --org O --month M --format csv` (process start to exit) and the
# dashboard page `GET /` of a running agent, REPEATS times each, medians. Goal: each under
# 200 ms. The limit measured beside them: the sqlite3 CLI running the report's own query
# (the month's rows of the organization, grouped by plant and day) on the same file.
#
# Beside the wall times, the script prints the same syncs' CPU time (user + system) and,
# where valgrind is installed (BENCH_CALLGRIND=0 to skip: each counted sync takes about 40
# s), the instructions one sync with history and one without execute in the agent's
# process: figures a busy or shared machine moves much less than the wall time.
#
# Usage: benches/history.sh [ACCOUNTS] [PLANTS] [REPEATS]   (defaults: 10 1000 5)
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_NUMERIC=C # bash's `time` and awk read decimal points
ACCOUNTS=${1:-10}
PLANTS=${2:-1000}
REPEATS=${3:-5}
PORT=${BENCH_PORT:-18791}
API_PORT=${BENCH_API_PORT:-18792}
LATENCY=${BENCH_LATENCY_MS:-200}

command -v sqlite3 >/dev/null || { echo "needs sqlite3"; exit 2; }
command -v curl >/dev/null || { echo "needs curl"; exit 2; }
cargo build --release --quiet
BIN=$PWD/target/release/plantsync
WORK=$(mktemp -d)
SIM=""
AGENT=""
trap 'kill $SIM $AGENT 2>/dev/null || true; rm -rf "$WORK"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now_ms() { date +%s%3N; }

# --- Part 1: the sync with and without history ----------------------------------------
# part1 LATENCY_MS PLANTS_PER_ACCOUNT: the measurement above, the simulator answering after
# LATENCY_MS.
part1() {
    local latency=$1 plants=$2
    DATA="$WORK/sync-$latency-$plants"
    "$BIN" --data-dir "$DATA" simulate --port "$PORT" --kinds solarman --accounts "$ACCOUNTS" \
        --plants "$plants" --alerts 0 --move-readings-secs 1 --latency-ms "$latency" \
        > "$WORK/sim.txt" 2>&1 &
    SIM=$!
    for _ in $(seq 100); do grep -q "Ctrl-C" "$WORK/sim.txt" 2>/dev/null && break; sleep 0.1; done
    grep -q "Ctrl-C" "$WORK/sim.txt" || { echo "the simulator did not start:" >&2; cat "$WORK/sim.txt" >&2; exit 1; }
    "$BIN" --data-dir "$DATA" org add Bench >/dev/null 2>"$WORK/org.txt" || { cat "$WORK/org.txt" >&2; exit 1; }
    grep "plantsync vendor add" "$WORK/sim.txt" | sed "s#plantsync vendor add#$BIN --data-dir $DATA vendor add#; s#<ORG>#Bench#" \
        > "$WORK/add.sh"
    bash "$WORK/add.sh" >/dev/null 2>&1
    PLANTSYNC_HISTORY_ENABLED=true "$BIN" --data-dir "$DATA" sync plants --format json > /dev/null
    local backfilled settled samples_before samples on off search
    backfilled=$(sqlite3 "$DATA/plantsync.db" "SELECT count(*) FROM plant_days WHERE source = 'backfill'")
    # The sync that finds every gap filled leaves its note; the measured syncs skip the search.
    PLANTSYNC_HISTORY_ENABLED=true "$BIN" --data-dir "$DATA" sync plants --format json > /dev/null
    settled=$(sqlite3 "$DATA/plantsync.db" "SELECT count(*) FROM history_settled")
    [ "$settled" = "$ACCOUNTS" ] || { echo "expected $ACCOUNTS settled gap searches, found $settled"; exit 1; }
    samples_before=$(sqlite3 "$DATA/plantsync.db" "SELECT count(*) FROM power_samples")
    : > "$WORK/on.txt"; : > "$WORK/off.txt"; : > "$WORK/search.txt"
    : > "$WORK/cpu-true.txt"; : > "$WORK/cpu-false.txt"
    for i in $(seq "$REPEATS"); do
        if ((i % 2)); then
            sync_ms true >> "$WORK/on.txt"; sync_ms false >> "$WORK/off.txt"
        else
            sync_ms false >> "$WORK/off.txt"; sync_ms true >> "$WORK/on.txt"
        fi
    done
    for _ in $(seq "$REPEATS"); do sync_ms true search >> "$WORK/search.txt"; done
    on=$(median < "$WORK/on.txt"); off=$(median < "$WORK/off.txt"); search=$(median < "$WORK/search.txt")
    # Each pair ran back to back: the median of their ratios is steadier than the ratio of
    # the medians when the machine's speed drifts during the run.
    pairs=$(paste "$WORK/on.txt" "$WORK/off.txt" | awk '{printf "%.4f\n", $1 / $2}' | median)
    samples=$(( $(sqlite3 "$DATA/plantsync.db" "SELECT count(*) FROM power_samples") - samples_before ))
    echo "sync of $((ACCOUNTS * plants)) plants, readings moving, ${latency} ms a response: with history ${on} ms, without ${off} ms (medians of $REPEATS; runs: on $(tr '\n' ' ' < "$WORK/on.txt"), off $(tr '\n' ' ' < "$WORK/off.txt")) = $(ratio "$on" "$off")x, median of the pairs' ratios $(ratio "$pairs" 1)x (goal <= 1.10x); $samples power samples written by the $((2 * REPEATS)) syncs with history, $backfilled days backfilled by the first"
    local cpu_on cpu_off
    cpu_on=$(median < "$WORK/cpu-true.txt"); cpu_off=$(median < "$WORK/cpu-false.txt")
    echo "  CPU time (user + system) of the same syncs: with history ${cpu_on} ms, without ${cpu_off} ms = $(ratio "$cpu_on" "$cpu_off")x"
    if [ "${BENCH_CALLGRIND:-1}" != 0 ] && command -v valgrind > /dev/null; then
        local ins_on ins_off
        ins_on=$(instructions true); ins_off=$(instructions false)
        echo "  instructions (callgrind, one sync each): with history $ins_on, without $ins_off = $(ratio "$ins_on" "$ins_off")x"
    fi
    echo "  a sync with history that runs the gap search and finds nothing (what the first sync after a plant's midnight pays before it asks the portal): ${search} ms (runs $(tr '\n' ' ' < "$WORK/search.txt")) = $(ratio "$search" "$off")x the sync without"
    kill "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true; SIM=""
}
# sync_ms HISTORY [search]: one sync's wall time in ms on stdout; for the measured syncs
# (not the gap-search ones), its CPU time (user + system, ms) appended to
# $WORK/cpu-HISTORY.txt.
sync_ms() {
    local start end cpu TIMEFORMAT='%U %S'
    sleep 1.1 # the readings move
    [ "${2:-}" = search ] && sqlite3 "$DATA/plantsync.db" "DELETE FROM history_settled"
    start=$(now_ms)
    if ! cpu=$( { time PLANTSYNC_HISTORY_ENABLED=$1 "$BIN" --data-dir "$DATA" sync plants \
            --format json > "$WORK/summary.json" 2> "$WORK/sync-err.txt"; } 2>&1 ); then
        echo "the sync failed:" >&2; cat "$WORK/sync-err.txt" "$WORK/summary.json" >&2; exit 1
    fi
    end=$(now_ms)
    grep -q '"failed": 0' "$WORK/summary.json" || { echo "a vendor failed" >&2; cat "$WORK/summary.json" >&2; exit 1; }
    [ "${2:-}" = search ] || echo "$cpu" | awk '{printf "%.0f\n", ($1 + $2) * 1000}' >> "$WORK/cpu-$1.txt"
    echo $((end - start))
}
# instructions HISTORY: the instructions one sync executes in the agent's process, counted by
# valgrind's callgrind (the simulator's are not counted): a figure the machine's other load
# does not move, unlike the times.
instructions() {
    sleep 1.1
    PLANTSYNC_HISTORY_ENABLED=$1 valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
        "$BIN" --data-dir "$DATA" sync plants --format json > "$WORK/summary.json" 2> "$WORK/valgrind.txt" \
        || { echo "the sync under valgrind failed:" >&2; cat "$WORK/valgrind.txt" >&2; exit 1; }
    grep -q '"failed": 0' "$WORK/summary.json" || { echo "a vendor failed under valgrind" >&2; cat "$WORK/summary.json" >&2; exit 1; }
    sed -n 's/^totals: //p' "$WORK/callgrind.out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
# On loopback: the agent's own work, the simulator on the same cores (the hard case).
part1 0 "$PLANTS"
# With the round trips of the latency bench (`benches/sync_latency.sh`), a tenth of the plants.
part1 "$LATENCY" $((PLANTS >= 10 ? PLANTS / 10 : 1))

# --- Part 2: reports and the dashboard on two years of history ------------------------
DATA="$WORK/reads"
"$BIN" --data-dir "$DATA" org add Bench >/dev/null
DB="$DATA/plantsync.db"
start=$(now_ms)
sqlite3 "$DB" <<'SQL'
PRAGMA journal_mode = WAL;
BEGIN;
-- A vendor without credentials: the agent below never syncs (its schedule is off).
INSERT INTO vendors (id, name, kind, org_id) VALUES (1, 'bench', 'solarman', 1);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO plants (vendor_id, org_id, vendor_plant_id, name, capacity_kw, timezone,
                    daily_energy_kwh, current_power_kw, status, vendor_updated_at)
SELECT 1, 1, 'p' || i, printf('Plant %04d', i), 5 + i % 200, 'Asia/Kolkata', 10, 2, 'online',
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM n;
WITH RECURSIVE d(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM d WHERE k < 729)
INSERT INTO plant_days (plant_id, day, energy_kwh, peak_power_kw, last_reading_at, source,
                        updated_at)
SELECT p.id, date('now', '-' || d.k || ' days'), p.capacity_kw * (3 + (p.id * 7 + d.k) % 20 / 10.0),
       p.capacity_kw * 0.8, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || d.k || ' days'),
       CASE WHEN d.k % 9 = 0 THEN 'backfill' ELSE 'live' END,
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM plants p, d;
COMMIT;
BEGIN;
WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k < 90 * 96 - 1)
INSERT INTO power_samples (plant_id, at, power_kw)
SELECT p.id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || ((90 * 96 - 1 - s.k) * 15) || ' minutes'),
       p.capacity_kw * ((s.k % 96) / 96.0)
FROM s CROSS JOIN plants p; -- oldest first, in the order of the samples' key
COMMIT;
SQL
end=$(now_ms)
echo "generated $(sqlite3 "$DB" "SELECT count(*) FROM plant_days") daily rows and $(sqlite3 "$DB" "SELECT count(*) FROM power_samples") power samples in $(( (end - start) / 1000 )) s ($(du -h "$DB" | cut -f1))"

MONTH=$(date -d "$(date +%Y-%m-01) -1 month" +%Y-%m)
report_ms() {
    local start end
    start=$(now_ms)
    "$BIN" --data-dir "$DATA" report daily --org Bench --month "$MONTH" --format csv > "$WORK/report.csv"
    end=$(now_ms)
    echo $((end - start))
}
query_ms() {
    local start end
    start=$(now_ms)
    sqlite3 -csv "$DB" "SELECT d.plant_id, d.day, d.energy_kwh, d.source FROM plant_days d
        JOIN plants p ON p.id = d.plant_id WHERE p.org_id = 1
        AND d.day >= '$MONTH-01' AND d.day <= '$MONTH-31' ORDER BY d.plant_id, d.day" > "$WORK/query.csv"
    end=$(now_ms)
    echo $((end - start))
}
: > "$WORK/report.txt"; : > "$WORK/query.txt"
for _ in $(seq "$REPEATS"); do report_ms >> "$WORK/report.txt"; query_ms >> "$WORK/query.txt"; done
rows=$(($(wc -l < "$WORK/report.csv") - 1))
report=$(median < "$WORK/report.txt"); query=$(median < "$WORK/query.txt")
echo "report daily for $MONTH ($rows CSV rows): ${report} ms (goal < 200 ms); the sqlite3 CLI's query of the same rows ${query} ms; ratio $(awk -v a="$report" -v b="$query" 'BEGIN {printf "%.2f", a / b}')x"

# The dashboard: an agent with its schedule off, a session from a one-time login code.
PLANTSYNC_SYNC_ENABLED=false PLANTSYNC_ALERTS_ENABLED=false PLANTSYNC_API_PORT=$API_PORT \
    "$BIN" --data-dir "$DATA" run > "$WORK/agent.txt" 2>&1 &
AGENT=$!
for _ in $(seq 300); do [ -s "$DATA/agent.json" ] && break; sleep 0.1; done
[ -s "$DATA/agent.json" ] || { echo "the agent did not start:" >&2; cat "$WORK/agent.txt" >&2; exit 1; }
URL=$("$BIN" --data-dir "$DATA" dashboard --print-url) || { echo "no dashboard URL" >&2; exit 1; }
curl -s -c "$WORK/cookies" -o /dev/null "$URL"
page_ms() {
    local start end code
    start=$(now_ms)
    code=$(curl -s -b "$WORK/cookies" -o "$WORK/page.html" -w '%{http_code}' "http://127.0.0.1:$API_PORT/")
    end=$(now_ms)
    [ "$code" = 200 ] || { echo "dashboard answered $code" >&2; cat "$WORK/agent.txt" >&2; exit 1; }
    echo $((end - start))
}
: > "$WORK/page.txt"
page_ms > /dev/null
for _ in $(seq "$REPEATS"); do page_ms >> "$WORK/page.txt"; done
page=$(median < "$WORK/page.txt")
echo "dashboard GET / with 1000 plants: ${page} ms (goal < 200 ms), $(wc -c < "$WORK/page.html") bytes"
