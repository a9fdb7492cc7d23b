"""scripts/report.py's page in a real browser: headless Chromium, with no network at all.

Run: python3 -m unittest discover -s tests/scripts -p test_report_browser.py

Chromium runs in a fresh network namespace (``unshare --net``: not even a loopback that is
up), so the page cannot reach anything whatever it holds; the page's own Content-Security-
Policy would report a load it blocked as an error. Two runs over a synthetic sweep:

* ``--dump-dom``: the page's inline script marks <html> with data-report-ready once loaded and
  with data-page-errors for every script error, failed load or policy violation; the DOM must
  be ready, without errors, with every chart, and the verdict must name the recommended pool.
  Console messages of the page (Chromium's log on stderr) must be absent too.
* ``--screenshot``: kept as an artefact, in $POOLBENCH_ARTIFACT_DIR (ctest sets it to the
  build tree) or the system's temporary directory; its path is printed.

Skips (saying why) only when Chromium is not installed or namespaces are not permitted.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REPORT = os.path.join(ROOT, "scripts", "report.py")
sys.path.insert(0, HERE)

import report_fixture  # noqa: E402

CHROMIUM_TIMEOUT_S = 60
WINDOW = "1280,2000"
CHARTS_PER_MODE = 5  # capacity, latency, spectrum, two timelines


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def network_namespace_refusal():
    """None if ``unshare --net`` works here, else why not."""
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    try:
        done = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare --net failed: {e}"
    return None if done.returncode == 0 else f"unshare --net refused: {done.stderr.strip()}"


def run_chromium(chromium, profile_dir, url, *flags):
    """Runs headless Chromium, network-less, in its own process group; kills the whole group
    if it outlives CHROMIUM_TIMEOUT_S. Returns (exit status, stdout, stderr)."""
    command = ["unshare", "--net", chromium, "--headless", "--no-sandbox", "--disable-gpu",
               "--no-first-run", "--no-default-browser-check", "--disable-extensions",
               "--disable-background-networking", "--disable-component-update",
               f"--user-data-dir={profile_dir}", "--enable-logging=stderr", "--v=0",
               f"--window-size={WINDOW}", "--hide-scrollbars", *flags, url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=CHROMIUM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"chromium took more than {CHROMIUM_TIMEOUT_S} s: killed")
    return process.returncode, out, err


def artifact_dir():
    directory = os.environ.get("POOLBENCH_ARTIFACT_DIR") or os.path.join(
        tempfile.gettempdir(), "poolbench-report-browser")
    os.makedirs(directory, exist_ok=True)
    return directory


class ReportInChromiumTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.chromium = find_chromium()
        if cls.chromium is None:
            raise unittest.SkipTest("Chromium is not installed (scripts/install-deps adds it)")
        refusal = network_namespace_refusal()
        if refusal:
            raise unittest.SkipTest(f"cannot cut Chromium off the network: {refusal}")
        cls.tmp = tempfile.mkdtemp(prefix="report-browser-")
        sweep_dir = os.path.join(cls.tmp, "ours")
        report_fixture.make_sweep(sweep_dir)
        done = subprocess.run([sys.executable, "-I", "-S", REPORT, sweep_dir],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            shutil.rmtree(cls.tmp)
            raise AssertionError(f"report.py failed: {done.stderr}")
        cls.page_url = "file://" + os.path.join(sweep_dir, "report.html")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def chromium_run(self, *flags, url=None):
        profile = tempfile.mkdtemp(prefix="profile-", dir=self.tmp)
        status, out, err = run_chromium(self.chromium, profile, url or self.page_url, *flags)
        self.assertEqual(status, 0, f"chromium exited with {status}: {err[-2000:]}")
        return out, err

    def load(self, url=None):
        """(DOM dump, <html> start tag, errors the page recorded, page console log lines)."""
        dom, log = self.chromium_run("--dump-dom", url=url)
        root = re.search(r"<html[^>]*>", dom)
        self.assertIsNotNone(root, f"no <html> in the dump: {dom[:500]}")
        root = root.group(0)
        self.assertIn('data-report-ready="yes"', root, "the page's load handler did not run")
        errors = re.search(r'data-page-errors="([^"]*)"', root)
        console = [line for line in log.splitlines()
                   if "CONSOLE" in line and (url or self.page_url) in line]
        return dom, root, errors.group(1) if errors else "", console

    def test_the_checks_catch_a_broken_page(self):
        """A control: an outside image and a script error in a copy of the page are seen."""
        with open(self.page_url[len("file://"):], encoding="utf-8") as f:
            page = f.read()
        broken = os.path.join(self.tmp, "broken.html")
        with open(broken, "w", encoding="utf-8") as f:
            f.write(page.replace("</main>", '<img src="https://example.invalid/x.png">'
                                            "<script>noSuchFunction()</script></main>"))
        _, _, errors, console = self.load("file://" + broken)
        self.assertIn("noSuchFunction", errors)
        self.assertIn("example.invalid", errors)
        self.assertTrue(console, "no console lines in Chromium's log")

    def test_page_loads_without_errors_and_shows_the_verdict(self):
        dom, root, errors, console = self.load()
        self.assertEqual(errors, "", "errors recorded by the page")
        self.assertEqual(console, [])
        charts = int(re.search(r'data-charts="(\d+)"', root).group(1))
        self.assertEqual(charts, CHARTS_PER_MODE * len(report_fixture.GRID))
        verdict = re.search(r'<div id="verdict">(.*?)</div>\s*<section class="sweep"', dom,
                            re.S).group(1)
        pool = re.search(r'class="recommended-pool">([^<]*)<', verdict)
        self.assertIsNotNone(pool, "no recommended pool in the verdict")
        self.assertEqual(pool.group(1), f"pool {report_fixture.RECOMMENDED_POOL}")
        self.assertIn("all self-checks passed", verdict)

    def test_screenshot(self):
        path = os.path.join(artifact_dir(), "report-screenshot.png")
        if os.path.exists(path):
            os.remove(path)
        self.chromium_run(f"--screenshot={path}")
        self.assertTrue(os.path.isfile(path), "no screenshot written")
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(path), 20_000, "the screenshot looks blank")
        print(f"\nscreenshot: {path}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
