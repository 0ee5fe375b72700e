#!/usr/bin/env bash
# The realistic mix against a running server with oha, which reads one URL
# per line and picks among them at random.
#   bash loadtest/oha.sh [URL] [CONNECTIONS] [SECONDS]
# oha is not packaged: `cargo install --locked oha` once (about 9 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-http://127.0.0.1:8080}
connections=${2:-64}
seconds=${3:-10}
# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
require oha "cargo install --locked oha"
urls=$(mktemp)
trap 'rm -f "$urls"' EXIT
sed "s#^#$base#" loadtest/queries.txt > "$urls"
exec oha --no-tui -c "$connections" -z "${seconds}s" --urls-from-file "$urls"
