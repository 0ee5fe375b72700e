#!/usr/bin/env bash
# What a catalog rebuild does to the other threads on its core, without
# HTTP in the way: cyclictest (a normal-priority thread that sleeps 500 µs
# and measures how late it wakes) shares core 0 with the server, first
# while the server idles, then while it rebuilds a large catalog every 2 s.
# A request worker waking for a packet sees the same delays.
#
#   bash loadtest/core_stall.sh                      # 1M ads, 3 rounds of 10 s + 10 s
#   MIMALLOC_PURGE_DELAY=1000 bash loadtest/core_stall.sh   # with mimalloc purging
#
# Needs cyclictest (apt-get install rt-tests). Listens on 127.0.0.1 only
# and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
require cyclictest "apt-get install rt-tests"

# shellcheck source=loadtest/rebuilding_server.sh
. loadtest/rebuilding_server.sh

# cyclictest's histogram (-h, 1 µs buckets) → "p99 p99.9 max" in µs.
wakeups() {
    "${pin_server[@]}" cyclictest --policy=other -p 0 -i 500 -D "$DURATION" -q -m -h 50000 2>&1 | awk '
        /^[0-9]+ +[0-9]+$/ { n[$1 + 0] = $2; total += $2 }
        /^# Histogram Overflows/ { total += $NF }
        /^# Max Latencies/ { max = $NF + 0 }
        END {
            for (v = 0; v <= 50000; v++) {
                seen += n[v]
                if (!p99 && seen >= 0.99 * total) p99 = v
                if (!p999 && seen >= 0.999 * total) p999 = v
            }
            printf "%s %s %s\n", p99, p999, max
        }'
}

printf '| round | phase | wake-up p99 µs | p99.9 µs | max µs |\n|---:|---|---:|---:|---:|\n'
for round in $(seq 1 "$ROUNDS"); do
    read -r p99 p999 max < <(wakeups)
    printf '| %s | quiet | %s | %s | %s |\n' "$round" "$p99" "$p999" "$max"
    flipper &
    flipping=$!
    read -r p99 p999 max < <(wakeups)
    wait "$flipping"
    printf '| %s | rebuilding | %s | %s | %s |\n' "$round" "$p99" "$p999" "$max"
    sleep 3 # let the last rebuild finish before the next quiet phase
done
