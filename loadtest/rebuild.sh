#!/usr/bin/env bash
# Request latency while a large catalog is rebuilt, against the same load
# with no rebuild: the live-campaigns issue's "p99 during a rebuild of a
# 1M-ad catalog no worse than 2x the p99 without one".
#
#   bash loadtest/rebuild.sh                 # 1M ads, 64 connections, 20 s per phase
#   ADS=100000 DURATION=10 bash loadtest/rebuild.sh
#
# The server gets core 0 and wrk core 1 (taskset). During the "rebuilding"
# phase the feed file alternates between two versions that differ by one
# byte and the server is sent SIGHUP every REBUILD_EVERY seconds, so it
# fetches, parses and compiles the whole catalog again and again while wrk
# measures. Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

ADS=${ADS:-1000000}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
REBUILD_EVERY=${REBUILD_EVERY:-2}
PORT=${PORT:-18480}
ADMIN_PORT=${ADMIN_PORT:-18490}
QUERY=${QUERY:-/ad_request?country=us&lang=eng}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --bin adserver --example genfeed
./target/release/examples/genfeed --ads "$ADS" > "$work/a.json"
# Same ads plus trailing whitespace: a different body, so every reload rebuilds.
{ cat "$work/a.json"; echo "  "; } > "$work/b.json"
cp "$work/a.json" "$work/feed.json"
echo "feed: $ADS ads, $(du -h "$work/a.json" | cut -f1)"

taskset -c 0 ./target/release/adserver \
    --feed "$work/feed.json" --feed-max-bytes 1073741824 --refresh-interval 3600 \
    --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    2> "$work/server.log" &
server=$!
for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }

# wrk's --latency table: "99%  1.23ms" → microseconds.
p99_us() {
    awk '$1 == "99%" {
        v = $2; unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v);
        m = (unit == "us") ? 1 : (unit == "ms") ? 1000 : (unit == "s") ? 1000000 : 0;
        printf "%.0f\n", v * m }' "$1"
}
rps() { awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' "$1"; }
load() {
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        "http://127.0.0.1:$PORT$QUERY" > "$1"
}

version() {
    curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^adserver_catalog_version / { print $2 }'
}

echo "phase 1: quiet, ${DURATION}s at $CONNECTIONS connections"
load "$work/quiet.txt"

echo "phase 2: rebuilding every ${REBUILD_EVERY}s, ${DURATION}s at $CONNECTIONS connections"
before=$(version)
(
    end=$((SECONDS + DURATION))
    flip=b
    while [ "$SECONDS" -lt "$end" ]; do
        cp "$work/$flip.json" "$work/feed.tmp" && mv "$work/feed.tmp" "$work/feed.json"
        kill -HUP "$server"
        flip=$([ "$flip" = b ] && echo a || echo b)
        sleep "$REBUILD_EVERY"
    done
) &
flipper=$!
load "$work/rebuilding.txt"
wait "$flipper"
sleep 1
rebuilds=$(( $(version) - before ))

q99=$(p99_us "$work/quiet.txt"); r99=$(p99_us "$work/rebuilding.txt")
printf '\n| phase | req/s | p99 µs |\n|---|---:|---:|\n'
printf '| quiet | %s | %s |\n' "$(rps "$work/quiet.txt")" "$q99"
printf '| rebuilding (%s rebuilds of %s ads) | %s | %s |\n' "$rebuilds" "$ADS" "$(rps "$work/rebuilding.txt")" "$r99"
awk -v q="$q99" -v r="$r99" 'BEGIN { printf "\np99 rebuilding / quiet = %.2f (target <= 2.00)\n", r / q }'
