"""Tests for scripts/peers/node_server.mjs, the Node.js peer server, over real loopback TCP.

Run: python3 -m unittest discover -s tests/scripts -p test_peer_node.py
The server needs Node.js: $POOLBENCH_NODE, else `node` on PATH. The tests skip (saying why)
without it.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from line_server_process import LineServerProcess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(ROOT, "scripts", "peers", "node_server.mjs")
NODE = os.environ.get("POOLBENCH_NODE") or shutil.which("node")
NO_NODE = "Node.js not found (install Debian's nodejs, or set POOLBENCH_NODE)"


class Server(LineServerProcess):
    """One node_server.mjs process on --port 0."""

    def __init__(self, *flags):
        super().__init__([NODE, SERVER], *flags)


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_replies(sock, count, timeout=10):
    """Exactly `count` \\r\\n-terminated replies (without the terminator), or fails."""
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\r\n") < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            got = data.count(b"\r\n")
            raise AssertionError(f"got {got} of {count} replies in {timeout} s")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n")[:-1]


def throughput(port, connections, per_connection, rounds):
    """Requests per second with `per_connection` pipelined lines in flight on each connection,
    answered `rounds` times over (bounded: each read has a timeout)."""
    socks = [connect(port) for _ in range(connections)]

    def one_round():
        for sock in socks:
            sock.sendall(b"x\r\n" * per_connection)
        for sock in socks:
            replies = read_replies(sock, per_connection)
            assert replies == [b"ack:x"] * per_connection, replies[:3]

    try:
        one_round()  # not timed: the workers start meanwhile
        start = time.monotonic()
        for _ in range(rounds):
            one_round()
        return connections * per_connection * rounds / (time.monotonic() - start)
    finally:
        for sock in socks:
            sock.close()


@unittest.skipIf(NODE is None, NO_NODE)
class NodePeerTest(unittest.TestCase):
    def start(self, *flags):
        server = Server(*flags)
        self.addCleanup(server.stop)
        return server

    def test_every_pipelined_line_gets_exactly_its_ack(self):
        for mode in ("inline", "call-in-thread", "libuv"):
            with self.subTest(mode=mode):
                work = "spin:50us" if mode == "libuv" else "sleep:1ms"
                server = self.start("--mode", mode, "--pool-size", "4", "--work", work)
                socks = [connect(server.port) for _ in range(4)]
                for number, sock in enumerate(socks):
                    sock.sendall(b"".join(b"c%d-%d\r\n" % (number, i) for i in range(50)))
                for number, sock in enumerate(socks):
                    replies = read_replies(sock, 50)
                    expected = [b"ack:c%d-%d" % (number, i) for i in range(50)]
                    self.assertEqual(sorted(replies), sorted(expected))
                    sock.settimeout(0.2)
                    with self.assertRaises(socket.timeout):
                        sock.recv(1)  # nothing more than one reply per line
                    sock.close()
                self.assertEqual(server.stop(), 0)

    def test_fail_rate_one_answers_every_line_with_an_injected_failure(self):
        for mode in ("inline", "call-in-thread"):
            with self.subTest(mode=mode):
                server = self.start("--mode", mode, "--work", "none", "--fail-rate", "1")
                with connect(server.port) as sock:
                    sock.sendall(b"a\r\nb|c\r\n")
                    self.assertEqual(sorted(read_replies(sock, 2)),
                                     [b"err:injected failure|a", b"err:injected failure|b|c"])

    def test_an_overlong_line_is_refused_and_closes_the_connection(self):
        server = self.start("--mode", "inline", "--work", "none", "--max-line", "8")
        with connect(server.port) as sock:
            sock.sendall(b"12345678\r\n123456789\r\n")
            self.assertEqual(read_replies(sock, 2), [b"ack:12345678", b"err:line too long"])
            self.assertEqual(sock.recv(1), b"")  # closed by the server

    def test_sigterm_answers_every_request_in_flight_then_exits_zero(self):
        server = self.start("--mode", "call-in-thread", "--pool-size", "20",
                            "--work", "sleep:200ms")
        socks = [connect(server.port) for _ in range(4)]
        for sock in socks:  # accepted, and the workers have started
            sock.sendall(b"warm\r\n")
        for sock in socks:
            self.assertEqual(read_replies(sock, 1), [b"ack:warm"])
        for number, sock in enumerate(socks):
            sock.sendall(b"".join(b"d%d-%d\r\n" % (number, i) for i in range(5)))
        time.sleep(0.3)  # all 20 read and running (each takes 200 ms)
        server.proc.send_signal(signal.SIGTERM)
        for number, sock in enumerate(socks):
            self.assertEqual(sorted(read_replies(sock, 5)),
                             sorted(b"ack:d%d-%d" % (number, i) for i in range(5)))
        # The server closes each connection itself: the clients keep theirs open until it exits.
        self.assertEqual(server.proc.wait(8), 0)
        for sock in socks:
            sock.close()

    def test_throughput_follows_the_sleep_model(self):
        # 16 requests in flight, each 20 ms of sleep: a pool of 4 does 4 per 20 ms (200/s),
        # inline one per 20 ms (50/s).
        for mode, model in (("call-in-thread", 200), ("inline", 50)):
            with self.subTest(mode=mode):
                server = self.start("--mode", mode, "--pool-size", "4", "--work", "sleep:20ms")
                rate = throughput(server.port, connections=4, per_connection=4,
                                  rounds=4 if mode == "inline" else 12)
                self.assertAlmostEqual(rate, model, delta=model * 0.25)

    def test_spin_costs_cpu_time_of_the_process(self):
        server = self.start("--mode", "inline", "--work", "spin:50ms")
        with connect(server.port) as sock:
            sock.sendall(b"warm\r\n")
            read_replies(sock, 1)
            before = process_cpu_seconds(server.proc.pid)
            sock.sendall(b"a\r\nb\r\nc\r\nd\r\n")
            read_replies(sock, 4)
            used = process_cpu_seconds(server.proc.pid) - before
        self.assertGreaterEqual(used / 4, 0.045)

    def test_port_file_holds_the_port_and_worker_threads_names_the_pool_mode(self):
        with tempfile.TemporaryDirectory() as folder:
            port_file = os.path.join(folder, "port")
            server = self.start("--mode", "worker-threads", "--work", "none",
                                "--port-file", port_file)
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file) and time.monotonic() < deadline:
                time.sleep(0.02)
            with open(port_file) as f:
                self.assertEqual(int(f.read()), server.port)
            self.assertEqual(os.listdir(folder), ["port"])  # no temporary file left behind
        with connect(server.port) as sock:
            sock.sendall(b"p\r\n")
            self.assertEqual(read_replies(sock, 1), [b"ack:p"])

    def test_sql_work_and_sleep_in_libuv_mode_are_refused(self):
        for flags in (["--work", "sql:point-read"], ["--mode", "libuv", "--work", "sleep:1ms"]):
            with self.subTest(flags=flags):
                run = subprocess.run([NODE, SERVER, "--port", "0", *flags], capture_output=True,
                                     text=True, timeout=30)
                self.assertEqual(run.returncode, 2)
                self.assertIn("sql: work needs a database client" if "sql" in flags[1]
                              else "sleep parts are refused", run.stderr)


def process_cpu_seconds(pid):
    """utime + stime of a process from /proc (in clock ticks, typically 10 ms)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    unittest.main()
