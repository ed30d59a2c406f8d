#!/usr/bin/env bash
# Figures of the agent (issue: agent loop): an idle `plantsync run` with 10 organizations
# and 20 simulated vendors over 60 seconds between slots (RSS, goal < 20 MB; CPU time,
# goal < 0.1 s per idle minute), then the time from `POST /api/cron/sync-plants` to the
# summary for 20 vendors x 250 plants on the simulator.
#
# Usage: benches/agent_idle.sh [IDLE_SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-60}
PORT=${BENCH_PORT:-18793}
command -v curl >/dev/null || { echo "needs curl"; exit 2; }
cargo build --release --quiet
BIN=$PWD/target/release/plantsync
WORK=$(mktemp -d)
DATA="$WORK/data"
cleanup() { kill "$SIM" "$AGENT" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" --data-dir "$DATA" simulate --port "$PORT" --kinds solarman,sungrow --accounts 10 --plants 250 --alerts 0 > "$WORK/sim.txt" 2>&1 &
SIM=$!
for _ in $(seq 100); do grep -q "Ctrl-C" "$WORK/sim.txt" 2>/dev/null && break; sleep 0.1; done
for org in $(seq 10); do "$BIN" --data-dir "$DATA" org add "Org $org" >/dev/null; done
i=0
grep "plantsync vendor add" "$WORK/sim.txt" | while read -r line; do
    org=$(( i / 2 + 1 )); i=$(( i + 1 ))
    echo "$line" | sed "s#plantsync vendor add#$BIN --data-dir $DATA vendor add#; s#<ORG>#'Org $org'#"
done > "$WORK/add.sh"
bash "$WORK/add.sh" >/dev/null

# No slot during the measurement: the schedule ticks once a year.
PLANTSYNC_API_PORT=0 PLANT_SYNC_CRON_SCHEDULE="0 0 1 1 *" PLANTSYNC_ALERTS_SCHEDULE="0 0 1 1 *" \
    "$BIN" --data-dir "$DATA" run > "$WORK/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 100); do [ -f "$DATA/agent.json" ] && break; sleep 0.1; done
sleep 3
TICK=$(getconf CLK_TCK)
cpu() { awk -v t="$TICK" '{printf "%.3f", ($14 + $15) / t}' "/proc/$AGENT/stat"; }
before=$(cpu)
sleep "$IDLE"
after=$(cpu)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$AGENT/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$AGENT/status")
idle_cpu=$(awk -v a="$after" -v b="$before" -v s="$IDLE" 'BEGIN {printf "%.3f", (a - b) * 60 / s}')
echo "idle agent (10 organizations, 20 vendors): RSS $((rss / 1024)) MB (peak $((hwm / 1024)) MB, goal < 20 MB), CPU ${idle_cpu} s per idle minute (goal < 0.1 s)"

API=$(grep -o '"api": *"[^"]*"' "$DATA/agent.json" | grep -oE '[0-9]+(\.[0-9]+){3}:[0-9]+')
TOKEN=$("$BIN" --data-dir "$DATA" token show)
for round in 1 2; do
    secs=$(curl -s -o "$WORK/summary.json" -w '%{time_total}' -X POST -H "Authorization: Bearer $TOKEN" "http://$API/api/cron/sync-plants")
    synced=$(grep -o '"totalPlantsSynced":[0-9]*' "$WORK/summary.json" | grep -o '[0-9]*$')
    echo "POST /api/cron/sync-plants round $round: summary after ${secs} s ($synced plants, 20 vendors x 250)"
done
rss=$(awk '/VmHWM/ {print $2}' "/proc/$AGENT/status")
echo "agent peak RSS after the syncs: $((rss / 1024)) MB"
