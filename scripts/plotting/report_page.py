"""The report page: one self-contained HTML file (inline CSS and SVG, the data embedded).

A Content-Security-Policy in the page forbids loading anything from anywhere, so a reference
that slipped in would show as an error rather than as a silent fetch. A small inline script
records page errors into the <html> element's data-page-errors attribute and sets
data-report-ready once loaded, so a headless browser's DOM dump shows both.
"""

import datetime
import html
import json
import os

from .report_charts import (capacity_chart, latency_chart, spectrum_chart, timeline_charts,
                            timeline_pools)
from .report_data import embedded_data
from .report_sections import checks_section, esc, manifest_section, verdict_section

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; "
                           "script-src 'unsafe-inline'; img-src data:")

CSS = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --ok: #15803d; --bad: #b91c1c;
        --paper: #ffffff; --wash: #f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--wash); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { font-size: 26px; margin: 0 0 2px; }
header .sub { color: var(--muted); margin: 0 0 18px; }
h2 { font-size: 21px; margin: 0 0 10px; }
h3 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
     padding-bottom: 4px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; background: var(--wash);
      padding: 6px 8px; border-radius: 4px; }
.verdict { background: var(--paper); border: 2px solid #cbd5e1; border-radius: 10px;
           padding: 18px 22px; margin-bottom: 18px; box-shadow: 0 1px 3px rgba(0,0,0,.06); }
.verdict .label { background: var(--ink); color: #fff; border-radius: 4px; padding: 1px 8px;
                  margin-right: 6px; }
.badge { border-radius: 6px; padding: 8px 12px; margin: 8px 0 12px; font-weight: 600; }
.badge ul { margin: 6px 0 0; padding-left: 20px; font-weight: 400; }
.badge-ok { background: #dcfce7; color: var(--ok); border: 1px solid #86efac; }
.badge-bad { background: #fee2e2; color: var(--bad); border: 1px solid #fca5a5; }
.mode-cards { display: flex; flex-wrap: wrap; gap: 14px; margin: 10px 0; }
.mode-card { flex: 1 1 320px; border: 1px solid var(--line); border-top: 5px solid;
             border-radius: 8px; padding: 12px 16px; background: var(--paper); }
.mode-name { font-weight: 700; text-transform: uppercase; letter-spacing: .04em;
             font-size: 13px; }
.recommended-pool { font-size: 30px; font-weight: 800; color: var(--ok); }
.no-pool { font-size: 22px; font-weight: 700; color: var(--muted); }
.reason { margin: 4px 0 8px; }
dl.evidence, dl.manifest-list { display: grid; grid-template-columns: max-content 1fr;
                                gap: 3px 14px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
.no-recommendation { font-size: 17px; background: #fef9c3; border: 1px solid #fde047;
                     border-radius: 6px; padding: 10px 14px; }
.rule, .summary, .slo { margin: 8px 0; }
.sweep { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
         padding: 18px 22px; margin-top: 26px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr));
          gap: 18px; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 2px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font-family: system-ui, "DejaVu Sans", sans-serif; fill: var(--ink); }
svg.chart .tick { font-size: 11px; fill: var(--muted); }
svg.chart .axis-label, svg.chart .legend { font-size: 12px; }
svg.chart .chart-title { font-size: 14px; font-weight: 700; }
svg.chart .grid { stroke: #eef0f3; }
svg.chart .frame { fill: none; stroke: #9ca3af; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; }
th { background: var(--wash); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ok { color: var(--ok); } td.bad { color: var(--bad); font-weight: 600; }
td.na { color: var(--muted); }
nav { margin: 0 0 14px; color: var(--muted); }
nav a { color: #1d4ed8; margin-right: 12px; }
"""

# Runs first in <head>, so it sees every later error; it changes nothing else on the page.
ERROR_RECORDER = """
(function () {
  var root = document.documentElement, errors = [];
  function record(text) {
    errors.push(text);
    root.setAttribute("data-page-errors", errors.join(" | "));
  }
  window.addEventListener("error", function (e) {
    var where = e.filename ? " at " + e.filename + ":" + e.lineno : "";
    var what = e.message || ("failed to load " + ((e.target && (e.target.src || e.target.href))
                                                    || "a resource"));
    record(what + where);
  }, true);
  window.addEventListener("unhandledrejection", function (e) { record("rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    record("blocked by the page's policy: " + e.blockedURI);
  });
  window.addEventListener("load", function () {
    try { JSON.parse(document.getElementById("report-data").textContent); }
    catch (e) { record("embedded data: " + e.message); }
    root.setAttribute("data-charts", document.querySelectorAll("svg.chart").length);
    root.setAttribute("data-page-errors", errors.join(" | "));
    root.setAttribute("data-report-ready", "yes");
  });
})();
"""


def _figure(svg, caption):
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def _charts_block(title, figures):
    return f'<h3>{esc(title)}</h3><div class="charts">{"".join(figures)}</div>'


def _capacity_caption(sweep):
    if sweep.has_search():
        return ("Bars: the SLO capacity interval the search found per pool (it holds the SLO at "
                "the low end, not at the high end); hollow: the best throughput any trial "
                "achieved; grey: the pool's bound P/S_w and the CPU bound K/c, crossing at the "
                "predicted knee P*.")
    return ("A plain sweep (closed loop, no SLO search): the measured throughput per pool "
            "against loadgen's model bound min(N/(S+Z), P/S_w, K/c); P* is where the pool and "
            "CPU bounds cross.")


def _sweep_charts(sweep):
    modes = sweep.modes()
    blocks = [
        _charts_block("Capacity against pool size", [
            _figure(capacity_chart(sweep, m), _capacity_caption(sweep)) for m in modes]),
        _charts_block("Latency against pool size", [_figure(latency_chart(sweep, m), (
            "Response time (from the intended send: what a user waits) and service time "
            "(from the actual send) per pool; bands: the 95% confidence interval of p99.")
        ) for m in modes]),
        _charts_block("Percentile spectra", [_figure(spectrum_chart(sweep, m), (
            "Response time at each percentile, one curve per pool; the x axis stretches the "
            "tail (1/(1-q)). Flat curves are good; a bend shows where the tail begins.")
        ) for m in modes]),
    ]
    timelines = []
    for mode in modes:
        pools = ", ".join(str(p) for p in timeline_pools(sweep, mode))
        timelines += [_figure(svg, f"{mode}, pools {pools}: every interval of the run, warm-up "
                                   "and drain shaded.") for svg in timeline_charts(sweep, mode)]
    if timelines:
        blocks.append(_charts_block("Per-interval timelines", timelines))
    return "\n".join(blocks)


def sweep_section(sweep):
    return (f'<section class="sweep" id="sweep-{esc(sweep.label)}">'
            f"<h2>{esc(sweep.label)} <small>({esc(sweep.path)})</small></h2>"
            f"{manifest_section(sweep)}{_sweep_charts(sweep)}{checks_section(sweep)}</section>")


def _embedded_json(sweeps):
    """The data block: '<' escaped so no string inside can close the <script> element."""
    text = json.dumps(embedded_data(sweeps), separators=(",", ":"), allow_nan=False,
                      default=str)
    return text.replace("<", "\\u003c")


def render_page(directory, sweeps):
    """The whole report.html for the sweeps found in directory."""
    title = f"poolbench report: {os.path.basename(os.path.abspath(directory))}"
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#sweep-{esc(s.label)}">{esc(s.label)}</a>' for s in sweeps)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<script>{ERROR_RECORDER}</script>",
        f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body><main>",
        f'<header><h1>{html.escape(title)}</h1><p class="sub">{esc(directory)}, generated '
        f"{generated} by scripts/report.py</p></header>",
        f'<div id="verdict">{"".join(verdict_section(s) for s in sweeps)}</div>',
        f"<nav>Details: {nav}</nav>" if len(sweeps) > 1 else "",
        "\n".join(sweep_section(s) for s in sweeps),
        f'<script type="application/json" id="report-data">{_embedded_json(sweeps)}</script>',
        "</main></body>", "</html>", ""])
