#!/usr/bin/env python3
"""The pattern poolbench re-creates, written with Twisted itself: a runnable peer server.

Run it with Debian's interpreter, which has Twisted (python3-twisted):

    /usr/bin/python3 scripts/twisted_server.py --port 0 --mode defer-to-thread \
        --pool-size 8 --work sleep:10ms

It takes the same flags as our C++ ``reference_server`` so that ``loadgen sweep
--server-cmd "/usr/bin/python3 scripts/twisted_server.py --port {port} --mode {mode}
--pool-size {pool} --work sleep:10ms"`` measures Twisted and our server with one tool.

What it does, line by line as the original demo (``LineReceiver``, ``\\r\\n`` framing, reply
``ack:<line>\\r\\n``):

* ``inline``: the work runs in ``lineReceived`` on the reactor thread (the naive default).
* ``call-in-thread`` (alias ``callInThread``): ``reactor.callInThread(handle_request, line)``;
  the worker does the work, then ``reactor.callFromThread(write_response, line)``.
* ``defer-to-thread`` (alias ``deferToThread``):
  ``deferToThread(handle_request, line).addCallback(write_response)``.

The pool is the reactor's own (min 0, max ``--pool-size`` via
``reactor.suggestThreadPoolSize``; Twisted's default max is 10), so it grows lazily and never
shrinks, exactly as Twisted's ``ThreadPool`` does. SIGTERM/SIGINT stop the reactor with
Twisted's own handlers, which drain the pool's backlog before ``run()`` returns.

THE ONE ADDITION TO THE SEED: error replies for ``--fail-rate``. In Twisted a failing
``callInThread`` handler is only logged and a failed Deferred without an errback is only
reported as "Unhandled error in Deferred"; in both cases the client never gets a reply and a
closed-loop load generator would hang on that connection. So a request chosen to fail (with
probability ``--fail-rate``) raises in the handler, and:

* defer-to-thread: an errback added after ``write_response`` writes ``err:<what>|<line>\\r\\n``;
* call-in-thread: the worker catches the exception and sends the same reply through
  ``reactor.callFromThread``;
* inline: ``lineReceived`` catches it and writes the same reply (Twisted would log the
  exception and drop the connection).

``<what>`` is the exception message: ``injected failure``, as reference_server says. With
``--fail-rate 0`` (the default) no code path differs from the original demo.

Flags shared with reference_server: ``--port`` (0 = a free port), ``--bind`` (default
127.0.0.1), ``--port-file PATH`` (the chosen port, written atomically), ``--mode`` (default
call-in-thread), ``--pool-size`` (default 10, Twisted's), ``--work`` (the same grammar and
error messages, see below; default ``sleep:1s`` as in the original demo), ``--db URL`` and
``--db-keys N`` (for sql: parts), ``--fail-rate``, ``--lf`` (a bare ``\\n`` also ends a line;
replies stay ``\\r\\n``), ``--max-line`` (``LineReceiver.MAX_LENGTH``), ``--max-queue`` (only
0: Twisted's backlog is unbounded).
Extra: ``--backlog`` (listen backlog, Twisted's 50), ``--seed`` (for the random choices),
``--stats-interval S`` (``STATS {json}`` lines on stderr every S seconds:
idle/busy/backlog/workers/threads_created/min/max from the pool, ``call_queue`` =
``len(reactor.threadCallQueue)``, request/reply/error counters, and with sql: parts an ``sql``
object: connects, connect_failures, connections_open, statements, errors {kind: count}).

Where Twisted (and so this peer) differs from reference_server, on purpose:

* an overlong line closes the connection with no ``err:line too long`` reply
  (``LineReceiver.lineLengthExceeded`` → ``loseConnection``);
* on SIGTERM/SIGINT, connections close at once, the pool still runs its whole backlog, and the
  replies are dropped; there is no ``--drain-timeout``. A SIGINT inherited as ignored (a
  background job of a non-interactive shell) stays ignored, as Twisted leaves it; use SIGTERM.

The work per request (``--work``) is ``none`` or a mix of parts run one after the other,
``PART[+PART]...`` with ``PART = sleep|spin:DURATION[,fixed|exp][,pPROB=DURATION]...`` (e.g.
``spin:2ms+sleep:8ms``: 2 ms of CPU, then 8 ms of blocking). ``sleep`` is ``time.sleep``, which
releases the GIL as a database call would. ``spin`` is real pure-Python work (a hash) that runs
until the calling thread has used DURATION of its own CPU time (``time.thread_time``), however
long that takes on the wall clock. Because it holds the GIL, all the spin parts in flight in the
process share one CPU at most, whatever ``--pool-size`` is: the cost Twisted pays for CPU work in
its pool, which reference_server (no GIL) does not pay.

``PART`` may also be ``sql:STATEMENT`` or ``sql:NAME`` (point-read, hot-update, range-scan,
sleep-10ms), run on ``--db mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?socket=PATH]`` with
Debian's MySQLdb (python3-mysqldb, imported only for such a spec); the statement runs to the
next ``+sleep:``, ``+spin:`` or ``+sql:``. ``{rand}`` is a key in 1..``--db-keys`` (100000),
``{rand:N}`` one in 1..N, each drawn once per request. Each thread that runs work (inline: the
reactor thread) opens its own connection on its first sql task and keeps it (connect timeout
2 s, read/write 10 s); results are read in full. At start each statement is PREPAREd, not run:
one the database refuses exits 2 with its message; an unreachable database is a warning only.
A failure is the reply ``err:sql <errno>: <message>|<line>``; after a client error (errno >=
2000) or a lost session (1053, 1927, 4031) that thread's next sql task reconnects. As
reference_server does, except: MySQLdb releases the GIL only inside its blocking calls
(connect, query, reading the result), so pool threads' statements overlap but building them
and converting rows hold it; MySQLdb's own errors (no errno) are ``err:sql 0: ...``; the start
check's connection is not counted.

The first line on stderr is always ``listening on HOST:PORT``. Exit codes: 0 after a clean
stop, 2 for bad flags (a bad ``--db`` URL, sql: parts without ``--db``), a port that cannot
be bound, a missing Twisted (or MySQLdb, for sql: parts), or a statement the database refuses.
"""

import argparse
import importlib
import json
import os
import random
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import twisted_server_sql as sql  # noqa: E402  (stdlib only; MySQLdb is imported lazily)
from work_grammar import InjectedFailure, WorkSpec, error_text, print_work  # noqa: E402

MODES = {
    "inline": "inline",
    "call-in-thread": "call-in-thread",
    "callInThread": "call-in-thread",
    "defer-to-thread": "defer-to-thread",
    "deferToThread": "defer-to-thread",
}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="twisted_server.py",
        description="A Twisted line server (ack:<line>) as a poolbench peer. "
                    "Run with /usr/bin/python3 (Debian's python3-twisted; python3-mysqldb "
                    "for sql: work).",
        epilog="Exit status: 0 after a clean stop (SIGTERM); 2 for bad flags, a port that "
               "cannot be bound, a missing Twisted or MySQLdb, or an sql: statement the "
               "database refuses at start.")
    parser.add_argument("--port", type=int, default=9090,
                        help="TCP port; 0 picks a free one (default 9090)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port-file", help="write the chosen port to this file")
    parser.add_argument("--mode", default="call-in-thread", choices=sorted(MODES),
                        help="how a line is handled (default call-in-thread)")
    parser.add_argument("--pool-size", type=int, default=10,
                        help="reactor.suggestThreadPoolSize(N) (default 10, Twisted's)")
    parser.add_argument("--work", default="sleep:1s",
                        help="work per request (default sleep:1s): none | "
                             "PART[+PART]... run in order, PART = "
                             "KIND:DURATION[,fixed|exp][,pPROB=DURATION]..., units ns|us|ms|s; "
                             "KIND sleep (time.sleep, releases the GIL) or spin (DURATION of "
                             "the thread's own CPU time, holding the GIL, so all spin parts "
                             "share one CPU at most); or sql:STATEMENT (run on --db, with "
                             "{rand} a key in 1..--db-keys and {rand:N} one in 1..N) or sql:NAME, "
                             "NAME point-read|hot-update|range-scan|sleep-10ms; e.g. sleep:10ms  "
                             "spin:200us,exp  spin:2ms+sleep:8ms  sleep:1ms,p0.01=100ms  "
                             "sql:point-read+spin:1ms")
    parser.add_argument("--print-work", metavar="SPEC",
                        help="print SPEC's canonical spelling and mean costs as JSON and exit "
                             "(exit 2 and the parse error if it is bad)")
    parser.add_argument("--db", metavar="URL",
                        help=f"the database of the sql: parts, {sql.URL_SHAPE} (port 3306 "
                             "unless given; with socket=PATH the Unix socket is used)")
    parser.add_argument("--db-keys", type=int, default=100000, metavar="N",
                        help="{rand} is a key uniform in 1..N (default 100000)")
    parser.add_argument("--fail-rate", type=float, default=0.0,
                        help="probability in [0, 1] that a request fails (err: reply)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for the random choices (--fail-rate, exp and pPROB "
                             "durations, each thread's sql: keys)")
    parser.add_argument("--lf", action="store_true",
                        help="also end lines at a bare \\n (a \\r before it is dropped); "
                             "replies still end in \\r\\n")
    parser.add_argument("--max-line", type=int, default=16384,
                        help="LineReceiver.MAX_LENGTH (default 16384); a longer line closes "
                             "the connection, as in Twisted")
    parser.add_argument("--max-queue", type=int, default=0,
                        help="only 0 (unbounded) is accepted: Twisted's backlog has no bound")
    parser.add_argument("--backlog", type=int, default=50,
                        help="listen backlog (default 50, Twisted's)")
    parser.add_argument("--stats-interval", type=float, default=0.0,
                        help="print 'STATS {json}' pool statistics to stderr every S seconds")
    args = parser.parse_args(argv)
    args.mode = MODES[args.mode]
    try:
        args.work = WorkSpec.parse(args.work)
    except ValueError as e:
        parser.error(str(e))
    if not 0.0 <= args.fail_rate <= 1.0:
        parser.error(f"--fail-rate must be in [0, 1], got {args.fail_rate}")
    if args.pool_size < 1:
        parser.error(f"--pool-size must be >= 1, got {args.pool_size} "
                     "(Twisted accepts 0 but then never runs any work)")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in [0, 65535], got {args.port}")
    if args.max_line < 1:
        parser.error(f"--max-line must be >= 1, got {args.max_line}")
    if args.max_queue != 0:
        parser.error("--max-queue: Twisted's pool backlog is unbounded; only 0 is accepted")
    if args.backlog < 1:
        parser.error(f"--backlog must be >= 1, got {args.backlog}")
    if args.stats_interval < 0:
        parser.error(f"--stats-interval must be >= 0, got {args.stats_interval}")
    if not 1 <= args.db_keys <= sql.MAX_KEY:
        parser.error(f"--db-keys must be in [1, {sql.MAX_KEY}], got {args.db_keys}")
    try:
        args.db = None if args.db is None else sql.parse_db_url(args.db)
    except ValueError as e:
        parser.error(str(e))
    if args.work.sql_statements() and args.db is None:
        parser.error("--work has sql: parts: give --db mysql://...")
    return args


def import_twisted():
    try:
        for module in ("twisted.internet.protocol", "twisted.internet.reactor",
                       "twisted.internet.task", "twisted.internet.threads",
                       "twisted.protocols.basic"):
            importlib.import_module(module)
    except ImportError as e:
        sys.stderr.write(
            f"twisted_server.py: cannot import Twisted ({e}) with {sys.executable}.\n"
            "  install python3-twisted (Debian) or pip install twisted,\n"
            "  and run this script with that interpreter, e.g. "
            "/usr/bin/python3 scripts/twisted_server.py\n")
        sys.exit(2)


def build_factory(args, counters, database):
    from twisted.internet import protocol, reactor
    from twisted.internet.threads import deferToThread
    from twisted.protocols.basic import LineReceiver

    work = args.work
    fail_rate = args.fail_rate
    rng = random.Random(args.seed)

    def business_logic(line):
        """The demo's time.sleep(1): blocking work standing in for a call such as MySQL."""
        work.run(rng, database)
        if fail_rate and rng.random() < fail_rate:
            raise InjectedFailure("injected failure")
        return line

    class InlineProtocol(LineReceiver):
        MAX_LENGTH = args.max_line

        def lineReceived(self, line):
            counters["requests"] += 1
            try:
                result = business_logic(line)
            except Exception as e:  # the addition: reply instead of dropping the connection
                self.write_error(e, line)
                return
            self.write_response(result)

        def write_response(self, result):
            counters["replies"] += 1
            self.transport.write(b"ack:" + result + b"\r\n")

        def write_error(self, error, line):
            counters["errors"] += 1
            what = error_text(error).encode("utf-8", "replace")
            self.transport.write(b"err:" + what + b"|" + line + b"\r\n")

    class CallInThreadProtocol(InlineProtocol):
        def lineReceived(self, line):
            counters["requests"] += 1
            # process the packet on the pool
            reactor.callInThread(self.handle_request, line)

        def handle_request(self, line):
            try:
                result = business_logic(line)
            except Exception as e:  # the addition: Twisted would only log it (no reply)
                reactor.callFromThread(self.write_error, e, line)
                return
            # hand the reply back to the reactor thread
            reactor.callFromThread(self.write_response, result)

    class DeferToThreadProtocol(InlineProtocol):
        def lineReceived(self, line):
            counters["requests"] += 1
            d = deferToThread(self.handle_request, line).addCallback(self.write_response)
            # the addition: without it the failure is "Unhandled error in Deferred", no reply
            d.addErrback(lambda failure: self.write_error(failure.value, line))

        def handle_request(self, line):
            return business_logic(line)

    protocol_class = {
        "inline": InlineProtocol,
        "call-in-thread": CallInThreadProtocol,
        "defer-to-thread": DeferToThreadProtocol,
    }[args.mode]
    if args.lf:
        class LfProtocol(protocol_class):
            """Split at b"\\n" and drop one b"\\r" before it, so \\r\\n and \\n both end a line."""
            delimiter = b"\n"

            def lineReceived(self, line):
                return super().lineReceived(line[:-1] if line.endswith(b"\r") else line)

        protocol_class = LfProtocol

    class DemoProtocolFactory(protocol.Factory):
        def buildProtocol(self, addr):
            p = protocol_class()
            p.factory = self
            return p

    return DemoProtocolFactory()


def pool_stats(reactor, counters, database, started):
    """The pool's own figures and the reactor's call queue (unsynchronized reads)."""
    stats = {"t": round(time.monotonic() - started, 3)}
    pool = reactor.threadpool
    if pool is not None:
        team = pool._team.statistics()
        stats.update(idle=team.idleWorkerCount, busy=team.busyWorkerCount,
                     backlog=team.backloggedWorkCount, workers=pool.workers,
                     threads_created=len(pool.threads), min=pool.min, max=pool.max)
    stats["call_queue"] = len(reactor.threadCallQueue)
    stats.update(counters)
    if database is not None:
        stats["sql"] = database.stats()
    return stats


def write_port_file(path, port):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.print_work is not None:
        return print_work(args.print_work)
    import_twisted()
    from twisted.internet import reactor, task
    from twisted.internet.error import CannotListenError

    database, warning = sql.open_database(args.work.sql_statements(), args.db, args.db_keys,
                                          args.seed)
    counters = {"requests": 0, "replies": 0, "errors": 0}
    # Creates the pool object (no threads yet); sets max only, min stays 0.
    reactor.suggestThreadPoolSize(args.pool_size)
    try:
        port = reactor.listenTCP(args.port, build_factory(args, counters, database),
                                 backlog=args.backlog, interface=args.bind)
    except CannotListenError as e:
        sys.stderr.write(f"twisted_server.py: cannot listen on {args.bind}:{args.port}: "
                         f"{e.socketError}\n")
        return 2
    bound = port.getHost()
    sys.stderr.write(f"listening on {bound.host}:{bound.port}\n")
    sys.stderr.flush()
    if warning:
        sys.stderr.write(f"twisted_server.py: {warning}\n")
        sys.stderr.flush()
    if args.port_file:
        write_port_file(args.port_file, bound.port)

    if args.stats_interval > 0:
        started = time.monotonic()

        def print_stats():
            stats = pool_stats(reactor, counters, database, started)
            sys.stderr.write("STATS " + json.dumps(stats) + "\n")
            sys.stderr.flush()

        task.LoopingCall(print_stats).start(args.stats_interval, now=False)

    reactor.run()  # installs Twisted's SIGINT/SIGTERM handlers: reactor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
