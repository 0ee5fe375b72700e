#!/usr/bin/env bash
# Proof of delivery across a fleet: N replicas behind HAProxy share one
# Redis ledger; a load client fires every answer's beacons while Redis and
# then every replica are restarted; at the end /stats on EACH replica must
# equal what the client received and fired, exactly.
#
#   bash loadtest/fleet.sh                           # 3 replicas, 30 s of load
#   REPLICAS=4 SECONDS_OF_LOAD=40 bash loadtest/fleet.sh
#   THREADS=8 MAX_ANSWERS=50000 VAST_SHARE=0.5 bash loadtest/fleet.sh
#   ADSERVER_BIN=/path/to/adserver bash loadtest/fleet.sh   # skip the build
#   REDIS_AOF=no bash loadtest/fleet.sh   # must FAIL: Redis forgets on restart
#   CAP=3000 bash loadtest/fleet.sh       # budgets: overshoot past a daily cap
#   CAP=3000 RESTARTS=no bash loadtest/fleet.sh   # ... without the outage term
#
# The parts, all on 127.0.0.1 on free ports, all stopped at exit:
# - redis-server with the append-only file, `--appendonly yes
#   --appendfsync always`, in the temp dir: SIGTERM makes Redis fsync and
#   exit, and the restarted Redis replays the file, so the restart keeps
#   every count and every dedup and batch marker (without persistence a
#   restart would lose the fleet's counts, which no ledger can bring back).
# - N replicas of the release binary: `--ledger redis://…`, one shared
#   `--event-key-file` (the first replica creates it), `--ledger-flush-interval
#   1`, `--public-url` = the balancer, so every beacon goes back through it
#   and lands on any replica. The feed is data/ads.json with every window
#   widened to the whole day, so the figures do not depend on the hour.
# - HAProxy, as in cluster.sh, health-checking /readyz every 200 ms. It
#   retries a request only when no byte of an answer came back (a connect
#   failure, or a reused keep-alive connection the replica closed while
#   draining), never on a timeout or a status: a replica that counted an ad
#   and then sent nothing would show up below as served > answers.
# - loadtest/beacons.py (Python stdlib): THREADS keep-alive clients, bounded
#   by SECONDS_OF_LOAD and MAX_ANSWERS; see its header.
#
# With CAP=N (README "Budgets", "Overshoot") the feed is CAPPED_ADS (3) ads
# for every country and language with `daily_cap` N and one uncapped house
# ad, the client fires only `impression` beacons (so it asks faster), and
# the check adds: every capped ad reached N, and none ended more than
#
#     (replicas − 1) × rate × (sync + flush + Redis downtime) + client threads
#
# past it (a replica's own impressions block an ad at once; the other
# replicas' reach it within sync + flush), `rate` being one replica's whole
# answer rate (an upper bound for one ad's), the downtime what the script
# measured, the threads the beacons in flight. The restarts below happen as in the plain run: a restarted
# replica must start from the fleet's counts.
#
# In the middle of the load: Redis gets SIGTERM, stays down ~2 s and comes
# back on the same port (the replicas keep their counts and retry); then
# each replica in turn gets SIGTERM (its last flush), exits, is started
# again and waits for /readyz. After the load: two flush intervals, then
# GET /stats?day=… from every replica's admin listener. Prints a table, and
# exits non-zero when any replica's count differs from the client's, or
# any ad request failed.
set -euo pipefail
cd "$(dirname "$0")/.."

REPLICAS=${REPLICAS:-3}
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-30}
THREADS=${THREADS:-4}
MAX_ANSWERS=${MAX_ANSWERS:-200000}
VAST_SHARE=${VAST_SHARE:-0.2}
REDIS_AOF=${REDIS_AOF:-yes} # `no` shows the check failing: the restart loses counts
FLUSH_INTERVAL=1 # seconds; --ledger-flush-interval
SYNC_INTERVAL=1  # seconds; --budget-sync-interval
CAP=${CAP:-}     # a daily_cap for the budgets run; empty: the plain run
CAPPED_ADS=${CAPPED_ADS:-3}
RESTARTS=${RESTARTS:-yes} # `no`: no Redis or replica restart during the load

# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
need haproxy haproxy
need redis-server redis-server
if [ -n "${ADSERVER_BIN:-}" ]; then
    bin=$ADSERVER_BIN
else
    cargo build --release --quiet --bin adserver
    bin=$(built release adserver)
fi

# One block of ports: the balancer, Redis, then public/admin per replica.
read -r -a ports <<< "$(free_ports $((2 * REPLICAS + 2)))"
lb_port=${ports[0]}
redis_port=${ports[1]}
public_port() { echo "${ports[$((2 + 2 * $1))]}"; }
admin_port() { echo "${ports[$((3 + 2 * $1))]}"; }

work=$(mktemp -d)
declare -A pid
haproxy_pid=""
redis_pid=""
loader=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    for p in "${pid[@]}" "$loader" "$haproxy_pid" "$redis_pid"; do
        if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

python3 - data/ads.json "$work/feed.json" "$CAP" "$CAPPED_ADS" <<'PY'
import json, sys
source, target, cap, capped = sys.argv[1:]
doc = json.load(open(source))
for ad in doc["ads"]:
    ad["start_hour"] = ad["end_hour"] = 0  # equal ends: all day
if cap:
    # Budgets: a house ad, then the capped ones, for every pair asked.
    doc["ads"] = doc["ads"][: int(capped) + 1]
    for i, ad in enumerate(doc["ads"]):
        ad["country"] = ad["lang"] = "*"
        if i:
            ad["daily_cap"] = int(cap)
    with open(target + ".capped", "w") as f:
        f.write("\n".join(ad["id"] for ad in doc["ads"][1:]))
json.dump(doc, open(target, "w"))
PY

start_redis() {
    mkdir -p "$work/redis"
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work/redis" \
        --save '' --appendonly "$REDIS_AOF" --appendfsync always \
        >> "$work/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 100); do
        redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "redis did not start; its log:" >&2
    cat "$work/redis.log" >&2
    return 1
}

start_replica() { # index
    "$bin" --feed "$work/feed.json" --drain-timeout 5 \
        --listen "127.0.0.1:$(public_port "$1")" --admin-listen "127.0.0.1:$(admin_port "$1")" \
        --ledger "redis://127.0.0.1:$redis_port" --ledger-flush-interval "$FLUSH_INTERVAL" \
        --budget-sync-interval "$SYNC_INTERVAL" \
        --event-key-file "$work/event.key" --public-url "http://127.0.0.1:$lb_port" \
        2>> "$work/replica-$1.log" &
    pid[$1]=$!
    wait_ready "http://127.0.0.1:$(public_port "$1")" 100 0.05 "$work/replica-$1.log" "replica $1"
}

write_haproxy() {
    local backends=() i
    for i in $(seq 0 $((REPLICAS - 1))); do backends+=("$(public_port "$i")"); done
    # Only what proves no byte of an answer came back: a retried answer
    # that was counted would show as served > answers.
    haproxy_config "$lb_port" "conn-failure empty-response" "${backends[@]}" > "$work/haproxy.cfg"
}

start_redis
for i in $(seq 0 $((REPLICAS - 1))); do start_replica "$i"; done
write_haproxy
haproxy -f "$work/haproxy.cfg" -db 2> "$work/haproxy.log" &
haproxy_pid=$!
wait_ready "http://127.0.0.1:$lb_port" 100 0.05 "$work/haproxy.log" haproxy
sleep 0.5 # every replica passes HAProxy's first checks (rise 2 × 200 ms)

echo "fleet: $REPLICAS replicas, redis :$redis_port, haproxy :$lb_port; ${SECONDS_OF_LOAD}s of load, $THREADS client threads${CAP:+; daily_cap $CAP on $CAPPED_ADS ads}"
beacons=()
if [ -n "$CAP" ]; then beacons=(--beacons impression); fi
python3 loadtest/beacons.py "http://127.0.0.1:$lb_port" "$work/client.json" \
    --seconds "$SECONDS_OF_LOAD" --max-answers "$MAX_ANSWERS" \
    --threads "$THREADS" --vast-share "$VAST_SHARE" "${beacons[@]}" &
loader=$!

redis_down=0
if [ "$RESTARTS" = yes ]; then
    sleep "$(awk -v s="$SECONDS_OF_LOAD" 'BEGIN { print s / 5 }')"
    echo "  redis: SIGTERM"
    redis_down_at=$(date +%s.%N)
    kill -TERM "$redis_pid"
    wait "$redis_pid" || true
    sleep 2
    start_redis
    redis_down=$(awk -v a="$redis_down_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "  redis: back on :$redis_port after $redis_down s"
    sleep 2

    for i in $(seq 0 $((REPLICAS - 1))); do
        kill -TERM "${pid[$i]}"
        if wait "${pid[$i]}"; then echo "  replica $i drained and exited 0"; else echo "  replica $i exited $?"; fi
        sleep 0.5 # HAProxy's check sees it gone
        start_replica "$i"
        sleep 0.5 # ... and back (rise 2 × 200 ms)
        echo "  replica $i back and ready"
    done
fi

status=0
wait "$loader" || status=$?
loader=""
[ "$status" -eq 0 ] || { echo "load client failed ($status)" >&2; exit 1; }

sleep $((2 * FLUSH_INTERVAL))
# Evidence that the outage was felt: the replicas' logs (kept across their
# restarts) name every flush that failed while Redis was down.
failed_flushes=""
for i in $(seq 0 $((REPLICAS - 1))); do
    failed_flushes+=" r$i=$(grep -c 'ledger flush failed' "$work/replica-$i.log" || true)"
done
echo "  flushes that failed while Redis was down (then retried):$failed_flushes"
for i in $(seq 0 $((REPLICAS - 1))); do
    for day in $(python3 -c 'import json,sys; print(*json.load(open(sys.argv[1]))["days"])' "$work/client.json"); do
        curl -fsS "http://127.0.0.1:$(admin_port "$i")/stats?day=$day" > "$work/stats-$i-$day.json"
    done
    curl -fsS "http://127.0.0.1:$(admin_port "$i")/metrics" > "$work/metrics-$i.txt" || true
done

result=0
python3 - "$work" "$REPLICAS" "$CAP" "$THREADS" "$SYNC_INTERVAL" "$FLUSH_INTERVAL" "$redis_down" <<'PY' || result=$?
import glob, json, sys
work, replicas, cap = sys.argv[1], int(sys.argv[2]), sys.argv[3]
threads, sync, flush, redis_down = int(sys.argv[4]), *map(float, sys.argv[5:])
client = json.load(open(f"{work}/client.json"))
names = ["served", "impression", "start", "firstQuartile", "midpoint",
         "thirdQuartile", "complete", "skip", "click", "error"]

def expected(ad):
    row = {n: 0 for n in names}
    row["served"] = client["answers"].get(ad, 0)
    row.update(client["events"].get(ad, {}))
    return row

# Every day the run touched, summed (a run across UTC midnight spans two).
seen = []
for r in range(replicas):
    rows = {}
    for path in sorted(glob.glob(f"{work}/stats-{r}-*.json")):
        for ad in json.load(open(path))["ads"]:
            row = rows.setdefault(ad["id"], {n: 0 for n in names})
            for n in names:
                row[n] += ad.get(n, 0)
    seen.append(rows)

ids = sorted(set(client["answers"]) | {a for rows in seen for a in rows})
short = ["served", "impr", "start", "q1", "mid", "q3", "compl", "skip", "click", "err"]
print()
print(f"{'ad':<10} {'who':<7} " + " ".join(f"{s:>7}" for s in short))
mismatches = 0
for ad in ids:
    want = expected(ad)
    print(f"{ad:<10} {'client':<7} " + " ".join(f"{want[n]:>7}" for n in names))
    for r, rows in enumerate(seen):
        got = rows.get(ad, {n: 0 for n in names})
        bad = [n for n in names if got[n] != want[n]]
        mismatches += len(bad)
        cells = " ".join(f"{got[n]:>6}{'!' if n in bad else ' '}" for n in names)
        print(f"{'':<10} {'r' + str(r):<7} {cells}")

total = {n: sum(expected(a)[n] for a in ids) for n in names}
print(f"{'total':<10} {'client':<7} " + " ".join(f"{total[n]:>7}" for n in names))
print()
print("client:", json.dumps({k: client[k] for k in
      ["statuses", "lost_requests", "no_ad", "vast_answers", "beacon_retries",
       "beacon_failures", "malformed", "seconds"]}))
failed_requests = client["lost_requests"] + sum(
    v for k, v in client["statuses"].items() if k not in ("200", "404"))
problems = []
if mismatches:
    problems.append(f"{mismatches} counts differ between a replica's /stats and the client (marked !)")
if failed_requests:
    problems.append(f"{failed_requests} ad requests failed")
if client["malformed"]:
    problems.append("answers the client could not read")
if not total["served"]:
    problems.append("no ad was served")
if cap:
    # README "Budgets", "Overshoot": the bound with a whole replica's
    # answer rate standing in for one ad's.
    cap = int(cap)
    rate = total["served"] / max(client["seconds"], 0.1) / replicas
    bound = (replicas - 1) * rate * (sync + flush + redis_down) + threads
    capped = open(f"{work}/feed.json.capped").read().split()
    print(f"budgets: rate {rate:.0f} answers/s per replica; bound = {replicas - 1} x {rate:.0f} x "
          f"({sync:g} + {flush:g} + {redis_down:g}) + {threads} = {bound:.0f} past the cap of {cap}")
    for ad in capped:
        got = seen[0].get(ad, {}).get("impression", 0)
        print(f"  {ad}: {got} impressions, {got - cap} over")
        if got < cap:
            problems.append(f"{ad} got {got} of its cap of {cap}: raise SECONDS_OF_LOAD or lower CAP")
        elif got - cap > bound:
            problems.append(f"{ad}: {got - cap} past the cap, bound {bound:.0f}")
for p in problems:
    print("FAIL:", p)
if not problems:
    print(f"OK: every replica's /stats equals the client's counts "
          f"({total['served']} served, {total['impression']} impressions, {total['complete']} completes)")
sys.exit(1 if problems else 0)
PY
if [ "$result" -ne 0 ]; then
    echo "ledger metrics per replica:" >&2
    for i in $(seq 0 $((REPLICAS - 1))); do
        grep -i 'ledger\|event' "$work/metrics-$i.txt" | grep -v '^#' | sed "s/^/  r$i /" >&2 || true
    done
fi
exit "$result"
