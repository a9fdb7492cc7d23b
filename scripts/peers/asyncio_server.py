#!/usr/bin/env python3
"""poolbench's line server rebuilt on plain asyncio: the peer for "what the standard library does".

Standard library only; any python3 from 3.9 on, /usr/bin/python3 included:

    python3 scripts/peers/asyncio_server.py --port 0 --mode call-in-thread \\
        --pool-size 8 --work sleep:10ms

Its flags are reference_server's, so one ``loadgen sweep --server-cmd "python3
scripts/peers/asyncio_server.py --port {port} --mode {mode} --pool-size {pool} --work {work}"``
measures it beside ours. The model:

* Connections come from ``asyncio.start_server``; each one is a coroutine that cuts its bytes
  into requests with ``StreamReader.readuntil(b"\\r\\n")`` and answers ``ack:<line>\\r\\n``.
* ``inline``: the coroutine itself does the work, so a sleep or a spin holds the whole event
  loop and every other connection waits: throughput is one request per work time.
* ``call-in-thread`` (also spelled ``run-in-executor``): the coroutine hands the work to
  ``loop.run_in_executor(executor, ...)`` with one ``ThreadPoolExecutor(max_workers=POOL)`` and
  reads on; the finished future wakes the loop thread, which writes the reply. Replies leave in
  the order the work finishes. The executor starts a thread only when no idle one is there and
  never lets one go. ``--pool-size`` defaults to 10 as in reference_server; asyncio's own default
  executor would take min(32, CPUs + 4) threads.
* ``sleep:D`` is ``time.sleep`` (no CPU, lets go of the GIL). ``spin:D`` hashes in Python until
  the running thread's own CPU clock (``time.thread_time_ns``) has moved on by D. It keeps the
  GIL while it does, so however large the pool, all spins of the process share one CPU: on a
  spin workload this peer tops out near 1/D requests per second, which is the price a GIL
  runtime pays and reference_server does not.

The --work grammar, its error messages and ``--print-work`` come from scripts/work_grammar.py,
shared with scripts/twisted_server.py. ``sql:`` parts parse (``--print-work`` shows them) but
this peer holds no database client, so running one is refused at start with exit 2.

Threading rules. The loop thread (the main thread) owns the listening socket, every
connection, every writer and the counters; nothing else touches them. Executor threads only run
the request's work and draw from the shared ``random.Random`` (its methods are single C calls,
atomic under the GIL); their result or exception travels back in the future that
``run_in_executor`` resolves on the loop thread (``call_soon_threadsafe``).

Shutdown on SIGTERM or SIGINT: the listener closes; each connection still dispatches the whole
lines it has already received, then stops reading (bytes that arrive later are never read);
every request dispatched is answered and written, the connections close, and the process exits
0. A second signal, or 10 s without finishing, cuts the drain: exit 3 at once, abandoning the
work still running.

Where it differs from reference_server, on purpose or by the runtime:

* a bare ``\\n`` inside a line is an ordinary byte and is echoed (no ``err:bare LF in line``);
  there is no ``--lf``;
* no fair per-connection backlog: the executor's queue is one FIFO for all connections;
* no bounds beyond ``--max-line``: no ``--max-queue``, ``--max-in-flight-per-connection``,
  ``--max-output``, ``--idle-timeout`` or ``--max-connections``; no admin endpoint, no stats;
* inline, each connection yields the loop after each request, not after 16 lines or 1 ms.

The first line on stderr is ``listening on HOST:PORT``. Exit status: see ``--help``.
"""

import argparse
import asyncio
import concurrent.futures
import functools
import json
import os
import random
import signal
import sys

_SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from work_grammar import InjectedFailure, WorkSpec, error_text, print_work  # noqa: E402  (stdlib only)

PROG = "asyncio_server.py"
MODES = {
    "inline": "inline",
    "call-in-thread": "call-in-thread",
    "run-in-executor": "call-in-thread",
}
DELIMITER = b"\r\n"
MAX_POOL_SIZE = 4096  # reference_server's bound (ThreadPool::kMaxThreads)
DRAIN_TIMEOUT_S = 10.0
EXIT_CLEAN = 0
EXIT_USAGE = 2
EXIT_DRAIN_CUT = 3
NO_DATABASE = ("sql: work needs a database client; this peer has none (reference_server and "
               "scripts/twisted_server.py have one)")
EXIT_STATUS = """\
exit status:
  0  stopped cleanly: every request dispatched before SIGTERM/SIGINT was answered
  2  bad flags, a bad --work or --print-work spec, sql: work (no database client here),
     or a port that cannot be bound
  3  drain cut: a second signal, or 10 s of draining, ended the process with work unanswered
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A line server (request <line>\\r\\n, reply ack:<line>\\r\\n) on asyncio, "
                    "with reference_server's flags, as a poolbench peer.",
        epilog=EXIT_STATUS)
    parser.add_argument("--port", type=int, default=9090,
                        help="TCP port to listen on; 0 picks a free one (default 9090)")
    parser.add_argument("--bind", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port-file", metavar="PATH",
                        help="write the port listened on to PATH (a temporary file, renamed)")
    parser.add_argument("--mode", default="call-in-thread", choices=sorted(MODES),
                        help="where the work runs: inline (in the connection's coroutine, "
                             "blocking the loop) or call-in-thread, alias run-in-executor "
                             "(loop.run_in_executor on a ThreadPoolExecutor); default "
                             "call-in-thread")
    parser.add_argument("--pool-size", type=int, default=10, metavar="N",
                        help=f"the executor's max_workers, 1 to {MAX_POOL_SIZE} (default 10)")
    parser.add_argument("--work", default="sleep:1s", metavar="SPEC",
                        help="the work of one request (default sleep:1s): none or "
                             "PART[+PART]..., PART = KIND:DURATION[,fixed|exp][,pPROB=DURATION]"
                             "..., KIND sleep (time.sleep) or spin (DURATION of the thread's own "
                             "CPU time, holding the GIL), units ns|us|ms|s; e.g. sleep:10ms  "
                             "spin:2ms+sleep:8ms  sleep:1ms,p0.01=100ms")
    parser.add_argument("--print-work", metavar="SPEC",
                        help="print SPEC as one JSON line {canonical, cpu_ns, blocking_ns} "
                             "and exit 0; a bad SPEC prints its error on stderr and exits 2")
    parser.add_argument("--fail-rate", type=float, default=0.0, metavar="P",
                        help="probability in [0, 1] that a request fails after its work: "
                             "err:injected failure|<line> (default 0)")
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help="seed for the random choices (--fail-rate, exp and pPROB "
                             "durations); default: from the system")
    parser.add_argument("--max-line", type=int, default=16384, metavar="N",
                        help="a longer line gets err:line too long and the connection closes "
                             "(default 16384)")
    args = parser.parse_args(argv)
    if args.print_work is not None:
        return args
    args.mode = MODES[args.mode]
    try:
        args.work = WorkSpec.parse(args.work)
    except ValueError as bad:
        parser.error(str(bad))
    if args.work.sql_statements():
        parser.error(NO_DATABASE)
    if not 0.0 <= args.fail_rate <= 1.0:
        parser.error(f"--fail-rate must be in [0, 1], got {args.fail_rate}")
    if not 1 <= args.pool_size <= MAX_POOL_SIZE:
        parser.error(f"--pool-size must be in [1, {MAX_POOL_SIZE}], got {args.pool_size}")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in [0, 65535], got {args.port}")
    if args.max_line < 1:
        parser.error(f"--max-line must be >= 1, got {args.max_line}")
    return args


def write_port_file(path, port):
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "w") as f:
        f.write(f"{port}\n")
    os.replace(temporary, path)


class Connection:
    """One client, touched only on the loop thread. It closes once it has stopped reading and
    every request it dispatched has been answered."""

    def __init__(self, writer):
        self.writer = writer
        self.in_flight = 0
        self.all_answered = asyncio.Event()
        self.all_answered.set()
        self.task = asyncio.current_task()  # its handler, which reads the lines
        self.waiting_for_bytes = False

    def stop_reading(self):
        """Scheduled by a drain with call_soon, so it runs after any wake-up already queued for
        bytes that came before: the handler reads what it has received first. Only a handler
        suspended in readuntil, its buffer holding no whole line, is cancelled."""
        if self.waiting_for_bytes:
            self.task.cancel()

    def dispatched(self):
        self.in_flight += 1
        self.all_answered.clear()

    def answer(self, reply):
        self.in_flight -= 1
        if self.in_flight == 0:
            self.all_answered.set()
        if not self.writer.is_closing():  # a client that reset gets no reply
            self.writer.write(reply)


class Peer:
    """The server: its connections, the executor, the counters and the shutdown."""

    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.executor = None
        if args.mode == "call-in-thread":
            self.executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=args.pool_size, thread_name_prefix="work")
        self.connections = set()
        self.counters = {"requests": 0, "replies": 0, "errors": 0}
        self.stop_requested = None  # an asyncio.Event, made inside the running loop
        self.draining = False

    def serve_request(self, line):
        """The work of one request; in the executor, on a pool thread."""
        self.args.work.run(self.rng)
        if self.args.fail_rate and self.rng.random() < self.args.fail_rate:
            raise InjectedFailure("injected failure")
        return b"ack:" + line + DELIMITER

    def error_reply(self, error, line):
        self.counters["errors"] += 1
        return b"err:" + error_text(error).encode("utf-8", "replace") + b"|" + line + DELIMITER

    async def handle_connection(self, reader, writer):
        connection = Connection(writer)
        self.connections.add(connection)
        try:
            await self.read_requests(connection, reader)
            await connection.all_answered.wait()
            writer.close()
            await writer.wait_closed()  # the replies are written before the process may exit
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away: nothing more can reach it
        finally:
            self.connections.discard(connection)
            writer.close()

    async def read_requests(self, connection, reader):
        """Dispatches lines until end of input, an overlong line or a drain."""
        while True:
            if self.draining:  # stop once no whole line is left to read
                asyncio.get_running_loop().call_soon(connection.stop_reading)
            connection.waiting_for_bytes = True
            try:
                # Returns at once, without giving the loop a turn, while whole lines are buffered.
                line = (await reader.readuntil(DELIMITER))[:-len(DELIMITER)]
            except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
                return  # end of input (a trailing partial line is no request), or a drain
            except asyncio.LimitOverrunError:
                connection.writer.write(b"err:line too long" + DELIMITER)
                return
            finally:
                connection.waiting_for_bytes = False
            self.counters["requests"] += 1
            connection.dispatched()
            if self.executor is None:
                connection.answer(self.reply_inline(line))
                await connection.writer.drain()
                # Let the other connections have a turn: the work above blocked them all.
                await asyncio.sleep(0)
            else:
                future = asyncio.get_running_loop().run_in_executor(
                    self.executor, self.serve_request, line)
                future.add_done_callback(functools.partial(self.reply_from_pool, connection, line))

    def reply_inline(self, line):
        try:
            reply = self.serve_request(line)
        except Exception as error:
            return self.error_reply(error, line)
        self.counters["replies"] += 1
        return reply

    def reply_from_pool(self, connection, line, future):
        """On the loop thread, as soon as the pool finished the request: completion order."""
        error = future.exception()
        if error is None:
            self.counters["replies"] += 1
            connection.answer(future.result())
        else:
            connection.answer(self.error_reply(error, line))

    def on_signal(self):
        if self.stop_requested.is_set():
            self.cut_drain("a second signal")
        self.stop_requested.set()

    def cut_drain(self, why):
        in_flight = sum(connection.in_flight for connection in self.connections)
        sys.stderr.write(f"{PROG}: {why}: drain cut, {in_flight} requests abandoned in flight; "
                         f"{self.totals()}\n")
        sys.stderr.flush()
        os._exit(EXIT_DRAIN_CUT)  # pool threads still sleeping would hold up a normal exit

    def totals(self):
        counts = self.counters
        return (f"{counts['requests']} requests, {counts['replies']} acks, "
                f"{counts['errors']} errors")

    async def drain(self, server, handlers):
        server.close()
        self.draining = True
        loop = asyncio.get_running_loop()
        for connection in self.connections:
            loop.call_soon(connection.stop_reading)
        if handlers:  # asyncio.wait refuses an empty set
            _, unfinished = await asyncio.wait(handlers, timeout=DRAIN_TIMEOUT_S)
            if unfinished:
                self.cut_drain(f"{DRAIN_TIMEOUT_S:g} s of draining")

    async def serve(self):
        loop = asyncio.get_running_loop()
        self.stop_requested = asyncio.Event()
        handlers = set()

        def start_handler(reader, writer):
            handler = asyncio.ensure_future(self.handle_connection(reader, writer))
            handlers.add(handler)
            handler.add_done_callback(handlers.discard)

        try:
            server = await asyncio.start_server(start_handler, self.args.bind, self.args.port,
                                                limit=self.args.max_line)
        except OSError as error:
            sys.stderr.write(f"{PROG}: cannot listen on {self.args.bind}:{self.args.port}: "
                             f"{error.strerror or error}\n")
            return EXIT_USAGE
        host, port = server.sockets[0].getsockname()[:2]
        sys.stderr.write(f"listening on {host}:{port}\n")
        sys.stderr.flush()
        if self.args.port_file:
            write_port_file(self.args.port_file, port)
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, self.on_signal)
        await self.stop_requested.wait()
        await self.drain(server, set(handlers))
        if self.executor is not None:
            self.executor.shutdown(wait=True)  # idle by now: every request was answered
        sys.stderr.write(f"{PROG}: stopped: {self.totals()}\n")
        return EXIT_CLEAN


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.print_work is not None:
        return print_work(args.print_work)
    return asyncio.run(Peer(args).serve())


if __name__ == "__main__":
    sys.exit(main())
