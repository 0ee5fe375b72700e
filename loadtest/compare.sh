#!/usr/bin/env bash
# adserver against the bare-hyper reference (examples/hello.rs), tracking on
# against tracking off, and /event against /ad_request, side by side.
#
#   bash loadtest/compare.sh
#   ROUNDS=5 SECONDS_PER_RUN=10 CONNECTIONS="16 64 256" bash loadtest/compare.sh
#
# Builds release and starts three servers on loopback ports, all pinned to
# core 0: adserver on the sample feed as shipped (tracking on, the default:
# every ad answer carries a serving id and a signed event URL), a second
# adserver with `--tracking off`, and the reference. wrk, pinned to core 1,
# drives them in turn (on, off, reference, on, off, reference, …: ROUNDS
# rounds each) at each connection count with the realistic mix
# (loadtest/mix.lua). For every run it reads the server's CPU time
# (/proc/PID/stat) before and after, and divides by the requests wrk
# reports. Then it collects EVENT_URLS real event URLs from the tracking-on
# server and drives /event with them, alternating with /ad_request, at
# EVENT_CONNECTIONS. It prints the medians, the ratios and a met/MISSED
# line for each target (README "Performance"), and writes the rows to
# loadtest/results/compare.tsv (for loadtest/plot.sh) and events.tsv.
#
# CAPS=1 adds the budget row (README "Budgets", "Cost"): a redis-server on a
# free loopback port and two more adservers on it with `--ledger redis://…`,
# one on the sample feed as is and one where every ad has a `daily_cap` and
# a `frequency_cap` too high for anything to block (CAP_DAILY, CAP_FREQ),
# both on core 0. At CAPS_CONNECTIONS it drives them in turn, without and
# with a `uid` (UIDS players spread over the mix), and prints CPU per
# request capped over uncapped (target <= 1.10) and, with `uid`, the p99
# ratio (target <= 1.5), rows in caps.tsv. It is off by default because it
# adds 4 runs a round plus 4 warm-up runs (about 80 s at the defaults).
#
# ADSERVER=PATH and REFERENCE=PATH measure those binaries instead of
# building them. Ports are
# free ones unless AD_PORT, ADMIN_PORT, OFF_PORT, OFF_ADMIN_PORT, REF_PORT
# are given. Every run is bounded by SECONDS_PER_RUN and every collection
# loop by a count; the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CONNECTIONS=${CONNECTIONS:-16 64 256}
EVENT_CONNECTIONS=${EVENT_CONNECTIONS:-64}
EVENT_URLS=${EVENT_URLS:-2000}
OUT=${OUT:-loadtest/results/compare.tsv}
EVENTS_OUT=${EVENTS_OUT:-$(dirname "$OUT")/events.tsv}
CAPS=${CAPS:-0}
CAPS_CONNECTIONS=${CAPS_CONNECTIONS:-64}
CAPS_OUT=${CAPS_OUT:-$(dirname "$OUT")/caps.tsv}
CAP_DAILY=${CAP_DAILY:-1000000}
CAP_FREQ=${CAP_FREQ:-1000000}
UIDS=${UIDS:-5000}

# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
need wrk wrk
pin_cores --require
[ "$CAPS" != 1 ] || need redis-server redis-server

# Ten in one go, so the caps servers' ports cannot overlap the others'.
read -r p1 p2 p3 p4 p5 p6 p7 p8 p9 p10 <<< "$(free_ports 10)"
AD_PORT=${AD_PORT:-$p1}
ADMIN_PORT=${ADMIN_PORT:-$p2}
OFF_PORT=${OFF_PORT:-$p3}
OFF_ADMIN_PORT=${OFF_ADMIN_PORT:-$p4}
REF_PORT=${REF_PORT:-$p5}
CAP_PORT=${CAP_PORT:-$p6}
CAP_ADMIN_PORT=${CAP_ADMIN_PORT:-$p7}
NOCAP_PORT=${NOCAP_PORT:-$p8}
NOCAP_ADMIN_PORT=${NOCAP_ADMIN_PORT:-$p9}
REDIS_PORT=${REDIS_PORT:-$p10}

# Build only what was not given (cargo's target directory may be shared
# with other checkouts, so a copied binary is a way to measure exactly one).
targets=()
[ -n "${ADSERVER:-}" ] || targets+=(--bin adserver)
[ -n "${REFERENCE:-}" ] || targets+=(--example hello)
[ ${#targets[@]} -eq 0 ] || cargo build --release --quiet "${targets[@]}"
ADSERVER=${ADSERVER:-$(built release adserver)}
REFERENCE=${REFERENCE:-$(built release examples/hello)}

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# taskset execs the server, so $! is the server's own PID: the one whose
# CPU time is read.
declare -A pid_of
"${pin_server[@]}" "$ADSERVER" --feed data/ads.json \
    --listen "127.0.0.1:$AD_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" 2>"$work/on.log" &
pids+=($!); pid_of[$AD_PORT]=$!
"${pin_server[@]}" "$ADSERVER" --feed data/ads.json --tracking off \
    --listen "127.0.0.1:$OFF_PORT" --admin-listen "127.0.0.1:$OFF_ADMIN_PORT" 2>"$work/off.log" &
pids+=($!); pid_of[$OFF_PORT]=$!
"${pin_server[@]}" "$REFERENCE" --listen "127.0.0.1:$REF_PORT" 2>"$work/ref.log" &
pids+=($!); pid_of[$REF_PORT]=$!
wait_ready "http://127.0.0.1:$AD_PORT" 100 0.1 "$work/on.log" "adserver (tracking on)"
wait_ready "http://127.0.0.1:$OFF_PORT" 100 0.1 "$work/off.log" "adserver (tracking off)"
wait_ready "http://127.0.0.1:$REF_PORT" 100 0.1 "$work/ref.log" reference

if [ "$CAPS" = 1 ]; then
    # Every ad capped, each cap far above what a run can serve, so the
    # rotation is the uncapped one and the difference is the cost of the
    # checks, the gates' sync thread and the frequency map.
    python3 - data/ads.json "$work/capped.json" "$CAP_DAILY" "$CAP_FREQ" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for ad in doc["ads"]:
    ad["daily_cap"] = int(sys.argv[3])
    ad["frequency_cap"] = {"count": int(sys.argv[4]), "hours": 24}
json.dump(doc, open(sys.argv[2], "w"))
PY
    # Not pinned: it serves only the sync thread's reads once a second.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$work" --save '' --appendonly no \
        > "$work/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
        sleep 0.05
    done
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG ||
        { echo "redis-server did not answer on $REDIS_PORT" >&2; cat "$work/redis.log" >&2; exit 1; }
    # Both on the same Redis ledger: the feed is the only difference.
    "${pin_server[@]}" "$ADSERVER" --feed "$work/capped.json" --ledger "redis://127.0.0.1:$REDIS_PORT/0" \
        --listen "127.0.0.1:$CAP_PORT" --admin-listen "127.0.0.1:$CAP_ADMIN_PORT" 2>"$work/cap.log" &
    pids+=($!); pid_of[$CAP_PORT]=$!
    "${pin_server[@]}" "$ADSERVER" --feed data/ads.json --ledger "redis://127.0.0.1:$REDIS_PORT/0" \
        --listen "127.0.0.1:$NOCAP_PORT" --admin-listen "127.0.0.1:$NOCAP_ADMIN_PORT" 2>"$work/nocap.log" &
    pids+=($!); pid_of[$NOCAP_PORT]=$!
    wait_ready "http://127.0.0.1:$CAP_PORT" 100 0.1 "$work/cap.log" "adserver (caps)"
    wait_ready "http://127.0.0.1:$NOCAP_PORT" 100 0.1 "$work/nocap.log" "adserver (no caps)"
    # The capped server must have read the caps (/explain gives each of
    # its ads a "budget" object) and the uncapped one must not.
    explain='/explain?country=us&lang=eng'
    cap_explain=$(curl -s "http://127.0.0.1:$CAP_ADMIN_PORT$explain")
    nocap_explain=$(curl -s "http://127.0.0.1:$NOCAP_ADMIN_PORT$explain")
    if ! grep -q '"budget":' <<< "$cap_explain" || grep -q '"budget":' <<< "$nocap_explain"; then
        echo "the caps server's /explain shows no budget, or the uncapped one's does" >&2
        exit 1
    fi
    # The mix again, each line with a player's uid: UIDS players, so a run
    # meets known (player, ad) pairs mostly and new ones at first.
    awk -v n="$UIDS" 'NF { q[++m] = $0 }
        END { for (i = 0; i < 4 * n; i++) { l = q[i % m + 1];
            printf "%s%suid=p%d\n", l, index(l, "?") ? "&" : "?", i % n } }' \
        loadtest/queries.txt > "$work/uid_queries.txt"
fi

# Each server must be what its column says: an answer of the tracking-off
# server carries no event URL; the tracking-on server's are collected
# next, which fails when there are none. Read whole, then matched, so
# grep stopping early cannot fail the pipe.
off_answer=$(curl -s "http://127.0.0.1:$OFF_PORT/ad_request?country=us&lang=eng")
if grep -q event_url <<< "$off_answer"; then
    echo "the --tracking off server answers with an event_url" >&2
    exit 1
fi
# Real beacons for the /event rows, collected now so a server without
# tracking stops the script before any measuring: each of EVENT_URLS
# answers' event URL with every event name. Their tokens stay valid for
# --event-ttl (an hour by default), far longer than the runs.
event_paths "http://127.0.0.1:$AD_PORT" "$EVENT_URLS" > "$work/events.txt"
beacons=$(wc -l < "$work/events.txt")

# wrk's --latency lines ("50%  123.00us") in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN { n = v; u = v; gsub(/[a-z]+$/, "", n); gsub(/[0-9.]/, "", u);
        m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 0; printf "%.0f", n * m }'
}
run() { # port connections [path list] → "rps p50_us p99_us cpu_us_per_request non2xx"
    local out before after
    before=$(cpu_us "${pid_of[$1]}")
    out=$(QUERIES=${3:-loadtest/queries.txt} "${pin_load[@]}" wrk -t1 -c"$2" \
        -d"${SECONDS_PER_RUN}s" --latency -s loadtest/mix.lua "http://127.0.0.1:$1")
    after=$(cpu_us "${pid_of[$1]}")
    local rps p50 p99 requests cpu
    rps=$(wrk_rps <<< "$out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<< "$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<< "$out")")
    requests=$(wrk_requests <<< "$out")
    cpu=$(awk -v d=$((after - before)) -v n="$requests" 'BEGIN { printf "%.2f", n ? d / n : 0 }')
    echo "$rps $p50 $p99 $cpu $(wrk_non2xx <<< "$out")"
}

m() { echo "$*" | median; } # the median of its arguments

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$(dirname "$OUT")"
printf 'connections\tad_rps\tad_p50_us\tad_p99_us\tref_rps\tref_p50_us\tref_p99_us\toff_rps\toff_p50_us\toff_p99_us\tad_cpu_us\toff_cpu_us\n' > "$OUT"
# Warm all three up (connection setup, caches) before measuring.
run "$AD_PORT" 64 >/dev/null; run "$OFF_PORT" 64 >/dev/null; run "$REF_PORT" 64 >/dev/null

for c in $CONNECTIONS; do
    ad_rps=(); ad_p50=(); ad_p99=(); ad_cpu=(); off_rps=(); off_p50=(); off_p99=(); off_cpu=()
    ref_rps=(); ref_p50=(); ref_p99=()
    for round in $(seq 1 "$ROUNDS"); do
        read -r r p5 p9 cpu _ < <(run "$AD_PORT" "$c")
        ad_rps+=("$r"); ad_p50+=("$p5"); ad_p99+=("$p9"); ad_cpu+=("$cpu")
        read -r r p5 p9 cpu _ < <(run "$OFF_PORT" "$c")
        off_rps+=("$r"); off_p50+=("$p5"); off_p99+=("$p9"); off_cpu+=("$cpu")
        read -r r p5 p9 _ < <(run "$REF_PORT" "$c"); ref_rps+=("$r"); ref_p50+=("$p5"); ref_p99+=("$p9")
        echo "  c=$c round $round: tracking on ${ad_rps[-1]} req/s p99 ${ad_p99[-1]}us ${ad_cpu[-1]}us CPU/req" \
            "| off ${off_rps[-1]} req/s p99 ${off_p99[-1]}us ${off_cpu[-1]}us CPU/req" \
            "| reference ${ref_rps[-1]} req/s p99 ${ref_p99[-1]}us" >&2
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" \
        "$(m "${ad_rps[*]}")" "$(m "${ad_p50[*]}")" "$(m "${ad_p99[*]}")" \
        "$(m "${ref_rps[*]}")" "$(m "${ref_p50[*]}")" "$(m "${ref_p99[*]}")" \
        "$(m "${off_rps[*]}")" "$(m "${off_p50[*]}")" "$(m "${off_p99[*]}")" \
        "$(m "${ad_cpu[*]}")" "$(m "${off_cpu[*]}")" >> "$OUT"
done

# /event against /ad_request on the tracking-on server, with the beacons
# collected above. Only their first pass is counted; every later pass is a
# repeat, which runs the same token check and dedup lookup and is answered
# 204 too, skipping only the one atomic add of the tally (README "Delivery").
printf 'connections\tad_rps\tad_p99_us\tad_cpu_us\tevent_rps\tevent_p99_us\tevent_cpu_us\tevent_non2xx\n' > "$EVENTS_OUT"
ad_rps=(); ad_p99=(); ad_cpu=(); ev_rps=(); ev_p99=(); ev_cpu=(); ev_bad=0
for round in $(seq 1 "$ROUNDS"); do
    read -r r _ p9 cpu _ < <(run "$AD_PORT" "$EVENT_CONNECTIONS")
    ad_rps+=("$r"); ad_p99+=("$p9"); ad_cpu+=("$cpu")
    read -r r _ p9 cpu bad < <(run "$AD_PORT" "$EVENT_CONNECTIONS" "$work/events.txt")
    ev_rps+=("$r"); ev_p99+=("$p9"); ev_cpu+=("$cpu"); ev_bad=$((ev_bad + bad))
    echo "  c=$EVENT_CONNECTIONS round $round: /ad_request ${ad_rps[-1]} req/s ${ad_cpu[-1]}us CPU/req" \
        "| /event ${ev_rps[-1]} req/s ${ev_cpu[-1]}us CPU/req, $bad not 2xx" >&2
done
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$EVENT_CONNECTIONS" \
    "$(m "${ad_rps[*]}")" "$(m "${ad_p99[*]}")" "$(m "${ad_cpu[*]}")" \
    "$(m "${ev_rps[*]}")" "$(m "${ev_p99[*]}")" "$(m "${ev_cpu[*]}")" "$ev_bad" >> "$EVENTS_OUT"

# Caps on every ad (Redis ledger) against the same server without caps,
# the mix without and with a uid, alternating: capped, uncapped, capped
# with uid, uncapped with uid.
if [ "$CAPS" = 1 ]; then
    uq=$work/uid_queries.txt
    run "$CAP_PORT" "$CAPS_CONNECTIONS" >/dev/null; run "$NOCAP_PORT" "$CAPS_CONNECTIONS" >/dev/null
    run "$CAP_PORT" "$CAPS_CONNECTIONS" "$uq" >/dev/null; run "$NOCAP_PORT" "$CAPS_CONNECTIONS" "$uq" >/dev/null
    printf 'connections\tcap_rps\tcap_p99_us\tcap_cpu_us\tnocap_rps\tnocap_p99_us\tnocap_cpu_us\tcap_uid_rps\tcap_uid_p99_us\tcap_uid_cpu_us\tnocap_uid_rps\tnocap_uid_p99_us\tnocap_uid_cpu_us\n' > "$CAPS_OUT"
    c_r=(); c_p=(); c_c=(); n_r=(); n_p=(); n_c=(); cu_r=(); cu_p=(); cu_c=(); nu_r=(); nu_p=(); nu_c=()
    for round in $(seq 1 "$ROUNDS"); do
        read -r r _ p9 cpu _ < <(run "$CAP_PORT" "$CAPS_CONNECTIONS"); c_r+=("$r"); c_p+=("$p9"); c_c+=("$cpu")
        read -r r _ p9 cpu _ < <(run "$NOCAP_PORT" "$CAPS_CONNECTIONS"); n_r+=("$r"); n_p+=("$p9"); n_c+=("$cpu")
        read -r r _ p9 cpu _ < <(run "$CAP_PORT" "$CAPS_CONNECTIONS" "$uq"); cu_r+=("$r"); cu_p+=("$p9"); cu_c+=("$cpu")
        read -r r _ p9 cpu _ < <(run "$NOCAP_PORT" "$CAPS_CONNECTIONS" "$uq"); nu_r+=("$r"); nu_p+=("$p9"); nu_c+=("$cpu")
        echo "  c=$CAPS_CONNECTIONS round $round: caps ${c_r[-1]} req/s ${c_c[-1]}us CPU/req" \
            "| no caps ${n_r[-1]} req/s ${n_c[-1]}us CPU/req" \
            "| caps+uid ${cu_r[-1]} req/s p99 ${cu_p[-1]}us ${cu_c[-1]}us CPU/req" \
            "| no caps+uid ${nu_r[-1]} req/s p99 ${nu_p[-1]}us ${nu_c[-1]}us CPU/req" >&2
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$CAPS_CONNECTIONS" \
        "$(m "${c_r[*]}")" "$(m "${c_p[*]}")" "$(m "${c_c[*]}")" \
        "$(m "${n_r[*]}")" "$(m "${n_p[*]}")" "$(m "${n_c[*]}")" \
        "$(m "${cu_r[*]}")" "$(m "${cu_p[*]}")" "$(m "${cu_c[*]}")" \
        "$(m "${nu_r[*]}")" "$(m "${nu_p[*]}")" "$(m "${nu_c[*]}")" >> "$CAPS_OUT"
    # Nothing may have blocked, or the capped server served a smaller
    # rotation and the figures are not of the checks.
    states=$(curl -s "http://127.0.0.1:$CAP_ADMIN_PORT$explain" | grep -o '"state":"[a-z_]*"' | sort -u)
    if [ "$states" != '"state":"open"' ]; then
        echo "a cap blocked during the runs ($states): raise CAP_DAILY" >&2
        exit 1
    fi
fi

echo
echo "medians of $ROUNDS alternating rounds of ${SECONDS_PER_RUN}s; server on core 0, wrk on core 1;" \
    "load average $load_at_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"

# vs_reference TITLE COLUMN: a table of $OUT's adserver figures (req/s,
# p50, p99 from COLUMN on) against the reference's (columns 5-7), and the
# 64-connection target.
vs_reference() {
    echo
    echo "$1"
    awk -F'\t' -v c="$2" 'NR == 1 { next } {
        printf "| %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f |\n", $1, $c, $(c + 1), $(c + 2), $5, $6, $7, $c / $5, $(c + 2) / $7
    } BEGIN {
        print "| connections | adserver req/s | p50 µs | p99 µs | reference req/s | p50 µs | p99 µs | req/s ratio | p99 ratio |"
        print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    }' "$OUT"
    awk -F'\t' -v c="$2" '$1 == 64 { ok = ($c / $5 >= 0.90 && $(c + 2) / $7 <= 1.2);
        printf "\ntarget at 64 connections (req/s ratio >= 0.90, p99 ratio <= 1.2): %s\n", ok ? "met" : "MISSED" }' "$OUT"
}
vs_reference "adserver as shipped (tracking on: serving id and signed event URL in every ad answer) against the reference" 2
vs_reference "adserver --tracking off against the reference (comparable with the rows measured before tracking)" 8

echo
echo "tracking on against tracking off (CPU: the server's utime + stime over the requests wrk completed)"
awk -F'\t' 'NR == 1 { next } {
    printf "| %s | %s | %s | %.2f | %s | %s | %.2f | %.2f | %.2f |\n", $1, $2, $4, $11, $8, $10, $12, $11 / $12, $2 / $8
} BEGIN {
    print "| connections | on req/s | on p99 µs | on CPU µs/req | off req/s | off p99 µs | off CPU µs/req | CPU ratio on/off | req/s ratio on/off |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}' "$OUT"
awk -F'\t' '$1 == 64 { r = $11 / $12;
    printf "\ntarget at 64 connections (CPU per request on <= 1.15x off; goal <= 1.05x): %s, %.2fx (goal %s)\n",
        r <= 1.15 ? "met" : "MISSED", r, r <= 1.05 ? "met" : "missed" }' "$OUT"

echo
echo "/event against /ad_request on the tracking-on server ($beacons real beacons, each counted on its first pass and a 204 repeat after)"
awk -F'\t' 'NR == 1 { next } {
    printf "| %s | %s | %s | %.2f | %s | %s | %.2f | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $6, $7, $5 / $2, $4 / $7
} BEGIN {
    print "| connections | /ad_request req/s | p99 µs | CPU µs/req | /event req/s | p99 µs | CPU µs/req | req/s ratio | CPU ratio /ad_request over /event |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}' "$EVENTS_OUT"
awk -F'\t' 'NR == 2 { r = $5 / $2;
    if ($8 > 0) printf "\n%d /event answers were not 2xx: the beacons did not verify, so the figure is not of accepted events\n", $8;
    printf "\ntarget (/event req/s >= 0.8x /ad_request): %s, %.2fx\n", (r >= 0.8 && $8 == 0) ? "met" : "MISSED", r;
    printf "(what a core of its own would give, from CPU per request: %.2fx)\n", $4 / $7 }' "$EVENTS_OUT"

if [ "$CAPS" = 1 ]; then
    echo
    echo "caps on every ad (daily_cap $CAP_DAILY, frequency_cap $CAP_FREQ in 24 h; Redis ledger) against the same server without caps;" \
        "with uid: $UIDS players"
    awk -F'\t' 'NR == 1 { next } {
        printf "| %s | without uid | %s | %s | %.2f | %s | %s | %.2f | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $6, $7, $4 / $7, $3 / $6
        printf "| %s | with uid | %s | %s | %.2f | %s | %s | %.2f | %.2f | %.2f |\n", $1, $8, $9, $10, $11, $12, $13, $10 / $13, $9 / $12
    } BEGIN {
        print "| connections | requests | caps req/s | p99 µs | CPU µs/req | no caps req/s | p99 µs | CPU µs/req | CPU ratio | p99 ratio |"
        print "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    }' "$CAPS_OUT"
    awk -F'\t' 'NR == 2 { r = $4 / $7; ru = $10 / $13; p = $9 / $12;
        printf "\ntarget (CPU per request, caps on every ad, no uid: <= 1.10x without caps): %s, %.2fx\n",
            r <= 1.10 ? "met" : "MISSED", r;
        printf "(with uid, the frequency map too: %.2fx; its own cost is the criterion bench)\n", ru;
        printf "target (p99 with uid, capped <= 1.5x uncapped): %s, %.2fx\n", p <= 1.5 ? "met" : "MISSED", p }' "$CAPS_OUT"
fi
echo "rows written to $OUT and $EVENTS_OUT$([ "$CAPS" = 1 ] && echo " and $CAPS_OUT")"
