"""The modules behind scripts/plot.py and scripts/report.py (plot.py's command line and the
names the tests use are in plot.py; see its docstring for the charts). compare.py imports
``plotting.results`` directly, and ``plotting.common`` only when it draws.

* ``hdr``: HdrHistogram V2 decoding;
* ``results``: sweep/run JSON -> Point and ResultSet records;
* ``model``: the knees and the model curves the charts mark;
* ``common``: figure layout, caption, axes shared by every chart;
* ``pool_charts``: throughput, latency and CPU against pool size;
* ``db_charts``: the database behind the server (its CPU, the errors by kind) against pool size;
* ``run_charts``: spectrum, timeline, decomposition, queue depth;
* ``bench``: Google Benchmark bars;
* ``svg``, ``report_data``, ``report_charts``, ``report_sections``, ``report_page``: the
  HTML report of scripts/report.py (inline SVG charts; no matplotlib).

Importing the package imports nothing; every module loads with the standard library alone
(matplotlib is imported inside the chart functions), so ``from plotting.results import ...``
works without matplotlib.
"""
