"""Tests for scripts/plot.py and scripts/compare.py.

Run: /usr/bin/python3 -m unittest discover tests/scripts

* The HdrHistogram V2 decoder against a string encoded by the reference Java implementation
  (data/hdr_v2_java.json, made by data/HdrV2Fixture.java), and against the loadgen's own
  histograms in the committed sample (their percentiles must equal the JSON's).
* plot.py and compare.py on data/sweep, a small real `loadgen sweep` result: every chart is
  written as a non-empty PNG/SVG. These run plot.py with an interpreter that has matplotlib
  (this one, else /usr/bin/python3) and skip, saying so, only when none has it.
* The poolbench.sweep/2 additions on data/sweep2, a real sweep of a mixed CPU+sleep work
  (spin:2ms+sleep:8ms, call-in-thread and inline, pools 1..32, server pinned to one CPU; the
  results are embedded in sweep.json, two run files are kept to load a directory without it):
  the knees and model curves the charts mark, the cpu chart, null fields, and that the
  sweep/1 samples (data/sweep, data/admin, results/2026-11-25-vm) still load and render.
* The database chart on data/sweep2 given a database's usage and errors (with_database): the
  errors per request by kind, the caption's database settings, the chart drawn only then.
"""

import copy
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SAMPLE = os.environ.get("POOLBENCH_SAMPLE_SWEEP", os.path.join(DATA, "sweep"))
BENCH_SAMPLE = os.path.join(DATA, "bench")
ADMIN_SAMPLE = os.path.join(DATA, "admin")  # loadgen run --admin: runs with server_stats
SWEEP2 = os.path.join(DATA, "sweep2")  # poolbench.sweep/2: resources, CPU model, knee
OLD_RESULTS = os.path.join(ROOT, "results", "2026-11-25-vm")  # committed sweep/1 results
CHARTS = ("throughput", "latency", "spectrum", "timeline")


def load_module(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SCRIPTS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # plot.py imports only the standard library at load time
    return module


plot = load_module("plot")
from plotting.db_charts import database_caption  # noqa: E402 (plot.py put it on the path)


def find_matplotlib_python():
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and subprocess.run(
                [python, "-c", "import matplotlib"], capture_output=True).returncode == 0:
            return python
    return None


PYTHON = find_matplotlib_python()


class HdrV2DecoderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DATA, "hdr_v2_java.json")) as f:
            cls.java = json.load(f)
        cls.histogram = plot.HdrHistogram.decode(cls.java["base64"])

    def test_counts_match_java(self):
        h = self.histogram
        self.assertEqual((h.lowest, h.highest, h.digits), (1, 3_600_000_000, 3))
        self.assertEqual(h.total_count, self.java["total_count"])
        self.assertEqual(h.bins(), [tuple(b) for b in self.java["bins"]])

    def test_summary_matches_java(self):
        h = self.histogram
        self.assertEqual(h.min, self.java["min"])
        self.assertEqual(h.max, self.java["max"])
        self.assertAlmostEqual(h.mean, self.java["mean"], delta=1e-9 * self.java["mean"])
        self.assertAlmostEqual(h.stdev, self.java["stdev"], delta=1e-9 * self.java["stdev"])

    def test_value_at_percentile_matches_java(self):
        for percentile, value in self.java["value_at_percentile"].items():
            with self.subTest(percentile=percentile):
                self.assertEqual(self.histogram.value_at_percentile(float(percentile)), value)

    def test_spectrum_is_monotonic_and_ends_near_max(self):
        spectrum = self.histogram.spectrum()
        self.assertEqual(spectrum[0], (0.0, 0))
        self.assertEqual([v for _, v in spectrum], sorted(v for _, v in spectrum))
        self.assertLess(spectrum[-1][0], 100.0)

    def test_rejects_what_is_not_v2(self):
        for text, why in (("not base64!", "base64"), ("AAAA", "short"),
                          ("HISTEwAAAA==", "short"),
                          ("AAAAAAAAAAA=", "cookie")):
            with self.subTest(text=text):
                with self.assertRaisesRegex(plot.HdrError, why):
                    plot.HdrHistogram.decode(text)


class LoaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.results = plot.load_results(SAMPLE, "sample")

    def test_points(self):
        modes = self.results.modes()
        self.assertEqual(modes, sorted(modes, key=plot.mode_rank))
        self.assertIn("defer-to-thread", modes)
        for point in self.results.points:
            with self.subTest(mode=point.mode, pool=point.pool_size):
                self.assertEqual(point.status, "ok")
                self.assertGreater(point.pool_size, 0)
                self.assertGreater(point.throughput_rps, 0)
                self.assertGreater(point.latency_us["p99"], 0)
                self.assertTrue(point.intervals)
                self.assertTrue(point.histogram.startswith("HISTFAAA"))

    def test_loadgen_histograms_decode_to_the_reported_percentiles(self):
        # The loadgen's C++ encoder and this decoder agree on every reported figure.
        for point in (p for m in self.results.modes() for p in self.results.measured(m)):
            with self.subTest(mode=point.mode, pool=point.pool_size):
                h = point.decoded_histogram()
                self.assertEqual(h.total_count, point.latency_us["count"])
                self.assertEqual(h.max, point.latency_us["max"])
                for key, percentile in plot.PERCENTILE_KEYS:
                    self.assertEqual(h.value_at_percentile(percentile), point.latency_us[key],
                                     key)


class ServerStatsLoaderTest(unittest.TestCase):
    def test_mode_pool_and_stage_means_come_from_server_stats(self):
        rs = plot.load_results(ADMIN_SAMPLE)
        self.assertEqual(rs.modes(), ["inline", "call-in-thread", "defer-to-thread"])
        for mode in rs.modes():
            points = rs.measured(mode)
            self.assertEqual([p.pool_size for p in points], [1, 4])
            for p in points:
                means = plot.stage_means_ms(p)
                self.assertEqual(set(means), set(plot.STAGES))
                # The work is a 5 ms sleep: the service stage holds it.
                self.assertGreater(means["service"], 4.9)
                # What the server saw adds up to no more than what the client measured.
                self.assertLessEqual(sum(means.values()), p.latency_us["mean"] / 1000.0 * 1.05)

    def test_no_server_stats(self):
        rs = plot.load_results(SAMPLE)
        self.assertIsNone(plot.stage_means_ms(rs.points[0]))
        self.assertFalse(plot.has_server_stats([rs]))


def write_sweep2_variant(directory, mutate):
    """data/sweep2's sweep.json, changed by mutate(doc), written to directory (returned)."""
    with open(os.path.join(SWEEP2, "sweep.json")) as f:
        doc = json.load(f)
    mutate(doc)
    with open(os.path.join(directory, "sweep.json"), "w") as f:
        json.dump(doc, f)
    return directory


def nulls_everywhere(doc):
    """What sweep/2 may hold as null or absent: a failed point, work with no CPU part (no CPU
    bound, no knee, no MVA), a point without resources or without a model, unpinned CPUs."""
    points = doc["points"]
    points[0].update(status="failed", reason="server did not start", result=None)
    for entry in points[1:]:
        model = entry["result"]["model_prediction"]
        model.update(cpu_bound_rps=None, knee_pool=None, cpu_time_us=0.0, bound="concurrency",
                     throughput_rps=model["concurrency_bound_rps"])
        model.pop("mva_throughput_rps")
    points[2]["result"]["resources"]["server"] = None
    points[3]["result"]["resources"] = None
    points[4]["result"]["model_prediction"] = None
    for knee in doc["knee"].values():
        knee.update(predicted_knee_pool=None, plateau_bound_rps=None)
    doc["config"].update(server_cpus=None, generator_cpus=None)
    doc["calibration"].update(cpu_time_us=None)


def no_resources(doc):
    for entry in doc["points"]:
        entry["result"].pop("resources")


def with_database(doc):
    """A database measured beside the server (--measure-pid database=PID, --attach
    database=db.json); at the first point 12 of 100 requests failed: 10 refused by it (sql
    1040, in two wordings) and 2 lost with their connection."""
    doc["config"]["attached"] = {"database": {
        "version": "10.11.19-MariaDB", "max_connections": 151,
        "innodb_buffer_pool_size": 134217728, "transaction_isolation": "REPEATABLE-READ"}}
    for entry in doc["points"]:
        resources = entry["result"]["resources"]
        resources["processes"] = {"database": dict(resources["server"], cpu_us_per_request=90.0)}
    doc["points"][0]["result"].update(completed=88, errors={"total": 12, "by_kind": {
        "err:sql 1040: Too many connections": 7, "err:sql 1040: Too many connections!": 3,
        "connection_closed": 2}})


def gil_like(doc):
    """A server whose CPU part costs twice as much (as under a GIL): its own bound and P*."""
    doc["config"]["serialized_cpu"] = True
    for entry in doc["points"]:
        model = entry["result"]["model_prediction"]
        model.update(serialized_cpu=True, cpu_bound_rps=model["cpu_bound_rps"] / 2)
        model["throughput_rps"] = min(model["concurrency_bound_rps"], model["cpu_bound_rps"])
        if model["knee_pool"] is not None:
            model["knee_pool"] /= 2
    doc["knee"]["call-in-thread"]["predicted_knee_pool"] /= 2


class SweepV2LoaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rs = plot.load_results(SWEEP2, "mix")

    def point(self, mode, pool):
        return next(p for p in self.rs.measured(mode) if p.pool_size == pool)

    def test_resources_and_model(self):
        self.assertEqual(self.rs.schema, "poolbench.sweep/2")
        self.assertEqual(self.rs.modes(), ["inline", "call-in-thread"])
        for p in (p for m in self.rs.modes() for p in self.rs.measured(m)):
            with self.subTest(mode=p.mode, pool=p.pool_size):
                self.assertEqual(p.server_usage.cpus, [1])  # --server-cpus 1
                self.assertGreater(p.server_usage.utilization, 0.15)
                self.assertLessEqual(p.server_usage.utilization, 1.0)
                self.assertGreater(p.server_usage.context_switches_per_request, 0)
                self.assertEqual(p.generator_usage.cpus, [0])
                self.assertAlmostEqual(p.model.cpu_bound_rps, 1e6 / p.model.cpu_time_us)
                self.assertLessEqual(p.model.mva_rps, p.model.bound_rps * (1 + 1e-9))
        self.assertIsNone(self.point("inline", 8).model.knee_pool)
        self.assertEqual(self.point("call-in-thread", 8).model.bound, "cpu")

    def test_knees_from_sweep_json(self):
        knee = plot.knee_of(self.rs, "call-in-thread")
        self.assertTrue(knee.from_sweep)
        self.assertEqual((knee.measured_pool, knee.best_pool), (16, 16))
        self.assertEqual(knee.measured_rps, self.point("call-in-thread", 16).throughput_rps)
        # P* = K*S/c with K = 1 CPU, S = 10367 us (calibrated p50), c = 2181 us.
        self.assertAlmostEqual(knee.predicted_pool, 10367.0 / 2180.9623418803417, places=6)
        inline = plot.knee_of(self.rs, "inline")
        self.assertEqual(inline.measured_pool, 1)
        self.assertIsNone(inline.predicted_pool)

    def test_recomputed_knee_agrees_with_loadgen(self):
        recomputed = copy.copy(self.rs)
        recomputed.knees = {}  # as for sweep/1: from the points
        for mode in self.rs.modes():
            with self.subTest(mode=mode):
                ours, theirs = plot.knee_of(recomputed, mode), plot.knee_of(self.rs, mode)
                self.assertFalse(ours.from_sweep)
                self.assertEqual((ours.measured_pool, ours.best_pool, ours.predicted_pool),
                                 (theirs.measured_pool, theirs.best_pool, theirs.predicted_pool))

    def test_bound_curve_bends_at_the_predicted_knee(self):
        points = self.rs.measured("call-in-thread")
        knee = plot.knee_of(self.rs, "call-in-thread").predicted_pool
        pools, rps = plot.bound_curve(points, knee)
        self.assertEqual(pools, [1, 2, 4, knee, 8, 16, 32])
        cpu_bound = points[0].model.cpu_bound_rps
        # The corner: P*/S meets K/c there (S and c are the model's, so within rounding).
        self.assertAlmostEqual(rps[3], cpu_bound, delta=cpu_bound * 0.01)
        self.assertEqual(rps[4:], [cpu_bound] * 3)
        self.assertEqual(plot.bound_curve(points)[0], [1, 2, 4, 8, 16, 32])
        mva_pools, mva = plot.mva_curve(points)
        self.assertEqual(mva_pools, [1, 2, 4, 8, 16, 32])
        self.assertTrue(all(m <= b * (1 + 1e-9) for m, b in zip(mva, [rps[i] for i in
                                                                       (0, 1, 2, 4, 5, 6)])))

    def test_expected_utilization(self):
        p = self.point("call-in-thread", 8)
        self.assertAlmostEqual(plot.expected_utilization_pct(p),
                               100 * p.throughput_rps * 2180.9623418803417e-6)
        # The calibrated c predicts the measured CPU use within a few percent here.
        self.assertAlmostEqual(plot.expected_utilization_pct(p),
                               100 * p.server_usage.utilization, delta=5)

    def test_caption(self):
        text = plot.caption([self.rs])
        for part in ("work spin:2ms+sleep:8ms", "server CPUs 1", "loadgen CPUs 0",
                     "S = 10.4 ms (calibrated p50)", "c = 2.18 ms CPU", "64 conn"):
            self.assertIn(part, text)

    def test_run_files_without_sweep_json(self):
        with tempfile.TemporaryDirectory() as directory:
            for name in ("call-in-thread-pool8.json", "inline-pool8.json"):
                shutil.copy(os.path.join(SWEEP2, name), directory)
            rs = plot.load_results(directory)
        self.assertEqual(rs.modes(), ["inline", "call-in-thread"])
        p = rs.measured("call-in-thread")[0]
        self.assertEqual(p.throughput_rps, self.point("call-in-thread", 8).throughput_rps)
        self.assertEqual(p.server_usage, self.point("call-in-thread", 8).server_usage)
        knee = plot.knee_of(rs, "call-in-thread")
        self.assertFalse(knee.from_sweep)
        self.assertEqual(knee.measured_pool, 8)
        self.assertAlmostEqual(knee.predicted_pool, 4.7534, places=3)
        self.assertIn("S = 10.4 ms (calibrated)", plot.caption([rs]))

    def test_null_fields(self):
        with tempfile.TemporaryDirectory() as directory, \
                mock.patch("sys.stderr", new=io.StringIO()) as stderr:
            rs = plot.load_results(write_sweep2_variant(directory, nulls_everywhere))
        self.assertIn("call-in-thread pool 1 has no measurement", stderr.getvalue())
        failed = [p for p in rs.points if p.status != "ok"]
        self.assertEqual([(p.mode, p.pool_size, p.status) for p in failed],
                         [("call-in-thread", 1, "failed: server did not start")])
        self.assertIsNone(rs.measured("call-in-thread")[1].server_usage)
        self.assertIsNone(rs.measured("call-in-thread")[2].server_usage)
        self.assertIsNone(rs.measured("call-in-thread")[3].model)
        knee = plot.knee_of(rs, "call-in-thread")
        self.assertEqual(knee.measured_pool, 16)
        self.assertIsNone(knee.predicted_pool)
        points = rs.measured("call-in-thread")
        self.assertEqual(plot.bound_curve(points, None)[0], [2, 4, 8, 32])  # no model at 16
        self.assertEqual(plot.mva_curve(points), ([], []))
        self.assertIsNone(plot.expected_utilization_pct(points[0]))
        self.assertTrue(plot.has_resources([rs]))
        self.assertIn("server not pinned to CPUs", plot.caption([rs]))


class DatabaseLoaderTest(unittest.TestCase):
    def test_error_rates_by_kind(self):
        with tempfile.TemporaryDirectory() as directory:
            rs = plot.load_results(write_sweep2_variant(directory, with_database))
        first, other = rs.measured("call-in-thread")[:2]
        rates = plot.error_rates(first)
        self.assertEqual(sorted(rates), ["connection_closed", "sql 1040"])
        self.assertAlmostEqual(rates["sql 1040"], 0.1)  # 10 in 88 completed + 12 failed
        self.assertAlmostEqual(rates["connection_closed"], 0.02)
        self.assertEqual(plot.error_rates(other), {})
        self.assertEqual(plot.error_kind("err:busy"), "busy")
        self.assertEqual(plot.database_usage(other).cpu_us_per_request, 90.0)
        self.assertTrue(plot.has_database([rs]))
        self.assertFalse(plot.has_database([plot.load_results(SWEEP2)]))
        text = database_caption([rs])
        for part in ("S = 10.4 ms", "database 10.11.19-MariaDB", "max_connections 151",
                     "innodb_buffer_pool_size 128 MiB", "REPEATABLE-READ", "database CPUs 1"):
            self.assertIn(part, text)


class SweepV1CompatTest(unittest.TestCase):
    def test_sample_has_no_sweep2_fields(self):
        rs = plot.load_results(SAMPLE)
        self.assertEqual(rs.schema, "poolbench.sweep/1")
        self.assertFalse(plot.has_resources([rs]))
        for mode in rs.modes():
            with self.subTest(mode=mode):
                knee = plot.knee_of(rs, mode)
                self.assertFalse(knee.from_sweep)
                self.assertIsNone(knee.predicted_pool)
                self.assertIn(knee.measured_pool, (1, 4))
                points = rs.measured(mode)
                self.assertEqual(plot.bound_curve(points, None)[1],
                                 [p.predicted_throughput_rps for p in points])
                self.assertEqual(plot.mva_curve(points), ([], []))
        self.assertNotIn("server CPUs", plot.caption([rs]))
        self.assertIn("work sleep:10ms", plot.caption([rs]))

    @unittest.skipUnless(os.path.isdir(OLD_RESULTS), "no results/2026-11-25-vm")
    def test_committed_results(self):
        for name in ("ours", "twisted"):
            with self.subTest(name=name):
                rs = plot.load_results(os.path.join(OLD_RESULTS, name))
                # Sleep-only work: throughput grows up to the largest pool in the pool modes.
                self.assertEqual(plot.knee_of(rs, "call-in-thread").measured_pool, 32)
                self.assertIn("(calibrated)", plot.caption([rs]))


@unittest.skipIf(importlib.util.find_spec("matplotlib") is None,
                 "matplotlib is not installed for this interpreter")
class KneeMarksTest(unittest.TestCase):
    """What the throughput and latency charts draw, read back from the figure before saving."""

    def draw(self, chart, result_sets):
        figures = []
        charts = sys.modules["plotting.pool_charts"]
        with mock.patch.object(charts, "finish",
                               lambda plt, fig, *args, **kwargs: figures.append(fig) or []):
            chart(plot.import_matplotlib(), result_sets, None, ["png"])
        self.addCleanup(plot.import_matplotlib().close, figures[0])
        return figures[0]

    @staticmethod
    def knee_lines(ax):
        return sorted(line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "-.")

    def test_throughput_marks_both_knees(self):
        rs = plot.load_results(SWEEP2, "mix")
        inline, pool = self.draw(plot.plot_throughput, [rs]).axes
        self.assertEqual(self.knee_lines(pool), [plot.knee_of(rs, "call-in-thread").predicted_pool])
        self.assertIn("P* = 4.8", [t.get_text() for t in pool.texts])
        self.assertEqual([t.get_text() for t in pool.get_legend().get_texts()],
                         ["knee: pool 16; P* = 4.8"])
        self.assertEqual(self.knee_lines(inline), [])
        self.assertEqual([t.get_text() for t in inline.get_legend().get_texts()],
                         ["knee: pool 1"])

    def test_overlay_keeps_each_model(self):
        with tempfile.TemporaryDirectory() as directory:
            gil = plot.load_results(write_sweep2_variant(directory, gil_like), "gil")
        ours = plot.load_results(SWEEP2, "ours")
        pool = self.draw(plot.plot_throughput, [ours, gil]).axes[1]
        p_star = plot.knee_of(ours, "call-in-thread").predicted_pool
        self.assertEqual(self.knee_lines(pool), [p_star / 2, p_star])
        texts = [t.get_text() for t in pool.texts]
        self.assertIn("P* = 4.8 (ours)", texts)
        self.assertIn("P* = 2.4 (gil)", texts)
        bounds = [line for line in pool.lines if line.get_linestyle() == "--"]
        self.assertEqual(len(bounds), 2)
        self.assertNotEqual(bounds[0].get_color(), bounds[1].get_color())

    def test_latency_marks_predicted_knee(self):
        rs = plot.load_results(SWEEP2, "mix")
        pool = self.draw(plot.plot_latency, [rs]).axes[1]
        self.assertEqual(len(self.knee_lines(pool)), 1)
        self.assertIn("P* = 4.8", [t.get_text() for t in pool.texts])
        self.assertIn("p99", [line.get_label() for line in pool.lines])


@unittest.skipIf(PYTHON is None,
                 "matplotlib is not installed for this interpreter or /usr/bin/python3: "
                 "install python3-matplotlib (Debian) or pip install matplotlib")
class ChartsTest(unittest.TestCase):
    def run_script(self, name, *args, cwd=None):
        result = subprocess.run([PYTHON, os.path.join(SCRIPTS, name), *args], cwd=cwd,
                                capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def assert_images(self, directory, names, formats=("png", "svg")):
        for name in names:
            for fmt in formats:
                path = os.path.join(directory, f"{name}.{fmt}")
                with self.subTest(chart=path):
                    self.assertTrue(os.path.exists(path), f"{path} missing")
                    self.assertGreater(os.path.getsize(path), 5000)
                    with open(path, "rb") as f:
                        head = f.read(8)
                    if fmt == "png":
                        self.assertEqual(head, b"\x89PNG\r\n\x1a\n")

    def test_plot_sample(self):
        with tempfile.TemporaryDirectory() as out:
            result = self.run_script("plot.py", SAMPLE, "--out", out)
            self.assert_images(out, CHARTS)
            self.assertEqual(len(result.stdout.split()), 2 * len(CHARTS))

    def test_overlay_two_labels_png_only(self):
        with tempfile.TemporaryDirectory() as out:
            self.run_script("plot.py", SAMPLE, SAMPLE, "--label", "ours", "--label", "again",
                            "--out", out, "--format", "png")
            self.assert_images(out, CHARTS, formats=("png",))
            self.assertFalse(os.path.exists(os.path.join(out, "throughput.svg")))

    def test_decomposition_and_queue_depth_with_server_stats(self):
        # data/admin: real `loadgen run --admin` runs (3 modes x pools 1, 4; sleep 5 ms, 8 conn).
        with tempfile.TemporaryDirectory() as out:
            result = self.run_script("plot.py", ADMIN_SAMPLE, "--out", out, "--format", "png")
            self.assert_images(out, CHARTS + ("decomposition", "queue_depth"), formats=("png",))
            self.assertEqual(len(result.stdout.split()), len(CHARTS) + 2)

    def test_no_server_stats_no_decomposition(self):
        with tempfile.TemporaryDirectory() as out:
            self.run_script("plot.py", SAMPLE, "--out", out, "--format", "png")
            self.assertFalse(os.path.exists(os.path.join(out, "decomposition.png")))
            self.assertFalse(os.path.exists(os.path.join(out, "queue_depth.png")))
            self.assertFalse(os.path.exists(os.path.join(out, "cpu.png")))  # sweep/1

    def test_plot_sweep2(self):
        with tempfile.TemporaryDirectory() as out:
            result = self.run_script("plot.py", SWEEP2, "--out", out)
            self.assert_images(out, CHARTS + ("cpu",))
            self.assertEqual(len(result.stdout.split()), 2 * (len(CHARTS) + 1))
            self.assertFalse(os.path.exists(os.path.join(out, "database.png")))

    def test_database_chart_with_database_usage(self):
        with tempfile.TemporaryDirectory() as out:
            os.makedirs(os.path.join(out, "db"))
            db = write_sweep2_variant(os.path.join(out, "db"), with_database)
            self.run_script("plot.py", db, SWEEP2, "--out", out, "--format", "png")
            self.assert_images(out, CHARTS + ("cpu", "database"), formats=("png",))

    def test_sweep2_null_fields(self):
        with tempfile.TemporaryDirectory() as out:
            os.makedirs(os.path.join(out, "nulls"))
            nulls = write_sweep2_variant(os.path.join(out, "nulls"), nulls_everywhere)
            result = self.run_script("plot.py", nulls, "--out", out, "--format", "png")
            self.assertIn("has no measurement", result.stderr)  # the failed point
            self.assert_images(out, CHARTS + ("cpu",), formats=("png",))

    def test_sweep2_without_resources_no_cpu_chart(self):
        with tempfile.TemporaryDirectory() as out:
            os.makedirs(os.path.join(out, "bare"))
            bare = write_sweep2_variant(os.path.join(out, "bare"), no_resources)
            self.run_script("plot.py", bare, "--out", out, "--format", "png")
            self.assert_images(out, CHARTS, formats=("png",))
            self.assertFalse(os.path.exists(os.path.join(out, "cpu.png")))

    def test_overlay_sweep1_and_sweep2(self):
        with tempfile.TemporaryDirectory() as out:
            self.run_script("plot.py", SAMPLE, SWEEP2, "--label", "old", "--label", "new",
                            "--out", out, "--format", "png")
            self.assert_images(out, CHARTS + ("cpu",), formats=("png",))

    @unittest.skipUnless(os.path.isdir(OLD_RESULTS), "no results/2026-11-25-vm")
    def test_committed_sweep1_results(self):
        with tempfile.TemporaryDirectory() as out:
            self.run_script("plot.py", os.path.join(OLD_RESULTS, "ours"),
                            os.path.join(OLD_RESULTS, "twisted"), "--label", "ours",
                            "--label", "twisted", "--out", out, "--format", "png")
            self.assert_images(out, CHARTS, formats=("png",))

    @unittest.skipUnless(os.path.isdir(BENCH_SAMPLE), "no tests/scripts/data/bench sample")
    def test_bench_chart(self):
        with tempfile.TemporaryDirectory() as out:
            result = self.run_script("plot.py", "--bench", BENCH_SAMPLE, "--out", out,
                                     "--format", "png")
            written = result.stdout.split()
            self.assertTrue(written)
            for path in written:
                self.assertTrue(os.path.basename(path).startswith("bench_"))
                self.assertGreater(os.path.getsize(path), 5000)

    def test_compare_sample_with_itself(self):
        with tempfile.TemporaryDirectory() as out:
            chart = os.path.join(out, "cmp.png")
            result = self.run_script("compare.py", SAMPLE, SAMPLE, "--label", "a",
                                     "--label", "b", "--out", chart)
            self.assertGreater(os.path.getsize(chart), 5000)
            rows = [line.split() for line in result.stdout.splitlines()]
            rows = [r for r in rows if len(r) > 1 and r[0] in plot.MODE_ORDER and r[1].isdigit()]
            sample = plot.load_results(SAMPLE)
            self.assertEqual(len(rows), sum(len(sample.measured(m)) for m in sample.modes()))
            for row in rows:
                self.assertEqual(row[4:11:3], ["1.000", "1.000", "1.000"], row)

    def test_bad_arguments(self):
        for args in ([], ["/nonexistent/dir"], [SAMPLE, "--label", "a", "--label", "b"]):
            with self.subTest(args=args):
                result = subprocess.run([PYTHON, os.path.join(SCRIPTS, "plot.py"), *args],
                                        capture_output=True, text=True, timeout=60)
                self.assertEqual(result.returncode, 2, result.stderr)


class MissingMatplotlibTest(unittest.TestCase):
    def test_says_how_to_install(self):
        for script in ("plot.py", "compare.py"):
            with self.subTest(script=script):
                # -S -s: no site-packages, as on an interpreter without matplotlib.
                args = [SAMPLE] if script == "plot.py" else [SAMPLE, SAMPLE]
                result = subprocess.run(
                    [sys.executable, "-S", "-s", os.path.join(SCRIPTS, script), *args,
                     "--out", os.path.join(tempfile.gettempdir(), "unused.png")],
                    capture_output=True, text=True, timeout=60,
                    env={**os.environ, "PYTHONPATH": "", "PYTHONNOUSERSITE": "1"})
                if "matplotlib is not available" not in result.stderr and result.returncode == 0:
                    self.skipTest("matplotlib importable even without site-packages")
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn("python3-matplotlib", result.stderr)
                self.assertIn("pip install matplotlib", result.stderr)

    def test_compare_table_needs_only_the_standard_library(self):
        # compare.py reads results through plotting.results: no matplotlib, no plot.py.
        result = subprocess.run(
            [sys.executable, "-S", "-s", os.path.join(SCRIPTS, "compare.py"), SAMPLE, SAMPLE,
             "--no-plot"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": "", "PYTHONNOUSERSITE": "1"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("geometric mean of B/A per mode", result.stdout)


if __name__ == "__main__":
    unittest.main()
