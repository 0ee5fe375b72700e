#!/usr/bin/env bash
# Starts adserver (debug build) on the sample feed on loopback ports and
# checks docs/openapi.yaml against its real answers. Run by .ci/run. The
# ports are free ones unless PORT and ADMIN_PORT are given, so two runs on
# one machine do not meet.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
python3 -c "import yaml, jsonschema, openapi_spec_validator" 2>/dev/null ||
    pip install -q pyyaml jsonschema openapi-spec-validator
cargo build --quiet --bin adserver
ports=$(free_ports 2)
read -r free free_admin <<< "$ports"
port=${PORT:-$free}; admin=${ADMIN_PORT:-$free_admin}
log=$(mktemp)
"$(built debug adserver)" --feed data/ads.json \
    --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" 2> "$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
wait_ready "http://127.0.0.1:$port" 100 0.1 "$log"
python3 docs/check_openapi.py "http://127.0.0.1:$port" "http://127.0.0.1:$admin"
