#!/usr/bin/env bash
# The realistic mix against a running server with wrk.
#   bash loadtest/wrk.sh [URL] [CONNECTIONS] [SECONDS]
#   bash loadtest/wrk.sh http://127.0.0.1:8080 64 10
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-http://127.0.0.1:8080}
connections=${2:-64}
seconds=${3:-10}
# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
need wrk wrk
exec wrk -t1 -c"$connections" -d"${seconds}s" --latency -s loadtest/mix.lua "$url"
