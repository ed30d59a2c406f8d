#!/usr/bin/env bash
# Benchmark of the upstream push (issue 11), each figure against its limit measured in the
# same run, on a throwaway PostgreSQL (initdb + pg_ctl on a free loopback port in a temp
# dir, fsync on as PostgreSQL's default unless BENCH_PG_FSYNC=off; stopped and removed on
# exit):
#
# 1. A store of ACCOUNTS_PER_KIND x 2 vendors (Solarman, Sungrow) x PLANTS plants (default
#    50 x 2 x 1,000 = 100,000), synced from `plantsync simulate` (realistic values).
# 2. Full push: `plantsync push --full --format json` into empty central tables, against
#    `psql -c "\copy plantsync.plants (...) FROM file CSV"` of the same plant rows (the same
#    central columns, values and agent id, exported by `sqlite3 -csv`) into the same table,
#    emptied first (same indexes, same primary key). Both timed from process start to exit,
#    after a CHECKPOINT, alternating, REPEATS times each (default 3); medians. Goal: push
#    at most 2x `\copy`. Both must leave the same central rows (a digest of every column
#    but pushed_at). Beside them, not a limit: `\copy` into a staging table plus one
#    `INSERT ... ON CONFLICT` with the push's stale-replay rule (the least an upsert costs).
#    Each run prints the CPU of the client (plantsync or psql) and of the server, and the
#    server's WAL: where the time went. BENCH_PERF=DIR adds one system-wide `perf record`
#    of each (DIR/push.data, DIR/copy.data: `perf report --comm postgres,plantsync,tokio-rt-worker`).
# 3. Incremental push: 1,000 plants changed locally (one SQL transaction stamping them with
#    a change number above the counter and moving the counter, as a plant sync does), then
#    `plantsync push`, process start to exit, REPEATS times. Goal: under 1 s.
# 4. Idle agent with an unreachable upstream: `plantsync run` (schedules ticking once a
#    year) whose upstream.url points at a loopback listener that accepts and at once closes
#    every connection, counting them, for IDLE_SECONDS (default 120). Goal: no more than one
#    connection attempt per backoff step (30 s floor doubling, jitter 3/4..5/4 clamped to
#    the floor; src/upstream/backoff.rs), CPU under 0.1 s per idle minute.
#
# As root the cluster runs as the `postgres` user (`runuser -u postgres --`), since initdb
# refuses root; needs Debian's `postgresql` package, psql, sqlite3 and python3.
#
# Usage: benches/upstream_push.sh [IDLE_SECONDS] [ACCOUNTS_PER_KIND] [PLANTS]
#        (defaults: 120 50 1000; env REPEATS=3, BENCH_PG_FSYNC=on|off, BENCH_PORT=18795,
#        BENCH_PERF=DIR; PLANTSYNC_UPSTREAM_BATCH_ROWS reaches the push as usual)
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-120}
PER_KIND=${2:-50}
PLANTS=${3:-1000}
REPEATS=${REPEATS:-3}
FSYNC=${BENCH_PG_FSYNC:-on}
SIM_PORT=${BENCH_PORT:-18795}
CHANGED=1000

for tool in psql sqlite3 python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool"; exit 2; }
done
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PG_BIN/initdb" ] || { echo "needs PostgreSQL's initdb (apt-get install postgresql)"; exit 2; }

cargo build --release --quiet
BIN=$PWD/target/release/plantsync
WORK=$(mktemp -d)
# The cluster's own directory: the server's user must be able to reach it.
PGDIR=$(mktemp -d /tmp/plantsync-bench-pg-XXXXXX)
DATA="$WORK/data"
SIM="" AGENT="" LISTENER=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for pid in $SIM $AGENT $LISTENER; do kill "$pid" 2>/dev/null || true; done
    as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK" "$PGDIR"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDIR"

# CPU seconds the cluster used so far: the postmaster with its reaped children (every
# backend that ended), plus its children still running (checkpointer, WAL writer, ...).
pg_cpu() {
    local pm
    pm=$(head -1 "$PGDIR/data/postmaster.pid")
    {
        awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat"
        for child in $(pgrep -P "$pm"); do awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || true; done
    } | awk -v t="$(getconf CLK_TCK)" '{s += $1} END {printf "%.2f", s / t}'
}
# `"$@"` from process start to exit: milliseconds in $MS, its CPU seconds (user + system)
# in $CPU, the cluster's CPU seconds meanwhile in $PG_CPU; its stdout in $WORK/out.
timed() {
    local start end pg_before children
    children=$(pgrep -c -P "$(head -1 "$PGDIR/data/postmaster.pid")")
    pg_before=$(pg_cpu)
    "${PSQL[@]}" -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
    start=$(date +%s%N)
    /usr/bin/time -f "%U %S" -o "$WORK/time" "$@" > "$WORK/out"
    end=$(date +%s%N)
    MS=$(( (end - start) / 1000000 ))
    CPU=$(awk '{printf "%.2f", $1 + $2}' "$WORK/time")
    # The server reaps a backend a moment after its client left: wait for it.
    for _ in $(seq 50); do
        [ "$(pgrep -c -P "$(head -1 "$PGDIR/data/postmaster.pid")")" -le "$children" ] && break
        sleep 0.02
    done
    PG_CPU=$(awk -v a="$(pg_cpu)" -v b="$pg_before" 'BEGIN {printf "%.2f", a - b}')
    # What the server spent on its WAL meanwhile (written by the backend at its exit).
    WAL=$("${PSQL[@]}" -At -F ' ' -c "SELECT wal_sync, round(wal_sync_time), round(wal_write_time),
        pg_size_pretty(wal_bytes) FROM pg_stat_wal" | awk '{printf "WAL %s %s, %s fsyncs taking %s ms, writes %s ms", $4, $5, $1, $2, $3}')
}
# A top-level field of the JSON in $WORK/out.
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/out" "$1"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# --- PostgreSQL ---------------------------------------------------------------------------
as_pg "$PG_BIN/initdb" -D "$PGDIR/data" --auth=trust -U postgres >/dev/null
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" \
    -o "-p $PG_PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=$FSYNC -c track_wal_io_timing=on" -w start >/dev/null
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE central" >/dev/null
PSQL+=(-d central)
URL="postgres://postgres@127.0.0.1:$PG_PORT/central"
pg_setting() { "${PSQL[@]}" -At -c "SHOW $1"; }
echo "==> PostgreSQL $("${PSQL[@]}" -At -c 'SHOW server_version') on port $PG_PORT: fsync=$(pg_setting fsync), synchronous_commit=$(pg_setting synchronous_commit), wal_level=$(pg_setting wal_level)"

# --- 1. the store -------------------------------------------------------------------------
"$BIN" --data-dir "$DATA" simulate --port "$SIM_PORT" --kinds solarman,sungrow --accounts "$PER_KIND" --plants "$PLANTS" --alerts 0 \
    > "$WORK/sim.txt" 2>&1 &
SIM=$!
for _ in $(seq 100); do grep -q "Ctrl-C" "$WORK/sim.txt" 2>/dev/null && break; sleep 0.1; done
"$BIN" --data-dir "$DATA" org add Bench >/dev/null 2>&1
grep "plantsync vendor add" "$WORK/sim.txt" | sed "s#plantsync vendor add#$BIN --data-dir $DATA vendor add#; s#<ORG>#Bench#" \
    > "$WORK/add.sh"
bash "$WORK/add.sh" >/dev/null
# Without the energy history: the comparison below is of the plant rows alone (with it, the
# push would also send a day row per plant, which `\copy` of the plants does not).
PLANTSYNC_HISTORY_ENABLED=false timed "$BIN" --data-dir "$DATA" sync plants --format json
failed=$(grep -o '"failed": [0-9]*' "$WORK/out" | head -1 | grep -o '[0-9]*$')
[ "$failed" = 0 ] || { echo "the sync of the store failed for $failed vendors"; exit 1; }
kill "$SIM"; wait "$SIM" 2>/dev/null || true; SIM=""
DB="$DATA/plantsync.db"
TOTAL=$(sqlite3 "$DB" "SELECT count(*) FROM plants")
VENDORS=$(sqlite3 "$DB" "SELECT count(*) FROM vendors")
[ "$TOTAL" = $((PER_KIND * 2 * PLANTS)) ] || { echo "the store holds $TOTAL plants, expected $((PER_KIND * 2 * PLANTS))"; exit 1; }
echo "==> store: $TOTAL plants of $VENDORS vendors, synced from the simulator in $MS ms"

# --- 2. full push against \copy -----------------------------------------------------------
export PLANTSYNC_UPSTREAM_URL=$URL
"$BIN" --data-dir "$DATA" upstream init >/dev/null
TABLES="plantsync.organizations, plantsync.vendors, plantsync.plants, plantsync.plant_days, plantsync.alerts, plantsync.sync_runs"
# Every central column of plantsync.plants but pushed_at (its default, now(), as the push).
COLUMNS=$("${PSQL[@]}" -At -c "SELECT string_agg(column_name, ', ' ORDER BY ordinal_position)
    FROM information_schema.columns
    WHERE table_schema = 'plantsync' AND table_name = 'plants' AND column_name <> 'pushed_at'")
REALS=$("${PSQL[@]}" -At -c "SELECT column_name FROM information_schema.columns
    WHERE table_schema = 'plantsync' AND table_name = 'plants' AND data_type = 'double precision'")
fresh() { "${PSQL[@]}" -c "TRUNCATE $TABLES" -c "CHECKPOINT"; }
# A digest of every central plant, every column but pushed_at: the same rows either way.
digest() {
    "${PSQL[@]}" -At -c "SELECT count(*) || ' ' || md5(string_agg(row($COLUMNS)::text, '|'
        ORDER BY agent_id, vendor_id, vendor_plant_id)) FROM plantsync.plants"
}
# Not a limit but the floor of what the push must do (an upsert that keeps the stale-replay
# rule, which `\copy` into the table does not): `\copy` into a staging table, then one
# `INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE` the push's rule, in one transaction.
UPDATES=$(tr ',' '\n' <<< "$COLUMNS" | tr -d ' ' | grep -vxE 'agent_id|vendor_id|vendor_plant_id' |
    sed 's/.*/& = excluded.&/' | paste -sd, -)
staged_upsert_sql() {
    cat <<SQL
BEGIN;
CREATE TEMP TABLE stage (LIKE plantsync.plants INCLUDING DEFAULTS) ON COMMIT DROP;
\\copy stage ($COLUMNS) FROM '$WORK/plants.csv' CSV
INSERT INTO plantsync.plants AS central ($COLUMNS) SELECT $COLUMNS FROM stage
    ON CONFLICT (agent_id, vendor_id, vendor_plant_id) DO UPDATE SET $UPDATES, pushed_at = now()
    WHERE central.source_version < excluded.source_version;
COMMIT;
SQL
}

push_ms=() copy_ms=() staged_ms=() push_engine=()
for rep in $(seq "$REPEATS"); do
    fresh
    timed "$BIN" --data-dir "$DATA" push --full --format json
    push_ms+=("$MS")
    push_engine+=("$(field duration_ms)")
    sent=$(field rows_sent) push_cpu=$CPU push_pg=$PG_CPU push_wal=$WAL
    if [ "$rep" = 1 ]; then
        cp "$WORK/out" "$WORK/full.json"
        AGENT_ID=$(field agent_id)
        # The same rows as the push sends, in its order and spelling (NULL: an empty field;
        # booleans 0/1 and ISO-8601 UTC times, which PostgreSQL reads as the push's casts do).
        # raw_json travels only with upstream.push_raw_json (off): NULL, as the push sends.
        # Reals with 17 digits (the CLI's own 15 would round some, e.g. 4019.9999999999995
        # to 4020, where the push sends the exact value).
        LOCAL=$(sed -e "s/\bsource_version\b/change_seq/" -e "s/\bagent_id\b/'$AGENT_ID'/" \
            -e "s/\braw_json\b/NULL/" -e "s/\bdeleted\b/0/" <<< "$COLUMNS")
        for real in $REALS; do
            LOCAL=$(sed "s/\b$real\b/CASE WHEN $real IS NULL THEN NULL ELSE printf('%!.17g', $real) END/" <<< "$LOCAL")
        done
        sqlite3 -csv "$DB" "SELECT $LOCAL FROM plants ORDER BY change_seq, id" > "$WORK/plants.csv"
        staged_upsert_sql > "$WORK/staged.sql"
    fi
    pushed=$(digest)
    [ "${pushed% *}" = "$TOTAL" ] || { echo "push: ${pushed% *} central plants, expected $TOTAL"; exit 1; }

    fresh
    timed "${PSQL[@]}" -c "\\copy plantsync.plants ($COLUMNS) FROM '$WORK/plants.csv' CSV"
    copy_ms+=("$MS") copy_cpu=$CPU copy_pg=$PG_CPU copy_wal=$WAL
    [ "$(digest)" = "$pushed" ] || { echo "\\copy: the central plants differ from the push's: $(digest), not $pushed"; exit 1; }
    fresh
    timed "${PSQL[@]}" -f "$WORK/staged.sql"
    staged_ms+=("$MS")
    [ "$(digest)" = "$pushed" ] || { echo "staged upsert: the central plants differ from the push's"; exit 1; }
    echo "    round $rep: push ${push_ms[-1]} ms (its own duration_ms ${push_engine[-1]}, $sent rows in all tables; CPU: plantsync $push_cpu s, server $push_pg s; $push_wal), \\copy ${copy_ms[-1]} ms (CPU: psql $copy_cpu s, server $copy_pg s; $copy_wal), staged upsert ${staged_ms[-1]} ms (CPU: psql $CPU s, server $PG_CPU s; $WAL)"
done
if [ -n "${BENCH_PERF:-}" ]; then
    # One more of each under a system-wide profile (both sides of the connection):
    # `perf report -i $BENCH_PERF/push.data --comm postgres,plantsync,tokio-rt-worker`.
    mkdir -p "$BENCH_PERF"
    fresh
    perf record -a -g -q -o "$BENCH_PERF/push.data" -- "$BIN" --data-dir "$DATA" push --full --format json >/dev/null
    fresh
    perf record -a -g -q -o "$BENCH_PERF/copy.data" -- "${PSQL[@]}" -c "\\copy plantsync.plants ($COLUMNS) FROM '$WORK/plants.csv' CSV"
fi
PUSH=$(median "${push_ms[@]}")
COPY=$(median "${copy_ms[@]}")
echo "full push of $TOTAL plants: $PUSH ms, \\copy of the same rows $COPY ms (medians of $REPEATS): $(ratio "$PUSH" "$COPY")x \\copy (goal <= 2.0)"
STAGED=$(median "${staged_ms[@]}")
echo "    (not a limit: \\copy into a staging table + one INSERT ... ON CONFLICT with the push's rule, the least an upsert costs: $STAGED ms, $(ratio "$STAGED" "$COPY")x \\copy; the push is $(ratio "$PUSH" "$STAGED")x it)"
python3 -c 'import json, sys
for t in json.load(open(sys.argv[1]))["tables"]:
    print("    %(table)s: %(sent)d sent, %(applied)d applied, %(batches)d batches" % t)' "$WORK/full.json"
# The rounds above truncated the central tables between runs; the incremental push starts
# from what a push leaves: every row central in its version (else its receipt would find
# the truncated tables and re-queue them).
fresh >/dev/null
"$BIN" --data-dir "$DATA" push --full --format json > /dev/null

# --- 3. incremental push ------------------------------------------------------------------
inc_ms=()
for rep in $(seq "$REPEATS"); do
    sqlite3 "$DB" "BEGIN IMMEDIATE;
        UPDATE plants SET
            current_power_kw = round(coalesce(current_power_kw, 0) * 0.9 + 1.25, 3),
            daily_energy_kwh = round(coalesce(daily_energy_kwh, 0) + 0.75, 3),
            total_energy_kwh = round(coalesce(total_energy_kwh, 0) + 0.75, 3),
            vendor_updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
            last_refreshed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
            updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
            change_seq = (SELECT value + 1 FROM change_counter WHERE id = 1)
        WHERE id IN (SELECT id FROM plants ORDER BY random() LIMIT $CHANGED);
        UPDATE change_counter SET value = value + 1 WHERE id = 1;
        COMMIT;"
    seq=$(sqlite3 "$DB" "SELECT value FROM change_counter")
    timed "$BIN" --data-dir "$DATA" push --format json
    inc_ms+=("$MS")
    sent=$(field rows_sent)
    [ "$sent" = "$CHANGED" ] || { echo "incremental push sent $sent rows, expected $CHANGED"; cat "$WORK/out"; exit 1; }
    engine=$(field duration_ms)
    arrived=$("${PSQL[@]}" -At -c "SELECT count(*) FROM plantsync.plants WHERE source_version = $seq")
    [ "$arrived" = "$CHANGED" ] || { echo "incremental push: $arrived central plants at change $seq, expected $CHANGED"; exit 1; }
    echo "    round $rep: $sent rows in $MS ms (its own duration_ms $engine; CPU: plantsync $CPU s, server $PG_CPU s; $WAL)"
done
INC=$(median "${inc_ms[@]}")
echo "incremental push of $CHANGED changed plants out of $TOTAL: $INC ms end to end (median of $REPEATS): $(ratio "$INC" 1000)x the 1 s goal (goal < 1.0)"

# --- 4. idle agent, upstream unreachable --------------------------------------------------
python3 -u - "$WORK/listener" <<'EOF' &
import socket, sys, time
out = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(out + ".port", "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    c.close()
    with open(out + ".log", "a") as f:
        f.write("%.3f\n" % time.time())
EOF
LISTENER=$!
for _ in $(seq 100); do [ -s "$WORK/listener.port" ] && break; sleep 0.1; done
DEAD_URL="postgres://postgres@127.0.0.1:$(cat "$WORK/listener.port")/central"
FLOOR=30 CAP=1800
started=$(date +%s.%N)
PLANTSYNC_UPSTREAM_URL=$DEAD_URL PLANTSYNC_UPSTREAM_RETRY_MIN_SECONDS=$FLOOR PLANTSYNC_UPSTREAM_RETRY_MAX_SECONDS=$CAP \
PLANTSYNC_API_PORT=0 PLANT_SYNC_CRON_SCHEDULE="0 0 1 1 *" PLANTSYNC_ALERTS_SCHEDULE="0 0 1 1 *" \
    "$BIN" --data-dir "$DATA" run > "$WORK/agent.log" 2>&1 &
AGENT=$!
TICK=$(getconf CLK_TCK)
cpu() { awk -v t="$TICK" '{printf "%.3f", ($14 + $15) / t}' "/proc/$AGENT/stat"; }
for _ in $(seq 100); do [ -f "$DATA/agent.json" ] && break; sleep 0.1; done
sleep 2
before=$(cpu) t_before=$(date +%s.%N)
sleep "$IDLE"
after=$(cpu) t_after=$(date +%s.%N)
kill -0 "$AGENT" || { echo "the agent ended:"; cat "$WORK/agent.log"; exit 1; }
elapsed=$(awk -v a="$t_after" -v b="$started" 'BEGIN {printf "%.1f", a - b}')
attempts=$(wc -l < "$WORK/listener.log" 2>/dev/null || echo 0)
# At most one attempt at start plus one per step whose shortest wait (3/4 of the step, never
# below the floor) has passed; at least those whose longest wait (5/4, capped) has passed.
bounds=$(awk -v e="$elapsed" -v f="$FLOOR" -v c="$CAP" 'BEGIN {
    lo = 0; hi = 0; tmin = 0; tmax = 0; step = f
    for (i = 1; i < 64; i++) {
        short = step * 0.75; if (short < f) short = f; if (short > c) short = c
        long = step * 1.25; if (long < f) long = f; if (long > c) long = c
        tmin += short; tmax += long
        if (tmin <= e) hi++
        if (tmax <= e - 5) lo++
        step *= 2; if (step > c) step = c
    }
    print 1 + lo, 1 + hi }')
read -r least most <<< "$bounds"
gaps=$(awk 'NR > 1 {printf "%s%.1f", sep, $1 - prev; sep = ", "} {prev = $1}' "$WORK/listener.log" 2>/dev/null)
idle_cpu=$(awk -v a="$after" -v b="$before" -v s="$(awk -v a="$t_after" -v b="$t_before" 'BEGIN {print a - b}')" \
    'BEGIN {printf "%.3f", (a - b) * 60 / s}')
echo "idle agent, upstream unreachable, ${elapsed} s: $attempts connection attempts (backoff allows at most $most, expects at least $least; gaps ${gaps:-none} s): $(ratio "$attempts" "$most")x the limit (goal <= 1.0)"
echo "idle agent CPU: ${idle_cpu} s per idle minute (clock tick $((1000 / TICK)) ms): $(ratio "$idle_cpu" 0.1)x the goal (goal < 1.0)"
grep -c "push failed" "$WORK/agent.log" | sed 's/^/    push failures logged by the agent: /'
