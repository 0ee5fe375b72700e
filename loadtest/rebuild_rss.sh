#!/usr/bin/env bash
# The resident set of a server that rebuilds a large catalog again and
# again, with no request load: one figure per rebuild, so a resident set
# that creeps up (memory the allocator cannot reuse) shows as a rising
# series, and one that levels off as a flat one (README "Catalog size").
#
#   bash loadtest/rebuild_rss.sh                    # 1M ads, a rebuild every 3 s for 36 s
#   ADS=190000 DURATION=30 bash loadtest/rebuild_rss.sh
#
# Same server and feed flipping as rebuild.sh (loadtest/rebuilding_server.sh):
# a release build on core 0, 127.0.0.1 only; it stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-36}
REBUILD_EVERY=${REBUILD_EVERY:-3}
# shellcheck source=loadtest/rebuilding_server.sh
. loadtest/rebuilding_server.sh

rss() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$server/status"; }
version() {
    curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^adserver_catalog_version / { print $2 }'
}

# flipper's rebuilds, one RSS reading just before each next SIGHUP.
series=()
end=$((SECONDS + DURATION)); flip=b
while [ "$SECONDS" -lt "$end" ]; do
    ln -sfn "$work/$flip.json" "$work/feed.tmp" && mv -T "$work/feed.tmp" "$work/feed.json"
    kill -HUP "$server"
    flip=$([ "$flip" = b ] && echo a || echo b)
    sleep "$REBUILD_EVERY"
    series+=("$(rss)")
done
echo "resident after each rebuild (MiB): ${series[*]}"
echo "catalogs built: $(version) (the first load included)"
awk '/^VmHWM/ { printf "peak resident: %d MiB\n", $2 / 1024 }' "/proc/$server/status"
