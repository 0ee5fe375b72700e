#!/usr/bin/env bash
# Request latency while a large catalog is rebuilt, against the same load
# with no rebuild: the live-campaigns issue's "p99 during a rebuild of a
# 1M-ad catalog no worse than 2x the p99 without one", since tightened to
# 1.5x by the lean-memory issue, which also reads its resident set.
#
#   bash loadtest/rebuild.sh                 # 1M ads, 5 rounds of 10 s quiet + 10 s rebuilding
#   ADS=100000 DURATION=10 RATE=20000 bash loadtest/rebuild.sh
#
# The load is open-loop: oha sends RATE requests per second (default
# 10000, a seventh of what one core answers) with latency correction, so
# the server has the headroom a production pod keeps (the HPA targets 60%
# CPU) and p99 measures interference, not a saturated queue. A closed-loop
# saturating load (wrk) would only measure how the rebuild's CPU is shared.
#
# The server gets core 0 and oha core 1 (taskset). During the "rebuilding"
# phase the feed file alternates between two versions that differ by one
# byte and the server is sent SIGHUP every REBUILD_EVERY seconds, so it
# fetches, parses and compiles the whole catalog again and again while oha
# measures. Quiet and rebuilding phases alternate (A B A B) and the medians
# are compared, since single runs on a shared machine vary by 2x. Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
QUERY=${QUERY:-/ad_request?country=us&lang=eng}

RATE=${RATE:-10000}
# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
require oha "cargo install --locked oha"

# shellcheck source=loadtest/rebuilding_server.sh
. loadtest/rebuilding_server.sh

# oha's "99.00% in 1.2345 ms" → microseconds.
p99_us() { awk '$1 == "99.00%" { printf "%.0f\n", $3 * ($4 == "secs" ? 1000000 : 1000) }' "$1"; }
success() { awk '$1 == "Success" && $2 == "rate:" { print $3 }' "$1"; }
load() {
    "${pin_load[@]}" oha --no-tui --latency-correction -q "$RATE" -c "$CONNECTIONS" -z "${DURATION}s" \
        "http://127.0.0.1:$PORT$QUERY" > "$1"
}

# Minor page faults of the server so far (proc(5) stat field 10): a rebuild
# that reuses memory the last one freed takes few; one that maps fresh
# memory takes one per page.
faults() { awk '{ print $10 }' "/proc/$server/stat"; }

version() {
    curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^adserver_catalog_version / { print $2 }'
}

quiet=(); rebuilding=(); rebuilds=0; rebuild_faults=0
for round in $(seq 1 "$ROUNDS"); do
    load "$work/quiet.txt"
    quiet+=("$(p99_us "$work/quiet.txt")")
    before=$(version)
    faults_before=$(faults)
    flipper &
    flipping=$!
    load "$work/rebuilding.txt"
    wait "$flipping"
    sleep 1
    rebuilds=$((rebuilds + $(version) - before))
    rebuild_faults=$((rebuild_faults + $(faults) - faults_before))
    rebuilding+=("$(p99_us "$work/rebuilding.txt")")
    echo "  round $round: p99 quiet ${quiet[-1]} µs, rebuilding ${rebuilding[-1]} µs" \
        "(success $(success "$work/quiet.txt") / $(success "$work/rebuilding.txt"))"
done

q99=$(echo "${quiet[*]}" | median); r99=$(echo "${rebuilding[*]}" | median)
printf '\n| %s req/s offered, %s connections, median of %s rounds | p99 µs |\n|---|---:|\n' "$RATE" "$CONNECTIONS" "$ROUNDS"
printf '| quiet | %s |\n' "$q99"
printf '| rebuilding (%s rebuilds of %s ads in all) | %s |\n' "$rebuilds" "$ADS" "$r99"
awk -v q="$q99" -v r="$r99" 'BEGIN { printf "\np99 rebuilding / quiet = %.2f (target <= 1.50)\n", r / q }'
echo "page faults per rebuild: $((rebuild_faults / (rebuilds > 0 ? rebuilds : 1)))" \
    "(thousands mean freed memory went back to the kernel and was faulted in again)"
awk '/^VmRSS|^VmHWM/ { printf "%s %d MiB\n", $1, $2 / 1024 }' "/proc/$server/status" # after the rebuilds
