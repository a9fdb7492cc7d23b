"""What the charts mark: the knees and the model's curves. Standard library only, so the tests
check these numbers rather than pixels.

The knee is where adding threads stops paying: loadgen measures it as the smallest pool within
5% of the best throughput, and predicts it as P* = K*S/c (K CPUs, S service time, c CPU time per
request). sweep/2 writes both into sweep.json; for sweep/1 or a directory of run files the
measured knee is recomputed here the same way and there is no prediction.
"""

import math
from dataclasses import dataclass
from typing import Optional

from .results import _first, _number

KNEE_FRACTION = 0.95  # as loadgen's kKneeFraction: the knee is within 5% of the best


@dataclass
class Knee:
    mode: str
    measured_pool: Optional[int]  # the smallest pool reaching KNEE_FRACTION of the best
    measured_rps: Optional[float]  # the throughput measured there (where the marker goes)
    best_pool: Optional[int]
    best_rps: Optional[float]
    predicted_pool: Optional[float]  # P*; None inline, without a CPU part, or in sweep/1
    from_sweep: bool  # True: sweep.json's "knee"; False: recomputed from the points


def knee_of(rs, mode):
    """The measured and predicted knee of one mode of a ResultSet, or None if nothing measured."""
    points = rs.measured(mode)
    if not points:
        return None
    by_pool = {p.pool_size: p for p in points}
    entry = _first(rs.knees, mode)
    if isinstance(entry, dict) and _number(entry.get("measured_knee_pool")) is not None:
        pool = int(entry["measured_knee_pool"])
        best = _number(entry.get("best_pool"))
        return Knee(mode=mode, measured_pool=pool,
                    measured_rps=by_pool[pool].throughput_rps if pool in by_pool else None,
                    best_pool=int(best) if best is not None else None,
                    best_rps=_number(entry.get("best_throughput_rps")),
                    predicted_pool=_number(entry.get("predicted_knee_pool")), from_sweep=True)
    best = max(points, key=lambda p: p.throughput_rps)
    knee = next(p for p in points if p.throughput_rps >= KNEE_FRACTION * best.throughput_rps)
    # As loadgen does: P* from the smallest pool's prediction (it is the same for every pool).
    model = points[0].model
    return Knee(mode=mode, measured_pool=knee.pool_size, measured_rps=knee.throughput_rps,
                best_pool=best.pool_size, best_rps=best.throughput_rps,
                predicted_pool=model.knee_pool if model else None, from_sweep=False)


def bound_curve(points, knee_pool=None):
    """([pool], [req/s]) of the model's asymptotic bound at the measured pool sizes.

    The bound is min(P/S, K/c) below N: on log-log axes two straight pieces meeting at P*.
    Between two grid pools the chart would cut that corner, so when P* falls between them the
    corner is added: the concurrency bound there interpolated along its straight (power-law)
    piece, capped by the CPU bound.
    """
    modelled = [p for p in points if p.model is not None]
    pools = [p.pool_size for p in modelled]
    rps = [p.model.bound_rps for p in modelled]
    if knee_pool is None:
        return pools, rps
    for lo, hi in zip(modelled, modelled[1:]):
        if not lo.pool_size < knee_pool < hi.pool_size:
            continue
        c_lo, c_hi = lo.model.concurrency_bound_rps, hi.model.concurrency_bound_rps
        cpu_bound = lo.model.cpu_bound_rps
        if not (c_lo and c_hi and cpu_bound):
            break
        t = math.log(knee_pool / lo.pool_size) / math.log(hi.pool_size / lo.pool_size)
        concurrency = math.exp(math.log(c_lo) + t * (math.log(c_hi) - math.log(c_lo)))
        at = pools.index(hi.pool_size)
        pools.insert(at, knee_pool)
        rps.insert(at, min(concurrency, cpu_bound))
        break
    return pools, rps


def mva_curve(points):
    """([pool], [req/s]) of the exact MVA throughput, where the model gives it (sweep/2)."""
    modelled = [p for p in points if p.model is not None and p.model.mva_rps is not None]
    return [p.pool_size for p in modelled], [p.model.mva_rps for p in modelled]


def model_signature(points, knee):
    """What a result set's model draws in one panel; two equal ones are drawn once."""
    return (tuple((p.pool_size, p.predicted_throughput_rps,
                   p.model.mva_rps if p.model else None,
                   p.predicted_mean_latency_us) for p in points),
            knee.predicted_pool if knee else None)


def expected_utilization_pct(point):
    """Server CPU % the model expects at the measured throughput: X*c over the allowed CPUs.

    Measured utilisation above it means each request cost more CPU than calibrated (contention,
    context switches); None when c or the CPU count is unknown.
    """
    model = point.model
    if model is None or not model.cpu_time_us or point.throughput_rps is None:
        return None
    cpus = model.allowed_cpus or (len(point.server_usage.cpus) if point.server_usage else 0)
    if not cpus:
        return None
    return 100.0 * point.throughput_rps * model.cpu_time_us / 1e6 / cpus


def calibrated_costs(rs):
    """(S us, c us or None, how S was obtained) for the caption, or None if nothing says.

    sweep.json's calibration first (it is what the model used), else the model's inputs in the
    first point that has them (a directory of run files).
    """
    cal = rs.calibration
    service = _number(_first(cal, "service_time_us"))
    if service and _first(cal, "status", default="ok") == "ok":
        statistic = _first(cal, "service_time_statistic")
        return (service, _number(_first(cal, "cpu_time_us")),
                "calibrated" + (f" {statistic}" if statistic else ""))
    for p in rs.points:
        if p.model is not None and p.model.service_time_us:
            return p.model.service_time_us, p.model.cpu_time_us, p.model.service_time_source
    return None
