"""Tests for the Java peer server (scripts/peers/java, class PoolPeer), over real loopback TCP.

Run: POOLBENCH_BUILD_DIR=build python3 -m unittest discover -s tests/scripts -p test_peer_java.py
The classes are the ones CMake compiled into $POOLBENCH_BUILD_DIR/peers/java (target java_peer).
The tests skip, saying why, without a `java` on PATH or without those classes.
"""

import collections
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from line_server_process import LineServerProcess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JAVA = shutil.which("java")
BUILD_DIR = os.environ.get("POOLBENCH_BUILD_DIR")
CLASSES = os.path.join(BUILD_DIR, "peers", "java") if BUILD_DIR else None
SQL_REFUSED = ("sql: work needs a database client; this peer has none (reference_server and "
               "scripts/twisted_server.py have one)")


def skip_reason():
    if JAVA is None:
        return "no java on PATH: install a JDK (Debian: openjdk-17-jdk-headless)"
    if CLASSES is None:
        return "POOLBENCH_BUILD_DIR is not set (ctest sets it to the build directory)"
    if not os.path.exists(os.path.join(CLASSES, "PoolPeer.class")):
        return f"no PoolPeer.class in {CLASSES}: build the java_peer target (needs a JDK)"
    return None


def peer_command(*flags, jvm=()):
    # C1 only: the JVM starts faster, and these tests measure the model, not Java's speed.
    return [JAVA, "-XX:TieredStopAtLevel=1", *jvm, "-cp", CLASSES, "PoolPeer", *flags]


def connect(port, timeout):
    """A loopback connection without Nagle's delay, as loadgen's."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Peer(LineServerProcess):
    """One PoolPeer on --port 0."""

    def __init__(self, *flags):
        super().__init__(peer_command(), *flags, timeout=20)


def read_replies(sock, count, deadline):
    """Reads until `count` \\r\\n-terminated replies came or the peer closed; returns them."""
    buffer = b""
    while buffer.count(b"\r\n") < count and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        buffer += chunk
    return buffer.split(b"\r\n")[:-1] if buffer.endswith(b"\r\n") else buffer.split(b"\r\n")


def pipelined(port, lines, timeout=20):
    """Sends all `lines` in one write on one connection; returns the replies."""
    with connect(port, timeout) as sock:
        sock.sendall(b"".join(line + b"\r\n" for line in lines))
        return read_replies(sock, len(lines), time.monotonic() + timeout)


def closed_loop_rate(port, connections, depth, warmup, window):
    """Each connection keeps `depth` requests in flight; returns replies per second counted
    over `window` seconds after `warmup` seconds."""
    start = time.monotonic()
    counted_from, counted_until = start + warmup, start + warmup + window
    counts = [0] * connections

    def client(index):
        with connect(port, 10) as sock:
            sock.sendall(b"r\r\n" * depth)
            buffer = b""
            while time.monotonic() < counted_until:
                chunk = sock.recv(65536)
                if not chunk:
                    raise AssertionError("the peer closed the connection")
                buffer += chunk
                replies = buffer.count(b"\r\n")
                buffer = buffer[buffer.rfind(b"\r\n") + 2:] if replies else buffer
                now = time.monotonic()
                if counted_from <= now < counted_until:
                    counts[index] += replies
                sock.sendall(b"r\r\n" * replies)

    with ThreadPoolExecutor(connections) as clients:
        for done in [clients.submit(client, i) for i in range(connections)]:
            done.result(timeout=warmup + window + 20)
    return sum(counts) / window


@unittest.skipIf(skip_reason() is not None, skip_reason())
class JavaPeerTest(unittest.TestCase):
    def start(self, *flags):
        peer = Peer(*flags)
        self.addCleanup(peer.stderr.close)
        self.addCleanup(peer.stop)
        return peer

    def test_pipelined_lines_get_exactly_one_ack_each(self):
        for mode in ("inline", "call-in-thread", "thread-pool"):
            with self.subTest(mode=mode):
                peer = self.start("--mode", mode, "--pool-size", "4", "--work", "sleep:1ms")
                batches = [[b"c%d-%d" % (c, i) for i in range(50)] for c in range(4)]
                batches[0][7] = b"a bare \n stays in the line"
                batches[1][3] = b""
                with ThreadPoolExecutor(4) as clients:
                    replies = list(clients.map(lambda lines: pipelined(peer.port, lines),
                                               batches))
                for lines, got in zip(batches, replies):
                    self.assertEqual(collections.Counter(got),
                                     collections.Counter(b"ack:" + line for line in lines))
                if mode == "inline":
                    self.assertEqual(replies[0], [b"ack:" + line for line in batches[0]])
                self.assertEqual(peer.stop(), 0, peer.stderr_text())

    def test_fail_rate_one_fails_every_request(self):
        peer = self.start("--work", "none", "--fail-rate", "1")
        lines = [b"x%d" % i for i in range(20)]
        self.assertEqual(sorted(pipelined(peer.port, lines)),
                         sorted(b"err:injected failure|" + line for line in lines))

    def test_sigterm_drains_the_requests_in_flight(self):
        peer = self.start("--pool-size", "20", "--work", "sleep:200ms")
        self.assertEqual(pipelined(peer.port, [b"warm"]), [b"ack:warm"])
        lines = [b"d%d" % i for i in range(20)]
        with connect(peer.port, 10) as sock:
            sock.sendall(b"".join(line + b"\r\n" for line in lines))
            time.sleep(0.1)  # read by then: the sleeps (200 ms) are still running
            peer.proc.send_signal(signal.SIGTERM)
            replies = read_replies(sock, len(lines) + 1, time.monotonic() + 10)
        self.assertEqual(sorted(replies), sorted(b"ack:" + line for line in lines))
        self.assertEqual(peer.proc.wait(10), 0, peer.stderr_text())

    def test_a_second_signal_cuts_the_drain_with_status_3(self):
        peer = self.start("--pool-size", "1", "--work", "sleep:30s")
        with connect(peer.port, 10) as sock:
            sock.sendall(b"long\r\n")
            time.sleep(0.2)
            peer.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            peer.proc.send_signal(signal.SIGTERM)
            self.assertEqual(peer.proc.wait(10), 3, peer.stderr_text())
        self.assertIn("drain cut", peer.stderr_text())

    def test_call_in_thread_follows_the_sleep_model(self):
        # 16 in flight, 4 workers, 20 ms each: 4 / 20 ms = 200 requests per second.
        peer = self.start("--mode", "call-in-thread", "--pool-size", "4", "--work", "sleep:20ms")
        rate = closed_loop_rate(peer.port, connections=4, depth=4, warmup=0.3, window=1.5)
        self.assertAlmostEqual(rate, 200, delta=50)

    def test_inline_follows_the_sleep_model(self):
        # One thread does all the work: 1 / 20 ms = 50 requests per second, whatever the depth.
        peer = self.start("--mode", "inline", "--work", "sleep:20ms")
        rate = closed_loop_rate(peer.port, connections=4, depth=4, warmup=0.3, window=2.0)
        self.assertAlmostEqual(rate, 50, delta=12.5)

    def test_spin_uses_its_duration_of_cpu_time(self):
        peer = self.start("--mode", "inline", "--work", "spin:50ms")
        self.assertEqual(pipelined(peer.port, [b"warm"]), [b"ack:warm"])
        before = peer.cpu_seconds()
        self.assertEqual(pipelined(peer.port, [b"s%d" % i for i in range(4)]),
                         [b"ack:s%d" % i for i in range(4)])
        self.assertGreaterEqual(peer.cpu_seconds() - before, 4 * 0.045)

    def test_overlong_line_gets_an_error_then_a_close(self):
        peer = self.start("--work", "none", "--max-line", "8")
        self.assertEqual(pipelined(peer.port, [b"12345678"]), [b"ack:12345678"])
        self.assertEqual(pipelined(peer.port, [b"123456789", b"never"]), [b"err:line too long"])

    def test_port_file_holds_the_port(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "port")
            peer = self.start("--port-file", path)
            with open(path) as f:
                self.assertEqual(int(f.read()), peer.port)

    def test_bad_flags_and_sql_work_exit_2(self):
        for flags in (["--pool-size", "0"], ["--mode", "sideways"], ["--fail-rate", "2"],
                      ["--work", "nap:1ms"], ["--bogus", "1"], ["--work", "sql:point-read"]):
            with self.subTest(flags=flags):
                result = subprocess.run(peer_command(*flags), capture_output=True, text=True,
                                        timeout=30)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn("error", result.stderr)
        self.assertIn(SQL_REFUSED, result.stderr)

    def test_help_lists_the_exit_statuses(self):
        result = subprocess.run(peer_command("--help"), capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(result.returncode, 0)
        self.assertIn("EXIT STATUS", result.stdout)
        self.assertIn("--print-work", result.stdout)

if __name__ == "__main__":
    unittest.main()
