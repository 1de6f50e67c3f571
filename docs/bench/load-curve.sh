#!/usr/bin/env bash
# The load curve of docs/performance.md: paced runs from 250 to 4,000 changes/s (one change per
# publish) and one flat-out run (batches of 50 from 4 publishers), one webhook, SQLite; one JSON
# line per run, then the plot.
#   docs/bench/load-curve.sh [target/release/cxhooks]
set -euo pipefail
bin="${1:-target/release/cxhooks}"
out=docs/bench/load-curve.jsonl
: > "$out"
for rate in 250 500 1000 2000 3000 4000; do
  changes=$(( rate * 15 > 5000 ? rate * 15 : 5000 ))
  # A rate that cannot be sustained ends its run with an error: say so and go on.
  "$bin" bench --webhooks 1 --batch 1 --rate "$rate" --changes "$changes" 2> "target/load-curve-$rate.err" >> "$out" \
    || echo "rate $rate: no result ($(tail -1 "target/load-curve-$rate.err"))" >&2
done
"$bin" bench --webhooks 1 --changes 60000 2>/dev/null >> "$out"
python3 docs/bench/plot.py "$out" docs/bench/load-curve.png
