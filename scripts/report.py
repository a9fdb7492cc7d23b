#!/usr/bin/env python3
"""One self-contained HTML report of a sweep: the verdict first, then the evidence.

    python3 scripts/report.py DIR [--out FILE]

DIR is what ``loadgen sweep --out`` wrote (sweep.json, the run JSONs, with ``--search`` the
``<mode>-pool<N>.search.json`` files, and ``recommendation.json`` from ``loadgen recommend``),
or a directory holding several of those (e.g. results/<date>/mixed with ours/ and twisted/):
one section per sweep. Writes DIR/report.html (or FILE) and prints its path.

The page, top to bottom: the recommended pool per mode with the rule and its evidence and a
validity badge; the manifest (commit, host, commands, seed, calibration); capacity and latency
against pool size with the model; percentile spectra; per-interval timelines; the self-check
table. CSS and SVG charts are inline and the sweep data is embedded (without the base64
histograms): the file opens anywhere, offline, and loads nothing.

Standard library only: any python3 runs it (no matplotlib needed).
"""

import argparse
import os
import sys

# The package sits beside this file; put it on the path also when this file is loaded by path.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from plotting.report_data import ReportError, load_report  # noqa: E402
from plotting.report_page import render_page  # noqa: E402

REPORT_FILE = "report.html"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="report.py", description="Write one self-contained HTML report of a sweep "
                                      "directory (or of the sweep directories inside DIR).")
    parser.add_argument("directory", metavar="DIR",
                        help="a sweep directory (sweep.json ...), or one holding several")
    parser.add_argument("--out", metavar="FILE", help=f"where to write (default DIR/{REPORT_FILE})")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        sweeps = load_report(args.directory)
    except ReportError as e:
        sys.stderr.write(f"report.py: {e}\n")
        return 1
    out = args.out or os.path.join(args.directory, REPORT_FILE)
    page = render_page(args.directory, sweeps)
    # Written whole then renamed, as loadgen writes its files: never a half-written report.
    partial = out + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(partial, out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
