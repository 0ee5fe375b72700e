#!/usr/bin/env bash
# Throughput of /ad_request without authentication and with a JWT that every
# request reuses (the verified-token cache path), side by side on loopback.
# Needs wrk (lighter than oha, so the servers, not the client, are the bottleneck). Usage: scripts/auth-load-compare.sh [SECONDS] [CONNECTIONS] [ROUNDS]
# The servers run on CPU 0 and oha on CPU 1 (when taskset exists). In each
# round both servers are loaded at the same time, so whatever else runs on
# the machine slows both alike; the median ratio over the rounds is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; conns=${2:-16}; rounds=${3:-5}
pin_server=(); pin_load=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c 0); pin_load=(taskset -c 1)
fi
cargo build --release --bin adserver --example dev_token >&2
dir=$(mktemp -d)
token=$(target/release/examples/dev_token "$dir/jwks.json" games https://id.example)
${pin_server[@]+"${pin_server[@]}"} target/release/adserver --feed data/ads.json --listen 127.0.0.1:18080 --admin-listen 127.0.0.1:19090 2>"$dir/plain.log" &
plain=$!
${pin_server[@]+"${pin_server[@]}"} target/release/adserver --feed data/ads.json --listen 127.0.0.1:18081 --admin-listen 127.0.0.1:19091 \
    --jwks "$dir/jwks.json" --jwt-issuer https://id.example --jwt-audience games 2>"$dir/auth.log" &
auth=$!
trap 'kill $plain $auth 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1
url='/ad_request?country=us&lang=eng'
# The comparison means nothing unless the token is accepted.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:18081$url")
[ "$code" != 401 ] || { echo "token refused" >&2; exit 1; }
rps() { ${pin_load[@]+"${pin_load[@]}"} wrk -t1 -c "$conns" -d "${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
ratios=()
for round in $(seq "$rounds"); do
    rps "http://127.0.0.1:18080$url" >"$dir/p" & load_p=$!
    rps -H "Authorization: Bearer $token" "http://127.0.0.1:18081$url" >"$dir/a" & load_a=$!
    wait "$load_p" "$load_a"
    p=$(cat "$dir/p"); a=$(cat "$dir/a")
    r=$(awk "BEGIN {printf \"%.3f\", $a/$p}")
    ratios+=("$r")
    echo "round $round: unauthenticated $p req/s, reused JWT $a req/s, ratio $r"
done
echo "median ratio (reused JWT / unauthenticated): $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
