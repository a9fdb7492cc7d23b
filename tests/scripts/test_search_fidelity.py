"""Tests for scripts/search-fidelity, without `loadgen search`.

Run: /usr/bin/python3 -m unittest discover -s tests/scripts -p test_search_fidelity.py

* Its parsing (pairs, SLO text as `loadgen search --slo` takes it, fixed-cost work) and its verdicts (the
  interval against the model's rate, repeats overlapping).
* The whole script against a stand-in loadgen (data/fake_loadgen.py: `run` answers a fixed
  S_eff, `search` writes a poolbench.search/1 document whose interval is set by the test) and
  the real reference_server of the build (POOLBENCH_BUILD_DIR, else build-release or build;
  skipped without one): the stand-in asks the server one line to prove it is up, the command
  line it was given is checked against `loadgen search --help`'s flags, and after the script every server it
  started refuses connections (stopped by PID).
"""

import importlib.machinery
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "search-fidelity")
FAKE_LOADGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                            "fake_loadgen.py")
_LOADER = importlib.machinery.SourceFileLoader("search_fidelity", SCRIPT)
_SPEC = importlib.util.spec_from_loader("search_fidelity", _LOADER)
fidelity = importlib.util.module_from_spec(_SPEC)
_LOADER.exec_module(fidelity)


def reference_server():
    for build in (os.environ.get("POOLBENCH_BUILD_DIR"), os.path.join(ROOT, "build-release"),
                  os.path.join(ROOT, "build")):
        if build:
            binary = os.path.join(build, "reference_server", "reference_server")
            if os.access(binary, os.X_OK):
                return os.path.abspath(binary)  # the tests symlink it elsewhere
    return None


class Parsing(unittest.TestCase):
    def test_slo(self):
        self.assertEqual(fidelity.parse_slo("p99<=50ms"),
                         {"text": "p99<=50ms", "percentile": 99.0, "limit_us": 50000.0})
        self.assertEqual(fidelity.parse_slo("p99.9<1.5s")["limit_us"], 1.5e6)
        self.assertEqual(fidelity.parse_slo("p50<=800us")["percentile"], 50.0)
        for bad in ("p100<=1ms", "p99>=1ms", "p99<=1m", "99<=1ms"):
            with self.assertRaises(ValueError, msg=bad):
                fidelity.parse_slo(bad)

    def test_pairs_and_defaults(self):
        args = fidelity.parse_args([])
        self.assertEqual([(p, s["text"]) for p, s in args.pairs],
                         [(1, "p99<=50ms"), (4, "p99<=30ms"), (16, "p99<=20ms")])
        self.assertEqual(args.nominal_us, 10000.0)
        self.assertEqual((args.connections, args.depth, args.arrival), ("64", "4", "poisson"))

    def test_work_must_have_a_fixed_cost(self):
        self.assertEqual(fidelity.nominal_service_us("spin:2ms+sleep:8ms"), 10000.0)
        for random_work in ("sleep:10ms,exp", "sleep:10ms,p0.01=1s", "none"):
            with self.assertRaises(ValueError):
                fidelity.nominal_service_us(random_work)


def search(low, high, exit_code=0):
    return {"low_rps": low, "high_rps": high, "exit": exit_code}


class Verdicts(unittest.TestCase):
    def test_agreement(self):
        inside = fidelity.agreement(search(90, 110), 100, 0.05)
        self.assertEqual(inside, {"contains": True, "within_tolerance": True,
                                  "miss_fraction": 0.0})
        near = fidelity.agreement(search(104, 110), 100, 0.05)
        self.assertEqual((near["contains"], near["within_tolerance"]), (False, True))
        self.assertAlmostEqual(near["miss_fraction"], 0.04)
        self.assertFalse(fidelity.agreement(search(80, 90), 100, 0.05)["within_tolerance"])
        self.assertFalse(fidelity.agreement(search(None, 90), 100, 0.05)["within_tolerance"])
        self.assertFalse(fidelity.agreement(search(90, 110, 3), 100, 0.05)["contains"])

    def test_overlap(self):
        self.assertTrue(fidelity.intervals_overlap([search(90, 100), search(100, 110)]))
        self.assertFalse(fidelity.intervals_overlap([search(90, 99), search(100, 110)]))
        self.assertIsNone(fidelity.intervals_overlap([search(90, 100)]))
        self.assertIsNone(fidelity.intervals_overlap([search(90, 100), search(None, 110)]))


@unittest.skipIf(reference_server() is None, "no reference_server built")
class EndToEnd(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="test-search-fidelity.")
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
        for folder, binary in (("reference_server", reference_server()),
                               ("loadgen", FAKE_LOADGEN)):
            os.makedirs(os.path.join(self.work, folder))
            os.symlink(binary, os.path.join(self.work, folder, folder))

    def run_script(self, capacity, *flags):
        env = dict(os.environ, FAKE_LOADGEN_LOG=os.path.join(self.work, "calls.jsonl"),
                   FAKE_LOADGEN_CAPACITY=json.dumps(capacity))
        out = os.path.join(self.work, "fidelity.json")
        done = subprocess.run(
            [sys.executable, SCRIPT, "--build-dir", self.work, "--out", out,
             "--calibration", "200ms", *flags], env=env, capture_output=True, text=True,
            timeout=120)
        with open(env["FAKE_LOADGEN_LOG"]) as f:
            calls = [json.loads(line) for line in f]
        doc = None
        if os.path.exists(out):
            with open(out) as f:
                doc = json.load(f)
        return done, calls, doc

    def test_a_pair_end_to_end(self):
        # M/D/4 at p99 <= 30 ms with S = 10.25 ms: about 295 req/s (mdc.py), inside [280, 310].
        done, calls, doc = self.run_script([280.0, 310.0], "--pairs", "4:p99<=30ms",
                                           "--trials", "3")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual([c["argv"][0] for c in calls], ["run", "search", "search"])
        self.assertTrue(all(c["server_answered"] for c in calls))
        search_argv = calls[1]["argv"]
        for flag, value in (("--slo", "p99<=30ms"), ("--trials", "3"), ("--arrival", "poisson"),
                            ("--connections", "64"), ("--depth", "4")):
            self.assertEqual(search_argv[search_argv.index(flag) + 1], value)
        self.assertNotIn("--precision", search_argv)  # not given: loadgen's default holds
        # The repeats draw their own arrival streams.
        seeds = [c["argv"][c["argv"].index("--seed") + 1] for c in calls[1:]]
        self.assertEqual(len(set(seeds)), 2, seeds)
        # Every flag the script passes is one the real `loadgen search` documents.
        real_loadgen = os.path.join(os.path.dirname(os.path.dirname(reference_server())),
                                    "loadgen", "loadgen")
        if os.path.exists(real_loadgen):
            manual = subprocess.run([real_loadgen, "search", "--help"], capture_output=True,
                                    text=True, timeout=30).stdout
            for flag in (word for word in search_argv if word.startswith("--")):
                self.assertIn(flag, manual)
        self.assertEqual(doc["schema"], "poolbench.search-fidelity/1")
        pair = doc["pairs"][0]
        self.assertAlmostEqual(pair["model"]["service_time_us"], 10250)
        self.assertTrue(pair["repeats_overlap"])
        self.assertTrue(pair["searches"][0]["agreement"]["contains"])
        self.assert_stopped(calls)

    def test_a_capacity_far_from_the_model_fails(self):
        done, calls, doc = self.run_script([100.0, 110.0], "--pairs", "1:p99<=50ms",
                                           "--repeat", "1")
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertFalse(doc["pass"])
        self.assertIsNone(doc["pairs"][0]["repeats_overlap"])
        self.assertIn("NO", done.stdout)
        self.assert_stopped(calls)

    def assert_stopped(self, calls):
        for port in {c["port"] for c in calls}:
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()
