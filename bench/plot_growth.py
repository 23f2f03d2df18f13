"""plot_growth.py RESULTS OUTDIR -- draws the cost curves of `make bench`
as PNG files from the JSON lines of bench_key_index (one per store) and
bench_scaling in RESULTS (bench-out/results.jsonl):

  ingest_vs_size.png        tasks/s at each store size, per store (log)
  query_vs_size.png         top-10 by a key and a narrow range on it (newest
                            first, and sorted by the key), with and
                            without the key's index, per store (ms, log)
  index_write_cost.png      tasks/s with 0, 1 and 4 key indexes, per store
  capture_threads.png       ns per begin+end with 1, 2 and 4 threads
  bytes_per_task.png        bytes on disk per task, with and without
                            per-task telemetry
  wal_journal_reader.png    the SQLite WAL and the producer's journal, over
                            time, while tasks stream in and a reader runs
                            (bench_wal_bound.sh)

The first two beside Flowcept 1.0.3's (Redis into its LMDB store; it has
no key index) when RESULTS holds bench/flowcept_growth's line. Each point
is a median; the bars are the spread (min to max of the runs).
Figures, not pass/fail."""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def merge(keys, d):
    """Adds a store's line to keys; a second line of the same store (mida's
    at Flowcept's sizes) joins its sizes to the first's curve."""
    have = keys.get(d["store"])
    if have is None:
        keys[d["store"]] = d
        return
    have["sizes"] = sorted(have["sizes"] + d["sizes"],
                           key=lambda s: s["tasks"])
    if not have.get("write_cost"):
        have["write_cost"] = d.get("write_cost")


def load(path):
    keys, scaling, wal = {}, None, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("bench") in ("key_index", "flowcept_growth"):
                merge(keys, d)
            elif d.get("bench") == "scaling":
                scaling = d
            elif d.get("bench") == "wal_bound" and "wal_bytes" in d:
                wal = d
    return keys, scaling, wal


def errbar(ax, xs, stats, label, **kw):
    med = [s["median"] for s in stats]
    lo = [s["median"] - s["min"] for s in stats]
    hi = [s["max"] - s["median"] for s in stats]
    ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=3, label=label,
                **kw)


def plot_sizes(keys, out):
    fig, ax = plt.subplots(figsize=(6, 4))
    for store, d in sorted(keys.items()):
        xs = [s["tasks"] for s in d["sizes"]]
        errbar(ax, xs, [s["ingest_tasks_per_s"] for s in d["sizes"]], store)
    ax.set_xlabel("tasks in the store")
    ax.set_ylabel("ingest, tasks/s")
    ax.set_title("Ingest rate as the store grows (no key index)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "ingest_vs_size.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"sqlite": "-", "postgresql": "--"}
    for store, d in sorted(keys.items()):
        xs = [s["tasks"] for s in d["sizes"]]
        ls = styles.get(store, "-")
        if d["bench"] == "flowcept_growth":  # no index to compare with
            for q, name in (("top10", "top 10 by used.lr"),
                            ("range", "range on used.lr, newest first")):
                errbar(ax, xs, [s[f"{q}_ms_no_index"] for s in d["sizes"]],
                       f"Flowcept 1.0.3: {name}", linestyle=":")
            continue
        for q, name in (("top10", "top 10 by used.lr"),
                        ("range", "range on used.lr, newest first"),
                        ("range_by_key", "range on used.lr, by the key")):
            if f"{q}_ms_index" not in d["sizes"][0]:
                continue  # figures of an older bench_key_index
            errbar(ax, xs, [s[f"{q}_ms_no_index"] for s in d["sizes"]],
                   f"{store}: {name}, no index", linestyle=ls)
            errbar(ax, xs, [s[f"{q}_ms_index"] for s in d["sizes"]],
                   f"{store}: {name}, mida index", linestyle=ls)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(20, color="grey", linewidth=0.8)
    ax.text(ax.get_xlim()[0], 21, " budget 20 ms", color="grey", fontsize=8)
    ax.set_xlabel("tasks in the store")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("Steering query on a key, across all workflows")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "query_vs_size.png"), dpi=120)
    plt.close(fig)

    costs = {k: d for k, d in keys.items() if d.get("write_cost")}
    if not costs:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for store, d in sorted(costs.items()):
        xs = [c["indexes"] for c in d["write_cost"]]
        errbar(ax, xs, [c["tasks_per_s"] for c in d["write_cost"]], store)
    ax.set_xticks([0, 1, 4])
    ax.set_xlabel("key indexes")
    ax.set_ylabel("ingest, tasks/s")
    ax.set_ylim(bottom=0)
    ax.set_title("Write cost of key indexes")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "index_write_cost.png"), dpi=120)
    plt.close(fig)


def plot_scaling(d, out):
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [c["threads"] for c in d["capture"]]
    ax.errorbar(xs, [c["median_ns"] for c in d["capture"]],
                yerr=[c["spread_ns"] / 2 for c in d["capture"]], marker="o",
                capsize=3, label="mida begin+end, median")
    ax.plot(xs, [c["p99_ns"] for c in d["capture"]], marker="^",
            label="mida begin+end, p99")
    ax.plot(xs, [c["plain_median_ns"] for c in d["capture"]], marker="s",
            label="plain call pair (baseline), median")
    ax.set_xticks(xs)
    ax.set_xlabel("producing threads")
    ax.set_ylabel("ns per task, caller thread")
    ax.set_ylim(bottom=0)
    ax.set_title("Capture cost per call")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "capture_threads.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    vals = [d["bytes_per_task_no_telemetry"], d["bytes_per_task_telemetry"]]
    ax.bar(["without", "with"], vals, color=["#4c72b0", "#dd8452"])
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.0f}", ha="center", va="bottom")
    ax.set_xlabel("per-task telemetry")
    ax.set_ylabel("bytes on disk per task (SQLite)")
    ax.set_title(f"Store size, {d['disk_tasks']:,} tasks")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bytes_per_task.png"), dpi=120)
    plt.close(fig)


def plot_wal(d, out):
    fig, ax = plt.subplots(figsize=(6, 4))
    mib = 1024 * 1024
    xs = list(range(1, len(d["wal_bytes"]) + 1))
    ax.plot(xs, [b / mib for b in d["wal_bytes"]], label="SQLite WAL")
    ax.plot(xs, [b / mib for b in d["journal_bytes"]],
            label="producer's journal (spool)")
    ax.set_xlabel("seconds")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{d['rate']:,} tasks/s in, a reader querying non-stop")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "wal_journal_reader.png"), dpi=120)
    plt.close(fig)


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "bench-out/results.jsonl"
    out = sys.argv[2] if len(sys.argv) > 2 else "bench-out"
    os.makedirs(out, exist_ok=True)
    keys, scaling, wal = load(results)
    if keys:
        plot_sizes(keys, out)
    if scaling:
        plot_scaling(scaling, out)
    if wal:
        plot_wal(wal, out)
    print(f"plots in {out}: " + ", ".join(sorted(
        f for f in os.listdir(out) if f.endswith(".png"))))


if __name__ == "__main__":
    main()
