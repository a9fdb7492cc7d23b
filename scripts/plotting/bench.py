"""Google Benchmark JSON (``results/bench``, ``--bench``): one bar chart per file."""

import glob
import os

from .common import finish, set_color
from .results import _load_json, warn


def is_bench_json(path):
    try:
        doc = _load_json(path)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list)


def bench_files(path):
    """Google Benchmark JSON files at path (a file, or the *.json in a directory)."""
    if os.path.isdir(path):
        return [f for f in sorted(glob.glob(os.path.join(path, "*.json"))) if is_bench_json(f)]
    return [path] if is_bench_json(path) else []


_NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def bench_rows(doc):
    """[(name, ns per iteration, spread ns or None)] from Google Benchmark JSON.

    With repetitions, the median aggregate and the stddev aggregate; without, each run (several
    runs of one name are averaged).
    """
    benchmarks = doc.get("benchmarks", [])
    aggregates = [b for b in benchmarks if b.get("run_type") == "aggregate"]
    rows, order = {}, []

    def ns(b):
        return float(b.get("real_time", 0.0)) * _NS_PER_UNIT.get(b.get("time_unit", "ns"), 1.0)

    if aggregates:
        for b in aggregates:
            name = b.get("run_name") or b.get("name")
            if name not in rows:
                rows[name] = {}
                order.append(name)
            rows[name][b.get("aggregate_name")] = ns(b)
        out = []
        for name in order:
            r = rows[name]
            center = r.get("median", r.get("mean"))
            if center is not None:
                out.append((name, center, r.get("stddev")))
        return out
    for b in benchmarks:
        name = b.get("run_name") or b.get("name")
        if name not in rows:
            rows[name] = []
            order.append(name)
        rows[name].append(ns(b))
    return [(name, sum(v) / len(v), None) for name, v in ((n, rows[n]) for n in order)]


def plot_bench(plt, path, out_dir, formats):
    doc = _load_json(path)
    rows = bench_rows(doc)
    if not rows:
        warn(f"{path}: no benchmarks")
        return []
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.6))
    names = [r[0] for r in rows]
    ys = list(range(len(rows)))
    errors = [r[2] or 0.0 for r in rows]
    # One color per family (the name before the first '/'), so a path and its baseline
    # measured with the same arguments are easy to tell apart and compare.
    families = []
    for name in names:
        if name.split("/")[0] not in families:
            families.append(name.split("/")[0])
    colors = [set_color(families.index(name.split("/")[0])) for name in names]
    ax.barh(ys, [r[1] for r in rows], xerr=errors if any(errors) else None,
            color=colors, alpha=0.85, error_kw={"elinewidth": 1, "capsize": 2})
    for y, (_, value, spread) in zip(ys, rows):
        ax.text((value + (spread or 0.0)) * 1.1, y, _format_ns(value), va="center", fontsize=7)
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    repeated = any(r[2] is not None for r in rows)
    ax.set_xlabel("time per iteration (ns, log scale)" +
                  ("; median of repetitions, error bar: stddev" if repeated else ""))
    ax.grid(True, axis="x", alpha=0.3)
    context = doc.get("context", {})
    text = (f"{context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs "
            f"@ {context.get('mhz_per_cpu', '?')} MHz | {context.get('executable', '')} | "
            f"{context.get('date', '')} | libbenchmark: {context.get('library_build_type', '?')}")
    stem = os.path.splitext(os.path.basename(path))[0]
    return finish(plt, fig, f"Micro-benchmarks: {stem}", [], out_dir, f"bench_{stem}", formats,
                  caption_lines=text)


def _format_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"
