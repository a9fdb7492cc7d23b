#!/usr/bin/env python3
"""Plots of poolbench results: what a sweep measured, at a glance.

    /usr/bin/python3 scripts/plot.py RESULTS_DIR [RESULTS_DIR ...] [--label NAME ...]
                                     [--out DIR] [--format png,svg] [--bench FILE|DIR ...]

RESULTS_DIR is what ``loadgen sweep --out`` writes: a ``sweep.json`` (schema
``poolbench.sweep/1``) and one ``poolbench.run/1`` JSON per point (mode x pool size); a
directory of run JSON files without ``sweep.json`` works too. Several RESULTS_DIRs are
overlaid on the same charts (say ours and the Twisted peer), named by ``--label`` in the same
order (default: the directory name). A directory of Google Benchmark JSON files (such as
``results/bench``) given as RESULTS_DIR, or ``--bench``, adds a bar chart.

Charts (each as PNG and SVG, written to ``--out``, default the first RESULTS_DIR):

* ``throughput``: requests/s against pool size, one panel per mode, with the model's
  prediction (``model_prediction.throughput_rps``) as a dashed line;
* ``latency``: p50, p99 and p99.9 response time against pool size per mode (log y), with the
  model's mean latency dotted;
* ``spectrum``: the HDR percentile spectrum per mode, latency against 1/(1-p) (log x), one
  curve per pool size, decoded from each point's HdrHistogram V2 histogram (or, without one,
  from the percentiles in the JSON);
* ``timeline``: per-interval throughput and p99 over the run, per mode and pool size;
* ``decomposition`` (runs made with ``loadgen --admin``): the server's stage means (reactor
  dispatch, pool queue wait, service, return hop) stacked per pool size and mode, next to the
  client-observed mean, p50 and p99;
* ``queue_depth`` (the same runs): the pool's backlog and busy workers over time, from the
  ``/stats`` samples;
* ``bench_<name>``: time per operation for each Google Benchmark, with the spread of
  repetitions.

Every chart carries a caption line with the machine and the load settings.

Needs matplotlib: Debian's ``/usr/bin/python3`` with ``python3-matplotlib``, or any Python 3
with ``pip install matplotlib``. The ``python3`` first on PATH may be a different interpreter
without it; the script then exits 2 saying so. Reading results and decoding histograms
(``HdrHistogram``, ``load_results``) needs only the standard library, for compare.py and tests.
"""

import argparse
import base64
import glob
import json
import math
import os
import struct
import sys
import zlib
from dataclasses import dataclass, field
from typing import Optional

# ---------------------------------------------------------------------------------------------
# HdrHistogram V2 (the "HISTFAAA..." strings): decoding, value at percentile, mean.
# Format and arithmetic as in HdrHistogram (Java) AbstractHistogram; see METHODOLOGY.md s. 4.
# ---------------------------------------------------------------------------------------------

_V2_COMPRESSED_COOKIE = 0x1C849314  # outer: int32 cookie, int32 length, then a zlib stream
_V2_ENCODING_COOKIE = 0x1C849313  # inner: the 40-byte header below, then the counts
_V2_HEADER = struct.Struct(">iiiiqqd")  # cookie, payload length, normalizing index offset,
#                                         significant digits, lowest, highest, conversion ratio


class HdrError(ValueError):
    """A histogram string that is not an HdrHistogram V2 (compressed) encoding."""


def _read_zigzag_leb128(data, pos):
    """One ZigZag LEB128 int64 as HdrHistogram writes it: at most 9 bytes, the 9th 8 bits."""
    value = 0
    for i in range(9):
        if pos >= len(data):
            raise HdrError("counts end in the middle of a number")
        byte = data[pos]
        pos += 1
        if i == 8:
            value |= byte << 56
            break
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            break
    return (value >> 1) ^ -(value & 1), pos


class HdrHistogram:
    """A decoded histogram: counts by index, plus the layout needed to turn indices into values."""

    def __init__(self, lowest, highest, digits, counts):
        if lowest < 1 or not 0 <= digits <= 5:
            raise HdrError(f"bad histogram layout: lowest {lowest}, {digits} digits")
        self.lowest = lowest
        self.highest = highest
        self.digits = digits
        largest_single_unit = 2 * 10 ** digits
        sub_bucket_count_magnitude = math.ceil(math.log2(largest_single_unit))
        self.sub_bucket_half_count_magnitude = max(sub_bucket_count_magnitude, 1) - 1
        self.sub_bucket_count = 1 << (self.sub_bucket_half_count_magnitude + 1)
        self.sub_bucket_half_count = self.sub_bucket_count // 2
        self.unit_magnitude = int(math.floor(math.log2(lowest)))
        self.sub_bucket_mask = (self.sub_bucket_count - 1) << self.unit_magnitude
        self.counts = counts  # {index: count}, only the non-zero ones
        self.total_count = sum(counts.values())

    @classmethod
    def decode(cls, text):
        """Decodes a base64 V2 compressed histogram (``HISTFAAA...``)."""
        try:
            raw = base64.b64decode(text, validate=True)
        except (ValueError, TypeError) as e:
            raise HdrError(f"not base64: {e}") from None
        if len(raw) < 8:
            raise HdrError("too short for a compressed histogram")
        cookie, length = struct.unpack_from(">ii", raw)
        if cookie != _V2_COMPRESSED_COOKIE:
            raise HdrError(f"cookie 0x{cookie & 0xFFFFFFFF:08x} is not V2 compressed "
                           f"(0x{_V2_COMPRESSED_COOKIE:08x})")
        try:
            body = zlib.decompress(raw[8:8 + length])
        except zlib.error as e:
            raise HdrError(f"bad zlib stream: {e}") from None
        if len(body) < _V2_HEADER.size:
            raise HdrError("header cut short")
        (cookie, payload_length, normalizing_offset, digits, lowest, highest,
         _ratio) = _V2_HEADER.unpack_from(body)
        if cookie != _V2_ENCODING_COOKIE:
            raise HdrError(f"inner cookie 0x{cookie & 0xFFFFFFFF:08x} is not V2 "
                           f"(0x{_V2_ENCODING_COOKIE:08x})")
        if normalizing_offset != 0:
            raise HdrError("normalizing index offset != 0 is not supported")
        payload = body[_V2_HEADER.size:_V2_HEADER.size + payload_length]
        if len(payload) != payload_length:
            raise HdrError("payload cut short")
        counts, index, pos = {}, 0, 0
        while pos < len(payload):
            count, pos = _read_zigzag_leb128(payload, pos)
            if count < 0:
                index += -count  # a run of zero counts
            else:
                if count:
                    counts[index] = count
                index += 1
        return cls(lowest, highest, digits, counts)

    # Index <-> value, as AbstractHistogram does it.
    def value_from_index(self, index):
        bucket = (index >> self.sub_bucket_half_count_magnitude) - 1
        sub_bucket = (index & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count
        if bucket < 0:
            sub_bucket -= self.sub_bucket_half_count
            bucket = 0
        return sub_bucket << (bucket + self.unit_magnitude)

    def _size_of_equivalent_range(self, value):
        leading_zero_count_base = 64 - self.unit_magnitude - self.sub_bucket_half_count_magnitude - 1
        bucket = leading_zero_count_base - (64 - (value | self.sub_bucket_mask).bit_length())
        sub_bucket = value >> (bucket + self.unit_magnitude)
        adjusted = bucket + 1 if sub_bucket >= self.sub_bucket_count else bucket
        return 1 << (self.unit_magnitude + adjusted)

    def lowest_equivalent(self, index):
        return self.value_from_index(index)

    def highest_equivalent(self, index):
        value = self.value_from_index(index)
        return value + self._size_of_equivalent_range(value) - 1

    def median_equivalent(self, index):
        value = self.value_from_index(index)
        return value + (self._size_of_equivalent_range(value) >> 1)

    def bins(self):
        """[(highest equivalent value, count)] of the non-empty bins, in value order."""
        return [(self.highest_equivalent(i), self.counts[i]) for i in sorted(self.counts)]

    @property
    def max(self):
        return self.highest_equivalent(max(self.counts)) if self.counts else 0

    @property
    def min(self):
        return self.lowest_equivalent(min(self.counts)) if self.counts else 0

    @property
    def mean(self):
        if not self.total_count:
            return 0.0
        return sum(self.median_equivalent(i) * c for i, c in self.counts.items()) / self.total_count

    @property
    def stdev(self):
        if not self.total_count:
            return 0.0
        mean = self.mean
        return math.sqrt(sum((self.median_equivalent(i) - mean) ** 2 * c
                             for i, c in self.counts.items()) / self.total_count)

    def values_at_percentiles(self, percentiles):
        """HdrHistogram's getValueAtPercentile for each p (0..100), in one pass over the counts.

        rank = max(1, ceil(p/100 * N)) with p nudged down by one ulp; the answer is the highest
        equivalent value of the first bin whose running count reaches the rank (lowest for p=0).
        """
        if not self.total_count:
            return [0 for _ in percentiles]
        order = sorted(range(len(percentiles)), key=lambda k: percentiles[k])
        indices = sorted(self.counts)
        results = [0] * len(percentiles)
        running, at = 0, -1
        for k in order:
            p = min(max(math.nextafter(percentiles[k], -math.inf), 0.0), 100.0)
            rank = max(1, math.ceil(p / 100.0 * self.total_count))
            while running < rank:
                at += 1
                running += self.counts[indices[at]]
            index = indices[at]
            results[k] = (self.lowest_equivalent(index) if percentiles[k] == 0
                          else self.highest_equivalent(index))
        return results

    def value_at_percentile(self, percentile):
        return self.values_at_percentiles([percentile])[0]

    def spectrum(self, steps_per_decade=20):
        """[(p in %, value)] for 1/(1-p) = 10^(k/steps) up to the total count, then 100%."""
        if not self.total_count:
            return []
        percentiles = []
        k = 0
        while True:
            one_over = 10 ** (k / steps_per_decade)
            if one_over > self.total_count:
                break
            percentiles.append(100.0 * (1.0 - 1.0 / one_over))
            k += 1
        values = self.values_at_percentiles(percentiles)
        return list(zip(percentiles, values))


# ---------------------------------------------------------------------------------------------
# Results: JSON -> plain records. Every JSON field name the charts use is read in
# _point_from_run and _interval_from_json below, and nowhere else.
# ---------------------------------------------------------------------------------------------

SWEEP_SCHEMA = "poolbench.sweep/1"
RUN_SCHEMA = "poolbench.run/1"
MODE_ORDER = ("inline", "call-in-thread", "defer-to-thread")
_MODE_ALIASES = {"callInThread": "call-in-thread", "deferToThread": "defer-to-thread",
                 "call_in_thread": "call-in-thread", "defer_to_thread": "defer-to-thread"}
# latency_us keys -> (percentile, label); "max" is charted as 100%.
PERCENTILE_KEYS = (("p50", 50.0), ("p75", 75.0), ("p90", 90.0), ("p99", 99.0),
                   ("p99_9", 99.9), ("p99_99", 99.99))


@dataclass
class Interval:
    start_s: float  # from the start of the run, warm-up included
    length_s: float
    phase: str  # "warmup", "measure", "drain" (or "" when the JSON does not say)
    completed: int
    throughput_rps: float
    p50_us: Optional[float]
    p99_us: Optional[float]
    max_us: Optional[float]
    errors: int


@dataclass
class Point:
    mode: str
    pool_size: int
    status: str = "ok"  # "ok", or why there is no measurement ("failed: ...")
    valid: bool = True
    reasons: list = field(default_factory=list)  # why loadgen flagged the run invalid
    throughput_rps: Optional[float] = None
    latency_us: dict = field(default_factory=dict)  # min mean stdev p50 ... p99_99 max
    histogram: Optional[str] = None  # V2 base64 of the response times
    predicted_throughput_rps: Optional[float] = None
    predicted_mean_latency_us: Optional[float] = None
    completed: int = 0
    errors: int = 0
    timeouts: int = 0
    intervals: list = field(default_factory=list)
    work: str = ""
    config: dict = field(default_factory=dict)
    host: dict = field(default_factory=dict)
    start_time: str = ""
    server_stats: dict = field(default_factory=dict)  # loadgen --admin: the server's own view

    def decoded_histogram(self):
        if not self.histogram:
            return None
        try:
            return HdrHistogram.decode(self.histogram)
        except HdrError as e:
            warn(f"{self.mode} pool {self.pool_size}: histogram not decoded ({e}); "
                 "using the percentiles in the JSON")
            return None


@dataclass
class ResultSet:
    label: str
    path: str
    points: list  # [Point], sorted by mode then pool size
    sweep_config: dict = field(default_factory=dict)

    def modes(self):
        return sorted({p.mode for p in self.points}, key=mode_rank)

    def measured(self, mode):
        return sorted((p for p in self.points if p.mode == mode and p.throughput_rps is not None),
                      key=lambda p: p.pool_size)


def mode_rank(mode):
    return (MODE_ORDER.index(mode), mode) if mode in MODE_ORDER else (len(MODE_ORDER), mode)


def _prog():
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "plot.py"


def warn(message):
    sys.stderr.write(f"{_prog()}: {message}\n")


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _first(d, *names, default=None):
    """The first of several spellings of a field, so a renamed field is a one-word change."""
    if not isinstance(d, dict):
        return default
    for name in names:
        if name in d and d[name] is not None:
            return d[name]
    return default


def _interval_from_json(j):
    return Interval(
        start_s=float(_first(j, "start_s", "t", "elapsed_s", "elapsed", default=0.0)),
        length_s=float(_first(j, "length_s", "interval_s", default=0.0)),
        phase=str(_first(j, "phase", default="")),
        completed=int(_first(j, "completed", default=0)),
        throughput_rps=float(_first(j, "throughput_rps", default=0.0)),
        p50_us=_number(_first(j, "p50_us")),
        p99_us=_number(_first(j, "p99_us")),
        max_us=_number(_first(j, "max_us")),
        errors=int(_number(_first(j, "errors")) or 0))


def _point_from_run(run, entry=None):
    """One sweep point from its poolbench.run/1 JSON (and its sweep.json entry, if any)."""
    entry = entry or {}
    server = _first(run, "server", default={}) or _first(entry, "server", default={})
    prediction = _first(run, "model_prediction", default={}) or {}
    latency = _first(run, "latency_us", default={}) or {}
    errors = _first(run, "errors", default=0)
    server_stats = _first(run, "server_stats", default={}) or {}
    samples = _first(server_stats, "samples", default=[]) or [{}]
    mode = str(_first(server, "mode", default=_first(
        entry, "mode", default=_first(server_stats, "mode", default="?"))))
    return Point(
        mode=_MODE_ALIASES.get(mode, mode),
        pool_size=int(_first(server, "pool_size", default=_first(
            entry, "pool_size", default=_first(samples[-1], "pool_size", default=0)))),
        status="ok",
        valid=bool(_first(run, "valid", default=True)),
        reasons=[str(r) for r in _first(run, "reasons", default=[])],
        throughput_rps=_number(_first(run, "throughput_rps")),
        latency_us={k: v for k, v in latency.items() if _number(v) is not None},
        histogram=_first(latency, "histogram"),
        predicted_throughput_rps=_number(_first(prediction, "throughput_rps")),
        predicted_mean_latency_us=_number(_first(prediction, "mean_latency_us")),
        completed=int(_number(_first(run, "completed")) or 0),
        errors=int(_number(_first(errors, "total")) if isinstance(errors, dict)
                   else (_number(errors) or 0)),
        timeouts=int(_number(_first(run, "timeouts")) or 0),
        intervals=[_interval_from_json(i) for i in _first(run, "intervals", default=[])],
        work=str(_first(server, "work", default="")),
        config=_first(run, "config", default={}),
        host=_first(run, "host", default={}),
        start_time=str(_first(run, "start_time", default="")),
        server_stats=server_stats if isinstance(server_stats, dict) else {})


def _failed_point(entry):
    status = str(_first(entry, "status", default="failed"))
    reason = _first(entry, "reason", default="")
    return Point(mode=_MODE_ALIASES.get(entry.get("mode"), str(entry.get("mode", "?"))),
                 pool_size=int(_first(entry, "pool_size", default=0)),
                 status=f"{status}: {reason}" if reason else status)


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def load_results(path, label=None):
    """A ResultSet from a sweep directory (or its sweep.json, or a directory of run JSONs)."""
    if os.path.isdir(path):
        directory, sweep_file = path, os.path.join(path, "sweep.json")
    else:
        directory, sweep_file = os.path.dirname(path) or ".", path
    label = label or os.path.basename(os.path.normpath(directory))
    points, sweep_config = [], {}
    if os.path.exists(sweep_file):
        sweep = _load_json(sweep_file)
        if sweep.get("schema") != SWEEP_SCHEMA:
            raise ValueError(f"{sweep_file}: schema {sweep.get('schema')!r}, "
                             f"expected {SWEEP_SCHEMA!r}")
        sweep_config = sweep.get("config", {})
        for entry in sweep.get("points", []):
            run = entry.get("result")
            if not isinstance(run, dict) and entry.get("file"):
                run_file = os.path.join(directory, entry["file"])
                run = _load_json(run_file) if os.path.exists(run_file) else None
            ok = str(_first(entry, "status", default="ok")) == "ok"
            points.append(_point_from_run(run, entry) if isinstance(run, dict) and ok
                          else _failed_point(entry))
    else:
        for run_file in sorted(glob.glob(os.path.join(directory, "*.json"))):
            run = _load_json(run_file)
            if isinstance(run, dict) and run.get("schema") == RUN_SCHEMA:
                points.append(_point_from_run(run))
    if not points:
        raise ValueError(f"{path}: no {SWEEP_SCHEMA} sweep.json and no {RUN_SCHEMA} files")
    for p in points:
        if p.status != "ok":
            warn(f"{label}: {p.mode} pool {p.pool_size} has no measurement ({p.status})")
    points.sort(key=lambda p: (mode_rank(p.mode), p.pool_size))
    return ResultSet(label=label, path=directory, points=points, sweep_config=sweep_config)


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


# ---------------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------------

LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")
PERCENTILE_STYLE = (("p50", "p50", "tab:blue"), ("p99", "p99", "tab:orange"),
                    ("p99_9", "p99.9", "tab:red"))


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


def caption(result_sets):
    """One line per result set: machine, load settings, work, date."""
    lines = []
    for rs in result_sets:
        sample = next((p for p in rs.points if p.status == "ok"), None)
        if sample is None:
            continue
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
        timing = f"{duration:g} s" if _number(duration) else ""
        if _number(warmup):
            timing += f" after {warmup:g} s warm-up"
        work = sample.work or _first(rs.sweep_config, "work", default="")
        prefix = f"{rs.label}: " if len(result_sets) > 1 else ""
        lines.append(f"{prefix}{machine} | {load}, {timing} | work {work} | "
                     f"{sample.start_time[:16]}")
    return "\n".join(lines)


def new_figure(plt, columns, rows=1, width=5.0, height=4.0, sharey=False):
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows + 0.6),
                             squeeze=False, sharey=sharey)
    return fig, axes


def finish(plt, fig, title, result_sets, out_dir, name, formats, caption_lines=None):
    text = caption(result_sets) if caption_lines is None else caption_lines
    fig.suptitle(title, fontsize=13, fontweight="bold")
    n_lines = text.count("\n") + 1 if text else 0
    bottom = 0.02 + 0.035 * n_lines
    if text:
        fig.text(0.01, 0.01, text, fontsize=7.5, color="0.3", va="bottom", ha="left",
                 family="monospace")
    fig.tight_layout(rect=(0, bottom, 1, 0.95))
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


def plot_throughput(plt, result_sets, out_dir, formats):
    modes = all_modes(result_sets)
    fig, axes = new_figure(plt, len(modes), sharey=True)
    for ax, mode in zip(axes[0], modes):
        for k, rs in enumerate(result_sets):
            pts = rs.measured(mode)
            if not pts:
                continue
            color = set_color(k)
            ax.plot([p.pool_size for p in pts], [p.throughput_rps for p in pts],
                    marker=MARKERS[k % len(MARKERS)], color=color, label=f"{rs.label} measured")
            invalid = [p for p in pts if not p.valid]
            if invalid:
                already = "flagged invalid" in ax.get_legend_handles_labels()[1]
                ax.plot([p.pool_size for p in invalid], [p.throughput_rps for p in invalid],
                        linestyle="none", marker="x", color="red", markersize=7,
                        label=None if already else "flagged invalid")
            model = [p for p in pts if p.predicted_throughput_rps]
            if model and (k == 0 or not _same_prediction(result_sets[0], rs, mode)):
                ax.plot([p.pool_size for p in model], [p.predicted_throughput_rps for p in model],
                        linestyle="--", color="0.35" if k == 0 else color, linewidth=1.2,
                        label="model min(C·D, c)/S" + (f" ({rs.label})" if k else ""))
        pool_axis(ax, all_pool_sizes(result_sets, mode))
        log_y(ax)
        ax.set_title(mode)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("throughput (requests/s)")
    return finish(plt, fig, "Throughput vs pool size", result_sets, out_dir, "throughput",
                  formats)


def _same_prediction(a, b, mode):
    pa = {p.pool_size: p.predicted_throughput_rps for p in a.measured(mode)}
    pb = {p.pool_size: p.predicted_throughput_rps for p in b.measured(mode)}
    return all(pa.get(s) == v for s, v in pb.items())


def plot_latency(plt, result_sets, out_dir, formats):
    modes = all_modes(result_sets)
    fig, axes = new_figure(plt, len(modes), sharey=True)
    for ax, mode in zip(axes[0], modes):
        for k, rs in enumerate(result_sets):
            pts = rs.measured(mode)
            if not pts:
                continue
            style = LINE_STYLES[k % len(LINE_STYLES)]
            prefix = f"{rs.label} " if len(result_sets) > 1 else ""
            for key, name, color in PERCENTILE_STYLE:
                xs = [p.pool_size for p in pts if key in p.latency_us]
                ys = [p.latency_us[key] / 1000.0 for p in pts if key in p.latency_us]
                ax.plot(xs, ys, linestyle=style, marker=MARKERS[k % len(MARKERS)],
                        markersize=4, color=color, label=prefix + name)
            model = [p for p in pts if p.predicted_mean_latency_us]
            if model and k == 0:
                ax.plot([p.pool_size for p in model],
                        [p.predicted_mean_latency_us / 1000.0 for p in model],
                        linestyle=":", color="black", linewidth=1.2, label="model mean")
        pool_axis(ax, all_pool_sizes(result_sets, mode))
        log_y(ax)
        ax.set_title(mode)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("response time (ms)")
    return finish(plt, fig, "Latency percentiles vs pool size", result_sets, out_dir, "latency",
                  formats)


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


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="plot.py",
        description="Charts of poolbench sweep results (and Google Benchmark JSON). "
                    "Run with an interpreter that has matplotlib, e.g. /usr/bin/python3.")
    parser.add_argument("results", nargs="*", metavar="RESULTS_DIR",
                        help="sweep result directories (sweep.json + run JSONs); several are "
                             "overlaid; a directory of Google Benchmark JSON is charted as such")
    parser.add_argument("--label", action="append", default=[],
                        help="name for the RESULTS_DIR at the same position (repeat per dir)")
    parser.add_argument("--out", help="directory for the charts (default: the first RESULTS_DIR)")
    parser.add_argument("--format", default="png,svg",
                        help="comma-separated image formats (default png,svg)")
    parser.add_argument("--bench", action="append", default=[],
                        help="Google Benchmark JSON file or directory (repeatable)")
    args = parser.parse_args(argv)
    args.formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if not args.formats:
        parser.error("--format is empty")
    if not args.results and not args.bench:
        parser.error("give at least one RESULTS_DIR or --bench")
    for path in args.results + args.bench:
        if not os.path.exists(path):
            parser.error(f"{path}: no such file or directory")
    return args, parser


def main(argv=None):
    args, parser = parse_args(sys.argv[1:] if argv is None else argv)
    sweeps, benches = [], list(args.bench)
    for path in args.results:
        if os.path.isdir(path) and not os.path.exists(os.path.join(path, "sweep.json")) \
                and bench_files(path):
            benches.append(path)
        else:
            sweeps.append(path)
    if len(args.label) > len(sweeps):
        parser.error(f"{len(args.label)} --label for {len(sweeps)} result directories")
    plt = import_matplotlib()  # exits 2, saying what to install, when matplotlib is missing
    try:
        result_sets = [load_results(path, args.label[i] if i < len(args.label) else None)
                       for i, path in enumerate(sweeps)]
    except (OSError, ValueError) as e:
        sys.stderr.write(f"plot.py: {e}\n")
        return 1
    out_dir = args.out or (sweeps[0] if sweeps else benches[0])
    if os.path.isfile(out_dir):
        out_dir = os.path.dirname(out_dir) or "."
    os.makedirs(out_dir, exist_ok=True)
    written = []
    if result_sets and any(rs.measured(m) for rs in result_sets for m in rs.modes()):
        for chart in (plot_throughput, plot_latency, plot_spectrum, plot_timeline):
            written += chart(plt, result_sets, out_dir, args.formats)
        if has_server_stats(result_sets):  # runs made with loadgen --admin
            for chart in (plot_decomposition, plot_queue_depth):
                written += chart(plt, result_sets, out_dir, args.formats)
    elif result_sets:
        sys.stderr.write("plot.py: no point has a measurement; nothing to plot\n")
        return 1
    for path in benches:
        files = bench_files(path)
        if not files:
            warn(f"{path}: no Google Benchmark JSON")
        for f in files:
            written += plot_bench(plt, f, out_dir, args.formats)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
