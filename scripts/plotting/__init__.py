"""The modules behind scripts/plot.py (its command line and the names compare.py and the tests
use are in plot.py; see its docstring for the charts).

* ``hdr``: HdrHistogram V2 decoding;
* ``results``: sweep/run JSON -> Point and ResultSet records;
* ``model``: the knees and the model curves the charts mark;
* ``common``: figure layout, caption, axes shared by every chart;
* ``pool_charts``: throughput, latency and CPU against pool size;
* ``run_charts``: spectrum, timeline, decomposition, queue depth;
* ``bench``: Google Benchmark bars.

Everything but the chart functions runs on the standard library alone.
"""
