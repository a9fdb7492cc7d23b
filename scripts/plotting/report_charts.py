"""The report's charts, per mode of a sweep, as inline SVG strings. Standard library only.

Every chart puts pool size on a log axis labelled with the swept sizes, draws a mode in the
same colour everywhere (pools within a mode as shades of it), and marks the recommended pool
when recommendation.json names one.
"""

import math
import re

from .model import bound_curve, knee_of
from .results import _first, _number
from .run_charts import point_spectrum
from .svg import Chart, Scale, format_number, linear_scale_from_zero, log_scale_around

MODE_COLORS = {"inline": "#2563eb", "call-in-thread": "#ea580c", "defer-to-thread": "#16a34a"}
OTHER_MODE_COLORS = ("#9333ea", "#0891b2", "#be123c")
MODEL_COLOR = "#6b7280"
SLO_COLOR = "#dc2626"
RECOMMENDED_COLOR = "#15803d"
TARGET_COLOR = "#7c3aed"
USL_COLOR = "#0f766e"
PERCENTILE_TICKS = ((1, "0%"), (2, "50%"), (10, "90%"), (100, "99%"), (1e3, "99.9%"),
                    (1e4, "99.99%"), (1e5, "99.999%"), (1e6, "99.9999%"))
USL_SAMPLES = 80  # points along the fitted curve: smooth at this chart width


def mode_color(mode):
    if mode in MODE_COLORS:
        return MODE_COLORS[mode]
    return OTHER_MODE_COLORS[sum(map(ord, mode)) % len(OTHER_MODE_COLORS)]


def _mix(color, other, fraction):
    """color moved fraction of the way to other (both #rrggbb)."""
    a = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * fraction):02x}" for x, y in zip(a, b))


def service_color(mode):
    """Service time beside response time in the mode's colour: a darker shade of it."""
    return _mix(mode_color(mode), "#000000", 0.45)


def pool_shade(mode, pools, pool):
    """A pool's colour within its mode: light for the smallest pool, dark for the largest."""
    rank = pools.index(pool) / max(len(pools) - 1, 1)
    base = mode_color(mode)
    return _mix(base, "#ffffff", 0.55 * (1 - 2 * rank)) if rank < 0.5 else \
        _mix(base, "#000000", 0.5 * (2 * rank - 1))


def chart_id(sweep, kind, mode):
    """A page-unique id (the SVG clip paths refer to it)."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", f"{sweep.label}-{kind}-{mode}")


def pool_scale(pools):
    return log_scale_around(pools, ticks=[(p, str(p)) for p in pools], pad=1.35)


def _model(run):
    return _first(run, "model_prediction", default={}) or {}


def _pool_bound_rps(run):
    """P/S_w: what the pool alone allows (the open-loop bound minus the offered rate)."""
    model = _model(run)
    workers, worker_us = _number(model.get("workers")), _number(model.get("worker_time_us"))
    return workers * 1e6 / worker_us if workers and worker_us else None


def _usl_curve(usl, pools):
    """The fitted Universal Scalability Law X(N) = lambda N / (1 + alpha (N-1) + beta N (N-1))."""
    lam, alpha, beta = (_number(_first(usl, k)) for k in ("lambda", "alpha", "beta"))
    if None in (lam, alpha, beta) or not pools:
        return [], []
    lo, hi = math.log(min(pools) / 1.3), math.log(max(pools) * 1.3)
    ns = [math.exp(lo + (hi - lo) * i / (USL_SAMPLES - 1)) for i in range(USL_SAMPLES)]
    return ns, [lam * n / (1 + alpha * (n - 1) + beta * n * (n - 1)) for n in ns]


def _capacity_series(sweep, mode, pools):
    """(lows, highs, best achieved) per pool from the sweep's search summaries."""
    lows, highs, best = [], [], []
    for pool in pools:
        search = sweep.search_of(mode, pool) or {}
        capacity = search.get("capacity") or {}
        lows.append(_number(capacity.get("low_rps")))
        highs.append(_number(capacity.get("high_rps")))
        best.append(_number(search.get("best_achieved_rps")))
    return lows, highs, best


def _draw_capacity(chart, sweep, mode, pools):
    """Search sweeps: SLO capacity intervals, best achieved, and the pool's own bound P/S_w."""
    color = mode_color(mode)
    lows, highs, best = _capacity_series(sweep, mode, pools)
    slo = _first(sweep.slo(), "text", default="SLO")
    chart.error_bars(pools, lows, [h if h is not None else lo for lo, h in zip(lows, highs)],
                     color, f"capacity at {slo} (low..high)")
    chart.line(pools, best, color, "best achieved throughput", dash="2 4", width=1.5)
    chart.markers(pools, best, color, filled=False, size=3.5)
    runs = [sweep.runs.get((mode, pool)) for pool in pools]
    chart.line(pools, [_pool_bound_rps(r) for r in runs], MODEL_COLOR, "pool bound P/S_w",
               dash="6 4", width=1.5)


def _draw_plain_throughput(chart, sweep, mode):
    """Plain sweeps: the measured throughput and loadgen's model bound."""
    points = sweep.results.measured(mode)
    knee = knee_of(sweep.results, mode)
    xs, ys = bound_curve(points, knee.predicted_pool if knee else None)
    chart.line(xs, ys, MODEL_COLOR, "model bound", dash="6 4", width=1.5)
    chart.line([p.pool_size for p in points], [p.throughput_rps for p in points],
               mode_color(mode), "measured throughput", marker="circle")
    invalid = [p for p in points if not p.valid]
    chart.markers([p.pool_size for p in invalid], [p.throughput_rps for p in invalid],
                  SLO_COLOR, "run flagged invalid", shape="ring", size=3)


def _capacity_values(sweep, mode, pools):
    """Every throughput the capacity chart may draw, to size its y axis."""
    values = []
    for series in _capacity_series(sweep, mode, pools):
        values += series
    for pool in pools:
        run = sweep.runs.get((mode, pool))
        values += [_number(_first(run, "throughput_rps")),
                   _number(_model(run).get("throughput_rps"))]
    values.append(_number(_first(sweep.recommendation, "target_rate_rps")))
    return [v for v in values if v is not None]


def capacity_chart(sweep, mode):
    pools = sweep.pools(mode)
    verdict = sweep.verdict(mode) or {}
    title = f"{mode}: SLO capacity" if sweep.has_search() else f"{mode}: throughput"
    chart = Chart(chart_id(sweep, "capacity", mode), title, pool_scale(pools),
                  linear_scale_from_zero(_capacity_values(sweep, mode, pools)),
                  "pool size (threads)", "requests/s")
    if sweep.has_search():
        _draw_capacity(chart, sweep, mode, pools)
    else:
        _draw_plain_throughput(chart, sweep, mode)
    model = next((_model(r) for p in pools if (r := sweep.runs.get((mode, p)))), {})
    chart.hline(_number(model.get("cpu_bound_rps")), MODEL_COLOR, "CPU bound K/c", dash="2 3")
    chart.vline(_number(model.get("knee_pool")), MODEL_COLOR, "predicted knee P*", dash="2 3")
    usl = verdict.get("usl") or {}
    usl_x, usl_y = _usl_curve(usl, pools)
    r2 = _number(usl.get("r2"))
    usl_label = "USL fit" + (f" (R² {r2:.3f})" if r2 is not None else "")
    chart.line(usl_x, usl_y, USL_COLOR, usl_label, dash="8 3 2 3", width=1.5)
    target = _number(_first(sweep.recommendation, "target_rate_rps"))
    chart.hline(target, TARGET_COLOR, f"target {format_number(target)} req/s" if target else None)
    recommended = sweep.recommended_pool(mode)
    if recommended is not None:
        chart.markers([recommended], [_number(verdict.get("capacity_low_rps"))],
                      RECOMMENDED_COLOR, f"recommended: pool {recommended}", shape="ring")
    return chart.render()


def _percentile_series(runs, document, key):
    """[ms] of one percentile of a histogram summary (latency_us or service_time_us)."""
    values = [_number(_first(_first(run, document), key)) for run in runs]
    return [v / 1000 if v is not None else None for v in values]


def _ci_series(runs, document, key):
    """([low ms], [high ms]) of a percentile's 95% interval; None where "insufficient"."""
    lows, highs = [], []
    for run in runs:
        interval = _first(_first(_first(run, document), "ci95"), key)
        known = isinstance(interval, list) and len(interval) == 2
        lows.append(interval[0] / 1000 if known else None)
        highs.append(interval[1] / 1000 if known else None)
    return lows, highs


def latency_chart(sweep, mode):
    pools = [p for p in sweep.pools(mode) if sweep.runs.get((mode, p))]
    runs = [sweep.runs[(mode, p)] for p in pools]
    series = {(doc, key): _percentile_series(runs, doc, key)
              for doc in ("latency_us", "service_time_us") for key in ("p50", "p99")}
    bands = {doc: _ci_series(runs, doc, "p99") for doc in ("latency_us", "service_time_us")}
    slo = sweep.slo() or {}
    limit_us = _number(slo.get("limit_us"))
    limit_ms = limit_us / 1000 if limit_us else None
    values = [v for s in series.values() for v in s] + [v for b in bands.values()
                                                         for s in b for v in s] + [limit_ms]
    chart = Chart(chart_id(sweep, "latency", mode), f"{mode}: latency",
                  pool_scale(pools or [1]), log_scale_around(values, pad=1.4),
                  "pool size (threads)", "milliseconds")
    for doc, name, color in (("latency_us", "response", mode_color(mode)),
                             ("service_time_us", "service", service_color(mode))):
        chart.band(pools, *bands[doc], color, f"{name} p99 95% CI")
        chart.line(pools, series[(doc, "p99")], color, f"{name} time p99", marker="circle")
        chart.line(pools, series[(doc, "p50")], color, f"{name} time p50", dash="5 3",
                   width=1.4)
        chart.markers(pools, series[(doc, "p50")], color, filled=False, size=3, shape="square")
    chart.hline(limit_ms, SLO_COLOR, f"SLO {slo.get('text')}" if limit_ms else None)
    recommended = sweep.recommended_pool(mode)
    chart.vline(recommended, RECOMMENDED_COLOR,
                f"recommended: pool {recommended}" if recommended is not None else None)
    return chart.render()


def spectrum_chart(sweep, mode):
    """Latency against 1/(1-q) per pool: flat is good, a knee is where the tail begins."""
    points = sweep.results.measured(mode)
    pools = [p.pool_size for p in points]
    spectra = {p.pool_size: point_spectrum(p) for p in points}
    xs = [x for s in spectra.values() for x, _ in s]
    ys = [y for s in spectra.values() for _, y in s]
    x_max = max(xs + [100.0])
    ticks = [t for t in PERCENTILE_TICKS if t[0] <= x_max * 1.01]
    chart = Chart(chart_id(sweep, "spectrum", mode), f"{mode}: percentile spectrum",
                  Scale(1, x_max * 1.2, log=True, ticks=ticks), log_scale_around(ys, pad=1.3),
                  "percentile (axis: 1/(1-q))", "response time, ms")
    for pool in pools:
        spectrum = spectra[pool]
        chart.line([x for x, _ in spectrum], [y for _, y in spectrum],
                   pool_shade(mode, pools, pool), f"pool {pool}", width=1.8)
    return chart.render()


def timeline_pools(sweep, mode):
    """The few points whose timelines are shown: the smallest and largest pools and the
    recommended one (else the measured knee), in pool order."""
    measured = [p.pool_size for p in sweep.results.measured(mode) if p.intervals]
    if not measured:
        return []
    knee = knee_of(sweep.results, mode)
    middle = sweep.recommended_pool(mode) or (knee.measured_pool if knee else None)
    return sorted({measured[0], measured[-1]} | ({middle} if middle in measured else set()))


def timeline_charts(sweep, mode):
    """[throughput over time, p99 over time] for the timeline_pools, warm-up and drain shaded."""
    chosen = timeline_pools(sweep, mode)
    if not chosen:
        return []
    by_pool = {p.pool_size: p for p in sweep.results.measured(mode)}
    all_pools = [p.pool_size for p in sweep.results.measured(mode)]
    intervals = {pool: by_pool[pool].intervals for pool in chosen}
    ends = [i.start_s + i.length_s for ivs in intervals.values() for i in ivs]
    time_scale = Scale(0, max(ends + [1.0]))
    charts = []
    for kind, value, y_label in (("throughput", lambda i: i.throughput_rps, "requests/s"),
                                 ("p99", lambda i: i.p99_us / 1000 if i.p99_us else None,
                                  "p99 response time, ms")):
        values = [value(i) for ivs in intervals.values() for i in ivs]
        y_scale = (linear_scale_from_zero(values) if kind == "throughput"
                   else log_scale_around(values, pad=1.3))
        chart = Chart(chart_id(sweep, f"timeline-{kind}", mode),
                      f"{mode}: {kind} per interval", time_scale, y_scale,
                      "seconds since the load started", y_label)
        _shade_phases(chart, intervals[chosen[0]])
        for pool in chosen:
            ivs = intervals[pool]
            chart.line([i.start_s + i.length_s / 2 for i in ivs], [value(i) for i in ivs],
                       pool_shade(mode, all_pools, pool), f"pool {pool}", marker="circle")
        charts.append(chart.render())
    return charts


def _shade_phases(chart, intervals):
    """Grey strips over the warm-up and the drain: outside the measured window."""
    for phase, label in (("warmup", "warm-up"), ("drain", "drain")):
        spans = [i for i in intervals if i.phase == phase]
        if spans:
            chart.vspan(spans[0].start_s, spans[-1].start_s + spans[-1].length_s, MODEL_COLOR,
                        f"{label} (not measured)")
