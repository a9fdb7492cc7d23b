"""What the multi-host launchers (scripts/loadgen-k8s, scripts/loadgen-ssh) share: the checks on
the `loadgen run` flags they pass through to every share, the one start time of all shares, and
the merge of the shares' results. Python 3 standard library only.

A run split into N shares gives every share the same flags except `--segment i/N`; the launcher
adds that, `--start-at` and `--json` itself, so the passed flags must not carry them.
"""

import datetime
import math
import os
import re
import shutil
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXIT_USAGE = 2
# Flags the launcher sets per share (the segment, the common start, the result file).
LAUNCHER_FLAGS = ("--segment", "--start-at", "--json")
# loadgen run refuses a --start-at further ahead than this.
START_FURTHEST_AHEAD_S = 24 * 3600
# A merge is a few file reads and one write; anything longer is a hung binary.
MERGE_TIMEOUT_S = 120


class UsageError(Exception):
    """Bad input to a launcher: said on stderr, exit 2."""


def check_run_flags(flags):
    """Refuses pass-through flags that cannot describe one load split into shares."""
    if not flags:
        raise UsageError("no loadgen run flags after --: give at least --target HOST:PORT")
    if flags[0] == "run":
        raise UsageError("give the flags of `loadgen run` after --, without the word run")
    for flag in flags:
        name = flag.split("=", 1)[0]
        if name in LAUNCHER_FLAGS:
            raise UsageError(f"{name} is set per share by this launcher: leave it out of the "
                             "loadgen run flags")
    if not any(_names_target(flag) for flag in flags):
        # loadgen's default target is 127.0.0.1:9090: on an agent, that agent's own loopback.
        raise UsageError("--target HOST:PORT is required: loadgen's default target is the "
                         "agent's own loopback, not the server under test")


def _names_target(flag):
    return flag == "--target" or flag.startswith("--target=") or flag.startswith("-t")


# RFC 3339: date, "T" (or a space), time with optional fraction, zone "Z" or +hh:mm.
RFC3339_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?"
                        r"(?:([Zz])|([+-])(\d\d):(\d\d))$")


def parse_start_at(text):
    """Epoch seconds of TIME: epoch seconds (1764650000.5) or RFC 3339 with a zone."""
    try:
        epoch = float(text)
    except ValueError:
        epoch = None
    if epoch is not None and math.isfinite(epoch):
        return epoch
    match = RFC3339_RE.match(text.strip())
    if not match:
        raise UsageError(f"--start-at {text!r}: expected epoch seconds (1764650000.5) or RFC "
                         "3339 with a zone (2026-12-02T04:30:00Z, 2026-12-02T05:30:00+01:00)")
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    offset = datetime.timedelta(0)
    if match.group(9):
        sign = 1 if match.group(9) == "+" else -1
        offset = sign * datetime.timedelta(hours=int(match.group(10)),
                                           minutes=int(match.group(11)))
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second,
                                   tzinfo=datetime.timezone(offset))
    except ValueError as error:
        raise UsageError(f"--start-at {text!r}: {error}") from None
    return moment.timestamp() + float(match.group(7) or 0)


def start_time(start_at, start_in, now=None):
    """The start every share is given: --start-at verbatim, or now + --start-in seconds rounded
    up to a whole second. Refuses a start already past or over 24 hours ahead (loadgen would
    refuse it on every agent).
    Returns (text for --start-at, epoch seconds)."""
    now = time.time() if now is None else now
    if start_at is not None:
        epoch = parse_start_at(start_at)
        if epoch <= now:
            raise UsageError(f"--start-at {start_at} is already past ({now - epoch:.1f} s ago)")
    elif start_in is None or start_in <= 0:
        raise UsageError("give --start-at TIME or --start-in SECONDS (> 0)")
    else:
        epoch = math.ceil(now + start_in)
        start_at = str(epoch)
    if epoch - now > START_FURTHEST_AHEAD_S:
        raise UsageError(f"the start is {epoch - now:.0f} s ahead; loadgen refuses more than "
                         f"{START_FURTHEST_AHEAD_S // 3600} hours (a typo?)")
    return start_at, float(epoch)


def utc_text(epoch):
    """RFC 3339 UTC spelling of epoch seconds, for messages."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def run_captured(command, **options):
    """subprocess.run with stdout and stderr captured as text (Python 3.6 has no
    capture_output)."""
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **options)


def find_loadgen(explicit):
    """The local loadgen that merges: --loadgen, else loadgen on PATH, else this checkout's
    build (scripts/build)."""
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise UsageError(f"--loadgen {explicit}: not an executable file")
        return explicit
    on_path = shutil.which("loadgen")
    if on_path:
        return on_path
    built = os.path.join(ROOT, "build", "loadgen", "loadgen")
    if os.access(built, os.X_OK):
        return built
    raise UsageError("no loadgen to merge with: give --loadgen PATH, put loadgen on PATH, or "
                     "build it (scripts/build)")


def merge_shares(loadgen, share_files, merged_path):
    """`loadgen merge` of the shares into merged_path. It knows them for shares of one load by
    their --segment; --concurrent says so too for N = 1. Returns loadgen's exit code."""
    command = [loadgen, "merge", "--concurrent", "--json", merged_path] + list(share_files)
    try:
        return subprocess.run(command, timeout=MERGE_TIMEOUT_S).returncode
    except subprocess.TimeoutExpired:
        print(f"loadgen merge did not finish within {MERGE_TIMEOUT_S} s", flush=True)
        return 1
