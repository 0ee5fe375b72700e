#!/usr/bin/env bash
# Starts adserver (debug build) on the sample feed on loopback ports and
# checks docs/openapi.yaml against its real answers. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import yaml, jsonschema, openapi_spec_validator" 2>/dev/null ||
    pip install -q pyyaml jsonschema openapi-spec-validator
cargo build --quiet --bin adserver
binary="${CARGO_TARGET_DIR:-target}/debug/adserver"
port=${PORT:-18580}; admin=${ADMIN_PORT:-18581}
log=$(mktemp)
"$binary" --feed data/ads.json \
    --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" 2> "$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break
    sleep 0.1
done
if ! curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; then
    echo "adserver did not become ready; its log:" >&2
    cat "$log" >&2
    exit 1
fi
python3 docs/check_openapi.py "http://127.0.0.1:$port" "http://127.0.0.1:$admin"
