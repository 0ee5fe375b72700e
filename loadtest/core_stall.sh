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

ADS=${ADS:-1000000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
REBUILD_EVERY=${REBUILD_EVERY:-2}
PORT=${PORT:-18480}
ADMIN_PORT=${ADMIN_PORT:-18490}
command -v cyclictest >/dev/null || { echo "cyclictest missing: apt-get install rt-tests" >&2; exit 1; }

work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --bin adserver --example genfeed
"${CARGO_TARGET_DIR:-target}"/release/examples/genfeed --ads "$ADS" > "$work/a.json"
{ cat "$work/a.json"; echo "  "; } > "$work/b.json"
ln -s "$work/a.json" "$work/feed.json"

taskset -c 0 "${CARGO_TARGET_DIR:-target}"/release/adserver \
    --feed "$work/feed.json" --feed-max-bytes 1073741824 --refresh-interval 3600 \
    --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    2> "$work/server.log" &
server=$!
for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }

# cyclictest's histogram (-h, 1 µs buckets) → "p99 p99.9 max" in µs.
wakeups() {
    taskset -c 0 cyclictest --policy=other -p 0 -i 500 -D "$DURATION" -q -m -h 50000 2>&1 | awk '
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

flipper() { # a rebuild every REBUILD_EVERY seconds for DURATION seconds
    local end=$((SECONDS + DURATION)) flip=b
    while [ "$SECONDS" -lt "$end" ]; do
        ln -sfn "$work/$flip.json" "$work/feed.tmp" && mv -T "$work/feed.tmp" "$work/feed.json"
        kill -HUP "$server"
        flip=$([ "$flip" = b ] && echo a || echo b)
        sleep "$REBUILD_EVERY"
    done
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
