"""Plots a retention soak's series (`cxhooks bench --series`, one JSON line a minute): store size,
RSS and delivery latency (p50, p99 of each minute) against time, one line per store.

    python3 docs/bench/plot_soak.py docs/bench/retention-soak.png \\
        docs/bench/retention-soak-sqlite.jsonl docs/bench/retention-soak-postgres.jsonl

A dotted vertical line marks the retention (10 minutes in docs/bench/retention-soak.sh): the
purge has had nothing to remove before it. Needs matplotlib (`pip install matplotlib`, e.g.
into target/plot-venv).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out: str, *series: str) -> None:
    fig, (size, rss, latency) = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    for src in series:
        points = [json.loads(line) for line in open(src) if line.strip().startswith("{")]
        name = "PostgreSQL" if "postgres" in src else "SQLite"
        minutes = [p["t_s"] / 60 for p in points]
        size.plot(minutes, [p["store_mb"] for p in points], label=name)
        rss.plot(minutes, [p["rss_mb"] for p in points], label=name)
        latency.plot(minutes, [p["latency_ms"]["p99"] for p in points], label=f"{name} p99")
        latency.plot(minutes, [p["latency_ms"]["p50"] for p in points], ":", label=f"{name} p50")
    for axis, label in [(size, "store (MB)"), (rss, "RSS (MB)"), (latency, "latency (ms)")]:
        axis.axvline(10, color="grey", ls=":")
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.legend()
        axis.grid(alpha=0.3)
    latency.set_xlabel("minutes at 500 changes/s, retention 10 minutes (dotted)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
