"""The --work grammar of reference_server in Python: parsing, canonical spelling, mean costs,
and running the sleep and spin parts. Shared by the Python peers (scripts/twisted_server.py and
scripts/peers/asyncio_server.py); stdlib only.

The sql: parts parse here (their split rule and placeholders come from twisted_server_sql.py,
stdlib only at import time); running them needs a twisted_server_sql.Database, which only the
Twisted peer opens.
"""

import json
import math
import os
import re
import string
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import twisted_server_sql as sql  # noqa: E402  (stdlib only; MySQLdb is imported lazily)

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


def error_text(error):
    """The <what> of an err:<what>|<line> reply for an exception raised by a request's work."""
    return (str(error) or type(error).__name__).translate(_ERROR_TEXT_SAFE)


class InjectedFailure(Exception):
    """Raised by a request chosen to fail by --fail-rate."""


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


def _spelled(nanoseconds):
    """1500000 -> '1500us': the largest of s, ms, us that divides it exactly, else ns."""
    for unit in ("s", "ms", "us"):
        size = int(_UNIT_NANOSECONDS[unit])
        if nanoseconds and nanoseconds % size == 0:
            return f"{nanoseconds // size}{unit}"
    return f"{nanoseconds}ns" if nanoseconds else "0s"


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

    def canonical(self):
        """The spelling reference_server prints for this part: the largest exact unit, no
        ',fixed', probabilities as C++ streams print a double (6 significant digits)."""
        text = f"{self.kind}:{_spelled(self.nanoseconds)}"
        if self.exponential:
            text += ",exp"
        for probability, nanoseconds in self.outliers:
            text += f",p{probability:g}={_spelled(nanoseconds)}"
        return text

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

    def canonical(self):
        """reference_server's spelling of the spec ('sleep:1.5ms' -> 'sleep:1500us')."""
        if not self.parts:
            return "none"
        return "+".join(sql.SQL_PREFIX + (part.name or part.statement) if part.kind == "sql"
                        else part.canonical() for part in self.parts)

    def description(self):
        """What --print-work prints: the canonical spelling and the mean costs in whole ns."""
        return {"canonical": self.canonical(),
                "cpu_ns": _round_half_away(self._mean_nanoseconds("spin")),
                "blocking_ns": _round_half_away(self._mean_nanoseconds("sleep"))}

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

    def _mean_nanoseconds(self, kind):
        return sum(part.mean_nanoseconds() for part in self.parts if part.kind == kind)

    def _mean_seconds(self, kind):
        return self._mean_nanoseconds(kind) / 1e9

    def mean_cpu_seconds(self):
        """Expected spin (CPU) time of one request, outliers included."""
        return self._mean_seconds("spin")

    def mean_blocking_seconds(self):
        """Expected sleep (blocking) time of one request, outliers included."""
        return self._mean_seconds("sleep")


def print_work(text):
    """--print-work SPEC, in every peer: the spec's description as one JSON line (exit 0), or
    its error on stderr (exit 2). The same output as reference_server's, so that one test holds
    every program to tests/data/work_specs.json."""
    try:
        description = WorkSpec.parse(text).description()
    except ValueError as bad:
        sys.stderr.write(f"{bad}\n")
        return 2
    print(json.dumps(description))
    return 0
