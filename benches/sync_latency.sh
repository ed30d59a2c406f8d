#!/usr/bin/env bash
# Benchmark: plant syncs against portals with real round trips. The built-in simulator
# runs as its own process (`plantsync simulate`) and delays every response by 200 ms, so
# the time goes where it goes in production: waiting for the portal. What is measured is
# how well the agent overlaps those waits without crossing a portal's limits.
#
# (a) One Solarman account of 250 plants whose readings move between syncs (the simulator
#     moves every plant's readings once a second), so every sync makes one realtime call
#     per plant. Three syncs, seconds per sync. Goal: at most 10 s a sync.
# (b) 100 accounts of 250 plants, Solarman and Sungrow mixed, one full sync. Goals: wall
#     time under 60 s, peak RSS under 150 MB, and no rate-limit answer from the simulator
#     (it refuses an account's eleventh concurrent request, as a real portal would).
#
# Both use PLANTSYNC_SYNC_CONCURRENCY=16 vendors in flight. `/usr/bin/time` measures the
# agent process only; the simulator prints its counters when it is stopped (SIGTERM).
#
# Usage: benches/sync_latency.sh [LATENCY_MS]   (default: 200)
set -euo pipefail
cd "$(dirname "$0")/.."
LATENCY=${1:-200}
PORT=${BENCH_PORT:-18795}
export PLANTSYNC_SYNC_CONCURRENCY=16

[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }
cargo build --release --quiet
BIN=$PWD/target/release/plantsync
WORK=$(mktemp -d)
SIM=""
trap '[ -n "$SIM" ] && kill "$SIM" 2>/dev/null; rm -rf "$WORK"' EXIT

# start_simulator NAME ARGS...: a simulator on $PORT, its accounts added to a fresh data
# dir $WORK/NAME under organization Bench.
start_simulator() {
    local name=$1
    shift
    DATA="$WORK/$name"
    "$BIN" --data-dir "$DATA" simulate --port "$PORT" --latency-ms "$LATENCY" --alerts 0 "$@" \
        > "$WORK/$name-sim.txt" 2>&1 &
    SIM=$!
    for _ in $(seq 100); do grep -q "Ctrl-C" "$WORK/$name-sim.txt" 2>/dev/null && break; sleep 0.1; done
    grep -q "Ctrl-C" "$WORK/$name-sim.txt" || { cat "$WORK/$name-sim.txt"; exit 1; }
    "$BIN" --data-dir "$DATA" org add Bench >/dev/null
    # The simulator prints one ready-made `vendor add` command per account.
    grep "plantsync vendor add" "$WORK/$name-sim.txt" \
        | sed "s#plantsync vendor add#$BIN --data-dir $DATA vendor add#; s#<ORG>#Bench#" > "$WORK/$name-add.sh"
    bash "$WORK/$name-add.sh" >/dev/null
}

# stop_simulator NAME: stops it, prints its counters and sets LIMITED to the number of
# rate-limit answers it sent. (Not in a subshell: only this shell can wait for it.)
stop_simulator() {
    kill -TERM "$SIM"
    wait "$SIM" || true
    SIM=""
    grep "simulator stopped:" "$WORK/$1-sim.txt"
    LIMITED=$(grep -o '[0-9]* rate-limited answers' "$WORK/$1-sim.txt" | grep -o '^[0-9]*')
}

# timed_sync NAME: one `sync plants`; prints "seconds rss_mb synced failed".
timed_sync() {
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" \
        "$BIN" --data-dir "$DATA" sync plants --format json > "$WORK/summary.json"
    local secs rss_kb synced failed
    read -r secs rss_kb < "$WORK/time.txt"
    synced=$(grep -o '"totalPlantsSynced": [0-9]*' "$WORK/summary.json" | grep -o '[0-9]*$')
    failed=$(grep -o '"failed": [0-9]*' "$WORK/summary.json" | head -1 | grep -o '[0-9]*$')
    echo "$secs $((rss_kb / 1024)) $synced $failed"
}

echo "==> (a) 1 Solarman account x 250 plants, ${LATENCY} ms per response, readings moving"
start_simulator one --kinds solarman --accounts 1 --plants 250 --move-readings-secs 1
for round in 1 2 3; do
    # A second and a bit: every plant's readings move before the sync asks for them.
    sleep 1.2
    read -r secs rss synced failed <<< "$(timed_sync one)"
    echo "sync $round: $synced plants ($failed vendors failed) in $secs s (goal <= 10 s), peak RSS $rss MB"
done
stop_simulator one
echo "(a) rate-limit answers from the simulator: $LIMITED (goal 0)"

echo "==> (b) 50 Solarman + 50 Sungrow accounts x 250 plants, ${LATENCY} ms per response, 16 vendors at once"
start_simulator fleet --kinds solarman,sungrow --accounts 50 --plants 250
read -r secs rss synced failed <<< "$(timed_sync fleet)"
echo "full sync: $synced plants ($failed vendors failed) in $secs s (goal < 60 s), peak RSS $rss MB (goal < 150 MB)"
stop_simulator fleet
echo "(b) rate-limit answers from the simulator: $LIMITED (goal 0)"
