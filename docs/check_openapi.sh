#!/usr/bin/env bash
# Starts adserver (debug build) on the sample feed on loopback ports and
# checks docs/openapi.yaml against its real answers. Run by .ci/run. Two
# servers: one with the defaults (tracking on, memory ledger), one with
# `--tracking off` for the untracked answer shapes. The ports are free ones
# unless PORT and ADMIN_PORT are given (for the first server), so two runs
# on one machine do not meet.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
python3 -c "import yaml, jsonschema, openapi_spec_validator" 2>/dev/null ||
    pip install -q pyyaml jsonschema openapi-spec-validator
cargo build --quiet --bin adserver
ports=$(free_ports 4)
read -r free free_admin off off_admin <<< "$ports"
port=${PORT:-$free}; admin=${ADMIN_PORT:-$free_admin}
log=$(mktemp)
off_log=$(mktemp)
"$(built debug adserver)" --feed data/ads.json \
    --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" 2> "$log" &
server=$!
"$(built debug adserver)" --feed data/ads.json --tracking off \
    --listen "127.0.0.1:$off" --admin-listen "127.0.0.1:$off_admin" 2> "$off_log" &
off_server=$!
trap 'kill $server $off_server 2>/dev/null || true; rm -f "$log" "$off_log"' EXIT
wait_ready "http://127.0.0.1:$port" 100 0.1 "$log"
wait_ready "http://127.0.0.1:$off" 100 0.1 "$off_log" "adserver --tracking off"
python3 docs/check_openapi.py "http://127.0.0.1:$port" "http://127.0.0.1:$admin" \
    "http://127.0.0.1:$off"
