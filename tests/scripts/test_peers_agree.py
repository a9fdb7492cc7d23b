"""One test holds every server to the same --work grammar and the same flags: reference_server
and the peers (Twisted, asyncio, Java, Node.js) answer --print-work for every case of
tests/data/work_specs.json exactly as the file says, and their --help names every shared flag.
A program whose runtime (or build) is missing here is skipped, and the skip says which.

Run: POOLBENCH_BUILD_DIR=build python3 -m unittest discover -s tests/scripts -p test_peers_agree.py
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("POOLBENCH_BUILD_DIR", os.path.join(ROOT, "build"))
SPECS = os.path.join(ROOT, "tests", "data", "work_specs.json")
SHARED_FLAGS = ("--port", "--bind", "--port-file", "--mode", "--pool-size", "--work",
                "--fail-rate", "--max-line", "--print-work")


def programs():
    """name -> (command prefix, why it cannot run here or None)."""
    server = os.path.join(BUILD, "reference_server", "reference_server")
    java_classes = os.path.join(BUILD, "peers", "java")
    return {
        "reference_server": ([server], None if os.path.exists(server) else f"no {server}"),
        "twisted": (["/usr/bin/python3", os.path.join(ROOT, "scripts", "twisted_server.py")],
                    None if os.path.exists("/usr/bin/python3") else "no /usr/bin/python3"),
        "asyncio": ([sys.executable, os.path.join(ROOT, "scripts", "peers", "asyncio_server.py")],
                    None),
        "java": (["java", "-cp", java_classes, "PoolPeer"],
                 None if shutil.which("java") and os.path.exists(
                     os.path.join(java_classes, "PoolPeer.class")) else
                 f"no java or no {java_classes}/PoolPeer.class"),
        "node": (["node", os.path.join(ROOT, "scripts", "peers", "node_server.mjs")],
                 None if shutil.which("node") else "no node"),
    }


def run(command, *arguments):
    return subprocess.run(command + list(arguments), capture_output=True, text=True, timeout=60)


class EveryProgramAgrees(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(SPECS) as f:
            cls.specs = json.load(f)

    def for_each_program(self, check):
        for name, (command, missing) in programs().items():
            with self.subTest(program=name):
                if missing:
                    self.skipTest(f"{name}: {missing}")
                check(name, command)

    def test_print_work_matches_every_shared_case(self):
        self.for_each_program(self.check_print_work)

    def test_help_names_every_shared_flag(self):
        self.for_each_program(self.check_help)

    def check_print_work(self, name, command):
        cases = self.specs["valid"] + self.specs["invalid"]
        # One process per case, a few at a time: most of it is the runtime starting.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as starter:
            results = list(starter.map(
                lambda case: run(command, "--print-work", case["spec"]), cases))
        for case, result in zip(cases, results):
            if "error" in case:
                self.assertEqual(result.returncode, 2, f"{name} {case['spec']!r}")
                self.assertEqual(result.stderr.strip(),
                                 case["error"] + "; " + self.specs["grammar"],
                                 f"{name} {case['spec']!r}")
            else:
                self.assertEqual(result.returncode, 0, f"{name}: {result.stderr}")
                self.assertEqual(json.loads(result.stdout),
                                 {key: case[key] for key in ("canonical", "cpu_ns", "blocking_ns")},
                                 f"{name} {case['spec']!r}")

    def check_help(self, name, command):
        result = run(command, "--help")
        self.assertEqual(result.returncode, 0, f"{name}: {result.stderr}")
        for flag in SHARED_FLAGS:
            self.assertIn(flag, result.stdout, f"{name} --help does not name {flag}")

if __name__ == "__main__":
    unittest.main()
