"""The charts against pool size, the ones that answer "how big should my pool be?":
throughput with the model and the knees, latency percentiles, server CPU use."""

from .common import (LINE_STYLES, MARKERS, PERCENTILE_STYLE, all_modes, all_pool_sizes, finish,
                     format_pool, log_y, mark_predicted_knee, new_figure, pool_axis, set_color)
from .model import (bound_curve, expected_utilization_pct, knee_of, model_signature,
                    mva_curve)

KNEE_GRAYS = ("0.15", "0.45", "0.6", "0.7")  # P* lines where colours already mean percentiles
MODE_COLORS = {"inline": "tab:purple", "call-in-thread": "tab:green",
               "defer-to-thread": "tab:brown"}


def _prefix(result_sets, rs):
    return f"{rs.label} " if len(result_sets) > 1 else ""


def _draw_throughput_model(ax, points, knee, color, prefix, sizes, row):
    """The bound dashed, the MVA curve dotted, P* as a vertical line; all in the set's colour."""
    pools, rps = bound_curve(points, knee.predicted_pool if knee else None)
    models = [p.model for p in points if p.model]
    if pools:
        # sweep/1 has one model curve, the bound without a CPU term; so has work without CPU.
        name = ("bound" if any(m.mva_rps is not None for m in models) else "model") + \
            " min(N/(S+Z), P/S_w" + (", K/c)" if any(m.cpu_bound_rps for m in models) else ")")
        ax.plot(pools, rps, linestyle="--", color=color, linewidth=1.3, alpha=0.85,
                label=prefix + name)
    pools, rps = mva_curve(points)
    if pools:
        ax.plot(pools, rps, linestyle=":", color=color, linewidth=1.6,
                label=prefix + "model exact MVA")
    if knee and knee.predicted_pool:
        mark_predicted_knee(ax, knee.predicted_pool, sizes, color, row=row,
                            label=prefix + "predicted knee P* = K\u00b7S/c",
                            name=prefix.strip())


def _mark_measured_knee(ax, knee, color, prefix, sizes):
    """Rings the measured knee; returns (handle, text) for the panel's knee legend, or None.

    The numbers go in a small legend per panel rather than beside the ring, where overlaid sets
    with the same knee would print over each other and over the curve.
    """
    if knee is None or knee.measured_rps is None or len(sizes) < 2:
        return None  # one pool size has no knee to speak of
    ring = {"linestyle": "none", "marker": "o", "markerfacecolor": "none",
            "markeredgecolor": color, "markeredgewidth": 2}
    ax.plot([knee.measured_pool], [knee.measured_rps], markersize=14, **ring,
            label=prefix + "measured knee (first pool \u2265 95% of the best)")
    text = f"{prefix}knee: pool {knee.measured_pool}"
    if knee.measured_pool >= sizes[-1]:
        text += " = the largest swept"
    if knee.predicted_pool:
        text += f"; P* = {format_pool(knee.predicted_pool)}"
    from matplotlib.lines import Line2D
    return Line2D([], [], markersize=9, **ring), text


def _draw_throughput_set(ax, result_sets, k, mode, drawn):
    """One result set in one mode's panel; returns its knee legend entry (or None)."""
    rs = result_sets[k]
    points = rs.measured(mode)
    if not points:
        return None
    color, prefix = set_color(k), _prefix(result_sets, rs)
    sizes = all_pool_sizes(result_sets, mode)
    ax.plot([p.pool_size for p in points], [p.throughput_rps for p in points],
            marker=MARKERS[k % len(MARKERS)], color=color, linewidth=2, label=prefix + "measured")
    invalid = [p for p in points if not p.valid]
    if invalid:
        ax.plot([p.pool_size for p in invalid], [p.throughput_rps for p in invalid],
                linestyle="none", marker="x", color="red", markersize=7,
                label="flagged invalid by loadgen")
    knee = knee_of(rs, mode)
    signature = model_signature(points, knee)
    if signature not in drawn:  # the same model twice (a set overlaid on itself) is drawn once
        drawn.append(signature)
        _draw_throughput_model(ax, points, knee, color, prefix, sizes, row=len(drawn) - 1)
    return _mark_measured_knee(ax, knee, color, prefix, sizes)


def plot_throughput(plt, result_sets, out_dir, formats):
    """Requests/s against pool size, one panel per mode: the pool to pick is where it levels.

    Each result set draws its own model, since they differ (a GIL makes K = 1 for Twisted): the
    asymptotic bound dashed, the exact MVA curve dotted, the predicted knee P* as a vertical
    line, and the measured knee ringed.
    """
    modes = all_modes(result_sets)
    fig, axes = new_figure(plt, len(modes), sharey=True)
    legend_rows = 0
    for ax, mode in zip(axes[0], modes):
        drawn = []
        knees = [_draw_throughput_set(ax, result_sets, k, mode, drawn)
                 for k in range(len(result_sets))]
        knees = [entry for entry in knees if entry]
        pool_axis(ax, all_pool_sizes(result_sets, mode))
        log_y(ax)
        ax.set_title(mode)
        if knees:
            # Upper left: throughput grows with the pool, so that corner is empty ("best"
            # would avoid the curves but not the P* labels at the bottom).
            ax.legend([h for h, _ in knees], [t for _, t in knees], loc="upper left",
                      fontsize=8, handlelength=1.2, framealpha=0.9)
            legend_rows = max(legend_rows, len(knees))
    if legend_rows:
        # Headroom above the highest point for the knee legends, so they sit over no curve
        # (the y axis is shared: once is enough).
        low, high = axes[0][0].get_ylim()
        axes[0][0].set_ylim(low, high * (high / low) ** (0.06 + 0.07 * legend_rows))
    axes[0][0].set_ylabel("throughput (requests/s)")
    return finish(plt, fig, "Throughput vs pool size", result_sets, out_dir, "throughput",
                  formats, legend=True)


def _draw_latency_set(ax, result_sets, k, mode, drawn):
    rs = result_sets[k]
    points = rs.measured(mode)
    if not points:
        return
    style, prefix = LINE_STYLES[k % len(LINE_STYLES)], _prefix(result_sets, rs)
    for key, name, color in PERCENTILE_STYLE:
        xs = [p.pool_size for p in points if key in p.latency_us]
        ys = [p.latency_us[key] / 1000.0 for p in points if key in p.latency_us]
        ax.plot(xs, ys, linestyle=style, marker=MARKERS[k % len(MARKERS)], markersize=4,
                color=color, label=prefix + name)
    knee = knee_of(rs, mode)
    signature = model_signature(points, knee)
    if signature in drawn:
        return
    drawn.append(signature)
    gray = KNEE_GRAYS[(len(drawn) - 1) % len(KNEE_GRAYS)]
    model = [p for p in points if p.predicted_mean_latency_us]
    if model:
        ax.plot([p.pool_size for p in model], [p.predicted_mean_latency_us / 1000.0 for p in model],
                linestyle=":", color=gray, linewidth=1.4, label=prefix + "model mean")
    if knee and knee.predicted_pool:
        mark_predicted_knee(ax, knee.predicted_pool, all_pool_sizes(result_sets, mode), gray,
                            label=prefix + "predicted knee P*", row=len(drawn) - 1,
                            where="top", name=prefix.strip())


def plot_latency(plt, result_sets, out_dir, formats):
    """p50, p99 and p99.9 against pool size per mode (log y), with the model's mean and P*:
    past the knee more threads only queue in the CPU, and the tail shows it first."""
    modes = all_modes(result_sets)
    fig, axes = new_figure(plt, len(modes), sharey=True)
    for ax, mode in zip(axes[0], modes):
        drawn = []
        for k in range(len(result_sets)):
            _draw_latency_set(ax, result_sets, k, mode, drawn)
        pool_axis(ax, all_pool_sizes(result_sets, mode))
        log_y(ax)
        ax.set_title(mode)
    axes[0][0].set_ylabel("response time (ms)")
    return finish(plt, fig, "Latency percentiles vs pool size", result_sets, out_dir, "latency",
                  formats, legend=True)


def has_resources(result_sets):
    """True if some point measured the server's CPU use (sweep/2 ``resources.server``)."""
    return any(p.server_usage for rs in result_sets for m in rs.modes() for p in rs.measured(m))


def _server_usage(point):
    return point.server_usage


def _usage_series(result_sets, usage_of=_server_usage):
    """[(result set index, mode, [points with a usage])] that have any; ``usage_of(point)`` is
    the process's Usage (the server's unless told), None where it was not measured."""
    series = []
    for k, rs in enumerate(result_sets):
        for mode in rs.modes():
            points = [p for p in rs.measured(mode) if usage_of(p)]
            if points:
                series.append((k, mode, points))
    return series


def _series_style(result_sets, k, mode):
    color = MODE_COLORS.get(mode, set_color(len(MODE_COLORS) + k))
    name = mode + (f" {result_sets[k].label}" if len(result_sets) > 1 else "")
    return color, name, {"linestyle": LINE_STYLES[k % len(LINE_STYLES)],
                         "marker": MARKERS[k % len(MARKERS)], "color": color}


def _utilization_panel(ax, result_sets, series, sizes):
    """Server CPU % of its allowed CPUs; dotted, what the model's c predicts at the measured X."""
    ax.axhline(100, color="0.5", linewidth=0.8)
    rows, dotted = 0, False  # P* labels drawn so far (to stack them); any model line
    for k, mode, points in series:
        color, name, style = _series_style(result_sets, k, mode)
        pools = [p.pool_size for p in points if p.server_usage.utilization is not None]
        ax.plot(pools, [100 * p.server_usage.utilization for p in points
                        if p.server_usage.utilization is not None], label=name, **style)
        expected = [(p.pool_size, expected_utilization_pct(p)) for p in points]
        expected = [(x, y) for x, y in expected if y is not None]
        if expected:
            ax.plot([x for x, _ in expected], [y for _, y in expected], linestyle=":",
                    color=color, linewidth=1.2)
            dotted = True
        knee = knee_of(result_sets[k], mode)
        if knee and knee.predicted_pool:
            mark_predicted_knee(ax, knee.predicted_pool, sizes, color, row=rows, name=name)
            rows += 1
    if dotted:  # one legend entry for all the dotted lines: each has the colour of its mode
        ax.plot([], [], linestyle=":", color="0.3",
                label="dotted: the model's X\u00b7c / CPUs at the measured X")
    pool_axis(ax, sizes)
    ax.set_ylim(0, max(110, ax.get_ylim()[1]))
    ax.set_ylabel("server CPU utilisation (% of its allowed CPUs)")
    ax.set_title("server CPU utilisation")


def _context_switch_panel(ax, result_sets, series, sizes):
    values = []
    for k, mode, points in series:
        _, name, style = _series_style(result_sets, k, mode)
        shown = [p for p in points if p.server_usage.context_switches_per_request is not None]
        ys = [p.server_usage.context_switches_per_request for p in shown]
        values += ys
        ax.plot([p.pool_size for p in shown], ys, label=name, **style)
    pool_axis(ax, sizes)
    positive = [v for v in values if v > 0]
    if positive and max(positive) > 10 * min(positive):
        log_y(ax)  # spans a decade or more: a linear axis would flatten the small ones
    else:
        ax.set_ylim(bottom=0)
    ax.set_ylabel("server context switches per request")
    ax.set_title("context switches (voluntary + involuntary)")


def plot_cpu(plt, result_sets, out_dir, formats):
    """Server CPU use against pool size, every mode in one panel: utilisation next to context
    switches per request. Utilisation reaching 100% is the CPU bound of the throughput chart;
    switches per request growing past it is the cost of threads that only wait for a CPU."""
    series = _usage_series(result_sets)
    if not series:
        return []
    sizes = sorted({p.pool_size for _, _, points in series for p in points})
    fig, axes = new_figure(plt, 2, width=5.5)
    _utilization_panel(axes[0][0], result_sets, series, sizes)
    _context_switch_panel(axes[0][1], result_sets, series, sizes)
    return finish(plt, fig, "Server CPU vs pool size", result_sets, out_dir, "cpu", formats,
                  legend=True)
