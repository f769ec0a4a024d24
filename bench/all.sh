#!/bin/sh
# Runs every daemon benchmark one after the other (make bench), keeps what
# each printed in bench/out/bench.log, and ends with every target line of
# all of them: "target ... -> met" or "-> NOT MET", computed by each bench
# from the figures it measured in the same run. A bench that breaks (a fire
# dropped or doubled, a daemon that died) is named and makes the exit
# status 1; the others still run.
#
# usage: bench/all.sh BUILD PYTHON SECONDS SCALE_JOBS IDLE [API_FLAGS]
set -u
build=$1 py=$2 seconds=$3 jobs=$4 idle=$5 api=${6:-}
out=bench/out
mkdir -p "$out"
log=$out/bench.log
: >"$log"
broken=""
each() {
    name=$1
    shift
    echo "== $name" | tee -a "$log"
    # The bench's own status, not tee's.
    { "$@" 2>&1; echo $? >"$out/.rc"; } | tee -a "$log"
    [ "$(cat "$out/.rc")" = 0 ] || broken="$broken $name"
}
each cron "$py" bench/cron_vs_croniter.py "$build/bench_cron"
each store "$build/bench_store" "$out"
each precision "$py" bench/fire_precision.py --build "$build" --seconds "$seconds"
each bursts "$py" bench/launch_throughput.py --build "$build"
each reads "$py" bench/status_burst.py --sked "$build/sked"
each scale "$py" bench/scale.py --build "$build" --jobs "$jobs" --idle "$idle" --full
each workflow "$py" bench/workflow_latency.py --build "$build"
# shellcheck disable=SC2086 # the flags are words
each api "$py" bench/api_throughput.py --build "$build" $api
rm -f "$out/.rc"
echo
echo "== every target (also in $log)"
grep -E '^ *target' "$log"
if [ -n "$broken" ]; then
    echo "broken:$broken"
    exit 1
fi
