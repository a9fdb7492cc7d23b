#!/usr/bin/env python3
"""The cross-runtime table: one row per runtime and mode of a workload's sweeps.

    python3 scripts/peers_table.py DIR      (DIR/<runtime>/sweep.json, as scripts/sweep-peers
                                             writes them)

Prints a Markdown table: the throughput plateau (the best point, and at which pool size), the
measured knee (the smallest pool within 5% of the best, as loadgen's knee summary defines it)
beside the model's predicted knee P* (where the work has a CPU part), the p99 at the knee, the
server's CPU and context switches per request at the knee, and what that says about the
runtime's default pool size. Standard library only. Exit 1 when DIR holds no sweep.
"""

import json
import os
import sys

# Each runtime's default pool, as its documentation states it: (size or None, where it comes
# from). asyncio's is computed for the machine the sweep ran on (os.cpu_count() there).
DEFAULTS = {
    "ours": (10, "--pool-size default (Twisted's)"),
    "twisted": (10, "reactor.getThreadPool() max"),
    "asyncio": ("cpus+4", "ThreadPoolExecutor(): min(32, cpus + 4)"),
    "java": (None, "none: a ThreadPoolExecutor is sized by its code"),
    "node": (4, "UV_THREADPOOL_SIZE (libuv's pool; worker_threads have none)"),
}


def load(path):
    with open(path) as f:
        return json.load(f)


def point_at(sweep, mode, pool):
    for point in sweep["points"]:
        if point["mode"] == mode and point["pool_size"] == pool and point.get("result"):
            return point["result"]
    return None


def default_pool(runtime, cpus):
    size, source = DEFAULTS.get(runtime, (None, "unknown"))
    if size == "cpus+4":
        size = min(32, cpus + 4)
    return size, source


def verdict(mode, knee, best_pool, default):
    if mode == "inline":
        return "no pool: the loop thread does the work"
    if default is None:
        return f"no default; the knee is {knee}"
    if knee <= default:
        return f"default {default} >= knee {knee}: enough"
    return f"default {default} < knee {knee}: too small (best at {best_pool})"


def rows(root):
    for runtime in sorted(os.listdir(root)):
        path = os.path.join(root, runtime, "sweep.json")
        if not os.path.isfile(path):
            continue
        sweep = load(path)
        cpus = os.cpu_count() or 1
        default, _ = default_pool(runtime, cpus)
        for mode, knee in sorted(sweep.get("knee", {}).items()):
            pool = knee.get("measured_knee_pool")
            run = point_at(sweep, mode, pool) if pool else None
            server = (run or {}).get("resources", {}).get("server") or {}
            p99 = (run or {}).get("latency_us", {}).get("p99")
            predicted = knee.get("predicted_knee_pool")
            yield {
                "runtime": runtime, "mode": mode,
                "plateau": f"{knee['best_throughput_rps']:.0f} @ {knee['best_pool']}",
                "knee": f"{pool}" + (f" (P* {predicted:.1f})" if predicted else ""),
                "p99": f"{p99 / 1000:.1f}" if p99 is not None else "-",
                "cpu": f"{server['cpu_us_per_request']:.0f}"
                       if server.get("cpu_us_per_request") is not None else "-",
                "cs": f"{server['context_switches_per_request']:.1f}"
                      if server.get("context_switches_per_request") is not None else "-",
                "default": verdict(mode, pool or 0, knee["best_pool"], default),
            }


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: peers_table.py DIR (DIR/<runtime>/sweep.json)\n")
        return 2
    table = list(rows(argv[1]))
    if not table:
        sys.stderr.write(f"peers_table.py: no <runtime>/sweep.json under {argv[1]}\n")
        return 1
    print("| runtime | mode | plateau req/s @ pool | knee (pool) | p99 at knee ms "
          "| server CPU us/req | switches/req | default pool |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['runtime']} | {r['mode']} | {r['plateau']} | {r['knee']} | {r['p99']} "
              f"| {r['cpu']} | {r['cs']} | {r['default']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
