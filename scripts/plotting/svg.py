"""Small inline-SVG charts for scripts/report.py. Standard library only.

A Chart has two Scales (linear or log, automatic or given ticks) and draws lines, markers,
error bars, bands and reference lines into a plot area with axes, ticks, grid and a legend
below it. render() returns one ``<svg>`` element meant to be pasted into an HTML page: no
external reference, sizes in a viewBox so the page's CSS scales it.
"""

import html
import math

FONT_PX = 12
CHAR_PX = 6.6  # mean glyph width of the page's sans-serif at FONT_PX: for legend layout
MARGIN = {"left": 64, "right": 16, "top": 30, "bottom": 44}
LEGEND_ROW_PX = 18


def format_number(value):
    """Tick and label text: three significant digits, k/M for large values."""
    if value == 0:
        return "0"
    for divisor, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:.3g}{suffix}"
    return f"{value:.3g}"


def _nice_step(span, target_ticks):
    """The 1-2-5 x 10^k step that gives about target_ticks intervals over span."""
    raw = span / max(target_ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


class Scale:
    """Maps data values to 0..1 along an axis; log scales for pools, percentiles, latency."""

    def __init__(self, lo, hi, log=False, ticks=None, label_format=format_number):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"axis bounds must be finite, got {lo}, {hi}")
        if log and lo <= 0:
            raise ValueError(f"a log axis needs positive bounds, got {lo}")
        if hi <= lo:  # one value: give it some room so it is drawn mid-axis
            lo, hi = (lo / 2, hi * 2) if log else (lo - 1 if lo else 0, hi + 1)
        self.log = log
        self.label_format = label_format
        if log:
            self.lo, self.hi = lo, hi
            self.ticks = ticks if ticks is not None else self._log_ticks()
        else:
            step = _nice_step(hi - lo, 5)
            self.lo, self.hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
            self.ticks = ticks if ticks is not None else self._linear_ticks(step)

    def _linear_ticks(self, step):
        count = int(round((self.hi - self.lo) / step))
        return [(self.lo + i * step, self.label_format(self.lo + i * step))
                for i in range(count + 1)]

    def _log_ticks(self):
        """Decades, with 2 and 5 between them when the axis spans less than three decades;
        evenly spaced values when the axis is too narrow to hold three of those."""
        first, last = math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi))
        factors = (1, 2, 5) if last - first <= 3 else (1,)
        values = [f * 10 ** e for e in range(first, last + 1) for f in factors]
        values = [v for v in values if self.lo <= v <= self.hi]
        if len(values) < 3:
            step = _nice_step(self.hi - self.lo, 4)
            values = [k * step for k in range(math.ceil(self.lo / step),
                                              math.floor(self.hi / step) + 1)]
        return [(v, self.label_format(v)) for v in values]

    def unit(self, value):
        if self.log:
            return (math.log(value) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        return (value - self.lo) / (self.hi - self.lo)

    def contains(self, value):
        return value is not None and (value > 0 or not self.log) and self.lo <= value <= self.hi


def log_scale_around(values, ticks=None, pad=1.25, label_format=format_number):
    """A log Scale that holds every positive value with a margin (a factor of pad)."""
    positive = [v for v in values if v is not None and v > 0]
    if not positive:
        positive = [1.0]
    return Scale(min(positive) / pad, max(positive) * pad, log=True, ticks=ticks,
                 label_format=label_format)


def linear_scale_from_zero(values, headroom=1.08):
    """A linear Scale from 0 to just above the largest value (throughputs start at zero)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return Scale(0.0, max(finite + [1.0]) * headroom)


def _attrs(**attributes):
    """SVG attributes from keywords (underscores become dashes); None values are left out."""
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{html.escape(str(v), quote=True)}"'
                    for k, v in attributes.items() if v is not None)


def _element(tag, text=None, **attributes):
    """One SVG element: self-closing, or around text (escaped)."""
    if text is None:
        return f"<{tag} {_attrs(**attributes)}/>"
    return f"<{tag} {_attrs(**attributes)}>{html.escape(text)}</{tag}>"


def _f(value):
    """A pixel coordinate, to one decimal: smaller files, no visible loss."""
    return f"{value:.1f}"


class Chart:
    """One plot: call the drawing methods, then render(). Legend entries keep call order."""

    def __init__(self, chart_id, title, x_scale, y_scale, x_label, y_label, width=560,
                 height=330):
        self.chart_id = chart_id
        self.title = title
        self.x, self.y = x_scale, y_scale
        self.x_label, self.y_label = x_label, y_label
        self.width, self.plot_height = width, height
        self.left, self.top = MARGIN["left"], MARGIN["top"]
        self.plot_width = width - MARGIN["left"] - MARGIN["right"]
        self.inner_height = height - MARGIN["top"] - MARGIN["bottom"]
        self.bottom = self.top + self.inner_height
        self.background, self.foreground, self.legend = [], [], []
        self.has_data = False  # reference lines alone do not count: the chart says "no data"

    def px(self, x, y):
        return (self.left + self.x.unit(x) * self.plot_width,
                self.top + (1 - self.y.unit(y)) * self.inner_height)

    def _legend(self, label, color, kind, dash=None):
        if label:
            self.legend.append((label, color, kind, dash))

    @staticmethod
    def _path(points):
        return " ".join(f"{'M' if i == 0 else 'L'}{_f(x)},{_f(y)}"
                        for i, (x, y) in enumerate(points))

    def _drawable(self, xs, ys):
        """The (x, y) pairs with both values known and, on a log axis, positive."""
        return [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None
                and (x > 0 or not self.x.log) and (y > 0 or not self.y.log)]

    def line(self, xs, ys, color, label=None, dash=None, width=2.0, marker=None):
        """A polyline through the known values, with optional markers."""
        points = [self.px(x, y) for x, y in self._drawable(xs, ys)]
        if len(points) >= 2:
            self.foreground.append(_element(
                "path", d=self._path(points), fill="none", stroke=color, stroke_width=width,
                stroke_dasharray=dash, stroke_linejoin="round", clip_path=self._clip_url()))
        if marker:
            self.markers(xs, ys, color, shape=marker)
        if points:
            self.has_data = True
            self._legend(label, color, "line", dash)

    def markers(self, xs, ys, color, label=None, shape="circle", filled=True, size=4.0):
        """Point markers: circle, square, or ring (a large hollow circle around a point)."""
        fill = "none" if shape == "ring" else color if filled else "white"
        drawable = self._drawable(xs, ys)
        for x, y in drawable:
            cx, cy = self.px(x, y)
            style = {"fill": fill, "stroke": color, "stroke_width": 2}
            if shape == "square":
                self.foreground.append(_element("rect", x=_f(cx - size), y=_f(cy - size),
                                                width=2 * size, height=2 * size, **style))
            else:
                radius = size * 2.2 if shape == "ring" else size
                self.foreground.append(_element("circle", cx=_f(cx), cy=_f(cy), r=radius,
                                                **style))
        if drawable:
            self.has_data = True
            self._legend(label, color, "ring" if shape == "ring" else "marker")

    def error_bars(self, xs, lows, highs, color, label=None):
        """Vertical intervals with caps: a value known to lie between low and high."""
        known = [(x, low, high) for x, low, high in zip(xs, lows, highs)
                 if None not in (x, low, high)]
        for x, low, high in known:
            (cx, y_low), (_, y_high) = self.px(x, max(low, self.y.lo)), self.px(x, high)
            d = (f"M{_f(cx - 5)},{_f(y_high)}h10M{_f(cx)},{_f(y_high)}V{_f(y_low)}"
                 f"M{_f(cx - 5)},{_f(y_low)}h10")
            self.foreground.append(_element("path", d=d, stroke=color, stroke_width=2.5,
                                            fill="none"))
        if known:
            self.has_data = True
            self._legend(label, color, "bar")

    def band(self, xs, lows, highs, color, label=None, opacity=0.18):
        """A shaded area between two curves (a confidence interval along the x axis)."""
        triples = [(x, lo, hi) for x, lo, hi in zip(xs, lows, highs)
                   if None not in (x, lo, hi) and (lo > 0 or not self.y.log)]
        if len(triples) < 2:
            return
        upper = [self.px(x, hi) for x, _, hi in triples]
        lower = [self.px(x, lo) for x, lo, _ in reversed(triples)]
        self.background.append(_element(
            "path", d=self._path(upper + lower) + "Z", fill=color, fill_opacity=opacity,
            stroke="none", clip_path=self._clip_url()))
        self.has_data = True
        self._legend(label, color, "band")

    def vline(self, x, color, label=None, dash="6 4"):
        if self.x.contains(x):
            cx, _ = self.px(x, self.y.lo)
            self.foreground.append(_element("line", x1=_f(cx), x2=_f(cx), y1=self.top,
                                            y2=self.bottom, stroke=color, stroke_width=1.5,
                                            stroke_dasharray=dash))
            self._legend(label, color, "line", dash)

    def hline(self, y, color, label=None, dash="6 4"):
        if self.y.contains(y):
            _, cy = self.px(self.x.lo, y)
            self.foreground.append(_element("line", x1=self.left, x2=self.left + self.plot_width,
                                            y1=_f(cy), y2=_f(cy), stroke=color,
                                            stroke_width=1.5, stroke_dasharray=dash))
            self._legend(label, color, "line", dash)

    def vspan(self, x0, x1, color, label=None, opacity=0.10):
        """A shaded vertical strip (e.g. a run's warm-up), clipped to the axis."""
        lo, hi = max(x0, self.x.lo), min(x1, self.x.hi)
        if hi <= lo:
            return
        (a, _), (b, _) = self.px(lo, self.y.lo), self.px(hi, self.y.lo)
        self.background.append(_element("rect", x=_f(a), y=self.top, width=_f(b - a),
                                        height=self.inner_height, fill=color,
                                        fill_opacity=opacity))
        self._legend(label, color, "band")

    def _clip_url(self):
        return f"url(#clip-{self.chart_id})"

    def _axes(self):
        """Grid, tick labels, frame, axis labels and title."""
        right = self.left + self.plot_width
        parts = []
        for value, text in self.x.ticks:
            cx = _f(self.px(value, self.y.lo)[0])
            parts.append(_element("line", class_="grid", x1=cx, x2=cx, y1=self.top,
                                  y2=self.bottom))
            parts.append(_element("text", text, class_="tick", x=cx, y=self.bottom + 16,
                                  text_anchor="middle"))
        for value, text in self.y.ticks:
            cy = self.px(self.x.lo, value)[1]
            parts.append(_element("line", class_="grid", x1=self.left, x2=right, y1=_f(cy),
                                  y2=_f(cy)))
            parts.append(_element("text", text, class_="tick", x=self.left - 6, y=_f(cy + 4),
                                  text_anchor="end"))
        parts.append(_element("rect", class_="frame", x=self.left, y=self.top,
                              width=self.plot_width, height=self.inner_height))
        parts.append(_element("text", self.x_label, class_="axis-label",
                              x=_f(self.left + self.plot_width / 2), y=self.bottom + 36,
                              text_anchor="middle"))
        y_mid = _f(self.top + self.inner_height / 2)
        parts.append(_element("text", self.y_label, class_="axis-label", x=14, y=y_mid,
                              text_anchor="middle", transform=f"rotate(-90 14 {y_mid})"))
        parts.append(_element("text", self.title, class_="chart-title", x=self.left, y=18))
        return parts

    @staticmethod
    def _legend_swatch(x, y, color, kind, dash):
        if kind == "line":
            return _element("line", x1=x, x2=x + 22, y1=y, y2=y, stroke=color, stroke_width=2,
                            stroke_dasharray=dash)
        if kind == "band":
            return _element("rect", x=x, y=y - 6, width=22, height=12, fill=color,
                            fill_opacity=0.25)
        if kind == "bar":
            return _element("path", d=f"M{x + 6},{y - 6}h10M{x + 11},{y - 6}v12M{x + 6},{y + 6}h10",
                            stroke=color, stroke_width=2.5, fill="none")
        return _element("circle", cx=x + 11, cy=y, r=5, fill="none" if kind == "ring" else color,
                        stroke=color, stroke_width=2)

    def _legend_rows(self):
        """Legend entries flowed left to right, wrapped at the chart's width."""
        rows, row, used = [], [], 0.0
        for entry in self.legend:
            item_width = 30 + CHAR_PX * len(entry[0]) + 14
            if row and used + item_width > self.width - 2 * MARGIN["right"]:
                rows.append(row)
                row, used = [], 0.0
            row.append((used, entry))
            used += item_width
        return rows + ([row] if row else [])

    def _legend_elements(self, rows):
        parts = []
        for r, row in enumerate(rows):
            y = self.plot_height + r * LEGEND_ROW_PX + 6
            for offset, (label, color, kind, dash) in row:
                x = MARGIN["right"] + offset
                parts.append(self._legend_swatch(x, y, color, kind, dash))
                parts.append(_element("text", label, class_="legend", x=_f(x + 28), y=y + 4))
        return parts

    def render(self):
        rows = self._legend_rows()
        height = self.plot_height + len(rows) * LEGEND_ROW_PX + (6 if rows else 0)
        clip = (f'<clipPath id="clip-{self.chart_id}">'
                + _element("rect", x=self.left, y=self.top, width=self.plot_width,
                           height=self.inner_height) + "</clipPath>")
        no_data = [] if self.has_data else [_element(
            "text", "no measured point", class_="axis-label", x=_f(self.left + self.plot_width / 2),
            y=_f(self.top + self.inner_height / 2), text_anchor="middle")]
        body = "\n".join([clip] + self.background + self._axes() + self.foreground + no_data
                         + self._legend_elements(rows))
        svg = _attrs(class_="chart", id=self.chart_id, viewBox=f"0 0 {self.width} {height}",
                     role="img", aria_label=self.title)
        return f"<svg {svg}><title>{html.escape(self.title)}</title>\n{body}\n</svg>"
