#!/usr/bin/env bash
# Overshoot past a daily cap across a fleet (README "Budgets"): N replicas
# share one Redis ledger; every ad of the sample feed (windows widened to
# the whole day) gets `daily_cap` CAP; one loadtest/beacons.py client per
# replica asks for ads and fires every answer's beacons (impression first)
# back at the same replica. After the load, /stats gives each ad's fleet
# impressions; each must be at most CAP plus the README bound
#
#     replicas × rate × (sync interval + flush interval) + beacons in flight
#
# with `rate` taken as a replica's whole answer rate (an upper bound for one
# ad's) and beacons in flight as replicas × client threads (a thread fires
# its answer's beacons before it asks again).
#
#   bash loadtest/budgets.sh                      # 3 replicas, CAP 2000, 20 s
#   REPLICAS=3 CAP=3000 SECONDS_OF_LOAD=30 bash loadtest/budgets.sh
#   ADSERVER_BIN=/path/to/adserver bash loadtest/budgets.sh   # skip the build
#
# Everything on 127.0.0.1 on free ports, stopped at exit; bounded by
# SECONDS_OF_LOAD and MAX_ANSWERS. Builds the debug binary unless
# ADSERVER_BIN is given (the bound holds at any speed: it scales with rate).
set -euo pipefail
cd "$(dirname "$0")/.."

REPLICAS=${REPLICAS:-3}
CAP=${CAP:-2000}
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-20}
THREADS=${THREADS:-2}
MAX_ANSWERS=${MAX_ANSWERS:-200000}
SYNC_INTERVAL=1  # --budget-sync-interval
FLUSH_INTERVAL=1 # --ledger-flush-interval

# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
need redis-server redis-server
work=$(mktemp -d)
if [ -n "${ADSERVER_BIN:-}" ]; then
    bin=$ADSERVER_BIN
else
    cargo build --quiet --bin adserver
    # The shared target dir is rebuilt by others: keep our own copy.
    cp "$(built debug adserver)" "$work/adserver"
    bin=$work/adserver
fi
"$bin" --help | grep -q -- --budget-sync-interval || { echo "$bin has no budgets" >&2; exit 1; }

read -r -a ports <<< "$(free_ports $((2 * REPLICAS + 1)))"
redis_port=${ports[0]}
public_port() { echo "${ports[$((1 + 2 * $1))]}"; }
admin_port() { echo "${ports[$((2 + 2 * $1))]}"; }

declare -A pid
declare -A loader
redis_pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    for p in "${loader[@]}" "${pid[@]}" "$redis_pid"; do
        if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

python3 - data/ads.json "$work/feed.json" "$CAP" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for ad in doc["ads"]:
    ad["start_hour"] = ad["end_hour"] = 0  # equal ends: all day
    ad["daily_cap"] = int(sys.argv[3])
json.dump(doc, open(sys.argv[2], "w"))
PY

redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work" --save '' --appendonly no \
    > "$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.05
done

for i in $(seq 0 $((REPLICAS - 1))); do
    "$bin" --feed "$work/feed.json" \
        --listen "127.0.0.1:$(public_port "$i")" --admin-listen "127.0.0.1:$(admin_port "$i")" \
        --ledger "redis://127.0.0.1:$redis_port" --ledger-flush-interval "$FLUSH_INTERVAL" \
        --budget-sync-interval "$SYNC_INTERVAL" \
        --event-key-file "$work/event.key" --public-url "http://127.0.0.1:$(public_port "$i")" \
        2> "$work/replica-$i.log" &
    pid[$i]=$!
    wait_ready "http://127.0.0.1:$(public_port "$i")" 100 0.05 "$work/replica-$i.log" "replica $i"
done

echo "budgets: $REPLICAS replicas, redis :$redis_port, daily_cap $CAP on every ad, ${SECONDS_OF_LOAD}s, $THREADS threads per replica"
for i in $(seq 0 $((REPLICAS - 1))); do
    python3 loadtest/beacons.py "http://127.0.0.1:$(public_port "$i")" "$work/client-$i.json" \
        --seconds "$SECONDS_OF_LOAD" --max-answers "$MAX_ANSWERS" \
        --threads "$THREADS" --vast-share 0 > "$work/client-$i.log" &
    loader[$i]=$!
done
for i in $(seq 0 $((REPLICAS - 1))); do
    wait "${loader[$i]}"
    loader[$i]=""
done
sleep $((2 * FLUSH_INTERVAL))
day=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["days"][-1])' "$work/client-0.json")
curl -fsS "http://127.0.0.1:$(admin_port 0)/stats?day=$day" > "$work/stats.json"

python3 - "$work" "$REPLICAS" "$CAP" "$THREADS" "$SYNC_INTERVAL" "$FLUSH_INTERVAL" <<'PY'
import json, sys
work, replicas, cap, threads, sync, flush = sys.argv[1], *map(int, sys.argv[2:])
clients = [json.load(open(f"{work}/client-{r}.json")) for r in range(replicas)]
rate = max(sum(c["answers"].values()) / max(c["seconds"], 0.1) for c in clients)
bound = replicas * rate * (sync + flush) + replicas * threads
stats = {row["id"]: row for row in json.load(open(f"{work}/stats.json"))["ads"]}
fired = {}
for c in clients:
    for ad, events in c["events"].items():
        fired[ad] = fired.get(ad, 0) + events.get("impression", 0)
print(f"\nper replica: at most {rate:.0f} answers/s; bound = {replicas} x {rate:.0f} x ({sync}+{flush}) + {replicas}x{threads} = {bound:.0f} past the cap")
print(f"{'ad':<10} {'fired':>7} {'counted':>8} {'over cap':>9}")
problems = []
for ad in sorted(fired):
    counted = stats.get(ad, {}).get("impression", 0)
    over = counted - cap
    print(f"{ad:<10} {fired[ad]:>7} {counted:>8} {over:>9}")
    if counted != fired[ad]:
        problems.append(f"{ad}: /stats {counted} != client {fired[ad]}")
    if over > bound:
        problems.append(f"{ad}: {over} past the cap, bound {bound:.0f}")
capped = [ad for ad in fired if stats.get(ad, {}).get("impression", 0) >= cap]
if not capped:
    problems.append("no ad reached its cap: raise SECONDS_OF_LOAD or lower CAP")
for p in problems:
    print("FAIL:", p)
if not problems:
    worst = max(stats[a]["impression"] - cap for a in capped)
    print(f"OK: {len(capped)} ads reached the cap of {cap}; worst overshoot {worst} (bound {bound:.0f})")
sys.exit(1 if problems else 0)
PY
