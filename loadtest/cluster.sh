#!/usr/bin/env bash
# Scale-out on one machine: N replicas on loopback behind HAProxy, a bounded
# load through it, and a rolling restart of every replica while it runs.
#
#   bash loadtest/cluster.sh                  # 3 replicas, 30 s of load
#   REPLICAS=4 SECONDS_OF_LOAD=40 bash loadtest/cluster.sh
#
# HAProxy health-checks /readyz every 200 ms and retries a request that
# failed on connect or got an empty answer on another replica (GETs are
# idempotent). Each replica in turn gets SIGTERM, drains, exits, is started
# again and waits for /readyz. Prints total requests, failures (must be 0)
# and throughput with 1 replica and with N. Everything is on 127.0.0.1 and
# stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

REPLICAS=${REPLICAS:-3}
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-30}
THROUGHPUT_SECONDS=${THROUGHPUT_SECONDS:-8}
CONNECTIONS=${CONNECTIONS:-32}
LB_PORT=${LB_PORT:-18800}
BASE_PORT=${BASE_PORT:-18810}

# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
need wrk wrk
need haproxy haproxy
cargo build --release --quiet --bin adserver

work=$(mktemp -d)
declare -A pid
haproxy_pid=""
cleanup() {
    for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "$haproxy_pid" ]; then kill "$haproxy_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_replica() { # index
    local port=$((BASE_PORT + 2 * $1)) admin=$((BASE_PORT + 2 * $1 + 1))
    "$(built release adserver)" --feed data/ads.json --drain-timeout 5 \
        --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        2>> "$work/replica-$1.log" &
    pid[$1]=$!
    wait_ready "http://127.0.0.1:$port" 100 0.05 "$work/replica-$1.log" "replica $1"
}

write_haproxy() { # how many replicas to put behind it
    local backends=() i
    for i in $(seq 0 $(($1 - 1))); do backends+=($((BASE_PORT + 2 * i))); done
    # A GET may be sent again on any failure: ad requests count nothing here.
    haproxy_config "$LB_PORT" "conn-failure empty-response response-timeout 503" \
        "${backends[@]}" > "$work/haproxy.cfg"
}

start_haproxy() {
    [ -n "$haproxy_pid" ] && { kill "$haproxy_pid"; wait "$haproxy_pid" 2>/dev/null || true; }
    haproxy -f "$work/haproxy.cfg" -db 2> "$work/haproxy.log" &
    haproxy_pid=$!
    wait_ready "http://127.0.0.1:$LB_PORT" 100 0.05 "$work/haproxy.log" haproxy
}

load() { # seconds output
    wrk -t2 -c"$CONNECTIONS" -d"$1s" -s loadtest/count.lua "http://127.0.0.1:$LB_PORT" > "$2"
}
rps() { wrk_rps < "$1"; }

for i in $(seq 0 $((REPLICAS - 1))); do start_replica "$i"; done

echo "throughput through HAProxy, ${THROUGHPUT_SECONDS}s each, $CONNECTIONS connections"
write_haproxy 1; start_haproxy; load "$THROUGHPUT_SECONDS" "$work/one.txt"
write_haproxy "$REPLICAS"; start_haproxy; load "$THROUGHPUT_SECONDS" "$work/all.txt"
echo "  1 replica:  $(rps "$work/one.txt") req/s"
echo "  $REPLICAS replicas: $(rps "$work/all.txt") req/s"

echo "rolling restart of $REPLICAS replicas under ${SECONDS_OF_LOAD}s of load"
load "$SECONDS_OF_LOAD" "$work/rolling.txt" &
loader=$!
sleep 2
for i in $(seq 0 $((REPLICAS - 1))); do
    kill -TERM "${pid[$i]}"
    wait "${pid[$i]}" && echo "  replica $i drained and exited 0" || echo "  replica $i exited $?"
    sleep 0.5 # long enough for HAProxy's check to see it gone
    start_replica "$i"
    echo "  replica $i back and ready"
    sleep 1
done
wait "$loader"

requests=$(awk '/requests in/ { print $1 }' "$work/rolling.txt")
counts=$(grep '^answers=' "$work/rolling.txt")
echo
echo "total requests: $requests"
echo "$counts" | tr ' ' '\n' | sed 's/^/  /'
echo "throughput during the restart: $(rps "$work/rolling.txt") req/s"
failures=$(echo "$counts" | sed -E 's/.*failures=([0-9]+).*/\1/')
socket=$(echo "$counts" | sed -E 's/.*socket_errors=([0-9]+).*/\1/')
if [ "$failures" -eq 0 ] && [ "$socket" -eq 0 ]; then
    echo "failures: 0"
else
    echo "failures: $((failures + socket))" >&2
    exit 1
fi
