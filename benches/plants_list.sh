#!/usr/bin/env bash
# Benchmark: `plantsync plants list --org <id> --format json` against the sqlite3 CLI running
# the same query on the same file, in the same run (issue: foundation, goal within 1.5x).
#
# Builds a database of 1,000,000 plants over 100 organizations (10,000 each, one vendor per
# organization), warms the page cache, then times RUNS runs of each command and prints the
# medians and their ratio.
#
# Usage: benches/plants_list.sh [PLANTS] [RUNS]      (defaults: 1000000 21)
set -euo pipefail
cd "$(dirname "$0")/.."
PLANTS=${1:-1000000}
RUNS=${2:-21}
ORGS=100
ORG=50

command -v sqlite3 >/dev/null || { echo "needs the sqlite3 CLI (apt-get install sqlite3)"; exit 2; }
cargo build --release --quiet
BIN=target/release/plantsync
DATA=${BENCH_DATA_DIR:-bench-data}
DB="$DATA/plantsync.db"

if [ ! -f "$DB" ] || [ "$(sqlite3 "$DB" 'SELECT count(*) FROM plants')" != "$PLANTS" ]; then
    echo "==> building $DB with $PLANTS plants over $ORGS organizations"
    rm -rf "$DATA"
    "$BIN" --data-dir "$DATA" status >/dev/null          # creates the schema
    sqlite3 "$DB" <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ORGS)
INSERT INTO organizations (id, name) SELECT i, 'Org ' || i FROM n;
INSERT INTO vendors (id, name, kind, org_id) SELECT id, 'Vendor ' || id, 'solarman', id FROM organizations;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $PLANTS - 1)
INSERT INTO plants (vendor_id, org_id, vendor_plant_id, name, capacity_kw, address, latitude,
    longitude, timezone, network_status, current_power_kw, daily_energy_kwh, total_energy_kwh,
    vendor_updated_at, last_refreshed_at, raw_json, change_seq)
SELECT (i % $ORGS) + 1, (i % $ORGS) + 1, 'st-' || i, 'Plant ' || printf('%07d', (i * 7919) % $PLANTS),
    round(5 + (i % 500) / 10.0, 2), 'Street ' || (i % 997) || ', Pune', 18.5 + (i % 100) / 1000.0,
    73.8 + (i % 100) / 1000.0, 'Asia/Kolkata', CASE WHEN i % 17 = 0 THEN 'ALL_OFFLINE' ELSE 'NORMAL' END,
    round((i % 900) / 100.0, 3), round((i % 600) / 10.0, 3), round(i / 3.0, 3),
    '2026-11-29T06:30:00.000Z', '2026-11-29T06:35:00.000Z', '{"id":' || i || '}', i + 1
FROM n;
UPDATE change_counter SET value = $PLANTS + 1000;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
fi

COLUMNS="id, vendor_id, org_id, vendor_plant_id, name, capacity_kw, address, latitude, longitude,
    timezone, network_status, current_power_kw, daily_energy_kwh, total_energy_kwh,
    vendor_updated_at, last_refreshed_at, is_active, change_seq, created_at, updated_at"
QUERY="SELECT $COLUMNS FROM plants WHERE org_id = $ORG ORDER BY name, id"

plantsync_run() { "$BIN" --data-dir "$DATA" plants list --org "$ORG" --format json >/dev/null; }
sqlite3_run() { sqlite3 -json "$DB" "$QUERY" >/dev/null; }

# Both must return the same rows.
ours=$("$BIN" --data-dir "$DATA" plants list --org "$ORG" --format json | grep -c '"vendor_plant_id"')
theirs=$(sqlite3 -json "$DB" "$QUERY" | grep -o '"vendor_plant_id"' | wc -l)
[ "$ours" = "$theirs" ] || { echo "row counts differ: plantsync $ours, sqlite3 $theirs"; exit 1; }

median_ms() {  # runs "$1" RUNS times, prints the median wall time in milliseconds
    local fn=$1 times=()
    for _ in 1 2 3; do "$fn"; done    # warm-up
    for _ in $(seq "$RUNS"); do
        local start end
        start=$(date +%s%N); "$fn"; end=$(date +%s%N)
        times+=($(( (end - start) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

echo "==> $ours rows per listing, $RUNS timed runs each (median)"
p=$(median_ms plantsync_run)
s=$(median_ms sqlite3_run)
ratio=$(awk -v p="$p" -v s="$s" 'BEGIN {printf "%.2f", p / s}')
echo "plantsync plants list --org $ORG --format json : ${p} ms"
echo "sqlite3 -json (same query, same file)          : ${s} ms"
echo "ratio plantsync / sqlite3                       : ${ratio}x (goal <= 1.5x)"
