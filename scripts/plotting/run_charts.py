"""The charts of what happened inside each run: HDR spectra, per-interval timelines, and with
``loadgen --admin`` the server's stage decomposition and pool queue over time."""

from .common import (LINE_STYLES, all_modes, all_pool_sizes, colormap, finish, log_y,
                     new_figure)
from .results import PERCENTILE_KEYS, _first, _number


def point_spectrum(point):
    """[(1/(1-p), latency in ms)] from the histogram, else from the JSON's percentiles."""
    histogram = point.decoded_histogram()
    if histogram is not None and histogram.total_count:
        return [(1.0 / (1.0 - p / 100.0), v / 1000.0) for p, v in histogram.spectrum()]
    points = [(1.0 / (1.0 - q / 100.0), point.latency_us[key] / 1000.0)
              for key, q in PERCENTILE_KEYS if key in point.latency_us]
    return sorted(points)


def percentile_axis(ax, max_x):
    ticks = [1, 2, 10, 100, 1000, 10000, 100000, 1000000]
    labels = ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
    keep = [i for i, t in enumerate(ticks) if t <= max(max_x, 100) * 1.01]
    ax.set_xscale("log")
    ax.set_xticks([ticks[i] for i in keep])
    ax.set_xticklabels([labels[i] for i in keep])
    ax.minorticks_off()
    ax.set_xlabel("percentile (scale: 1/(1-p))")
    ax.grid(True, which="major", alpha=0.3)


def plot_spectrum(plt, result_sets, out_dir, formats):
    modes = all_modes(result_sets)
    fig, axes = new_figure(plt, len(modes), width=5.5, sharey=True)
    cmap = colormap(plt)
    for ax, mode in zip(axes[0], modes):
        sizes = all_pool_sizes(result_sets, mode)
        max_x = 1
        for k, rs in enumerate(result_sets):
            for p in rs.measured(mode):
                curve = point_spectrum(p)
                if not curve:
                    continue
                max_x = max(max_x, curve[-1][0])
                color = cmap(sizes.index(p.pool_size) / max(len(sizes) - 1, 1) * 0.9)
                label = f"pool {p.pool_size}" + (f" {rs.label}" if len(result_sets) > 1 else "")
                ax.plot([c[0] for c in curve], [c[1] for c in curve], color=color,
                        linestyle=LINE_STYLES[k % len(LINE_STYLES)], linewidth=1.4,
                        drawstyle="steps-post", label=label)
        percentile_axis(ax, max_x)
        log_y(ax)
        ax.set_title(mode)
        ax.legend(fontsize=7, ncol=2)
    axes[0][0].set_ylabel("response time (ms)")
    return finish(plt, fig, "Latency by percentile (HDR spectrum)", result_sets, out_dir,
                  "spectrum", formats)


def plot_timeline(plt, result_sets, out_dir, formats):
    """Per-interval series at interval midpoints (intervals count replies by completion time).

    An interval with no completion cannot sit on a log axis: it is a gap in the line and a red
    triangle on the bottom edge, so a stall stays visible.
    """
    modes = all_modes(result_sets)
    fig, axes = new_figure(plt, len(modes), rows=2, height=3.2)
    cmap = colormap(plt)
    for column, mode in enumerate(modes):
        top, bottom = axes[0][column], axes[1][column]
        sizes = all_pool_sizes(result_sets, mode)
        warmup_s, window_end_s, stalls = 0.0, 0.0, []
        for k, rs in enumerate(result_sets):
            for p in rs.measured(mode):
                if not p.intervals:
                    continue
                color = cmap(sizes.index(p.pool_size) / max(len(sizes) - 1, 1) * 0.9)
                label = f"pool {p.pool_size}" + (f" {rs.label}" if len(result_sets) > 1 else "")
                style = LINE_STYLES[k % len(LINE_STYLES)]
                mids = [i.start_s + i.length_s / 2 for i in p.intervals]
                nan = float("nan")
                top.plot(mids, [i.throughput_rps if i.completed > 0 else nan
                                for i in p.intervals],
                         color=color, linestyle=style, marker=".", label=label)
                bottom.plot(mids, [i.p99_us / 1000.0 if i.completed > 0 and i.p99_us else nan
                                   for i in p.intervals],
                            color=color, linestyle=style, marker=".")
                stalls += [m for m, i in zip(mids, p.intervals) if i.completed == 0]
                warmup_s = max(warmup_s, _number(_first(p.config, "warmup_s")) or 0.0)
                window_end_s = max(window_end_s, warmup_s +
                                   (_number(_first(p.config, "duration_s")) or 0.0))
        if stalls:
            from matplotlib.transforms import blended_transform_factory
            edge = blended_transform_factory(top.transData, top.transAxes)
            top.plot(stalls, [0.02] * len(stalls), linestyle="none", marker="v", color="red",
                     transform=edge, clip_on=False, label="no reply in interval")
        for ax in (top, bottom):
            if warmup_s > 0:
                ax.axvspan(0, warmup_s, color="0.85", zorder=0,
                           label="warm-up" if ax is top else None)
            if window_end_s > warmup_s:
                ax.axvline(window_end_s, color="0.5", linewidth=0.8, linestyle="--",
                           label="end of window" if ax is top else None)
            ax.grid(True, alpha=0.3)
        top.set_title(mode)
        log_y(top)
        log_y(bottom)
        bottom.set_xlabel("time since the load started (s)")
        top.legend(fontsize=7, ncol=2)
    axes[0][0].set_ylabel("throughput per interval (req/s)")
    axes[1][0].set_ylabel("p99 per interval (ms)")
    return finish(plt, fig, "Per-interval throughput and p99", result_sets, out_dir, "timeline",
                  formats)


STAGES = ("dispatch", "queue_wait", "service", "return_hop")
STAGE_LABELS = {"dispatch": "reactor dispatch", "queue_wait": "pool queue wait",
                "service": "service (the work)", "return_hop": "return hop"}
STAGE_COLORS = {"dispatch": "#4c72b0", "queue_wait": "#dd8452", "service": "#55a868",
                "return_hop": "#c44e52"}


def stage_means_ms(point):
    """{stage: mean ms} over the run's window from ``server_stats`` (loadgen --admin), or None."""
    stages = _first(_first(point.server_stats, "window", default={}), "stages_ns", default={})
    if not isinstance(stages, dict) or not all(isinstance(stages.get(s), dict) for s in STAGES):
        return None
    if not any(_number(stages[s].get("count")) for s in STAGES):
        return None
    return {s: (_number(stages[s].get("mean")) or 0.0) / 1e6 for s in STAGES}


def has_server_stats(result_sets):
    return any(p.server_stats for rs in result_sets for m in rs.modes() for p in rs.measured(m))


def plot_decomposition(plt, result_sets, out_dir, formats):
    """Where the time went: the server's stage means stacked per pool size, per mode, next to
    the client-observed mean, p50 and p99 (log-free linear ms, so the stack adds up).

    Means stack (the mean of a sum is the sum of the means); percentiles would not. The gap
    between the stack and the client's mean is the network, the kernel and the generator.
    """
    modes = [m for m in all_modes(result_sets)
             if any(stage_means_ms(p) for rs in result_sets for p in rs.measured(m))]
    if not modes:
        return []
    fig, axes = new_figure(plt, len(modes), height=4.4)
    n_sets = len(result_sets)
    for ax, mode in zip(axes[0], modes):
        sizes = all_pool_sizes(result_sets, mode)
        width = 0.8 / n_sets
        for k, rs in enumerate(result_sets):
            for p in rs.measured(mode):
                means = stage_means_ms(p)
                if means is None:
                    continue
                x = sizes.index(p.pool_size) - 0.4 + width * (k + 0.5)
                bottom = 0.0
                for stage in STAGES:
                    shown = STAGE_LABELS[stage] in ax.get_legend_handles_labels()[1]
                    ax.bar(x, means[stage], width * 0.9, bottom=bottom, color=STAGE_COLORS[stage],
                           hatch="//" if k else None, edgecolor="white", linewidth=0.5,
                           label=None if shown else STAGE_LABELS[stage])
                    bottom += means[stage]
                client = p.latency_us
                for key, marker, name in (("mean", "D", "client mean"), ("p50", "o", "client p50"),
                                          ("p99", "^", "client p99")):
                    value = _number(client.get(key))
                    if value is None:
                        continue
                    shown = name in ax.get_legend_handles_labels()[1]
                    ax.plot([x], [value / 1000.0], linestyle="none", marker=marker, color="black",
                            markerfacecolor="white" if key == "p99" else "black", markersize=5,
                            label=None if shown else name)
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([str(s) for s in sizes])
        ax.set_xlabel("pool size (worker threads)" +
                      ("; hatched: " + ", ".join(rs.label for rs in result_sets[1:])
                       if n_sets > 1 else ""))
        ax.set_title(mode)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("time per request (ms): server stage means, stacked")
    return finish(plt, fig, "Latency decomposition: server stages vs client", result_sets,
                  out_dir, "decomposition", formats)


def plot_queue_depth(plt, result_sets, out_dir, formats):
    """The server's pool over time, sampled by loadgen --admin: backlog (queued) and busy
    workers, per mode and pool size, on the same time axis as ``timeline``."""
    modes = [m for m in all_modes(result_sets)
             if any(_first(p.server_stats, "samples") for rs in result_sets
                    for p in rs.measured(m))]
    if not modes:
        return []
    fig, axes = new_figure(plt, len(modes), rows=2, height=3.2)
    cmap = colormap(plt)
    for column, mode in enumerate(modes):
        top, bottom = axes[0][column], axes[1][column]
        sizes = all_pool_sizes(result_sets, mode)
        for k, rs in enumerate(result_sets):
            for p in rs.measured(mode):
                samples = [x for x in _first(p.server_stats, "samples", default=[])
                           if _number(x.get("t_s")) is not None]
                if not samples:
                    continue
                color = cmap(sizes.index(p.pool_size) / max(len(sizes) - 1, 1) * 0.9)
                label = f"pool {p.pool_size}" + (f" {rs.label}" if len(result_sets) > 1 else "")
                style = LINE_STYLES[k % len(LINE_STYLES)]
                t = [x["t_s"] for x in samples]
                top.plot(t, [x.get("queued", 0) for x in samples], color=color, linestyle=style,
                         marker=".", drawstyle="steps-post", label=label)
                bottom.plot(t, [x.get("busy", 0) for x in samples], color=color, linestyle=style,
                            marker=".", drawstyle="steps-post")
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
            ax.set_ylim(bottom=0)
        top.set_title(mode)
        bottom.set_xlabel("time since the load started (s)")
        top.legend(fontsize=7, ncol=2)
    axes[0][0].set_ylabel("pool backlog (queued tasks)")
    axes[1][0].set_ylabel("busy worker threads")
    return finish(plt, fig, "Server pool over time (sampled /stats)", result_sets, out_dir,
                  "queue_depth", formats)
