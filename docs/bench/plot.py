"""Plots `cxhooks bench` lines (JSON, one per run) as throughput and latency against load.

    python3 docs/bench/plot.py docs/bench/load-curve.jsonl docs/bench/load-curve.png

Each line is one paced run (`--rate R`) or one flat-out run (no `rate`); the x axis is the
offered load in deliveries/s (rate × webhooks), flat-out runs are drawn at their delivered rate.
Needs matplotlib (`pip install matplotlib`, e.g. into target/plot-venv).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, out: str) -> None:
    runs = [json.loads(line) for line in open(src) if line.strip().startswith("{")]
    paced = sorted((r for r in runs if r.get("rate")), key=lambda r: r["rate"])
    flat = [r for r in runs if not r.get("rate")]
    per_change = paced[0]["deliveries"] / paced[0]["changes"] if paced else 1

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8), sharex=True)
    offered = [r["rate"] * per_change for r in paced]
    top.plot(offered, [r["deliveries_per_s"] for r in paced], "o-", label="delivered (paced runs)")
    top.plot(offered, offered, ":", color="grey", label="offered")
    for r in flat:
        top.axhline(r["deliveries_per_s"], color="tab:red", ls="--",
                    label=f"flat out: {r['deliveries_per_s']:.0f}/s")
        if r.get("sign_only_per_s"):
            top.axhline(r["sign_only_per_s"], color="tab:green", ls="-.",
                        label=f"signing bound (--sign-only): {r['sign_only_per_s']:.0f}/s")
    top.set_ylabel("deliveries/s")
    top.set_title("cxhooks bench: SQLite, RSA-2048, receiver on the same 2-core machine")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)

    for key, style in (("p50", "o-"), ("p99", "s-"), ("max", "^:")):
        bottom.plot(offered, [r["latency_ms"][key] for r in paced], style, label=key)
    bottom.set_yscale("log")
    bottom.set_ylabel("ingest-to-delivery latency, ms")
    bottom.set_xlabel("offered load, deliveries/s")
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out} from {len(runs)} runs")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
