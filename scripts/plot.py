#!/usr/bin/env python3
"""Plots of poolbench results: what a sweep measured, at a glance.

    /usr/bin/python3 scripts/plot.py RESULTS_DIR [RESULTS_DIR ...] [--label NAME ...]
                                     [--out DIR] [--format png,svg] [--bench FILE|DIR ...]

RESULTS_DIR is what ``loadgen sweep --out`` writes: a ``sweep.json`` (schema
``poolbench.sweep/1`` or ``/2``) and one ``poolbench.run/1`` JSON per point (mode x pool size);
a directory of run JSON files without ``sweep.json`` works too. Several RESULTS_DIRs are
overlaid on the same charts (say ours and the Twisted peer), named by ``--label`` in the same
order (default: the directory name). A directory of Google Benchmark JSON files (such as
``results/bench``) given as RESULTS_DIR, or ``--bench``, adds a bar chart.

Charts (each as PNG and SVG, written to ``--out``, default the first RESULTS_DIR):

* ``throughput``: requests/s against pool size, one panel per mode, with each result set's
  model: the asymptotic bound min(N/(S+Z), P/S, K/c) dashed, the exact MVA curve dotted (both
  sweep/2; sweep/1 has the bound without its CPU term), the predicted knee P* = K*S/c as a
  vertical line and the measured knee (the smallest pool within 5% of the best) ringed;
* ``latency``: p50, p99 and p99.9 response time against pool size per mode (log y), with the
  model's mean latency dotted and P* marked;
* ``cpu`` (sweep/2, points with ``resources.server``): the server's CPU utilisation and its
  context switches per request against pool size, every mode in one panel each;
* ``database`` (points with ``resources.processes.database``: ``loadgen sweep --measure-pid
  database=PID``): the database's CPU utilisation and CPU per request against pool size, next
  to the errors per request by kind (``err:sql 1040: ...`` counts as ``sql 1040``), with the
  database's version and settings (``config.attached.database``) in the caption;
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

Every chart carries a caption with the machine, the load, the work, the server's CPUs and the
calibrated service time S and CPU time c.

Needs matplotlib: Debian's ``/usr/bin/python3`` with ``python3-matplotlib``, or any Python 3
with ``pip install matplotlib``. The ``python3`` first on PATH may be a different interpreter
without it; the script then exits 2 saying so. Reading results and decoding histograms
(``HdrHistogram``, ``load_results``, the knees) needs only the standard library, for
compare.py (which imports ``plotting.results`` itself) and the tests. The code lives in the
``plotting`` package beside this file; the names below are its public face.
"""

import argparse
import os
import sys

# The package sits beside this file; put it on the path also when this file is loaded by path
# (the tests) rather than run.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# The imports need the path set above (hence E402). Besides main's own needs they are the
# names the tests use, listed in __all__.
from plotting.bench import bench_files, bench_rows, plot_bench  # noqa: E402
from plotting.common import (LINE_STYLES, MARKERS, PERCENTILE_STYLE, all_modes,  # noqa: E402
                             all_pool_sizes, caption, colormap, finish, import_matplotlib, log_y,
                             new_figure, pool_axis, set_color)
from plotting.db_charts import (database_usage, error_kind, error_rates,  # noqa: E402
                                has_database, plot_database)
from plotting.hdr import HdrError, HdrHistogram  # noqa: E402
from plotting.model import (KNEE_FRACTION, Knee, bound_curve, calibrated_costs,  # noqa: E402
                            expected_utilization_pct, knee_of, mva_curve)
from plotting.pool_charts import (has_resources, plot_cpu, plot_latency,  # noqa: E402
                                  plot_throughput)
from plotting.results import (MODE_ORDER, PERCENTILE_KEYS, RUN_SCHEMA,  # noqa: E402
                              SWEEP_SCHEMA, SWEEP_SCHEMAS, Interval, Model, Point, ResultSet,
                              Usage, load_results, mode_rank, warn)
from plotting.run_charts import (STAGES, has_server_stats, plot_decomposition,  # noqa: E402
                                 plot_queue_depth, plot_spectrum, plot_timeline, point_spectrum,
                                 stage_means_ms)

__all__ = [
    # results and histograms (standard library only)
    "HdrError", "HdrHistogram", "Interval", "Model", "Point", "ResultSet", "Usage",
    "MODE_ORDER", "PERCENTILE_KEYS", "RUN_SCHEMA", "SWEEP_SCHEMA", "SWEEP_SCHEMAS",
    "load_results", "mode_rank", "warn",
    # what the charts mark
    "KNEE_FRACTION", "Knee", "bound_curve", "calibrated_costs", "expected_utilization_pct",
    "knee_of", "mva_curve", "STAGES", "stage_means_ms", "has_server_stats", "has_resources",
    "point_spectrum", "database_usage", "has_database", "error_kind", "error_rates",
    # chart building blocks (compare.py takes them from plotting.common) and the charts
    "LINE_STYLES", "MARKERS", "PERCENTILE_STYLE", "all_modes", "all_pool_sizes", "caption",
    "colormap", "finish", "import_matplotlib", "log_y", "new_figure", "pool_axis", "set_color",
    "plot_throughput", "plot_latency", "plot_cpu", "plot_database", "plot_spectrum",
    "plot_timeline", "plot_decomposition", "plot_queue_depth", "bench_files", "bench_rows",
    "plot_bench", "main",
]


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
        if has_resources(result_sets):  # sweep/2: the server's CPU use was measured
            written += plot_cpu(plt, result_sets, out_dir, args.formats)
        if has_database(result_sets):  # loadgen sweep --measure-pid database=PID
            written += plot_database(plt, result_sets, out_dir, args.formats)
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
