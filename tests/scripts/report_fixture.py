"""Synthetic sweep directories for the report tests (test_report.py, test_report_browser.py).

Shaped as loadgen writes them (results/README.md) with the
search additions of `loadgen sweep --search`, with round numbers: S = 10 ms, c = 2 ms, one server CPU, so the pool bound
is P/10 ms and the CPU bound 500 req/s, crossing at P* = 5. The search sweep holds the SLO
p99<=50ms; recommendation.json asks for 300 req/s and picks call-in-thread pool 4.
"""

import copy
import json
import os

SLO = {"text": "p99<=50ms", "percentile": 99.0, "limit_us": 50000}
RECOMMENDED_POOL = 4
TARGET_RPS = 300.0
GRID = {"inline": (1, 2, 4, 8), "call-in-thread": (1, 2, 4, 8, 16)}
# The report never decodes interval histograms, only drops them from the data it embeds: a
# marker is enough (and easy to look for in the page).
INTERVAL_HISTOGRAM = "HISTFAAA-interval-histogram-placeholder"
RULE_TEXT = ("the smallest pool whose SLO capacity lower bound is at least the target rate, "
             "and the next larger pool passes too")


def _capacity(mode, pool):
    """(low, high) req/s: 90% of the model's min(P/S_w, K/c)."""
    bound = 100.0 if mode == "inline" else min(pool * 100.0, 500.0)
    return 0.9 * bound - 4, 0.9 * bound + 4


def _summary(p50_us, p99_us):
    return {"count": 4000, "min": p50_us // 2, "mean": p50_us * 1.1, "stdev": p50_us / 10,
            "p50": p50_us, "p75": p50_us * 1.2, "p90": p50_us * 1.5, "p99": p99_us,
            "p99_9": p99_us * 1.3, "p99_99": p99_us * 1.6, "max": p99_us * 2,
            "ci95": {"p50": [p50_us * 0.98, p50_us * 1.02], "p99": [p99_us * 0.9, p99_us * 1.15],
                     "p99_9": "insufficient", "p99_99": "insufficient"}}


def _intervals(rate, p99_us):
    phases = ["warmup"] * 2 + ["measure"] * 10 + ["drain"]
    return [{"start_s": float(i), "length_s": 1.0, "phase": phase, "completed": int(rate),
             "throughput_rps": rate * (0.97 + 0.01 * (i % 4)), "p50_us": p99_us // 3,
             "p99_us": p99_us * (1.0 + 0.05 * (i % 3)), "max_us": p99_us * 2, "errors": 0,
             "timeouts": 0, "histogram": INTERVAL_HISTOGRAM}
            for i, phase in enumerate(phases)]


def run_document(mode, pool, rate):
    """A poolbench.run/1 document of one open-loop trial at rate."""
    p99_us = 14000 + 3000 * pool if mode != "inline" else 30000
    workers = 1 if mode == "inline" else pool
    return {
        "schema": "poolbench.run/1",
        "config": {"argv": ["build/loadgen/loadgen", "run", "--rate", str(rate)], "seed": 42,
                   "rate": rate, "arrival": "poisson", "connections": 64, "depth": 1,
                   "duration_s": 10.0, "warmup_s": 2.0, "interval_s": 1.0},
        "host": {"hostname": "testhost", "os": "Linux", "kernel": "6.1.0-test",
                 "machine": "x86_64", "cpu_model": "Test CPU 9000", "cores": 2},
        "start_time": "2026-12-02T10:00:00.000Z", "model": "open",
        "valid": True, "reasons": [], "accounting_ok": True, "little_ratio": 1.004,
        "stability": {"first_half": {"count": 2000, "p50_us": 12000, "throughput_rps": rate},
                      "second_half": {"count": 2000, "p50_us": 12100,
                                      "throughput_rps": rate * 0.995}},
        "throughput_rps": rate, "achieved_rps": rate, "completed": int(rate * 10),
        "errors": {"total": 0, "requests": 0, "stray": 0, "by_kind": {}}, "timeouts": 0,
        "latency_us": _summary(12000, p99_us),
        "service_time_us": _summary(11000, int(p99_us * 0.8)),
        "intervals": _intervals(rate, p99_us),
        "server": {"mode": mode, "pool_size": pool, "work": "spin:2ms+sleep:8ms"},
        "model_prediction": {"workers": workers, "worker_time_us": 9900.0, "cpus": 1,
                             "service_time_us": 10000.0, "cpu_time_us": 2000.0,
                             "cpu_bound_rps": 500.0,
                             "knee_pool": None if mode == "inline" else 4.95,
                             "throughput_rps": min(rate, workers * 1e6 / 9900.0, 500.0),
                             "concurrency_bound_rps": workers * 1e6 / 9900.0,
                             "bound": "concurrency", "service_time_source": "calibrated"},
    }


def _search_document(mode, pool, run):
    low, high = _capacity(mode, pool)
    return {"schema": "poolbench.search/1", "target": "127.0.0.1:40123", "slo": SLO,
            "criteria": {"confidence": 0.95, "trials": 2}, "outcome": "found",
            "message": f"capacity between {low} and {high} req/s (p99<=50ms)",
            "capacity": {"low_rps": low, "high_rps": high}, "best_achieved_rps": high * 1.08,
            "probes": [{"rate_rps": low, "pass": True, "decided_by": "every trial",
                        "reasons": [], "trials": [{"offered_rps": low, "achieved_rps": low,
                                                   "latency_us": run["latency_us"]}]}],
            "cost": {"probes": 7, "trials": 14, "wall_s": 150.0}, "load": run["config"]}


def _curve(mode):
    """The recommendation's per-pool view of the sweep."""
    curve = []
    for pool in GRID[mode]:
        low, high = _capacity(mode, pool)
        curve.append({"pool": pool, "status": "ok", "valid": True, "capacity_low_rps": low,
                      "capacity_high_rps": high, "passes": low >= TARGET_RPS,
                      "outcome": "found"})
    return curve


def recommendation_document():
    low, high = _capacity("call-in-thread", RECOMMENDED_POOL)
    larger_low = _capacity("call-in-thread", 2 * RECOMMENDED_POOL)[0]
    return {
        "schema": "poolbench.recommendation/1", "sweep": "sweep.json", "slo": SLO,
        "target_rate_rps": TARGET_RPS,
        "rule": {"text": RULE_TEXT, "within_best_fraction": 0.95, "next_larger_must_pass": True},
        "modes": {
            "call-in-thread": {
                "verdict": "recommended", "recommended_pool": RECOMMENDED_POOL,
                "reason": f"pool {RECOMMENDED_POOL} holds {low:.0f} req/s (lower bound) >= "
                          f"{TARGET_RPS:.0f} req/s; pool 8 also passes",
                "capacity_low_rps": low, "capacity_high_rps": high,
                "headroom": low / TARGET_RPS - 1,
                "next_larger": {"pool": 2 * RECOMMENDED_POOL, "passes": True,
                                "capacity_low_rps": larger_low},
                "curve": _curve("call-in-thread"),
                "littles_law": {"rate_rps": TARGET_RPS, "service_time_s": 0.01,
                                "concurrency": 3.0},
                "cpu_knee": {"predicted_pool": 4.95, "cpu_time_s": 0.002, "cpus": 1},
                "usl": {"lambda": 95.0, "alpha": 0.05, "beta": 0.004, "peak_pool": 15.4,
                        "residuals": [], "r2": 0.987}},
            "inline": {
                "verdict": "no_recommendation", "recommended_pool": None,
                "reason": "no pool holds 300 req/s: the best lower bound is 86 req/s",
                "capacity_low_rps": None, "capacity_high_rps": None, "headroom": None,
                "next_larger": None, "curve": _curve("inline"), "cpu_knee": None,
                "usl": {"fitted": False, "reason": "fewer than 3 pool sizes"}}},
        "summary": f"call-in-thread: {RECOMMENDED_POOL} threads (p99<=50ms at 300 req/s, "
                   f"{100 * (low / TARGET_RPS - 1):.1f}% headroom); inline: no recommendation",
    }


def _point(mode, pool, with_search, directory):
    rate = _capacity(mode, pool)[0] if with_search else (100.0 if mode == "inline"
                                                         else min(pool * 100.0, 500.0))
    run = run_document(mode, pool, rate)
    entry = {"mode": mode, "pool_size": pool, "status": "ok", "reason": None,
             "file": f"{mode}-pool{pool}.json", "result": run}
    if with_search:
        search = _search_document(mode, pool, run)
        entry["search"] = {"file": f"{mode}-pool{pool}.search.json", "outcome": "found",
                           "capacity": search["capacity"],
                           "best_achieved_rps": search["best_achieved_rps"], "probes": 7,
                           "wall_s": 150.0}
        write_json(os.path.join(directory, entry["search"]["file"]), search)
    write_json(os.path.join(directory, entry["file"]), run)
    return entry


def write_json(path, document):
    with open(path, "w") as f:
        json.dump(document, f)


def make_sweep(directory, with_search=True, with_recommendation=True):
    """Writes a sweep directory; returns its sweep.json document."""
    os.makedirs(directory, exist_ok=True)
    argv = ["build/loadgen/loadgen", "sweep", "--pool-sizes", "1,2,4,8,16", "--work",
            "spin:2ms+sleep:8ms", "--out", directory] + (["--search", "p99<=50ms"]
                                                        if with_search else [])
    sweep = {
        "schema": "poolbench.sweep/2",
        "config": {"argv": argv, "modes": list(GRID), "pool_sizes": [1, 2, 4, 8, 16],
                   "server_command": "reference_server --port {port} --mode {mode}",
                   "work": "spin:2ms+sleep:8ms", "server_cpus": "1", "generator_cpus": "0",
                   "search": {"slo": SLO, "criteria": {"confidence": 0.95}} if with_search
                   else None},
        "calibration": {"status": "ok", "service_time_us": 10000.0,
                        "service_time_statistic": "p50", "requests": 200,
                        "round_trip_us": 100.0, "cpu_time_us": 2000.0,
                        "cpu_time_source": "spin parts + busy overhead"},
        "complete": True, "failed_points": 0, "knee": {},
        "points": [_point(mode, pool, with_search, directory)
                   for mode, pools in GRID.items() for pool in pools],
    }
    write_json(os.path.join(directory, "sweep.json"), sweep)
    if with_recommendation:
        write_json(os.path.join(directory, "recommendation.json"), recommendation_document())
    return copy.deepcopy(sweep)
