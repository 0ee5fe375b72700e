#!/usr/bin/env bash
# Peak resident memory and log volume of adserver loading one feed file:
# start it under /usr/bin/time -v, wait for the load to finish, SIGTERM.
# Usage: loadtest/feed_rss.sh BINARY FEED_FILE   (README, "Live campaigns")
# Bounded: at most 300 s of waiting for the load.
set -euo pipefail
bin=$1; feed=$2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
/usr/bin/time -v "$bin" --feed "$feed" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --refresh-interval 3600 2>"$log" &
timer=$!
for _ in $(seq 1 600); do
    grep -q "catalog loaded\|feed load failed" "$log" && break
    sleep 0.5
done
sleep 1
kill -TERM "$(pgrep -P "$timer")"
wait "$timer" || true
lines=$(grep -c "WARN\|INFO\|ERROR" "$log" || true)
printf '%s %s bytes: maxrss=%s KiB, log_lines=%s, log_bytes=%s %s wall=%s\n' \
    "$(basename "$feed")" "$(stat -c %s "$feed")" \
    "$(awk '/Maximum resident/ {print $6}' "$log")" "$lines" \
    "$(grep -v '^\s' "$log" | wc -c)" \
    "$(grep -o 'ads=[0-9]* skipped=[0-9]*' "$log" | head -1)" \
    "$(awk '/Elapsed/ {print $8}' "$log")"
