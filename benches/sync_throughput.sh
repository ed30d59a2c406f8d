#!/usr/bin/env bash
# Benchmark: end-to-end plant sync of 100 vendors (50 Solarman + 50 Sungrow accounts) x
# 1,000 plants from the built-in simulator on loopback, no added latency, the default
# vendors in flight (`sync.concurrency`, 16; set PLANTSYNC_SYNC_CONCURRENCY to change it).
# Goal: at least 20,000 plants per second on a 2-core machine, peak RSS under 100 MB.
#
# The simulator runs as its own process (`plantsync simulate`), so the measured process is
# only the agent: `/usr/bin/time` reports its wall time and peak RSS. Runs a first sync
# (every plant created) and a second (every plant seen again).
#
# Usage: benches/sync_throughput.sh [ACCOUNTS_PER_KIND] [PLANTS]   (defaults: 50 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
PER_KIND=${1:-50}
PLANTS=${2:-1000}
PORT=${BENCH_PORT:-18790}

[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }
cargo build --release --quiet
BIN=$PWD/target/release/plantsync
WORK=$(mktemp -d)
trap 'kill $SIM 2>/dev/null || true; rm -rf "$WORK"' EXIT
DATA="$WORK/data"

"$BIN" --data-dir "$DATA" simulate --port "$PORT" --kinds solarman,sungrow --accounts "$PER_KIND" --plants "$PLANTS" --alerts 0 \
    > "$WORK/sim.txt" 2>&1 &
SIM=$!
for _ in $(seq 100); do grep -q "Ctrl-C" "$WORK/sim.txt" 2>/dev/null && break; sleep 0.1; done

"$BIN" --data-dir "$DATA" org add Bench >/dev/null
# The simulator prints one ready-made `vendor add` command per account.
grep "plantsync vendor add" "$WORK/sim.txt" | sed "s#plantsync vendor add#$BIN --data-dir $DATA vendor add#; s#<ORG>#Bench#" \
    > "$WORK/add.sh"
bash "$WORK/add.sh" >/dev/null
VENDORS=$("$BIN" --data-dir "$DATA" vendor list --format csv | tail -n +2 | wc -l)
TOTAL=$((VENDORS * PLANTS))
echo "==> $VENDORS vendors x $PLANTS plants = $TOTAL plants, ${PLANTSYNC_SYNC_CONCURRENCY:-16} vendors at once"

sim_cpu() { awk '{print ($14 + $15) / 100}' "/proc/$SIM/stat"; }
for round in 1 2; do
    sim_before=$(sim_cpu)
    /usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" \
        "$BIN" --data-dir "$DATA" sync plants --format json > "$WORK/summary.json"
    read -r secs rss_kb user sys < "$WORK/time.txt"
    sim_secs=$(awk -v a="$(sim_cpu)" -v b="$sim_before" 'BEGIN {printf "%.2f", a - b}')
    synced=$(grep -o '"totalPlantsSynced": [0-9]*' "$WORK/summary.json" | grep -o '[0-9]*$')
    failed=$(grep -o '"failed": [0-9]*' "$WORK/summary.json" | head -1 | grep -o '[0-9]*$')
    rate=$(awk -v n="$synced" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
    echo "round $round: $synced plants synced ($failed vendors failed) in ${secs} s = $rate plants/s (goal >= 20000), peak RSS $((rss_kb / 1024)) MB (goal < 100 MB), agent CPU ${user}s user ${sys}s sys, simulator CPU ${sim_secs}s"
done
