"""Test support for the multi-host launchers' tests (test_loadgen_k8s.py, test_loadgen_ssh.py):
this build's binaries, a reference_server on loopback, a small load split in shares, and the
checks every merged result must pass."""

import json
import os
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARES = 2
# Closed loop, short: each of the 2 shares gets 2 of the 4 connections.
LOAD_FLAGS = ["-c", "4", "--depth", "1", "--warmup", "200ms", "--duration", "1s"]


def build_dir():
    """This build (POOLBENCH_BUILD_DIR), else build-release or build in the checkout."""
    for build in (os.environ.get("POOLBENCH_BUILD_DIR"), os.path.join(ROOT, "build-release"),
                  os.path.join(ROOT, "build")):
        if build and all(os.access(binary(build, name), os.X_OK)
                         for name in ("loadgen", "reference_server")):
            return os.path.abspath(build)
    return None


def binary(build, name):
    return os.path.join(build, name, name)


def _read_port(port_file):
    """The port in PORT_FILE, or None while it is not written."""
    try:
        with open(port_file) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


class ReferenceServer:
    """This build's reference_server on 127.0.0.1 and a free port (--port-file), 1 ms of sleep
    per request; stopped by PID."""

    def __init__(self, build, timeout=10):
        self.work = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.work.name, "port")
        self.proc = subprocess.Popen([binary(build, "reference_server"), "--port", "0",
                                      "--port-file", port_file, "--work", "sleep:1ms"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _read_port(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("reference_server did not write its port file")
            time.sleep(0.02)
        self.port = _read_port(port_file)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.work.cleanup()


def run_flags(port):
    return ["--target", f"127.0.0.1:{port}"] + LOAD_FLAGS


def read_json(path):
    with open(path) as f:
        return json.load(f)


def check_merged_shares(test, out_dir):
    """merged.json adds up share-0.json and share-1.json, which ran segments 0/2 and 1/2 of one
    load with one start."""
    shares = [read_json(os.path.join(out_dir, f"share-{i}.json")) for i in range(SHARES)]
    merged = read_json(os.path.join(out_dir, "merged.json"))
    test.assertEqual([share["config"]["segment"] for share in shares],
                     [{"index": i, "count": SHARES} for i in range(SHARES)])
    test.assertEqual(len({share["config"]["start_at"] for share in shares}), 1)
    for share in shares:
        test.assertGreater(share["completed"], 0)
    test.assertEqual(merged["completed"], sum(share["completed"] for share in shares))
    test.assertEqual(merged["merge"]["kind"], "segments")
