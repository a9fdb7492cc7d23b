"""Tests for scripts/report.py (the self-contained HTML report) and plotting/svg.py.

Run: python3 -m unittest discover -s tests/scripts -p test_report.py

report.py runs as a subprocess under ``-I -S`` (no site-packages, no user paths): that it
works there is the proof it needs only the standard library. The sweep directories are
synthetic (report_fixture.py): one with search data and a recommendation, one plain; the
committed plain sweeps in results/2026-12-01-vm/mixed must render too.
"""

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = os.path.join(ROOT, "scripts")
REPORT = os.path.join(SCRIPTS, "report.py")
REAL_PLAIN_SWEEPS = os.path.join(ROOT, "results", "2026-12-01-vm", "mixed")
sys.path.insert(0, HERE)
sys.path.insert(0, SCRIPTS)

import report_fixture  # noqa: E402
from plotting import svg  # noqa: E402

CHART_KINDS = ("capacity", "latency", "spectrum", "timeline-throughput", "timeline-p99")


def run_report(*args):
    return subprocess.run([sys.executable, "-I", "-S", REPORT, *args], capture_output=True,
                          text=True, timeout=120)


class PageParser(html.parser.HTMLParser):
    """Collects what the assertions look at: every attribute, the text of each element with
    an id (and of its descendants), and the embedded JSON."""

    def __init__(self):
        super().__init__()
        self.attributes = []  # (tag, name, value)
        self.text_by_id = {}
        self.open_ids = []  # (id, depth)
        self.depth = 0
        self.data_json = None
        self._in_data = False

    def handle_starttag(self, tag, attrs):
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        attrs = dict(attrs)
        if tag in ("meta", "br", "img", "input", "link"):
            return  # void elements: no end tag
        self.depth += 1
        if attrs.get("id"):
            self.open_ids.append((attrs["id"], self.depth))
            self.text_by_id.setdefault(attrs["id"], "")
        self._in_data = attrs.get("id") == "report-data"

    def handle_endtag(self, tag):
        while self.open_ids and self.open_ids[-1][1] >= self.depth:
            self.open_ids.pop()
        self.depth -= 1
        self._in_data = False

    def handle_startendtag(self, tag, attrs):
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    def handle_data(self, data):
        for element_id, _ in self.open_ids:
            self.text_by_id[element_id] += data
        if self._in_data:
            self.data_json = json.loads(data)


def parse(page):
    parser = PageParser()
    parser.feed(page)
    return parser


class ReportTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="report-test-")
        self.addCleanup(shutil.rmtree, self.tmp)

    def render(self, directory, *extra):
        done = run_report(directory, *extra)
        self.assertEqual(done.returncode, 0, done.stderr)
        out = done.stdout.strip()
        self.assertTrue(os.path.isfile(out), out)
        with open(out, encoding="utf-8") as f:
            return f.read()

    # The pages are large: say what was looked for, not the whole page.
    def assert_in_page(self, text, page):
        self.assertTrue(text in page, f"{text!r} is not in the page")

    def assert_not_in_page(self, text, page):
        self.assertFalse(text in page, f"{text!r} is in the page")

    def assert_self_contained(self, page):
        parsed = parse(page)
        for tag, name, value in parsed.attributes:
            if name in ("src", "href", "xlink:href", "action", "poster", "srcset", "data"):
                self.assertFalse(re.match(r"\s*([a-z]+:|//)", value, re.I),
                                 f"<{tag} {name}={value!r}> loads from outside the page")
        self.assert_not_in_page("@import", page)
        self.assertIsNone(re.search(r"url\(\s*['\"]?(?!#)", page), "a CSS url() to a resource")
        self.assertIsNone(re.search(r"https?://", page), "an http(s) URL in the page")
        self.assert_not_in_page("<link", page)
        self.assert_not_in_page("<img", page)
        self.assert_in_page("Content-Security-Policy", page)

    def assert_charts(self, page, label, modes):
        for mode in modes:
            for kind in CHART_KINDS:
                with self.subTest(mode=mode, kind=kind):
                    self.assertRegex(page, f'<svg [^>]*id="{label}-{kind}-{mode}"')


class SearchSweepReportTest(ReportTestCase):
    def setUp(self):
        super().setUp()
        self.directory = os.path.join(self.tmp, "ours")
        report_fixture.make_sweep(self.directory)
        self.page = self.render(self.directory)
        self.parsed = parse(self.page)

    def test_writes_report_html_in_the_directory(self):
        self.assertTrue(os.path.isfile(os.path.join(self.directory, "report.html")))

    def test_verdict_comes_first_with_the_recommended_pool_and_evidence(self):
        verdict = self.parsed.text_by_id["verdict"]
        self.assertIn(f"pool {report_fixture.RECOMMENDED_POOL}", verdict)
        self.assertIn(report_fixture.RULE_TEXT, verdict)
        self.assertIn("all self-checks passed", verdict)
        for evidence in ("SLO capacity", "headroom", "18.7%", "next larger", "pool 8 passes"):
            self.assertIn(evidence, verdict)
        self.assertIn("no recommendation", verdict)  # inline has none
        self.assertLess(self.page.index('id="verdict"'), self.page.index("Manifest"))

    def test_manifest(self):
        for text in ("Test CPU 9000, 2 cores", "6.1.0-test", "--search", "p99&lt;=50ms", "42",
                     "S = 10 ms", "d = 100 us", "c = 2 ms", "report generated at"):
            self.assert_in_page(text, self.page)

    def test_embeds_the_data_without_histograms(self):
        data = self.parsed.data_json["ours"]
        self.assertEqual(data["sweep"]["schema"], "poolbench.sweep/2")
        self.assertEqual(data["recommendation"]["modes"]["call-in-thread"]["recommended_pool"],
                         report_fixture.RECOMMENDED_POOL)
        self.assertIn("call-in-thread-pool4", data["searches"])
        self.assert_not_in_page(report_fixture.INTERVAL_HISTOGRAM, self.page)

    def test_no_external_references(self):
        self.assert_self_contained(self.page)

    def test_every_chart(self):
        self.assert_charts(self.page, "ours", report_fixture.GRID)
        self.assert_in_page("USL fit", self.page)
        self.assert_in_page("recommended: pool 4", self.page)
        self.assert_in_page("SLO p99&lt;=50ms", self.page)

    def test_self_check_table_has_every_point(self):
        table = self.page[self.page.index('class="checks-table"'):]
        rows = table.count("<tr>") - 1  # the header row
        self.assertEqual(rows, sum(len(p) for p in report_fixture.GRID.values()))


class FailedChecksTest(ReportTestCase):
    def test_invalid_and_failed_points_turn_the_badge_red(self):
        directory = os.path.join(self.tmp, "bad")
        report_fixture.make_sweep(directory)
        sweep_file = os.path.join(directory, "sweep.json")
        with open(sweep_file) as f:
            sweep = json.load(f)
        sweep["complete"] = False
        invalid = sweep["points"][1]["result"]
        invalid.update(valid=False, reasons=["unstable", "little_law"])
        failed = sweep["points"][-1]
        failed.update(status="failed", reason="server exited with 1", result=None, file=None)
        report_fixture.write_json(sweep_file, sweep)
        verdict = parse(self.render(directory)).text_by_id["verdict"]
        self.assertIn("3 self-checks failed", verdict)
        self.assertIn("incomplete sweep", verdict)
        self.assertIn("inline pool 2: invalid run (unstable, little_law)", verdict)
        self.assertIn("call-in-thread pool 16: failed (server exited with 1)", verdict)


class PlainSweepReportTest(ReportTestCase):
    def test_without_search_or_recommendation(self):
        directory = os.path.join(self.tmp, "plain")
        report_fixture.make_sweep(directory, with_search=False, with_recommendation=False)
        page = self.render(directory, "--out", os.path.join(self.tmp, "plain.html"))
        verdict = parse(page).text_by_id["verdict"]
        self.assertIn(f"no recommendation: run loadgen recommend {directory}", verdict)
        self.assertIn("plain sweep", verdict)
        self.assert_in_page("inline: throughput", page)
        self.assert_not_in_page("USL fit", page)
        self.assert_charts(page, "plain", report_fixture.GRID)
        self.assert_self_contained(page)
        self.assertFalse(os.path.exists(os.path.join(directory, "report.html")))

    def test_a_directory_of_sweeps_gets_one_section_each(self):
        report_fixture.make_sweep(os.path.join(self.tmp, "ours"))
        report_fixture.make_sweep(os.path.join(self.tmp, "twisted"), with_search=False,
                                  with_recommendation=False)
        parsed = parse(self.render(self.tmp))
        self.assertIn("sweep-ours", parsed.text_by_id)
        self.assertIn("sweep-twisted", parsed.text_by_id)
        self.assertEqual(sorted(parsed.data_json), ["ours", "twisted"])

    @unittest.skipUnless(os.path.isdir(REAL_PLAIN_SWEEPS), "no committed results")
    def test_the_committed_plain_sweeps_degrade_gracefully(self):
        out = os.path.join(self.tmp, "mixed.html")
        page = self.render(REAL_PLAIN_SWEEPS, "--out", out)
        verdict = parse(page).text_by_id["verdict"]
        self.assertEqual(verdict.count("no recommendation: run loadgen recommend"), 2)
        self.assert_charts(page, "ours", ("inline", "call-in-thread"))
        self.assert_self_contained(page)
        self.assert_not_in_page("HISTFAAA", page)


class BadDirectoryTest(ReportTestCase):
    def test_missing_directory(self):
        done = run_report(os.path.join(self.tmp, "nowhere"))
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("not a directory", done.stderr)

    def test_directory_without_a_sweep(self):
        done = run_report(self.tmp)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("no sweep.json", done.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "report.html")))

    def test_unreadable_sweep_json(self):
        with open(os.path.join(self.tmp, "sweep.json"), "w") as f:
            f.write("{ not json")
        done = run_report(self.tmp)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("sweep.json", done.stderr)
        self.assertNotIn("Traceback", done.stderr)


class SvgTest(unittest.TestCase):
    def test_linear_ticks_are_round_and_cover_the_data(self):
        scale = svg.Scale(0, 437)
        self.assertEqual([v for v, _ in scale.ticks], [0, 100, 200, 300, 400, 500])

    def test_log_ticks(self):
        self.assertEqual([t for _, t in svg.Scale(3, 900, log=True).ticks],
                         ["5", "10", "20", "50", "100", "200", "500"])
        narrow = svg.Scale(600, 700, log=True).ticks  # no 1-2-5 value inside: evenly spaced
        self.assertGreaterEqual(len(narrow), 3)

    def test_format_number(self):
        self.assertEqual([svg.format_number(v) for v in (0, 0.25, 12.5, 1500, 2.5e6)],
                         ["0", "0.25", "12.5", "1.5k", "2.5M"])

    def test_chart_renders_axes_legend_and_escapes(self):
        chart = svg.Chart("t-1", "a <title>", svg.Scale(1, 8, log=True), svg.Scale(0, 10),
                          "x & y", "req/s")
        chart.line([1, 2, 4], [1, 5, 9], "#112233", label="series <1>")
        chart.line([1, 2], [None, None], "#445566", label="nothing drawn")
        page = chart.render()
        self.assertIn('id="t-1"', page)
        self.assertIn("a &lt;title&gt;", page)
        self.assertIn("series &lt;1&gt;", page)
        self.assertNotIn("nothing drawn", page)  # no legend for what is not on the chart
        self.assertEqual(page.count('class="axis-label"'), 2)
        self.assertNotIn("no measured point", page)

    def test_a_chart_with_only_reference_lines_says_it_has_no_data(self):
        chart = svg.Chart("t-2", "empty", svg.Scale(1, 8, log=True), svg.Scale(0, 10), "x", "y")
        chart.hline(5, "#000000", "a limit")
        self.assertIn("no measured point", chart.render())


if __name__ == "__main__":
    unittest.main()
