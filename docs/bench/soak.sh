#!/usr/bin/env bash
# Soak: `cxhooks bench` paced at a steady rate for MINUTES (default 30), RSS sampled every
# minute; writes docs/bench/soak-rss.tsv (minute, RSS MB) and docs/bench/soak.jsonl (the
# bench line).
#   docs/bench/soak.sh [target/release/cxhooks] [rate=500] [minutes=30]
set -euo pipefail
bin="${1:-target/release/cxhooks}"
rate="${2:-500}"
minutes="${3:-30}"
"$bin" bench --webhooks 1 --batch 1 --rate "$rate" --changes $(( rate * 60 * minutes )) \
  > docs/bench/soak.jsonl 2> target/soak.err &
pid=$!
printf 'minute\trss_mb\n' > docs/bench/soak-rss.tsv
m=0
while kill -0 "$pid" 2> /dev/null; do
  rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
  [ -n "$rss_kb" ] && printf '%s\t%s\n' "$m" "$(( rss_kb / 1024 ))" >> docs/bench/soak-rss.tsv
  sleep 60
  m=$(( m + 1 ))
done
wait "$pid"
cat docs/bench/soak-rss.tsv
