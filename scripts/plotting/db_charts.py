"""The database chart: what the database behind the server did as the pool grew (points
measured with ``loadgen sweep --measure-pid database=PID``), and the errors the server
answered, by kind: where to look when the throughput stops growing with the pool but the
server's CPU does not explain it (the database's CPU per request rising under contention, or
its refusals, ``sql 1040``: too many connections)."""

from .common import caption, finish, new_figure, pool_axis
from .pool_charts import _series_style, _usage_series
from .results import _first, _number

DATABASE = "database"  # the NAME of ``--measure-pid NAME=PID`` and ``--attach NAME=FILE``
SETTINGS = ("max_connections", "innodb_buffer_pool_size", "transaction_isolation")
KIND_MARKERS = ("o", "x", "^", "s", "v", "D", "P", "*")  # one per error kind within a series
SATURATION_SHOWN_PCT = 60  # from here on, the 100% line is worth the room it takes


def database_usage(point):
    """The database's Usage at this point, None where it was not measured."""
    return point.processes.get(DATABASE)


def has_database(result_sets):
    """True if some point measured the database's CPU (``resources.processes.database``)."""
    return any(database_usage(p) for rs in result_sets for m in rs.modes()
               for p in rs.measured(m))


def error_kind(key):
    """An ``errors.by_kind`` key without the server's message, so that one cause is one line:
    ``err:sql 1040: Too many connections`` is ``sql 1040``, ``err:busy`` is ``busy``, and
    loadgen's own kinds (``connection_closed``) stay as they are."""
    text = key[len("err:"):] if key.startswith("err:") else key
    return text.split(":", 1)[0].strip()


def error_rates(point):
    """{kind: errors of that kind per request}, a request being one that completed or failed."""
    requests = point.completed + point.errors
    rates = {}
    if requests <= 0:
        return rates
    for key, count in point.errors_by_kind.items():
        kind = error_kind(key)
        rates[kind] = rates.get(kind, 0.0) + count / requests
    return rates


def _draw_usage(ax, result_sets, series, value_of):
    """One line per (result set, mode) of value_of(the database's Usage); the values drawn."""
    values = []
    for k, mode, points in series:
        _, name, style = _series_style(result_sets, k, mode)
        shown = [(p.pool_size, value_of(database_usage(p))) for p in points]
        shown = [(x, y) for x, y in shown if y is not None]
        ax.plot([x for x, _ in shown], [y for _, y in shown], label=name, **style)
        values += [y for _, y in shown]
    return values


def _utilization_panel(ax, result_sets, series, sizes):
    values = _draw_usage(ax, result_sets, series, lambda u: _percent(u.utilization))
    pool_axis(ax, sizes)
    top = max(values, default=0)
    if top >= SATURATION_SHOWN_PCT:
        ax.axhline(100, color="0.5", linewidth=0.8)
        ax.set_ylim(0, max(110, ax.get_ylim()[1]))
    else:  # far from saturated: the axis fits the data rather than an empty 100%
        ax.set_ylim(0, max(1.0, top * 1.25))
    ax.set_ylabel("database CPU utilisation (% of its allowed CPUs)")
    ax.set_title("database CPU utilisation")


def _percent(fraction):
    return 100 * fraction if fraction is not None else None


def _cpu_per_request_panel(ax, result_sets, series, sizes):
    _draw_usage(ax, result_sets, series, lambda u: u.cpu_us_per_request)
    pool_axis(ax, sizes)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("database CPU per request (us)")
    ax.set_title("database CPU per request")


def _errors_panel(ax, result_sets, series, sizes):
    """Errors per request, one line per (result set, mode, kind): the kinds of one series share
    its colour and line style and differ by marker. "no errors" where there were none."""
    ax.set_title("errors per request, by kind")
    drawn = False
    for k, mode, points in series:
        _, name, style = _series_style(result_sets, k, mode)
        rates = [error_rates(p) for p in points]
        for j, kind in enumerate(sorted({kind for r in rates for kind in r})):
            ax.plot([p.pool_size for p in points], [r.get(kind, 0.0) for r in rates],
                    label=f"{name}: {kind}", **dict(style, marker=KIND_MARKERS[j % 8]))
            drawn = True
    if not drawn:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no errors", transform=ax.transAxes, ha="center", va="center",
                fontsize=12, color="0.35")
        return
    pool_axis(ax, sizes)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("errors per request (completed + failed)")


def _setting(name, value):
    if name.endswith("_size") and _number(value):  # bytes
        return f"{name} {value / 2 ** 20:g} MiB"
    return f"{name} {value}"


def database_line(rs):
    """The database of a result set: its version and settings (``config.attached.database``,
    a copy of scripts/db's db.json) and the CPUs it was allowed; "" when nothing is known."""
    attached = _first(_first(rs.sweep_config, "attached", default={}), DATABASE, default={})
    parts = []
    if _first(attached, "version"):
        parts.append(f"database {attached['version']}")
    parts += [_setting(name, attached[name]) for name in SETTINGS
              if _first(attached, name) is not None]
    usage = next((database_usage(p) for m in rs.modes() for p in rs.measured(m)
                  if database_usage(p)), None)
    if usage and usage.cpus:
        parts.append("database CPUs " + ",".join(str(c) for c in usage.cpus))
    return " | ".join(parts)


def database_caption(result_sets):
    """The usual caption, then the database: once if every result set used the same one."""
    lines = [database_line(rs) for rs in result_sets]
    if len(set(lines)) == 1:
        lines = lines[:1]
    else:
        width = max(len(rs.label) for rs in result_sets) + 2
        lines = [f"{rs.label}: ".ljust(width) + line
                 for rs, line in zip(result_sets, lines) if line]
    return "\n".join([caption(result_sets)] + [line for line in lines if line])


def plot_database(plt, result_sets, out_dir, formats):
    """The database against pool size: its CPU utilisation, its CPU per request, and the
    errors per request by kind."""
    series = _usage_series(result_sets, database_usage)
    if not series:
        return []
    sizes = sorted({p.pool_size for _, _, points in series for p in points})
    fig, axes = new_figure(plt, 3, width=4.8)
    _utilization_panel(axes[0][0], result_sets, series, sizes)
    _cpu_per_request_panel(axes[0][1], result_sets, series, sizes)
    _errors_panel(axes[0][2], result_sets, series, sizes)
    return finish(plt, fig, "Database vs pool size", result_sets, out_dir, "database", formats,
                  caption_lines=database_caption(result_sets), legend=True)
