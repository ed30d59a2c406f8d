#!/usr/bin/env bash
# Benchmark: syncs against portals with real round trips. The built-in simulator runs as
# its own process (`plantsync simulate`) and delays every response by 200 ms, so the time
# goes where it goes in production: waiting for the portal. What is measured is how well
# the agent overlaps those waits without crossing a portal's limits.
#
# (a) One Solarman account of 250 plants whose readings move between syncs (the simulator
#     moves every plant's readings once a second), so every sync makes one realtime call
#     per plant. Three syncs, seconds per sync. Goal: at most 10 s a sync.
# (b) 100 accounts of 250 plants, Solarman and Sungrow mixed, one full plant sync. Goals:
#     wall time under 60 s, peak RSS under 150 MB. Then one alert sync of the same
#     accounts (one alert per plant: Solarman's device and alert-list fan-out, Sungrow's
#     account-wide fault list), reported on its own; it has no goal of its own.
#
# Each sync prints its wall time (the whole process, `/usr/bin/time`) and the summary's
# `duration` (the engine's run, without process start and store opening). Both parts
# check that no vendor failed, that the simulator sent no rate-limit answer (it refuses an
# account's eleventh concurrent request, as a real portal would), and that the per-plant
# calls were made (the simulator's request counts, printed when it stops): the script
# exits 1 when any check fails, after printing every figure.
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
FAILED_CHECKS=0
trap '[ -n "$SIM" ] && kill "$SIM" 2>/dev/null; rm -rf "$WORK"' EXIT

# check DESCRIPTION ACTUAL EXPECTED: prints a failed check and counts it.
check() {
    if [ "$2" != "$3" ]; then
        echo "CHECK FAILED: $1: $2 (expected $3)"
        FAILED_CHECKS=$((FAILED_CHECKS + 1))
    fi
}

# start_simulator NAME ALERTS ARGS...: a simulator on $PORT with ALERTS alerts per plant,
# its accounts added to a fresh data dir $WORK/NAME under organization Bench.
start_simulator() {
    local name=$1 alerts=$2
    shift 2
    DATA="$WORK/$name"
    "$BIN" --data-dir "$DATA" simulate --port "$PORT" --latency-ms "$LATENCY" --alerts "$alerts" "$@" \
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

# stop_simulator NAME: stops it, prints its counters and sets LIMITED (rate-limit answers
# sent), REALTIME and DEVICES (requests to those endpoints). (Not in a subshell: only this
# shell can wait for it.)
stop_simulator() {
    kill -TERM "$SIM"
    wait "$SIM" || true
    SIM=""
    local stats
    stats=$(grep "simulator stopped:" "$WORK/$1-sim.txt")
    echo "$stats"
    LIMITED=$(grep -o '[0-9]* rate-limited answers' <<< "$stats" | grep -o '^[0-9]*')
    REALTIME=$(grep -o 'realtime [0-9]*' <<< "$stats" | grep -o '[0-9]*$')
    DEVICES=$(grep -o 'devices [0-9]*' <<< "$stats" | grep -o '[0-9]*$')
}

# timed_sync KIND: one `sync KIND`; prints "wall_s rss_mb synced failed engine_s". A sync
# where vendors failed exits 1, which the summary's `failed` reports: not fatal here.
timed_sync() {
    local kind=$1 secs rss_kb synced failed duration_ms
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" \
        "$BIN" --data-dir "$DATA" sync "$kind" --format json > "$WORK/summary.json" || true
    read -r secs rss_kb < <(tail -1 "$WORK/time.txt")
    synced=$(grep -o '"total[A-Za-z]*Synced": [0-9]*' "$WORK/summary.json" | grep -o '[0-9]*$')
    failed=$(grep -o '"failed": [0-9]*' "$WORK/summary.json" | head -1 | grep -o '[0-9]*$')
    duration_ms=$(grep -o '"duration": [0-9]*' "$WORK/summary.json" | head -1 | grep -o '[0-9]*$')
    echo "$secs $((rss_kb / 1024)) ${synced:-0} ${failed:-unknown} $(awk "BEGIN {printf \"%.2f\", ${duration_ms:-0} / 1000}")"
}

echo "==> (a) 1 Solarman account x 250 plants, ${LATENCY} ms per response, readings moving"
start_simulator one 0 --kinds solarman --accounts 1 --plants 250 --move-readings-secs 1
for round in 1 2 3; do
    # A second and a bit: every plant's readings move before the sync asks for them.
    sleep 1.2
    read -r secs rss synced failed engine <<< "$(timed_sync plants)"
    echo "sync $round: $synced plants ($failed vendors failed) in $secs s wall, $engine s in the engine (goal <= 10 s), peak RSS $rss MB"
    check "(a) sync $round: vendors failed" "$failed" 0
    check "(a) sync $round: plants synced" "$synced" 250
done
stop_simulator one
echo "(a) rate-limit answers from the simulator: $LIMITED (goal 0); realtime calls: $REALTIME (3 syncs x 250 plants whose readings moved: 750)"
check "(a) rate-limit answers" "$LIMITED" 0
check "(a) realtime calls (readings read at every sync)" "$REALTIME" 750

echo "==> (b) 50 Solarman + 50 Sungrow accounts x 250 plants, ${LATENCY} ms per response, 16 vendors at once"
start_simulator fleet 1 --kinds solarman,sungrow --accounts 50 --plants 250
read -r secs rss synced failed engine <<< "$(timed_sync plants)"
echo "plant sync: $synced plants ($failed vendors failed) in $secs s wall, $engine s in the engine (goal < 60 s), peak RSS $rss MB (goal < 150 MB)"
check "(b) plant sync: vendors failed" "$failed" 0
check "(b) plant sync: plants synced" "$synced" 25000
read -r secs rss synced failed engine <<< "$(timed_sync alerts)"
echo "alert sync: $synced alerts ($failed vendors failed) in $secs s wall, $engine s in the engine, peak RSS $rss MB (reported, no goal)"
check "(b) alert sync: vendors failed" "$failed" 0
check "(b) alert sync: alerts synced (one per plant)" "$synced" 25000
stop_simulator fleet
echo "(b) rate-limit answers from the simulator: $LIMITED (goal 0); realtime calls: $REALTIME (50 x 250: 12500); device lists: $DEVICES (one per Solarman station: 12500)"
check "(b) rate-limit answers" "$LIMITED" 0
check "(b) realtime calls" "$REALTIME" 12500
check "(b) device lists" "$DEVICES" 12500

if [ "$FAILED_CHECKS" -gt 0 ]; then
    echo "==> $FAILED_CHECKS check(s) failed"
    exit 1
fi
echo "==> all checks passed"
