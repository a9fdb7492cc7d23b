"""scripts/multihost-netns, small: three agents, each in its own network namespace, share one
open-loop load against a reference_server in another namespace; then one process runs the same
load. Checks what must hold exactly (the shares together scheduled exactly the single process's
plan, the merged accounting is the shares' sum, the merged histogram is their union) and, with
tolerances, the rest (throughput, start skew). Needs root and iproute2; skipped otherwise."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from launch_fixture import build_dir

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "multihost-netns")


def namespaces():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@unittest.skipIf(build_dir() is None, "no built loadgen")
@unittest.skipIf(os.geteuid() != 0 or shutil.which("ip") is None, "needs root and ip netns")
class MultihostNetns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp()
        cls.before = namespaces()
        cls.script = subprocess.run(
            [sys.executable, SCRIPT, "--agents", "3", "--rate", "1500", "--duration", "2",
             "--warmup", "0.5", "--connections", "12", "--build-dir", build_dir(), "--out",
             cls.work], capture_output=True, text=True, timeout=240)

        def load(name):
            with open(os.path.join(cls.work, name)) as f:
                return json.load(f)
        cls.load = staticmethod(load)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_the_script_succeeds_and_removes_its_namespaces(self):
        self.assertEqual(self.script.returncode, 0, self.script.stderr)
        self.assertIn("3 agents (merged)", self.script.stdout)
        self.assertEqual(namespaces(), self.before)

    def test_the_shares_scheduled_exactly_the_single_process_plan(self):
        merged, single = self.load("merged.json"), self.load("single.json")
        shares = [self.load("share-%d.json" % i) for i in range(3)]
        self.assertEqual([s["config"]["segment"] for s in shares],
                         [{"index": i, "count": 3} for i in range(3)])
        # One Poisson plan from one seed: the same intended times, so the same count in the
        # window, to the request.
        self.assertEqual(merged["scheduled"], single["scheduled"])
        self.assertEqual(merged["merge"]["kind"], "segments")
        self.assertEqual(merged["requested_rps"], 1500)
        self.assertEqual(merged["config"]["connections"], 12)

    def test_the_merged_accounting_and_histogram_are_the_shares_sum_and_union(self):
        merged = self.load("merged.json")
        shares = [self.load("share-%d.json" % i) for i in range(3)]
        for field in ("scheduled", "completed", "timeouts", "unfinished"):
            self.assertEqual(merged[field], sum(s[field] for s in shares), field)
        latency = merged["latency_us"]
        self.assertEqual(latency["count"], sum(s["latency_us"]["count"] for s in shares))
        self.assertEqual(latency["min"], min(s["latency_us"]["min"] for s in shares))
        self.assertEqual(latency["max"], max(s["latency_us"]["max"] for s in shares))
        p99s = [s["latency_us"]["p99"] for s in shares]
        self.assertTrue(min(p99s) <= latency["p99"] <= max(p99s), (latency["p99"], p99s))
        self.assertEqual(len(merged["merge"]["agents"]), 3)
        self.assertEqual(merged["merge"]["heterogeneity"]["segments"]["missing"], [])

    def test_the_agents_started_together_and_matched_the_single_process(self):
        comparison = self.load("comparison.json")
        self.assertEqual(comparison["schema"], "poolbench.multihost/1")
        heterogeneity = comparison["heterogeneity"]
        self.assertLess(abs(heterogeneity["start_skew_s"]["max"]), 0.05)
        self.assertLess(heterogeneity["t0_spread_s"], 0.05)
        self.assertGreater(heterogeneity["window_overlap"]["fraction"], 0.95)
        self.assertAlmostEqual(comparison["throughput_ratio"], 1.0, delta=0.05)


if __name__ == "__main__":
    unittest.main()
