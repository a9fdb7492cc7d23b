"""What scripts/report.py shows, read from a sweep directory. Standard library only.

A SweepReport holds the sweep.json as written (the page embeds it), the Points of
``plotting.results`` (the charts reuse its readers), the raw run documents (confidence intervals,
self-checks), the ``<mode>-pool<N>.search.json`` documents and ``recommendation.json``. Field
names follow results/README.md (poolbench.sweep/2, poolbench.search/1 and
poolbench.recommendation/1).
"""

import json
import math
import os
import subprocess
from dataclasses import dataclass, field
from typing import Optional

from .results import ResultSet, _first, _number, load_results, mode_rank

RECOMMENDATION_FILE = "recommendation.json"
SEARCH_FAILURES = ("target_failed", "interrupted")  # a search that measured nothing usable


class ReportError(Exception):
    """A directory the report cannot be made from; the message says why."""


@dataclass
class SweepReport:
    label: str
    path: str
    doc: dict  # sweep.json as written
    results: ResultSet
    runs: dict = field(default_factory=dict)  # (mode, pool) -> run document (or None)
    entries: dict = field(default_factory=dict)  # (mode, pool) -> sweep.json point entry
    searches: dict = field(default_factory=dict)  # (mode, pool) -> search document
    recommendation: Optional[dict] = None

    def modes(self):
        return sorted({mode for mode, _ in self.entries}, key=mode_rank)

    def pools(self, mode):
        return sorted(pool for m, pool in self.entries if m == mode)

    def search_of(self, mode, pool):
        """The point's search summary in sweep.json (None in a plain sweep)."""
        return _first(self.entries.get((mode, pool)), "search")

    def has_search(self):
        return bool(_first(self.doc.get("config"), "search")) or any(
            self.search_of(m, p) for m, p in self.entries)

    def slo(self):
        """The SLO object ({text, percentile, limit_us}), or None for a plain sweep."""
        search = _first(self.doc.get("config"), "search")
        return _first(search, "slo") or _first(self.recommendation, "slo")

    def verdict(self, mode):
        """The recommendation's entry for a mode, or None without recommendation.json."""
        return _first(_first(self.recommendation, "modes"), mode)

    def recommended_pool(self, mode):
        pool = _number(_first(self.verdict(mode), "recommended_pool"))
        return int(pool) if pool is not None else None

    def first_run(self):
        """Any run document (host, seed and load settings are the same in every one)."""
        return next((run for run in self.runs.values() if run), {})


def find_sweep_dirs(path):
    """[(label, directory)]: path itself if it holds sweep.json, else its subdirectories that
    do (results/<date>/mixed holds ours/ and twisted/)."""
    if not os.path.isdir(path):
        raise ReportError(f"{path}: not a directory")
    if os.path.isfile(os.path.join(path, "sweep.json")):
        return [(os.path.basename(os.path.abspath(path)), path)]
    found = [(name, os.path.join(path, name)) for name in sorted(os.listdir(path))
             if os.path.isfile(os.path.join(path, name, "sweep.json"))]
    if not found:
        raise ReportError(f"{path}: no sweep.json in it nor in any subdirectory "
                          "(give the directory 'loadgen sweep --out' wrote)")
    return found


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: {e}") from None


def _run_of(entry, directory):
    """The point's run document: embedded in sweep.json, else its file (None if neither)."""
    run = entry.get("result")
    if isinstance(run, dict):
        return run
    run_file = entry.get("file")
    if run_file and os.path.isfile(os.path.join(directory, run_file)):
        return _load_json(os.path.join(directory, run_file))
    return None


def load_sweep(label, directory):
    doc = _load_json(os.path.join(directory, "sweep.json"))
    try:
        results = load_results(directory, label)
    except ValueError as e:
        raise ReportError(str(e)) from None
    report = SweepReport(label=label, path=directory, doc=doc, results=results)
    for entry in doc.get("points", []):
        key = (str(entry.get("mode", "?")), int(_number(entry.get("pool_size")) or 0))
        report.entries[key] = entry
        report.runs[key] = _run_of(entry, directory)
        search_file = _first(_first(entry, "search"), "file")
        if search_file and os.path.isfile(os.path.join(directory, search_file)):
            report.searches[key] = _load_json(os.path.join(directory, search_file))
    recommendation_file = os.path.join(directory, RECOMMENDATION_FILE)
    if os.path.isfile(recommendation_file):
        report.recommendation = _load_json(recommendation_file)
    return report


def load_report(path):
    return [load_sweep(label, directory) for label, directory in find_sweep_dirs(path)]


def failed_checks(sweep):
    """Every self-check that failed, one sentence each; empty when the sweep is sound."""
    failures = []
    if sweep.doc.get("complete") is False:
        failures.append("incomplete sweep: it was interrupted before every point ran")
    for (mode, pool), entry in sorted(sweep.entries.items(), key=_point_order):
        status = str(_first(entry, "status", default="ok"))
        if status != "ok":
            reason = _first(entry, "reason", default="no reason given")
            failures.append(f"{mode} pool {pool}: {status} ({reason})")
            continue
        run = sweep.runs.get((mode, pool)) or {}
        if run and not run.get("valid", True):
            reasons = ", ".join(str(r) for r in run.get("reasons", [])) or "no reason given"
            failures.append(f"{mode} pool {pool}: invalid run ({reasons})")
        if run and run.get("accounting_ok") is False:
            failures.append(f"{mode} pool {pool}: request accounting does not balance")
        outcome = _first(sweep.search_of(mode, pool), "outcome")
        if outcome in SEARCH_FAILURES:
            failures.append(f"{mode} pool {pool}: search {outcome}")
    return failures


def _point_order(item):
    (mode, pool), _ = item
    return mode_rank(mode), pool


def stability_change(run):
    """(throughput change, p50 change) from the first half of the window to the second, as
    fractions; None when the run did not assess it (zeros)."""
    halves = _first(run, "stability")
    first, second = _first(halves, "first_half"), _first(halves, "second_half")
    changes = []
    for key in ("throughput_rps", "p50_us"):
        a, b = _number(_first(first, key)), _number(_first(second, key))
        changes.append(b / a - 1 if a and b is not None else None)
    return tuple(changes) if any(c is not None for c in changes) else None


def check_rows(sweep):
    """One row per point for the self-check table."""
    rows = []
    for (mode, pool), entry in sorted(sweep.entries.items(), key=_point_order):
        run = sweep.runs.get((mode, pool)) or {}
        search = sweep.search_of(mode, pool)
        rows.append({
            "mode": mode, "pool": pool, "status": str(_first(entry, "status", default="ok")),
            "reason": _first(entry, "reason"),
            "valid": run.get("valid") if run else None,
            "reasons": [str(r) for r in run.get("reasons", [])] if run else [],
            "accounting_ok": run.get("accounting_ok") if run else None,
            "stability": stability_change(run) if run else None,
            "little_ratio": _number(run.get("little_ratio")) if run else None,
            "outcome": _first(search, "outcome"),
            "capacity": _first(search, "capacity"),
        })
    return rows


def _source_commit():
    """HEAD of the repository this script lives in, or None outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        done = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _first_value(objects, *names):
    """The first non-empty value of any of names in any of objects."""
    return next((v for v in (_first(o, *names) for o in objects) if v), None)


def build_info(sweep):
    """(commit, build type, whether the commit came from the results) as far as known.

    The documents may carry a "build" object or a host.commit; without one the commit is the
    report script's own checkout, which is not necessarily what ran.
    """
    run = sweep.first_run()
    builds = [_first(sweep.doc, "build"), _first(run, "build")]
    places = [sweep.doc, run, _first(run, "host")] + builds
    commit = _first_value(places, "commit", "git_commit")
    build_type = _first_value(places, "build_type") or _first_value(builds, "type")
    if commit:
        return str(commit), build_type, True
    return _source_commit(), build_type, False


def for_embedding(value):
    """A copy without the base64 histograms (most of a run's bytes; the page needs none), and
    with NaN and infinities as null: Python reads them in JSON, JSON.parse does not."""
    if isinstance(value, dict):
        return {k: for_embedding(v) for k, v in value.items()
                if not (k == "histogram" and isinstance(v, str))}
    if isinstance(value, list):
        return [for_embedding(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def embedded_data(sweeps):
    """The documents the page embeds, per sweep label, histograms removed."""
    return {sweep.label: {
        "sweep": for_embedding(sweep.doc),
        "recommendation": sweep.recommendation,
        "searches": {f"{mode}-pool{pool}": for_embedding(doc)
                     for (mode, pool), doc in sorted(sweep.searches.items(), key=_point_order)},
    } for sweep in sweeps}
