"""What every chart shares: matplotlib import, figure layout, caption, axes, knee lines.

matplotlib is imported inside the functions that need it, so this module loads with the
standard library only (plot.py imports it before it knows it will draw).
"""

import math
import os
import sys
import textwrap

from .model import calibrated_costs
from .results import _first, _number, _prog, mode_rank

LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")
PERCENTILE_STYLE = (("p50", "p50", "tab:blue"), ("p99", "p99", "tab:orange"),
                    ("p99_9", "p99.9", "tab:red"))
CAPTION_POINTS = 7.5  # caption font size
CAPTION_LINE_IN = 0.14  # the height of one caption line, inches
LEGEND_ROW_IN = 0.21  # the height of one row of a figure legend (fontsize 8), inches


def import_matplotlib():
    try:
        import matplotlib
    except ImportError as e:
        sys.stderr.write(
            f"{_prog()}: matplotlib is not available to {sys.executable} ({e}).\n"
            "  Debian: apt-get install python3-matplotlib, then run it with /usr/bin/python3\n"
            "  elsewhere: pip install matplotlib\n")
        sys.exit(2)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def format_us(us):
    return f"{us / 1000.0:.3g} ms" if us >= 1000 else f"{us:.3g} us"


def _run_line(rs, sample):
    """Machine, load and date of a result set."""
    host, config = sample.host, sample.config
    machine = ", ".join(str(x) for x in (
        _first(host, "cpu_model"),
        f"{_first(host, 'cores')} cores" if _first(host, "cores") else None,
        _first(host, "kernel"), _first(host, "hostname")) if x)
    rate = _number(_first(config, "rate")) or 0
    load = (f"open loop {rate:g} req/s" if rate > 0 else
            f"closed loop {_first(config, 'connections', default='?')} conn "
            f"x depth {_first(config, 'depth', default=1)}")
    duration = _first(config, "duration_s")
    warmup = _first(config, "warmup_s")
    timing = f", {duration:g} s" if _number(duration) else ""
    if _number(warmup):
        timing += f" after {warmup:g} s warm-up"
    return " | ".join(x for x in (machine, load + timing, sample.start_time[:16]) if x)


def _setup_line(rs, sample):
    """What the server was asked to do and with what: work, CPUs, the model's S and c."""
    parts = [f"work {sample.work or _first(rs.sweep_config, 'work', default='?')}"]
    config = rs.sweep_config
    if "server_cpus" in config:  # sweep/2: null means not pinned
        server, generator = config.get("server_cpus"), config.get("generator_cpus")
        parts.append(f"server CPUs {server}" if server else "server not pinned to CPUs")
        if generator:
            parts[-1] += f", loadgen CPUs {generator}"
    elif sample.server_usage and sample.server_usage.cpus:
        parts.append("server CPUs " + ",".join(str(c) for c in sample.server_usage.cpus))
    costs = calibrated_costs(rs)
    if costs:
        service, cpu, source = costs
        text = f"S = {format_us(service)}" + (f" ({source})" if source else "")
        if cpu is not None:
            text += f", c = {format_us(cpu)} CPU"
        parts.append(text)
    if config.get("serialized_cpu") is True:
        parts.append("CPU serialized (GIL)")
    return " | ".join(parts)


def caption(result_sets):
    """Two lines per result set: machine, load, date; then work, CPUs, S and c."""
    lines = []
    width = max(len(rs.label) for rs in result_sets) + 2 if len(result_sets) > 1 else 0
    for rs in result_sets:
        sample = next((p for p in rs.points if p.status == "ok"), None)
        if sample is None:
            continue
        # Padded, so the lines of every set start in the same column.
        prefix = f"{rs.label}: ".ljust(width) if width else ""
        lines.append(prefix + _run_line(rs, sample))
        lines.append(" " * len(prefix) + _setup_line(rs, sample))
    return "\n".join(lines)


def _wrap(text, width_in):
    """Caption lines wrapped to the figure width (monospace: a glyph is 0.6 em wide)."""
    columns = max(40, int(width_in * 72 / (CAPTION_POINTS * 0.6)) - 2)
    out = []
    for line in text.split("\n"):
        indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
        out += textwrap.wrap(line, columns, subsequent_indent=indent) or [""]
    return "\n".join(out)


def new_figure(plt, columns, rows=1, width=5.0, height=4.0, sharey=False):
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows + 0.6),
                             squeeze=False, sharey=sharey)
    return fig, axes


def _legend_entries(fig):
    """Every labelled artist of every panel, once per label, in the order first drawn."""
    handles, labels = [], []
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels


def finish(plt, fig, title, result_sets, out_dir, name, formats, caption_lines=None,
           legend=False):
    """Title, caption (and with ``legend``, one legend for all panels above the caption, since
    the panels share their entries and per-panel legends would cover the curves); saves."""
    text = caption(result_sets) if caption_lines is None else caption_lines
    width, height = fig.get_size_inches()
    text = _wrap(text, width) if text else ""
    n_lines = text.count("\n") + 1 if text else 0
    caption_in = 0.08 + CAPTION_LINE_IN * n_lines
    handles, labels = _legend_entries(fig) if legend else ([], [])
    columns = max(1, min(len(labels), int(width // 3.2)))
    legend_in = 0.1 + LEGEND_ROW_IN * math.ceil(len(labels) / columns) if labels else 0.0
    # Grow the figure by what the legend and the extra caption lines take, so the panels keep
    # the size new_figure gave them (its 0.6 in holds the title and one caption line).
    height += legend_in + CAPTION_LINE_IN * max(0, n_lines - 1)
    fig.set_size_inches(width, height)
    # The title's room is reserved below by hand: matplotlib >= 3.5 would add it again.
    fig.suptitle(title, fontsize=13, fontweight="bold").set_in_layout(False)
    if text:
        fig.text(0.01, 0.01, text, fontsize=CAPTION_POINTS, color="0.3", va="bottom",
                 ha="left", family="monospace")
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8,
                   frameon=False, bbox_to_anchor=(0.5, caption_in / height))
    top = 1 - 0.4 / height  # room for the title
    fig.tight_layout(rect=(0, (caption_in + legend_in) / height + 0.01, 1, top))
    written = []
    for fmt in formats:
        path = os.path.join(out_dir, f"{name}.{fmt}")
        fig.savefig(path, dpi=110)
        written.append(path)
    plt.close(fig)
    return written


def pool_axis(ax, pool_sizes):
    ax.set_xscale("log", base=2)
    ax.set_xticks(pool_sizes)
    ax.set_xticklabels([str(s) for s in pool_sizes])
    ax.set_xlabel("pool size (worker threads)")
    ax.grid(True, which="major", alpha=0.3)


def all_modes(result_sets):
    return sorted({m for rs in result_sets for m in rs.modes()}, key=mode_rank)


def all_pool_sizes(result_sets, mode):
    """The pool sizes with a measurement in this mode, over every result set."""
    return sorted({p.pool_size for rs in result_sets for p in rs.measured(mode)})


def log_y(ax):
    """Log y axis with plain numbers (1, 20, 300) on major and minor ticks."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    low, high = ax.get_ylim()
    decades = math.log10(high / max(low, 1e-12))
    if decades <= 3.5:
        # Label the 2s and 5s between the powers of ten, so a narrow range still has numbers.
        def minor(v, _):
            leading = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6) if v > 0 else 0
            return f"{v:g}" if leading in (2.0, 5.0) or decades < 1 else ""
        ax.yaxis.set_minor_formatter(FuncFormatter(minor))
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def colormap(plt, name="viridis"):
    import matplotlib
    registry = getattr(matplotlib, "colormaps", None)  # matplotlib >= 3.5
    return registry[name] if registry is not None else plt.get_cmap(name)


def set_color(index):
    return f"C{index % 10}"


def format_pool(pool):
    return f"{pool:.1f}" if pool < 10 else f"{pool:.0f}"


def mark_predicted_knee(ax, pool, pool_sizes, color, label=None, row=0, where="bottom",
                        name=""):
    """A vertical line at P* with "P* = 4.8" written beside it. ``row`` stacks the texts of
    overlaid result sets so they do not print over each other; ``where`` puts them where the
    curves are not (the bottom of a rising throughput chart, the top of a falling latency one).

    A P* far outside the swept pools would stretch the log axis over empty decades, so it is
    written at that edge with an arrow instead of drawn.
    """
    text = f"P* = {format_pool(pool)}" + (f" ({name})" if name else "")
    y = 0.03 + 0.09 * row if where == "bottom" else 0.97 - 0.09 * row
    box = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
           "alpha": 0.85}
    style = {"fontsize": 8, "color": color, "va": where, "bbox": box}
    if pool_sizes and pool > pool_sizes[-1] * 1.5:
        ax.text(0.98, y, text + " \u2192", transform=ax.transAxes, ha="right", **style)
    elif pool_sizes and pool < pool_sizes[0] / 1.5:
        ax.text(0.02, y, "\u2190 " + text, transform=ax.transAxes, ha="left", **style)
    else:
        ax.axvline(pool, color=color, linestyle="-.", linewidth=1.2, label=label)
        ax.annotate(text, xy=(pool, y), xycoords=("data", "axes fraction"), xytext=(4, 0),
                    textcoords="offset points", ha="left", **style)
