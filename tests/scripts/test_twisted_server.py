"""Tests for scripts/twisted_server.py, the Twisted peer server, over real loopback TCP.

Run: /usr/bin/python3 -m unittest discover tests/scripts
The server needs an interpreter with Twisted: $POOLBENCH_TWISTED_PYTHON, else /usr/bin/python3,
else this interpreter. The tests skip (saying why) only when none of them has Twisted.
"""

import importlib.util
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from line_server_process import LineServerProcess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(ROOT, "scripts", "twisted_server.py")
WORK_SPECS = os.path.join(ROOT, "tests", "data", "work_specs.json")
MODES = ("inline", "call-in-thread", "defer-to-thread")


def find_twisted_python():
    candidates = [os.environ.get("POOLBENCH_TWISTED_PYTHON"), "/usr/bin/python3", sys.executable]
    for python in filter(None, candidates):
        if os.path.exists(python) and subprocess.run(
                [python, "-c", "import twisted"], capture_output=True).returncode == 0:
            return python
    return None


PYTHON = find_twisted_python()


def load_work_specs():
    """The --work cases shared with reference_server's unit tests."""
    with open(WORK_SPECS) as f:
        return json.load(f)


class Server(LineServerProcess):
    """One twisted_server.py process on --port 0."""

    def __init__(self, *flags):
        super().__init__([PYTHON, SERVER], *flags)

    def stop(self, timeout=10):
        return super().stop(timeout)


def exchange(port, lines, timeout=10):
    """Sends each line on one connection, one at a time; returns the reply lines (bytes)."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        buffer = b""
        for line in lines:
            sock.sendall(line + b"\r\n")
            while b"\r\n" not in buffer:
                try:
                    chunk = sock.recv(4096)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"connection closed, no reply to {line!r}")
                buffer += chunk
            reply, buffer = buffer.split(b"\r\n", 1)
            replies.append(reply)
    return replies


def concurrent_requests(port, clients):
    """`clients` connections each send one line at the same time; returns elapsed seconds."""
    errors = []
    barrier = threading.Barrier(clients)

    def one(i):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                barrier.wait(timeout=10)
                sock.sendall(b"c%d\r\n" % i)
                buffer = b""
                while not buffer.endswith(b"\r\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    buffer += chunk
                if buffer != b"ack:c%d\r\n" % i:
                    errors.append(buffer)
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    started = time.monotonic()  # connections are made before the barrier; close enough
    for t in threads:
        t.join(20)
    elapsed = time.monotonic() - started
    if errors:
        raise AssertionError(f"bad replies: {errors}")
    return elapsed


@unittest.skipIf(PYTHON is None,
                 "Twisted is not installed for /usr/bin/python3 or this interpreter: "
                 "install python3-twisted (Debian) or pip install twisted")
class TwistedServerTest(unittest.TestCase):
    def start(self, *flags):
        server = Server(*flags)
        self.addCleanup(server.stderr.close)
        self.addCleanup(server.stop)
        return server

    def test_ack_in_every_mode(self):
        for mode in MODES + ("callInThread", "deferToThread"):
            with self.subTest(mode=mode):
                server = self.start("--mode", mode, "--work", "sleep:1ms")
                self.assertEqual(exchange(server.port, [b"hello", b"", b"a b|c"]),
                                 [b"ack:hello", b"ack:", b"ack:a b|c"])
                status = server.stop()
                self.assertEqual(status, 0, server.stderr_text())

    def test_error_reply_with_fail_rate_one(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                server = self.start("--mode", mode, "--work", "none", "--fail-rate", "1")
                self.assertEqual(exchange(server.port, [b"x1", b"x2"]),
                                 [b"err:injected failure|x1", b"err:injected failure|x2"])

    def test_pool_runs_requests_concurrently(self):
        # 8 clients, 50 ms of sleep each: pool 4 takes ~2 rounds (~100 ms), inline ~8 (~400 ms).
        inline = self.start("--mode", "inline", "--work", "sleep:50ms")
        inline_s = concurrent_requests(inline.port, 8)
        self.assertGreater(inline_s, 0.35)
        for mode in ("call-in-thread", "defer-to-thread"):
            with self.subTest(mode=mode):
                server = self.start("--mode", mode, "--pool-size", "4", "--work", "sleep:50ms")
                pooled_s = concurrent_requests(server.port, 8)
                self.assertGreater(pooled_s, 0.09)
                self.assertLess(pooled_s, inline_s * 0.6)

    def test_lf_delimiter(self):
        server = self.start("--mode", "defer-to-thread", "--work", "none", "--lf")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"a\nb\r\n")
            buffer = b""
            while buffer.count(b"\r\n") < 2:
                buffer += sock.recv(4096)
        # Both a bare \n and \r\n end a line; replies end in \r\n (order: pool completion).
        self.assertEqual(sorted(buffer.split(b"\r\n")[:2]), [b"ack:a", b"ack:b"])

    def test_port_file_and_stats(self):
        with tempfile.TemporaryDirectory() as tmp:
            port_file = os.path.join(tmp, "port")
            server = self.start("--mode", "call-in-thread", "--work", "none",
                                "--port-file", port_file, "--stats-interval", "0.05")
            with open(port_file) as f:
                self.assertEqual(int(f.read()), server.port)
            exchange(server.port, [b"s"])
            time.sleep(0.2)
            self.assertIn('STATS {"t": ', server.stderr_text())
            self.assertIn('"max": 10', server.stderr_text())  # Twisted's default pool size

    def test_overlong_line_closes_the_connection(self):
        server = self.start("--mode", "inline", "--work", "none", "--max-line", "8")
        self.assertEqual(exchange(server.port, [b"12345678"]), [b"ack:12345678"])
        with self.assertRaisesRegex(AssertionError, "connection closed"):
            exchange(server.port, [b"123456789"])

    def test_bad_flags_exit_2(self):
        for flags in (["--work", "sleep:10"], ["--work", "nap:1ms"], ["--fail-rate", "1.5"],
                      ["--mode", "threads"], ["--pool-size", "0"], ["--max-queue", "5"],
                      ["--drain-timeout", "1s"]):
            with self.subTest(flags=flags):
                result = subprocess.run([PYTHON, SERVER, "--port", "0", *flags],
                                        capture_output=True, text=True, timeout=20)
                self.assertEqual(result.returncode, 2)
                self.assertIn("error", result.stderr)

    def test_bad_work_gives_reference_servers_message(self):
        result = subprocess.run([PYTHON, SERVER, "--port", "0", "--work", "spin:1ms+nap:9ms"],
                                capture_output=True, text=True, timeout=20)
        self.assertEqual(result.returncode, 2)
        expected = ("bad work spec 'spin:1ms+nap:9ms': part 2 'nap:9ms': unknown kind 'nap'; "
                    + load_work_specs()["grammar"])
        self.assertTrue(result.stderr.endswith(f"twisted_server.py: error: {expected}\n"),
                        result.stderr)

    def test_mixed_work(self):
        server = self.start("--mode", "defer-to-thread", "--work", "spin:1ms+sleep:1ms,exp")
        self.assertEqual(exchange(server.port, [b"m1", b"m2"]), [b"ack:m1", b"ack:m2"])


class WorkSpecTest(unittest.TestCase):
    """The --work grammar is reference_server's (reference_server/work.hpp): the shared cases in
    tests/data/work_specs.json, which tests/unit/work_test.cpp checks on the C++ side."""

    @classmethod
    def setUpClass(cls):
        spec = importlib.util.spec_from_file_location("twisted_server", SERVER)
        cls.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.module)  # stdlib only at import time: no Twisted needed

    def parse(self, text):
        return self.module.WorkSpec.parse(text)

    def test_accepts_the_shared_valid_specs_with_their_mean_costs(self):
        cases = load_work_specs()["valid"]
        self.assertTrue(cases)
        for case in cases:
            with self.subTest(spec=case["spec"]):
                spec = self.parse(case["spec"])
                self.assertAlmostEqual(spec.mean_cpu_seconds() * 1e9, case["cpu_ns"], delta=1e-3)
                self.assertAlmostEqual(spec.mean_blocking_seconds() * 1e9, case["blocking_ns"],
                                       delta=1e-3)

    def test_rejects_the_shared_bad_specs_with_the_shared_messages(self):
        specs = load_work_specs()
        self.assertTrue(specs["invalid"])
        for case in specs["invalid"]:
            with self.subTest(spec=case["spec"]):
                with self.assertRaises(ValueError) as raised:
                    self.parse(case["spec"])
                self.assertEqual(str(raised.exception), case["error"] + "; " + specs["grammar"])

    def test_an_hour_is_checked_in_nanoseconds_before_rounding(self):
        self.assertEqual(self.parse("sleep:3600s").mean_blocking_seconds(), 3600)
        self.assertEqual(self.parse("sleep:3600000ms").mean_blocking_seconds(), 3600)
        with self.assertRaisesRegex(ValueError, "'3600.000001s' is longer than an hour"):
            self.parse("sleep:3600.000001s")
        # Then rounded to whole nanoseconds, halves away from zero (std::llround).
        self.assertEqual(self.parse("sleep:0.5ns").parts[0].nanoseconds, 1)
        self.assertEqual(self.parse("sleep:2.5ns").parts[0].nanoseconds, 3)
        self.assertEqual(self.parse("sleep:0.49999999999999994ns").parts[0].nanoseconds, 0)

    def test_parts_keep_their_order_and_their_own_options(self):
        spec = self.parse("spin:2ms,p0.01=50ms+sleep:8ms,exp")
        self.assertEqual([part.kind for part in spec.parts], ["spin", "sleep"])
        spin, sleep = spec.parts
        self.assertEqual((spin.nanoseconds, spin.exponential, spin.outliers),
                         (2_000_000, False, [(0.01, 50_000_000)]))
        self.assertEqual((sleep.nanoseconds, sleep.exponential, sleep.outliers),
                         (8_000_000, True, []))
        self.assertEqual(self.parse("none").parts, [])

    def test_an_sql_part_takes_the_pieces_after_it_back(self):
        spec = self.parse("spin:1ms+sql:UPDATE kv SET n=n+1 WHERE id={rand:8}+1+none+sql:range-scan"
                          "+sleep:1ms")
        self.assertEqual([part.kind for part in spec.parts], ["spin", "sql", "sql", "sleep"])
        update, scan = spec.parts[1:3]
        self.assertEqual((update.name, update.statement),
                         (None, "UPDATE kv SET n=n+1 WHERE id={rand:8}+1+none"))
        self.assertEqual((scan.name, scan.statement),
                         ("range-scan",
                          "SELECT COUNT(*),SUM(n) FROM kv WHERE id BETWEEN {rand} AND {rand}+9999"))
        # The start check prepares each distinct statement once, every placeholder set to 1.
        self.assertEqual(self.parse("sql:point-read+sql:SELECT v FROM kv WHERE id={rand}"
                                    "+sql:hot-update").sql_statements(),
                         ["SELECT v FROM kv WHERE id=1", "UPDATE kv SET n=n+1 WHERE id=1"])

    def test_sample(self):
        rng = random.Random(1)
        part = self.parse("sleep:1ms,p0.25=100ms").parts[0]
        samples = [part.sample(rng) for _ in range(4000)]
        self.assertAlmostEqual(samples.count(0.1) / len(samples), 0.25, delta=0.03)
        exp = self.parse("sleep:10ms,exp").parts[0]
        mean = sum(exp.sample(rng) for _ in range(4000)) / 4000
        self.assertAlmostEqual(mean, 0.01, delta=0.001)

    def test_spin_uses_its_duration_of_thread_cpu_time(self):
        spec = self.parse("spin:30ms")
        before = time.thread_time()
        spec.run(random.Random(1))
        used = time.thread_time() - before
        self.assertGreaterEqual(used, 0.030)
        self.assertLess(used, 0.050, "the spin overshot its CPU time by 20 ms or more")

    @unittest.skipUnless(getattr(sys, "_is_gil_enabled", lambda: True)(),
                         "a free-threaded Python has no GIL to share")
    def test_spinning_threads_share_one_cpu_under_the_gil(self):
        # Each spin still gets its whole CPU time, but holding the GIL they take turns: a model
        # fact, so a slow or busy machine only makes the wall time longer.
        spec = self.parse("spin:50ms")
        used = [0.0, 0.0]

        def spin(i):
            before = time.thread_time()
            spec.run(random.Random(i))
            used[i] = time.thread_time() - before

        threads = [threading.Thread(target=spin, args=(i,)) for i in range(2)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        for cpu in used:
            self.assertGreaterEqual(cpu, 0.050)
        self.assertGreaterEqual(wall, 0.095, "two 50 ms spins ran in parallel despite the GIL")

    def test_parts_run_in_turn_and_sleep_uses_no_cpu(self):
        spec = self.parse("spin:10ms+sleep:20ms")
        cpu_before, wall_before = time.thread_time(), time.monotonic()
        spec.run(random.Random(1))
        cpu, wall = time.thread_time() - cpu_before, time.monotonic() - wall_before
        self.assertGreaterEqual(cpu, 0.010)
        self.assertLess(cpu, 0.025, "the sleep part must not use CPU")
        self.assertGreaterEqual(wall, 0.030)


class MissingTwistedTest(unittest.TestCase):
    def test_says_how_to_install(self):
        # Hide every site-packages so the import fails the way it does on a bare interpreter.
        result = subprocess.run([sys.executable, "-S", "-s", SERVER, "--port", "0"],
                                capture_output=True, text=True, timeout=20,
                                env={**os.environ, "PYTHONPATH": "", "PYTHONNOUSERSITE": "1"})
        if result.returncode == 0:
            self.skipTest("Twisted importable even without site-packages")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("python3-twisted", result.stderr)
        self.assertIn("pip install twisted", result.stderr)


if __name__ == "__main__":
    unittest.main()
