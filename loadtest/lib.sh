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
