#!/usr/bin/env python3
"""Two poolbench result sets side by side: a table of ratios and one overlay chart.

    /usr/bin/python3 scripts/compare.py A B [--label NAME_A --label NAME_B]
                                        [--out FILE.png] [--no-plot]

A and B are sweep result directories (``loadgen sweep --out``; see plot.py), say before and
after a change, or our reference_server and the Twisted peer. For every (mode, pool size)
measured in both, stdout gets A's and B's throughput, p50 and p99 and the ratios B/A
(throughput: above 1 means B is faster; latency: below 1 means B is faster), then the geometric
mean of each ratio per mode. Points measured in only one set are listed as such.

The chart (``--out``, default ``compare-<A>-vs-<B>.png`` in the current directory; the
extension picks the format) overlays throughput and p50/p99 against pool size, one column per
mode. It needs matplotlib (Debian: python3-matplotlib with /usr/bin/python3; or pip install
matplotlib); without it the table is still printed and the script exits 2. ``--no-plot`` prints
the table only.
"""

import argparse
import math
import os
import sys

# The plotting package sits beside this file. Its results module (the one reader of result JSON)
# needs only the standard library; the chart helpers are imported when a chart is drawn.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from plotting.results import load_results, mode_rank  # noqa: E402


def ratio(b, a):
    return b / a if a and b is not None and a > 0 else None


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_ms(us):
    return "-" if us is None else f"{us / 1000.0:.3f}"


def compare_rows(a, b):
    """[(mode, pool, point_a or None, point_b or None)] over the union of measured points."""
    index_a = {(p.mode, p.pool_size): p for m in a.modes() for p in a.measured(m)}
    index_b = {(p.mode, p.pool_size): p for m in b.modes() for p in b.measured(m)}
    keys = sorted(set(index_a) | set(index_b), key=lambda k: (mode_rank(k[0]), k[1]))
    return [(mode, pool, index_a.get((mode, pool)), index_b.get((mode, pool)))
            for mode, pool in keys]


def table(a, b):
    """The comparison as text lines."""
    lines = [f"A = {a.label} ({a.path})", f"B = {b.label} ({b.path})",
             "throughput in requests/s, latency in ms; ratios are B/A", ""]
    header = (f"{'mode':<16} {'pool':>4}  {'thr A':>9} {'thr B':>9} {'B/A':>6}  "
              f"{'p50 A':>9} {'p50 B':>9} {'B/A':>6}  {'p99 A':>9} {'p99 B':>9} {'B/A':>6}")
    lines += [header, "-" * len(header)]
    per_mode, invalid = {}, {}
    for mode, pool, pa, pb in compare_rows(a, b):
        if pa is None or pb is None:
            only = a.label if pa is not None else b.label
            lines.append(f"{mode:<16} {pool:>4}  measured only in {only}")
            continue
        r_thr = ratio(pb.throughput_rps, pa.throughput_rps)
        r_p50 = ratio(pb.latency_us.get("p50"), pa.latency_us.get("p50"))
        r_p99 = ratio(pb.latency_us.get("p99"), pa.latency_us.get("p99"))
        per_mode.setdefault(mode, []).append((r_thr, r_p50, r_p99))
        flags = " ".join(f"{name}*" for name, p in (("A", pa), ("B", pb)) if not p.valid)
        for name, p in (("A", pa), ("B", pb)):
            for reason in p.reasons:
                invalid.setdefault(reason, set()).add(name)
        lines.append(
            f"{mode:<16} {pool:>4}  {pa.throughput_rps:>9.1f} {pb.throughput_rps:>9.1f} "
            f"{fmt(r_thr):>6}  {fmt_ms(pa.latency_us.get('p50')):>9} "
            f"{fmt_ms(pb.latency_us.get('p50')):>9} {fmt(r_p50):>6}  "
            f"{fmt_ms(pa.latency_us.get('p99')):>9} {fmt_ms(pb.latency_us.get('p99')):>9} "
            f"{fmt(r_p99):>6}  {flags}")
    if invalid:
        lines += ["", "* flagged invalid by loadgen; reasons (see results/README.md): " +
                  ", ".join(f"{r} ({'/'.join(sorted(w))})" for r, w in sorted(invalid.items()))]
    if per_mode:
        lines += ["", "geometric mean of B/A per mode:"]
        for mode, ratios in per_mode.items():
            lines.append(f"  {mode:<16} throughput {fmt(geomean(r[0] for r in ratios)):>6}   "
                         f"p50 {fmt(geomean(r[1] for r in ratios)):>6}   "
                         f"p99 {fmt(geomean(r[2] for r in ratios)):>6}   "
                         f"({len(ratios)} points)")
    return lines


def overlay_chart(plt, a, b, out_path):
    from plotting import common as charts  # chart helpers: only when a chart is drawn

    sets = [a, b]
    modes = charts.all_modes(sets)
    fig, axes = charts.new_figure(plt, len(modes), rows=2, height=3.4)
    for column, mode in enumerate(modes):
        top, bottom = axes[0][column], axes[1][column]
        for k, rs in enumerate(sets):
            pts = rs.measured(mode)
            if not pts:
                continue
            color, style = charts.set_color(k), charts.LINE_STYLES[k]
            marker = charts.MARKERS[k]
            sizes = [p.pool_size for p in pts]
            top.plot(sizes, [p.throughput_rps for p in pts], color=color, linestyle=style,
                     marker=marker, label=rs.label)
            model = [p for p in pts if p.predicted_throughput_rps]
            if model and k == 0:
                top.plot([p.pool_size for p in model],
                         [p.predicted_throughput_rps for p in model], color="0.4",
                         linestyle=":", linewidth=1.2, label="model")
            for key, width, alpha in (("p50", 1.0, 0.6), ("p99", 2.0, 1.0)):
                xs = [p.pool_size for p in pts if key in p.latency_us]
                ys = [p.latency_us[key] / 1000.0 for p in pts if key in p.latency_us]
                bottom.plot(xs, ys, color=color, linestyle=style, marker=marker,
                            markersize=4, linewidth=width, alpha=alpha,
                            label=f"{rs.label} {key}")
        for ax in (top, bottom):
            charts.pool_axis(ax, charts.all_pool_sizes(sets, mode))
            charts.log_y(ax)
            ax.legend(fontsize=8)
        top.set_title(mode)
    axes[0][0].set_ylabel("throughput (requests/s)")
    axes[1][0].set_ylabel("response time (ms)")
    out_dir = os.path.dirname(out_path) or "."
    name, ext = os.path.splitext(os.path.basename(out_path))
    return charts.finish(plt, fig, f"{b.label} vs {a.label}", sets, out_dir, name,
                         [ext.lstrip(".") or "png"])


def safe_name(label):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="compare.py",
        description="Compare two poolbench sweep results: ratios table + overlay chart.")
    parser.add_argument("a", metavar="A", help="baseline result directory")
    parser.add_argument("b", metavar="B", help="result directory compared with A")
    parser.add_argument("--label", action="append", default=[],
                        help="names for A and B, in that order (default: directory names)")
    parser.add_argument("--out", help="chart file (default compare-<A>-vs-<B>.png here)")
    parser.add_argument("--no-plot", action="store_true", help="print the table only")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if len(args.label) > 2:
        parser.error("at most two --label (for A and B)")
    labels = args.label + [None] * (2 - len(args.label))
    try:
        a = load_results(args.a, labels[0])
        b = load_results(args.b, labels[1])
    except (OSError, ValueError) as e:
        sys.stderr.write(f"compare.py: {e}\n")
        return 1
    if a.label == b.label:
        b.label += " (B)"
    print("\n".join(table(a, b)))
    if args.no_plot:
        return 0
    from plotting.common import import_matplotlib

    plt = import_matplotlib()  # exits 2 with a clear message when matplotlib is missing
    out = args.out or f"compare-{safe_name(a.label)}-vs-{safe_name(b.label)}.png"
    for path in overlay_chart(plt, a, b, out):
        print(f"\nchart: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
