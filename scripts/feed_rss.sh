#!/bin/bash
# Peak RSS of adserver loading one feed file: start it, wait for the load, SIGTERM.
# Usage: scripts/feed_rss.sh BINARY FEED_FILE   (README, "Live campaigns")
bin=$1; feed=$2
log=$(mktemp)
/usr/bin/time -v "$bin" --feed "$feed" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --refresh-interval 3600 2>"$log" &
pid=$!
for i in $(seq 1 600); do
  grep -q "catalog loaded\|feed load failed" "$log" && break
  sleep 0.5
done
sleep 1
child=$(pgrep -P $pid)
kill -TERM $child
wait $pid
lines=$(grep -c "WARN\|INFO\|ERROR" "$log")
echo "$(basename $feed) $(stat -c %s $feed) bytes: maxrss=$(grep 'Maximum resident' $log | awk '{print $6}') KiB, log_lines=$lines, log_bytes=$(grep -v '^\s' $log | wc -c) $(grep -o 'ads=[0-9]* skipped=[0-9]*' $log | head -1) wall=$(grep 'Elapsed' $log | awk '{print $8}')"
rm -f "$log"
