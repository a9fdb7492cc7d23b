"""Tests for scripts/plot.py and scripts/compare.py.

Run: /usr/bin/python3 -m unittest discover tests/scripts

* The HdrHistogram V2 decoder against a string encoded by the reference Java implementation
  (data/hdr_v2_java.json, made by data/HdrV2Fixture.java), and against the loadgen's own
  histograms in the committed sample (their percentiles must equal the JSON's).
* plot.py and compare.py on data/sweep, a small real `loadgen sweep` result: every chart is
  written as a non-empty PNG/SVG. These run plot.py with an interpreter that has matplotlib
  (this one, else /usr/bin/python3) and skip, saying so, only when none has it.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SAMPLE = os.environ.get("POOLBENCH_SAMPLE_SWEEP", os.path.join(DATA, "sweep"))
BENCH_SAMPLE = os.path.join(DATA, "bench")
ADMIN_SAMPLE = os.path.join(DATA, "admin")  # loadgen run --admin: runs with server_stats
CHARTS = ("throughput", "latency", "spectrum", "timeline")


def load_module(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SCRIPTS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # plot.py imports only the standard library at load time
    return module


plot = load_module("plot")


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


if __name__ == "__main__":
    unittest.main()
