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
import math
import os
import random
import re
import string
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import twisted_server_sql as sql  # noqa: E402  (stdlib only; MySQLdb is imported lazily)

MODES = {
    "inline": "inline",
    "call-in-thread": "call-in-thread",
    "callInThread": "call-in-thread",
    "defer-to-thread": "defer-to-thread",
    "deferToThread": "defer-to-thread",
}

# The --work grammar, kept identical to reference_server/work.cpp: the same accepted specs, the
# same rounding to whole nanoseconds and the same error messages (tests/data/work_specs.json).
_GRAMMAR = ("expected none or PART[+PART]..., "
            "PART = KIND:DURATION[,fixed|exp][,pPROB=DURATION]... or sql:STATEMENT or sql:NAME, "
            "KIND sleep|spin, DURATION a number with ns|us|ms|s, "
            "NAME point-read|hot-update|range-scan|sleep-10ms, "
            "STATEMENT with {rand} or {rand:N} for a random key (e.g. sleep:10ms, spin:200us, "
            "spin:2ms+sleep:8ms, sleep:1ms,p0.01=100ms, sql:point-read+spin:1ms)")
# A piece of the spec split at '+' that starts a new part even right after an sql part (whose
# statement may itself contain '+').
_PART_STARTS = ("sleep:", "spin:", sql.SQL_PREFIX)
_UNIT_NANOSECONDS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
_HOUR_NANOSECONDS = 3600e9
# A plain decimal ("10", "1.5", ".5", "5."): float() alone would also take signs, exponents,
# spaces, underscores and "inf", which reference_server rejects.
_DECIMAL_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")

# The spin part's hash: FNV-1a over a few 64-bit words, rewritten as it goes.
_FNV_OFFSET = 0xcbf29ce484222325
_FNV_PRIME = 0x100000001b3
_MASK64 = (1 << 64) - 1
# Hash steps between two reads of the thread CPU clock: a read costs about a microsecond (a system
# call), 256 steps some tens of microseconds, so the clock is a few percent of the work and a spin
# overshoots its CPU time by at most one round.
_SPIN_PASSES = 64
_SPIN_WORDS = (1, 2, 3, 4)
# As reference_server's error_reply: an err: text (a database's message may quote a path) never
# holds '|', '\r' or '\n', so the reply stays one line that splits at its first '|'.
_ERROR_TEXT_SAFE = str.maketrans("|\r\n", "///")


class _BadPart(Exception):
    """What is wrong with one part; WorkSpec.parse adds which spec and which part."""


def _quoted(text):
    return f"'{text}'"


def _read_decimal(text):
    return float(text) if _DECIMAL_RE.fullmatch(text) else None


def _round_half_away(value):
    """std::llround for 0 <= value < 2**52 (Python's round() rounds halves to even)."""
    whole = math.floor(value)
    return whole + (1 if value - whole >= 0.5 else 0)


def _number_in_part(text):
    value = _read_decimal(text)
    if value is None:
        raise _BadPart(f"{_quoted(text)} is not a number")
    return value


def _nanoseconds_in_part(text):
    """'1.5ms' -> 1500000 (nanoseconds); the unit is the trailing lowercase letters."""
    number = text.rstrip(string.ascii_lowercase)
    scale = _UNIT_NANOSECONDS.get(text[len(number):])
    value = _read_decimal(number)
    if value is None or scale is None:
        raise _BadPart(f"{_quoted(text)} is not a duration with a unit")
    # Checked in nanoseconds before rounding, with the same double arithmetic as reference_server,
    # so that both accept exactly the same durations.
    if value * scale > _HOUR_NANOSECONDS:
        raise _BadPart(f"{_quoted(text)} is longer than an hour")
    return _round_half_away(value * scale)


def consume_thread_cpu(seconds):
    """A spin part: hashes until the calling thread has used `seconds` more CPU time, read on
    its thread CPU clock (time.thread_time_ns: time.thread_time's clock, in whole nanoseconds).

    Pure Python, so it holds the GIL while it runs: spinning threads of one process take turns
    and together use at most one CPU. Their wall time grows with the sharing, their CPU time not.
    """
    until = time.thread_time_ns() + _round_half_away(seconds * 1e9)
    words = list(_SPIN_WORDS)  # this call's own: spinning threads share nothing
    value = _FNV_OFFSET
    while time.thread_time_ns() < until:
        for _ in range(_SPIN_PASSES):
            for i, word in enumerate(words):
                value = ((value ^ word) * _FNV_PRIME) & _MASK64
                words[i] = value
    return value


class WorkPart:
    """One sleep or spin and its cost distribution: KIND:DURATION[,fixed|exp][,pPROB=D]..."""

    def __init__(self, kind, nanoseconds, exponential=False, outliers=()):
        self.kind = kind  # "sleep" or "spin"
        self.nanoseconds = nanoseconds  # the mean, when exponential
        self.exponential = exponential
        self.outliers = list(outliers)  # [(probability, nanoseconds)]

    @classmethod
    def parse(cls, text):
        """Raises _BadPart saying what is wrong (reference_server's parse_part)."""
        if not text:
            raise _BadPart("it is empty")
        if text == "none":
            raise _BadPart("'none' cannot be combined with other parts")
        kind, colon, rest = text.partition(":")
        if not colon:
            raise _BadPart("no ':' after the kind")
        if kind not in ("sleep", "spin"):
            raise _BadPart(f"unknown kind {_quoted(kind)}")
        options = rest.split(",")
        part = cls(kind, _nanoseconds_in_part(options[0]))
        outlier_probability = 0.0  # summed in order, as reference_server sums it
        for i, option in enumerate(options[1:], start=1):
            equals = option.find("=")
            if option in ("fixed", "exp"):
                if i != 1:
                    raise _BadPart("the distribution must come right after the duration")
                part.exponential = option == "exp"
            elif option.startswith("p") and equals != -1:
                probability = _number_in_part(option[1:equals])
                if probability <= 0 or probability > 1:
                    raise _BadPart(f"probability in {_quoted(option)} is not in (0, 1]")
                outlier_probability += probability
                part.outliers.append((probability, _nanoseconds_in_part(option[equals + 1:])))
            else:
                raise _BadPart(f"unknown option {_quoted(option)}")
        if outlier_probability > 1 + 1e-12:
            raise _BadPart("the p...= probabilities add up to over 1")
        return part

    def sample(self, rng):
        """Seconds this part costs one request."""
        if self.outliers:
            pick = rng.random()
            for probability, nanoseconds in self.outliers:
                if pick < probability:
                    return nanoseconds / 1e9
                pick -= probability
        if self.exponential and self.nanoseconds > 0:
            return rng.expovariate(1e9 / self.nanoseconds)
        return self.nanoseconds / 1e9

    def mean_nanoseconds(self):
        """Outliers included; the same arithmetic as reference_server, so the same result."""
        outlier_probability = 0.0
        mean = 0.0
        for probability, nanoseconds in self.outliers:
            outlier_probability += probability
            mean += probability * nanoseconds
        return mean + (1 - outlier_probability) * self.nanoseconds

    def run(self, rng):
        seconds = self.sample(rng)
        if self.kind == "sleep":
            time.sleep(seconds)
        else:
            consume_thread_cpu(seconds)


class WorkSpec:
    """What one request costs, with reference_server's --work grammar (reference_server/work.hpp):

        none | PART[+PART]...    PART = KIND:DURATION[,fixed|exp][,pPROB=DURATION]...
                                      | sql:STATEMENT | sql:NAME

    The parts run one after the other, in the order given, each with its own options. ``sleep``
    blocks in ``time.sleep`` (releases the GIL, like a blocking MySQL call). ``spin`` computes a
    hash in pure Python until the calling thread has used DURATION of its own CPU time (its thread
    CPU clock, ``time.thread_time``), however long that takes on the wall clock; it holds the GIL
    meanwhile, so all the spin parts running in the process share one CPU at most, as pure-Python
    work does. ``exp`` draws an exponential duration with DURATION as its mean; ``pPROB=D`` makes
    the part cost D instead with probability PROB (several may be given, adding up to at most 1).
    DURATION is a plain decimal and a unit ns, us, ms or s, at most an hour. ``sql:`` runs a
    statement on the database (twisted_server_sql.SqlPart); it takes the pieces after it back,
    '+' included, until one that starts with sleep:, spin: or sql:. A bad spec raises ValueError
    with reference_server's message.
    """

    def __init__(self, parts=()):
        self.parts = list(parts)  # empty: none

    @classmethod
    def parse(cls, text):
        if text == "none":
            return cls()
        pieces = []
        for piece in text.split("+"):
            if pieces and sql.is_sql_piece(pieces[-1]) and not piece.startswith(_PART_STARTS):
                pieces[-1] += "+" + piece
            else:
                pieces.append(piece)
        parts = []
        for number, piece in enumerate(pieces, start=1):
            try:
                parts.append(sql.SqlPart.parse(piece) if sql.is_sql_piece(piece)
                             else WorkPart.parse(piece))
            except (_BadPart, sql.BadSqlPart) as bad:
                where = f"part {number} {_quoted(piece)}: " if len(pieces) > 1 else ""
                raise ValueError(
                    f"bad work spec {_quoted(text)}: {where}{bad}; {_GRAMMAR}") from None
        return cls(parts)

    def sql_statements(self):
        """The distinct statements of the sql parts, each placeholder replaced by 1."""
        return list(dict.fromkeys(part.render(lambda limit: 1)
                                  for part in self.parts if part.kind == "sql"))

    def run(self, rng, database=None):
        """Runs the parts in order; database (a twisted_server_sql.Database) runs the sql ones.
        Each distinct placeholder is drawn once per request, so all the sql parts of one request
        see the same {rand}."""
        request_keys = {}
        for part in self.parts:
            if part.kind == "sql":
                database.execute(part, request_keys)
            else:
                part.run(rng)

    def _mean_seconds(self, kind):
        return sum(part.mean_nanoseconds() for part in self.parts if part.kind == kind) / 1e9

    def mean_cpu_seconds(self):
        """Expected spin (CPU) time of one request, outliers included."""
        return self._mean_seconds("spin")

    def mean_blocking_seconds(self):
        """Expected sleep (blocking) time of one request, outliers included."""
        return self._mean_seconds("sleep")


class InjectedFailure(Exception):
    """Raised by a request chosen to fail by --fail-rate."""


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
            what = (str(error) or type(error).__name__).translate(_ERROR_TEXT_SAFE)
            what = what.encode("utf-8", "replace")
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
