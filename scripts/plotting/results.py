"""Results: sweep and run JSON -> plain records. Standard library only (compare.py, tests).

Every JSON field name the charts use is read in the ``_*_from_json`` functions below, and
nowhere else, so a renamed field is a one-word change. Both sweep schemas load: what
``poolbench.sweep/1`` lacks (resources, the CPU part of the model, the knee) comes out None.
"""

import glob
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

from .hdr import HdrError, HdrHistogram

SWEEP_SCHEMAS = ("poolbench.sweep/1", "poolbench.sweep/2")
SWEEP_SCHEMA = SWEEP_SCHEMAS[-1]
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
class Usage:
    """One process's CPU use over the measured window (``resources.server``/``.generator``)."""
    utilization: Optional[float]  # 0..1: CPU seconds / wall seconds / number of allowed CPUs
    cpu_us_per_request: Optional[float]
    context_switches_per_request: Optional[float]
    cpus: list  # the CPUs it was allowed to run on
    threads: Optional[int]


@dataclass
class Model:
    """A point's ``model_prediction``. In sweep/1 only the bound and the mean latency exist."""
    bound_rps: float  # the asymptote: min(concurrency bound, CPU bound)
    mva_rps: Optional[float] = None  # the exact MVA curve, under the bound
    bound: Optional[str] = None  # which one binds: "concurrency" or "cpu"
    concurrency_bound_rps: Optional[float] = None
    cpu_bound_rps: Optional[float] = None  # K/c; None when the work has no CPU part
    knee_pool: Optional[float] = None  # P* = K*S/c; None inline or without a CPU part
    cpus: Optional[int] = None  # K as the model uses it (1 inline or under a GIL)
    allowed_cpus: Optional[int] = None
    serialized_cpu: Optional[bool] = None
    service_time_us: Optional[float] = None  # S
    cpu_time_us: Optional[float] = None  # c
    service_time_source: str = ""
    mean_latency_us: Optional[float] = None


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
    predicted_throughput_rps: Optional[float] = None  # = model.bound_rps (compare.py reads it)
    predicted_mean_latency_us: Optional[float] = None
    model: Optional[Model] = None
    server_usage: Optional[Usage] = None  # sweep/2 resources; None in sweep/1
    generator_usage: Optional[Usage] = None
    # Other processes measured like the server (loadgen sweep --measure-pid NAME=PID), by NAME
    processes: dict = field(default_factory=dict)
    completed: int = 0
    errors: int = 0
    errors_by_kind: dict = field(default_factory=dict)  # errors.by_kind: {kind: count}
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
    schema: str = ""  # the sweep.json schema; "" for a directory of run files
    knees: dict = field(default_factory=dict)  # sweep.json "knee": {mode: {...}} (sweep/2)
    calibration: dict = field(default_factory=dict)  # sweep.json "calibration"

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


def _usage_from_json(j):
    """A Usage, or None where the sweep measured nothing (sweep/1, or ``"server": null``)."""
    if not isinstance(j, dict):
        return None
    threads = _number(_first(j, "threads"))
    return Usage(utilization=_number(_first(j, "utilization")),
                 cpu_us_per_request=_number(_first(j, "cpu_us_per_request")),
                 context_switches_per_request=_number(_first(j, "context_switches_per_request")),
                 cpus=[c for c in _first(j, "cpus", default=[]) if _number(c) is not None],
                 threads=int(threads) if threads is not None else None)


def _processes_from_json(j):
    """{NAME: Usage} of ``resources.processes``, leaving out the ones that read nothing."""
    if not isinstance(j, dict):
        return {}
    usages = {str(name): _usage_from_json(usage) for name, usage in j.items()}
    return {name: usage for name, usage in usages.items() if usage}


def _model_from_json(j):
    """A Model, or None without a prediction (no service time known, or a failed point)."""
    bound = _number(_first(j, "throughput_rps"))
    if bound is None:
        return None
    serialized, cpus = _first(j, "serialized_cpu"), _number(_first(j, "cpus"))
    allowed = _number(_first(j, "allowed_cpus"))
    return Model(bound_rps=bound,
                 mva_rps=_number(_first(j, "mva_throughput_rps")),
                 bound=_first(j, "bound"),
                 concurrency_bound_rps=_number(_first(j, "concurrency_bound_rps")),
                 cpu_bound_rps=_number(_first(j, "cpu_bound_rps")),
                 knee_pool=_number(_first(j, "knee_pool")),
                 cpus=int(cpus) if cpus is not None else None,
                 allowed_cpus=int(allowed) if allowed is not None else None,
                 serialized_cpu=serialized if isinstance(serialized, bool) else None,
                 service_time_us=_number(_first(j, "service_time_us")),
                 cpu_time_us=_number(_first(j, "cpu_time_us")),
                 service_time_source=str(_first(j, "service_time_source", default="")),
                 mean_latency_us=_number(_first(j, "mean_latency_us")))


def _point_from_run(run, entry=None):
    """One sweep point from its poolbench.run/1 JSON (and its sweep.json entry, if any)."""
    entry = entry or {}
    server = _first(run, "server", default={}) or _first(entry, "server", default={})
    model = _model_from_json(_first(run, "model_prediction", default={}))
    latency = _first(run, "latency_us", default={}) or {}
    errors = _first(run, "errors", default=0)
    resources = _first(run, "resources", default={})
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
        predicted_throughput_rps=model.bound_rps if model else None,
        predicted_mean_latency_us=model.mean_latency_us if model else None,
        model=model,
        server_usage=_usage_from_json(_first(resources, "server")),
        generator_usage=_usage_from_json(_first(resources, "generator")),
        processes=_processes_from_json(_first(resources, "processes", default={})),
        completed=int(_number(_first(run, "completed")) or 0),
        errors=int(_number(_first(errors, "total")) if isinstance(errors, dict)
                   else (_number(errors) or 0)),
        errors_by_kind={str(k): int(v) for k, v in
                        _first(errors, "by_kind", default={}).items() if _number(v)},
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


def _points_from_sweep(sweep, directory):
    """The points of a sweep.json: the run embedded in each entry, else the entry's file."""
    points = []
    for entry in sweep.get("points", []):
        run = entry.get("result")
        if not isinstance(run, dict) and entry.get("file"):
            run_file = os.path.join(directory, entry["file"])
            run = _load_json(run_file) if os.path.exists(run_file) else None
        ok = str(_first(entry, "status", default="ok")) == "ok"
        points.append(_point_from_run(run, entry) if isinstance(run, dict) and ok
                      else _failed_point(entry))
    return points


def load_results(path, label=None):
    """A ResultSet from a sweep directory (or its sweep.json, or a directory of run JSONs)."""
    if os.path.isdir(path):
        directory, sweep_file = path, os.path.join(path, "sweep.json")
    else:
        directory, sweep_file = os.path.dirname(path) or ".", path
    label = label or os.path.basename(os.path.normpath(directory))
    rs = ResultSet(label=label, path=directory, points=[])
    if os.path.exists(sweep_file):
        sweep = _load_json(sweep_file)
        if sweep.get("schema") not in SWEEP_SCHEMAS:
            raise ValueError(f"{sweep_file}: schema {sweep.get('schema')!r}, expected one of "
                             f"{', '.join(SWEEP_SCHEMAS)}")
        rs.schema = sweep["schema"]
        rs.sweep_config = _first(sweep, "config", default={})
        rs.knees = _first(sweep, "knee", default={})
        rs.calibration = _first(sweep, "calibration", default={})
        rs.points = _points_from_sweep(sweep, directory)
    else:
        for run_file in sorted(glob.glob(os.path.join(directory, "*.json"))):
            run = _load_json(run_file)
            if isinstance(run, dict) and run.get("schema") == RUN_SCHEMA:
                rs.points.append(_point_from_run(run))
    if not rs.points:
        raise ValueError(f"{path}: no {SWEEP_SCHEMA} sweep.json and no {RUN_SCHEMA} files")
    for p in rs.points:
        if p.status != "ok":
            warn(f"{label}: {p.mode} pool {p.pool_size} has no measurement ({p.status})")
    rs.points.sort(key=lambda p: (mode_rank(p.mode), p.pool_size))
    return rs
