#!/usr/bin/env bash
# adserver against the bare-hyper reference (examples/hello.rs), side by side.
#
#   bash loadtest/compare.sh
#   ROUNDS=5 SECONDS_PER_RUN=10 CONNECTIONS="16 64 256" bash loadtest/compare.sh
#
# Builds release, starts adserver on the sample feed and the reference on
# two loopback ports, both pinned to core 0, and drives them with wrk pinned
# to core 1, alternating A B A B (ROUNDS rounds each) at each connection
# count with the realistic mix (loadtest/mix.lua). Prints the median req/s,
# p50 and p99 of each and the ratio adserver/reference, and writes the rows
# to loadtest/results/compare.tsv for loadtest/plot.sh. Every run is bounded
# by SECONDS_PER_RUN; the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CONNECTIONS=${CONNECTIONS:-16 64 256}
AD_PORT=${AD_PORT:-18080}
ADMIN_PORT=${ADMIN_PORT:-18090}
REF_PORT=${REF_PORT:-18081}
OUT=${OUT:-loadtest/results/compare.tsv}

# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
need wrk wrk
pin_cores --require

cargo build --release --quiet --bin adserver --example hello

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"${pin_server[@]}" "$(built release adserver)" --feed data/ads.json \
    --listen "127.0.0.1:$AD_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" 2>/dev/null &
pids+=($!)
"${pin_server[@]}" "$(built release examples/hello)" --listen "127.0.0.1:$REF_PORT" 2>/dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$AD_PORT"
wait_ready "http://127.0.0.1:$REF_PORT" 100 0.1 "" reference

# wrk's --latency lines ("50%  123.00us") in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN { n = v; u = v; gsub(/[a-z]+$/, "", n); gsub(/[0-9.]/, "", u);
        m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 0; printf "%.0f", n * m }'
}
run() { # port connections → "rps p50_us p99_us"
    local out
    out=$("${pin_load[@]}" wrk -t1 -c"$2" -d"${SECONDS_PER_RUN}s" --latency -s loadtest/mix.lua \
        "http://127.0.0.1:$1")
    local rps p50 p99
    rps=$(wrk_rps <<< "$out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<< "$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<< "$out")")
    echo "$rps $p50 $p99"
}

mkdir -p "$(dirname "$OUT")"
printf 'connections\tad_rps\tad_p50_us\tad_p99_us\tref_rps\tref_p50_us\tref_p99_us\n' > "$OUT"
# Warm both up (connection setup, caches) before measuring.
run "$AD_PORT" 64 >/dev/null; run "$REF_PORT" 64 >/dev/null

for c in $CONNECTIONS; do
    ad_rps=(); ad_p50=(); ad_p99=(); ref_rps=(); ref_p50=(); ref_p99=()
    for round in $(seq 1 "$ROUNDS"); do
        read -r r p5 p9 < <(run "$AD_PORT" "$c"); ad_rps+=("$r"); ad_p50+=("$p5"); ad_p99+=("$p9")
        read -r r p5 p9 < <(run "$REF_PORT" "$c"); ref_rps+=("$r"); ref_p50+=("$p5"); ref_p99+=("$p9")
        echo "  c=$c round $round: adserver ${ad_rps[-1]} req/s p99 ${ad_p99[-1]}us | reference ${ref_rps[-1]} req/s p99 ${ref_p99[-1]}us" >&2
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" \
        "$(echo "${ad_rps[*]}" | median)" "$(echo "${ad_p50[*]}" | median)" "$(echo "${ad_p99[*]}" | median)" \
        "$(echo "${ref_rps[*]}" | median)" "$(echo "${ref_p50[*]}" | median)" "$(echo "${ref_p99[*]}" | median)" >> "$OUT"
done

echo
echo "medians of $ROUNDS alternating rounds of ${SECONDS_PER_RUN}s; server on core 0, wrk on core 1"
awk -F'\t' 'NR == 1 { next } {
    printf "| %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $6, $7, $2 / $5, $4 / $7
} BEGIN {
    print "| connections | adserver req/s | p50 µs | p99 µs | reference req/s | p50 µs | p99 µs | req/s ratio | p99 ratio |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}' "$OUT"
awk -F'\t' '$1 == 64 { ok = ($2 / $5 >= 0.90 && $4 / $7 <= 1.2);
    printf "\ntarget at 64 connections (req/s ratio >= 0.90, p99 ratio <= 1.2): %s\n", ok ? "met" : "MISSED" }' "$OUT"
echo "rows written to $OUT"
