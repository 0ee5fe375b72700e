#!/usr/bin/env bash
# Throughput of /ad_request without authentication and with a JWT that every
# request reuses (the verified-token cache path), side by side on loopback.
#
#   bash loadtest/auth_compare.sh [SECONDS] [CONNECTIONS] [ROUNDS]   # defaults 5 16 5
#
# Loads with wrk (lighter than oha, so the servers, not the client, are the
# bottleneck). Both servers run on CPU 0 and wrk on CPU 1 (when there are
# two cores and taskset). In each round both servers are loaded at the same
# time, so whatever else runs on the machine slows both alike; the median
# ratio over the rounds is printed. The servers listen on free 127.0.0.1
# ports and are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
secs=${1:-5}; conns=${2:-16}; rounds=${3:-5}
need wrk wrk
pin_cores --if-possible
cargo build --release --bin adserver --example dev_token >&2
dir=$(mktemp -d)
plain=""; auth=""
cleanup() {
    for p in $plain $auth; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
ports=$(free_ports 4)
read -r plain_port plain_admin auth_port auth_admin <<< "$ports"
token=$("$(built release examples/dev_token)" "$dir/jwks.json" games https://id.example)
${pin_server[@]+"${pin_server[@]}"} "$(built release adserver)" --feed data/ads.json \
    --listen "127.0.0.1:$plain_port" --admin-listen "127.0.0.1:$plain_admin" 2>"$dir/plain.log" &
plain=$!
${pin_server[@]+"${pin_server[@]}"} "$(built release adserver)" --feed data/ads.json \
    --listen "127.0.0.1:$auth_port" --admin-listen "127.0.0.1:$auth_admin" \
    --jwks "$dir/jwks.json" --jwt-issuer https://id.example --jwt-audience games 2>"$dir/auth.log" &
auth=$!
wait_ready "http://127.0.0.1:$plain_port" 100 0.1 "$dir/plain.log" "unauthenticated adserver"
wait_ready "http://127.0.0.1:$auth_port" 100 0.1 "$dir/auth.log" "authenticating adserver"
url='/ad_request?country=us&lang=eng'
# The comparison means nothing unless the token is accepted.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$auth_port$url")
[ "$code" != 401 ] || { echo "token refused" >&2; exit 1; }
rps() { ${pin_load[@]+"${pin_load[@]}"} wrk -t1 -c "$conns" -d "${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
ratios=()
for round in $(seq "$rounds"); do
    rps "http://127.0.0.1:$plain_port$url" >"$dir/p" & load_p=$!
    rps -H "Authorization: Bearer $token" "http://127.0.0.1:$auth_port$url" >"$dir/a" & load_a=$!
    wait "$load_p" "$load_a"
    p=$(cat "$dir/p"); a=$(cat "$dir/a")
    r=$(awk "BEGIN {printf \"%.3f\", $a/$p}")
    ratios+=("$r")
    echo "round $round: unauthenticated $p req/s, reused JWT $a req/s, ratio $r"
done
echo "median ratio (reused JWT / unauthenticated): $(printf '%s\n' "${ratios[@]}" | median)"
