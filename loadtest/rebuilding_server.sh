# shellcheck shell=bash
# Sourced by rebuild.sh and core_stall.sh from the repository root: a release
# adserver on core 0 serving a generated feed of ADS ads, and `flipper`,
# which changes that feed and sends SIGHUP every REBUILD_EVERY seconds for
# DURATION seconds, so the server rebuilds the whole catalog again and
# again. Sets `work`, `server` and the `pin_cores` arrays, and stops the
# server and removes `work` on exit. 127.0.0.1 only.

ADS=${ADS:-1000000}
DURATION=${DURATION:-10}
REBUILD_EVERY=${REBUILD_EVERY:-2}
PORT=${PORT:-18480}
ADMIN_PORT=${ADMIN_PORT:-18490}

# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh # again: it only defines functions, and this file stands alone
pin_cores --require
work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --bin adserver --example genfeed
"$(built release examples/genfeed)" --ads "$ADS" > "$work/a.json"
# Same ads plus trailing whitespace: a different body, so every reload rebuilds.
{ cat "$work/a.json"; echo "  "; } > "$work/b.json"
ln -s "$work/a.json" "$work/feed.json"
echo "feed: $ADS ads, $(du -h "$work/a.json" | cut -f1)"

"${pin_server[@]}" "$(built release adserver)" \
    --feed "$work/feed.json" --feed-max-bytes 1073741824 --refresh-interval 3600 \
    --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    2> "$work/server.log" &
server=$!
# A million ads take a while to parse and compile: up to 60 s.
wait_ready "http://127.0.0.1:$PORT" 600 0.1 "$work/server.log"
echo "resident once loaded: $(awk '/^VmRSS/ { printf "%d MiB", $2 / 1024 }' "/proc/$server/status")"

flipper() { # a rebuild every REBUILD_EVERY seconds for DURATION seconds
    local end=$((SECONDS + DURATION)) flip=b
    while [ "$SECONDS" -lt "$end" ]; do
        # Swap a symlink, not the bytes: copying 124 MiB every 2 s would load
        # a core and blur exactly what is being measured.
        ln -sfn "$work/$flip.json" "$work/feed.tmp" && mv -T "$work/feed.tmp" "$work/feed.json"
        kill -HUP "$server"
        flip=$([ "$flip" = b ] && echo a || echo b)
        sleep "$REBUILD_EVERY"
    done
}
