# shellcheck shell=bash
# What every load script (and docs/check_openapi.sh) needs, in one place.
# Sourced after the script has changed to the repository root:
#
#   cd "$(dirname "$0")/.."
#   # shellcheck source=loadtest/lib.sh
#   . loadtest/lib.sh
#
# Defines functions only, except `pin_cores`, which sets two arrays when
# called. Nothing here starts a process that outlives its caller.

# need COMMAND PACKAGE: install the Debian package that provides COMMAND,
# only when COMMAND is missing, so a machine that has it is not touched.
need() {
    command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2"; }
}

# require COMMAND HOW: stop with HOW when COMMAND is missing, for tools that
# are not a quick apt-get away (oha is a long `cargo install`).
require() {
    command -v "$1" >/dev/null || { echo "$1 missing: $2" >&2; exit 1; }
}

# built PROFILE NAME: where cargo put a binary (`built release adserver`,
# `built release examples/hello`); honours CARGO_TARGET_DIR as cargo does.
built() {
    echo "${CARGO_TARGET_DIR:-target}/$1/$2"
}

# wait_ready BASE_URL [TRIES] [PAUSE] [LOG] [NAME]: poll BASE_URL/readyz
# until it answers 2xx, at most TRIES times PAUSE seconds apart (default
# 100 × 0.1 s), so a server that never comes up stops the script instead of
# hanging it. On failure prints which server, then LOG if one is given, on
# stderr, and returns 1 (under `set -e` that ends the script).
wait_ready() {
    local url=$1/readyz tries=${2:-100} pause=${3:-0.1} log=${4:-} name=${5:-adserver}
    for _ in $(seq 1 "$tries"); do
        curl -fs -o /dev/null "$url" && return 0
        sleep "$pause"
    done
    curl -fs -o /dev/null "$url" && return 0
    if [ -n "$log" ]; then
        echo "$name did not become ready at $url; its log:" >&2
        cat "$log" >&2
    else
        echo "$name did not become ready at $url" >&2
    fi
    return 1
}

# pin_cores --require | --if-possible: sets `pin_server` (core 0) and
# `pin_load` (core 1) to taskset prefixes, so the server and the load
# generator do not share a core and the figures measure the server. With
# fewer than two cores (or no taskset) --if-possible leaves both empty and
# commands run unpinned; --require stops the script instead, for
# measurements that mean nothing unpinned.
# shellcheck disable=SC2034 # the arrays are read by the sourcing script
pin_cores() {
    pin_server=()
    pin_load=()
    case $1 in
    --require)
        need taskset util-linux
        if [ "$(nproc)" -lt 2 ]; then
            echo "need two cores to pin the server and the load generator apart" >&2
            exit 1
        fi
        ;;
    --if-possible) ;;
    *) echo "pin_cores: --require or --if-possible, not '$1'" >&2; exit 2 ;;
    esac
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        pin_server=(taskset -c 0)
        pin_load=(taskset -c 1)
    fi
}

# median: the middle of the numbers on stdin (spaces or newlines between
# them); the lower middle for an even count. Runs on a shared machine vary,
# so every script reports medians of alternating rounds.
median() {
    tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# wrk_rps: wrk's "Requests/sec:" line on stdin as a whole number.
wrk_rps() {
    awk '/^Requests\/sec:/ { printf "%.0f", $2 }'
}

# free_ports [COUNT]: COUNT (default 1) consecutive loopback TCP ports
# nothing listens on, on one line (`read -r a b <<< "$(free_ports 2)"`),
# for scripts whose servers would otherwise collide with another run on the
# same machine. Picks below Linux's ephemeral range (32768+), so no
# outgoing connection holds them; bounded to 50 tries. Another process can
# still take a port between this check and the server's bind (a short
# window); the server then fails to bind and says so in its log.
free_ports() {
    local count=${1:-1} base port
    for _ in $(seq 1 50); do
        base=$((20000 + RANDOM % (12000 - count)))
        for port in $(seq "$base" $((base + count - 1))); do
            # A refused connect means no listener; the subshell closes fd 3.
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                continue 2
            fi
        done
        seq -s ' ' "$base" $((base + count - 1))
        return 0
    done
    echo "no $count free loopback ports found in 50 tries" >&2
    return 1
}

# cpu_us PID: the CPU time PID's process has used so far (user + system, all
# its threads), in microseconds, from /proc/PID/stat. Read it before and
# after a run and divide by the requests served: CPU per request holds
# steadier than req/s on a shared machine, where another job on the
# server's core lowers throughput but not what each request costs. The
# kernel counts in clock ticks (10 ms at the usual 100 Hz), so a run needs
# a few seconds of busy server for the figure to mean anything.
cpu_us() {
    local stat
    stat=$(cat "/proc/$1/stat") || return 1
    # The command name (field 2) may hold spaces; count from after its ')'.
    # There utime and stime are the 12th and 13th fields.
    awk -v tck="$(getconf CLK_TCK)" '{ printf "%.0f", ($12 + $13) * 1000000 / tck }' <<< "${stat##*) }"
}

# wrk_requests: the requests wrk completed ("361234 requests in 4.00s"),
# from its output on stdin.
wrk_requests() {
    awk '$2 == "requests" && $3 == "in" { print $1 }'
}

# wrk_non2xx: wrk's "Non-2xx or 3xx responses" count on stdin, 0 without
# the line.
wrk_non2xx() {
    awk '/^  Non-2xx or 3xx responses:/ { n = $5 } END { print n + 0 }'
}

# EVENT_NAMES: every event a player may report (README "Delivery").
EVENT_NAMES="impression start firstQuartile midpoint thirdQuartile complete skip click error"

# event_paths BASE_URL COUNT: real beacons of the server at BASE_URL, as
# request paths on stdout: the event URLs of COUNT ad answers, each followed
# by every name in EVENT_NAMES (`/event?t=…&e=impression`, `…&e=start`, …),
# the way a player reports one ad, so COUNT × 9 lines in all. The answers
# come from the realistic mix (loadtest/queries.txt, whose hits depend on
# the hour) through one curl process, at most 20 batches of COUNT
# requests. Fails saying why when no answer carries an `event_url` (the
# server runs with `--tracking off`, or nothing is on in this hour).
event_paths() {
    local base=$1 count=$2 urls batch
    urls=$(mktemp)
    for batch in $(seq 1 20); do
        awk -v base="$base" -v n="$count" -v skip="$batch" '
            NF { q[++m] = $0 }
            END { for (i = 0; i < n; i++) printf "url = \"%s%s\"\n", base, q[(i + skip) % m + 1] }' \
            loadtest/queries.txt |
            curl -s --config - -w '\n' |
            sed -n -E 's#.*"event_url":"https?://[^/"]*([^"]*)".*#\1#p' >> "$urls"
        [ "$(wc -l < "$urls")" -ge "$count" ] && break
    done
    if [ ! -s "$urls" ]; then
        rm -f "$urls"
        echo "no answer from $base carried an event_url (tracking off, or no ad on this hour?)" >&2
        return 1
    fi
    head -n "$count" "$urls" | awk -v names="$EVENT_NAMES" '
        BEGIN { k = split(names, e, " ") }
        { for (i = 1; i <= k; i++) printf "%s&e=%s\n", $0, e[i] }'
    rm -f "$urls"
}

# haproxy_config LB_PORT RETRY_ON PORT...: an HAProxy config on stdout that
# balances 127.0.0.1:LB_PORT round-robin over 127.0.0.1:PORT..., health-
# checked on /readyz every 200 ms, retrying on RETRY_ON (HAProxy's
# `retry-on` list: what a script may safely send again).
haproxy_config() {
    local lb_port=$1 retry_on=$2 i=0 port
    shift 2
    cat <<CFG
global
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 1s
    timeout client 30s
    timeout server 5s
    retries 3
    option redispatch 1
    retry-on $retry_on
frontend public
    bind 127.0.0.1:$lb_port
    default_backend adservers
backend adservers
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 1 rise 2
CFG
    for port in "$@"; do
        echo "    server r$i 127.0.0.1:$port check"
        i=$((i + 1))
    done
}
