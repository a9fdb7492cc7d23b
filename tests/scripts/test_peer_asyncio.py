"""Tests for scripts/peers/asyncio_server.py, the asyncio peer, over real loopback TCP.

The peer needs only the standard library, so it runs under this interpreter. Every figure
checked is a model-level fact (pool/sleep throughput, CPU time of a spin) with generous
tolerances; every wait is bounded.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

from line_server_process import LineServerProcess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = os.path.join(ROOT, "scripts", "peers", "asyncio_server.py")
DEADLINE_S = 15


class Peer(LineServerProcess):
    """One asyncio_server.py process on --port 0."""

    def __init__(self, *flags):
        super().__init__([sys.executable, PEER], *flags, timeout=DEADLINE_S)

    def wait(self):
        try:
            return self.proc.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("peer did not exit in time") from None

    def stop(self):
        """SIGTERM (SIGKILL if it hangs); returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait()


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)


def read_replies(sock, count, buffer=b""):
    """Reads `count` reply lines (without \\r\\n); fails if the connection ends first."""
    replies = []
    while len(replies) < count:
        while b"\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed after {len(replies)} of {count} replies")
            buffer += chunk
        reply, buffer = buffer.split(b"\r\n", 1)
        replies.append(reply)
    return replies


def pipelined(port, lines):
    """Sends all lines in one write on one connection; returns the replies."""
    with connect(port) as sock:
        sock.sendall(b"".join(line + b"\r\n" for line in lines))
        return read_replies(sock, len(lines))


def closed_loop_rate(port, depth, total):
    """Keeps `depth` requests in flight on one connection until `total` are answered;
    returns the replies per second."""
    started = time.monotonic()
    with connect(port) as sock:
        sock.sendall(b"".join(b"r%d\r\n" % i for i in range(depth)))
        sent, answered = depth, 0
        buffer = b""
        while answered < total:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed after {answered} replies")
            buffer += chunk
            complete = buffer.count(b"\r\n")
            buffer = buffer[buffer.rfind(b"\r\n") + 2:]
            answered += complete
            more = min(complete, total - sent)
            sock.sendall(b"".join(b"r%d\r\n" % (sent + i) for i in range(more)))
            sent += more
    return total / (time.monotonic() - started)


class PeerTestCase(unittest.TestCase):
    def start(self, *flags):
        peer = Peer(*flags)
        self.addCleanup(peer.stderr.close)
        self.addCleanup(peer.kill)
        return peer


class ProtocolTest(PeerTestCase):
    def test_every_pipelined_line_gets_exactly_one_ack_in_both_modes(self):
        for mode, work in (("call-in-thread", "sleep:1ms"), ("inline", "none")):
            with self.subTest(mode=mode):
                peer = self.start("--mode", mode, "--pool-size", "4", "--work", work)
                results = {}

                def client(number):
                    lines = [b"c%d-%d" % (number, i) for i in range(50)]
                    results[number] = (lines, pipelined(peer.port, lines))

                clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
                for thread in clients:
                    thread.start()
                for thread in clients:
                    thread.join(DEADLINE_S)
                self.assertEqual(len(results), 4)
                for lines, replies in results.values():
                    self.assertCountEqual(replies, [b"ack:" + line for line in lines])
                    if mode == "inline":  # arrival order
                        self.assertEqual(replies, [b"ack:" + line for line in lines])
                self.assertEqual(peer.stop(), 0)

    def test_a_bare_lf_is_part_of_the_line_and_an_empty_line_is_a_request(self):
        peer = self.start("--work", "none")
        self.assertEqual(pipelined(peer.port, [b"a\nb", b""]), [b"ack:a\nb", b"ack:"])

    def test_fail_rate_one_answers_every_request_with_the_injected_failure(self):
        for mode in ("call-in-thread", "inline"):
            with self.subTest(mode=mode):
                peer = self.start("--mode", mode, "--work", "none", "--fail-rate", "1")
                lines = [b"f%d|x" % i for i in range(20)]
                self.assertCountEqual(pipelined(peer.port, lines),
                                      [b"err:injected failure|" + line for line in lines])

    def test_an_overlong_line_is_refused_and_closes_the_connection(self):
        peer = self.start("--work", "none", "--max-line", "10")
        with connect(peer.port) as sock:
            sock.sendall(b"0123456789\r\n" + b"x" * 11 + b"\r\n")
            # The refusal is written at once, the pool's ack when its work is done.
            self.assertCountEqual(read_replies(sock, 2),
                                  [b"ack:0123456789", b"err:line too long"])
            self.assertEqual(sock.recv(100), b"")


class ShutdownTest(PeerTestCase):
    def test_sigterm_answers_every_request_in_flight_then_exits_0(self):
        peer = self.start("--mode", "call-in-thread", "--pool-size", "20", "--work", "sleep:200ms")
        lines = [b"d%d" % i for i in range(20)]
        with connect(peer.port) as sock:
            sock.sendall(b"".join(line + b"\r\n" for line in lines))
            time.sleep(0.1)  # read and dispatched long before; answered 100 ms later
            peer.proc.send_signal(signal.SIGTERM)
            self.assertCountEqual(read_replies(sock, 20), [b"ack:" + line for line in lines])
        self.assertEqual(peer.wait(), 0)
        self.assertIn("stopped: 20 requests, 20 acks, 0 errors", peer.stderr_text())

    def test_a_second_signal_cuts_the_drain_with_exit_3(self):
        peer = self.start("--mode", "call-in-thread", "--work", "sleep:30s")
        with connect(peer.port) as sock:
            sock.sendall(b"long\r\n")
            time.sleep(0.1)
            peer.proc.send_signal(signal.SIGTERM)
            time.sleep(0.1)
            peer.proc.send_signal(signal.SIGINT)
            self.assertEqual(peer.wait(), 3)
        self.assertIn("drain cut, 1 requests abandoned in flight", peer.stderr_text())


class ModelTest(PeerTestCase):
    def test_sleep_throughput_follows_pool_over_sleep_time(self):
        # 16 requests kept in flight, sleep:20ms: a pool of 4 answers about 4/20ms = 200/s;
        # inline the loop does one at a time, about 1/20ms = 50/s.
        for mode, total, expected in (("call-in-thread", 120, 200), ("inline", 30, 50)):
            with self.subTest(mode=mode):
                peer = self.start("--mode", mode, "--pool-size", "4", "--work", "sleep:20ms")
                # A busy machine only slows the wake-ups after each sleep, so the best of three
                # bounded runs is the one that shows the model.
                rates = []
                while len(rates) < 3 and not expected * 0.75 < max(rates, default=0):
                    rates.append(closed_loop_rate(peer.port, depth=16, total=total))
                self.assertGreater(max(rates), expected * 0.75, rates)
                self.assertLess(max(rates), expected * 1.25, rates)

    @unittest.skipUnless(os.path.exists("/proc/self/stat"), "needs /proc for process CPU time")
    def test_a_spin_part_costs_its_duration_in_cpu_time(self):
        peer = self.start("--mode", "inline", "--work", "spin:50ms")
        before = peer.cpu_seconds()
        with connect(peer.port) as sock:
            for i in range(4):
                sock.sendall(b"s%d\r\n" % i)
                self.assertEqual(read_replies(sock, 1), [b"ack:s%d" % i])
        self.assertGreaterEqual(peer.cpu_seconds() - before, 4 * 0.045)


class FlagsTest(unittest.TestCase):
    def run_peer(self, *flags):
        return subprocess.run([sys.executable, PEER, *flags], capture_output=True, text=True,
                              timeout=DEADLINE_S)

    def test_sql_work_is_refused_with_exit_2(self):
        result = self.run_peer("--port", "0", "--work", "sql:point-read")
        self.assertEqual(result.returncode, 2)
        self.assertIn("sql: work needs a database client; this peer has none", result.stderr)

    def test_help_documents_the_exit_status(self):
        result = self.run_peer("--help")
        self.assertEqual(result.returncode, 0)
        self.assertIn("exit status:", result.stdout)
        for code in ("0", "2", "3"):
            self.assertRegex(result.stdout, rf"\n  {code}  ")


if __name__ == "__main__":
    unittest.main()
