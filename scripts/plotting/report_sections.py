"""The report's text sections as HTML: the verdict, the manifest and the self-check table.
Standard library only; every value from the documents is escaped here."""

import html
import math
import shlex

from .report_charts import mode_color
from .report_data import build_info, check_rows, failed_checks
from .results import _first, _number


def esc(value):
    return html.escape(str(value), quote=True)


def rps(value):
    return f"{value:,.0f} req/s" if _number(value) is not None else "n/a"


def percent(fraction, signed=False):
    if _number(fraction) is None:
        return "n/a"
    return f"{100 * fraction:+.1f}%" if signed else f"{100 * fraction:.1f}%"


def duration_us(us):
    if _number(us) is None:
        return "n/a"
    return f"{us / 1000:.3g} ms" if us >= 1000 else f"{us:.3g} us"


def _badge(sweep):
    failures = failed_checks(sweep)
    if not failures:
        return '<div class="badge badge-ok">&#10003; all self-checks passed</div>'
    items = "".join(f"<li>{esc(f)}</li>" for f in failures)
    count = f"{len(failures)} self-check{'s' if len(failures) > 1 else ''} failed"
    return f'<div class="badge badge-bad"><strong>&#10007; {count}</strong><ul>{items}</ul></div>'


def _evidence(verdict):
    """The numbers behind a mode's verdict, as definition-list rows."""
    rows = []
    low, high = verdict.get("capacity_low_rps"), verdict.get("capacity_high_rps")
    if _number(low) is not None:
        rows.append(("SLO capacity", f"{rps(low)} .. {rps(high)}"))
    if _number(verdict.get("headroom")) is not None:
        rows.append(("headroom", percent(verdict["headroom"])))
    larger = verdict.get("next_larger")
    if isinstance(larger, dict):
        passes = "passes" if larger.get("passes") else "fails"
        rows.append(("next larger", f"pool {larger.get('pool')} {passes} "
                                    f"(capacity from {rps(larger.get('capacity_low_rps'))})"))
    elif verdict.get("recommended_pool") is not None:
        rows.append(("next larger", "none swept"))
    little = verdict.get("littles_law")
    if isinstance(little, dict) and _number(little.get("concurrency")) is not None:
        rows.append(("Little's law", f"{little['concurrency']:.2f} requests in service at "
                                     f"{rps(little.get('rate_rps'))}"))
    knee = verdict.get("cpu_knee")
    if isinstance(knee, dict) and _number(knee.get("predicted_pool")) is not None:
        rows.append(("CPU knee P*", f"{knee['predicted_pool']:.1f} threads"))
    usl = verdict.get("usl")
    if isinstance(usl, dict) and _number(usl.get("peak_pool")) is not None:
        rows.append(("USL peak", f"pool {usl['peak_pool']:.1f} (R² {usl.get('r2', 0):.3f})"))
    elif isinstance(usl, dict) and usl.get("fitted") is False:
        rows.append(("USL", f"not fitted: {usl.get('reason', '')}"))
    return "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)


def _mode_card(sweep, mode):
    verdict = sweep.verdict(mode) or {}
    pool = sweep.recommended_pool(mode)
    headline = (f'<div class="recommended-pool">pool {pool}</div>' if pool is not None
                else '<div class="no-pool">no recommendation</div>')
    reason = verdict.get("reason") or "the recommendation does not cover this mode"
    return (f'<div class="mode-card" data-mode="{esc(mode)}" '
            f'style="border-top-color:{mode_color(mode)}">'
            f'<div class="mode-name" style="color:{mode_color(mode)}">{esc(mode)}</div>'
            f'{headline}<p class="reason">{esc(reason)}</p>'
            f'<dl class="evidence">{_evidence(verdict)}</dl></div>')


def _no_recommendation(sweep):
    why = ("" if sweep.has_search() else
           " This is a plain sweep (no <code>--search</code>): it has no SLO capacities, so "
           "no pool can be recommended from it; the charts below show what it measured.")
    return (f'<p class="no-recommendation">no recommendation: run '
            f'<code>loadgen recommend {esc(sweep.path)}</code>.{why}</p>')


def verdict_section(sweep):
    rec = sweep.recommendation
    parts = [f'<section class="verdict" id="verdict-{esc(sweep.label)}">',
             f'<h2><span class="label">{esc(sweep.label)}</span> verdict</h2>', _badge(sweep)]
    if rec is None:
        parts.append(_no_recommendation(sweep))
    else:
        slo = _first(rec.get("slo"), "text", default="no SLO")
        target = rec.get("target_rate_rps")
        target_text = f" at a target of {rps(target)}" if _number(target) is not None else ""
        parts.append(f'<p class="slo">SLO <strong>{esc(slo)}</strong>{esc(target_text)}</p>')
        parts.append('<div class="mode-cards">'
                     + "".join(_mode_card(sweep, mode) for mode in sweep.modes()) + "</div>")
        rule = _first(rec.get("rule"), "text")
        if rule:
            parts.append(f'<p class="rule"><strong>Rule:</strong> {esc(rule)}</p>')
        if rec.get("summary"):
            parts.append(f'<p class="summary">{esc(rec["summary"])}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _host_text(host):
    cores = f"{host.get('cores')} cores" if host.get("cores") else None
    return ", ".join(str(x) for x in (host.get("cpu_model"), cores, host.get("os"),
                                      host.get("kernel"), host.get("machine"),
                                      host.get("hostname")) if x) or "not recorded"


def _calibration_text(calibration):
    if not isinstance(calibration, dict):
        return "none (--no-calibrate, or work without a cost)"
    service, trip = _number(calibration.get("service_time_us")), _number(
        calibration.get("round_trip_us"))
    worker = f", S_w = S - d = {duration_us(service - trip)}" if service and trip else ""
    status = calibration.get("status", "ok")
    return (f"{status}: S = {duration_us(service)} "
            f"({calibration.get('service_time_statistic', '?')} of "
            f"{calibration.get('requests', '?')} requests), d = {duration_us(trip)}{worker}, "
            f"c = {duration_us(calibration.get('cpu_time_us'))} "
            f"({calibration.get('cpu_time_source', '?')})"
            + (f"; {calibration['reason']}" if calibration.get("reason") else ""))


def _load_text(config, searched):
    """The load of a run; a search's rate differs per probe, so it is not shown as one."""
    rate = _number(config.get("rate")) or 0
    load = (f"open loop, the rate searched per point ({config.get('arrival', '?')} arrivals)"
            if searched else
            f"open loop, {rate:g} req/s ({config.get('arrival', '?')})" if rate > 0 else
            f"closed loop, {config.get('connections', '?')} connections x depth "
            f"{config.get('depth', 1)}")
    return (f"{load}; {config.get('duration_s', '?')} s measured after "
            f"{config.get('warmup_s', '?')} s warm-up")


def manifest_section(sweep):
    config = sweep.doc.get("config") or {}
    run = sweep.first_run()
    commit, build_type, recorded = build_info(sweep)
    commit_text = (commit if recorded else
                   f"{commit or 'unknown'} (report generated at; the results do not record "
                   "the commit they were built from)")
    search = config.get("search") or {}
    rows = [("commit", commit_text), ("build type", build_type),
            ("host", _host_text(run.get("host") or {})), ("started", run.get("start_time")),
            ("work", config.get("work")),
            ("CPUs", f"server {config.get('server_cpus') or 'not pinned'}, loadgen "
                     f"{config.get('generator_cpus') or 'not pinned'}"),
            ("load", _load_text(run.get("config") or {}, sweep.has_search())),
            ("seed", _first(run.get("config"), "seed")),
            ("SLO", _first(search.get("slo"), "text")),
            ("search criteria", ", ".join(f"{k} {v}" for k, v in
                                          (search.get("criteria") or {}).items()) or None),
            ("S_eff calibration", _calibration_text(sweep.doc.get("calibration")))]
    cells = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows if v is not None)
    commands = [("sweep", config.get("argv")), ("server", config.get("server_command"))]
    code = "".join(f"<dt>{esc(name)}</dt><dd><pre>{esc(_command_text(cmd))}</pre></dd>"
                   for name, cmd in commands if cmd)
    return (f'<section class="manifest"><h3>Manifest</h3>'
            f'<dl class="manifest-list">{cells}{code}</dl></section>')


def _command_text(command):
    return shlex.join(str(a) for a in command) if isinstance(command, list) else str(command)


def _flag(value):
    if value is None:
        return '<td class="na">n/a</td>'
    return '<td class="ok">yes</td>' if value else '<td class="bad">no</td>'


def _stability_cell(change):
    if change is None:
        return '<td class="na">not assessed</td>'
    throughput, p50 = change
    return f"<td>X {percent(throughput, True)}, p50 {percent(p50, True)}</td>"


def _little_cell(ratio):
    if ratio is None or not math.isfinite(ratio) or ratio == 0:  # 0: loadgen could not compute it
        return '<td class="na">n/a</td>'
    off = abs(ratio - 1) > 0.05  # loadgen's little_law threshold (results/README.md)
    return f'<td class="{"bad" if off else "ok"}">{ratio:.3f}</td>'


def _check_row(row):
    reasons = ", ".join(row["reasons"]) or ("" if row["status"] == "ok" else row["reason"] or "")
    status_class = "ok" if row["status"] == "ok" else "bad"
    capacity = row["capacity"] or {}
    search = (f"<td>{esc(row['outcome'])}</td><td>{esc(rps(capacity.get('low_rps')))} .. "
              f"{esc(rps(capacity.get('high_rps')))}</td>" if row["outcome"] else
              '<td class="na">-</td><td class="na">-</td>')
    return (f"<tr><td>{esc(row['mode'])}</td><td class=\"num\">{row['pool']}</td>"
            f'<td class="{status_class}">{esc(row["status"])}</td>{_flag(row["valid"])}'
            f"<td>{esc(reasons)}</td>{_flag(row['accounting_ok'])}"
            f"{_stability_cell(row['stability'])}{_little_cell(row['little_ratio'])}"
            f"{search}</tr>")


def checks_section(sweep):
    head = "".join(f"<th>{h}</th>" for h in (
        "mode", "pool", "status", "valid", "reasons", "accounting", "stability (2nd half vs 1st)",
        "Little ratio", "search", "capacity"))
    body = "\n".join(_check_row(row) for row in check_rows(sweep))
    return (f'<section class="checks"><h3>Self-checks per point</h3>'
            f'<div class="table-wrap"><table class="checks-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div></section>")
