#!/usr/bin/env python3
"""A stand-in for loadgen in tests/scripts/test_search_fidelity.py, so that the script's tests
take seconds, not the minutes of a real search: `run` writes a poolbench.run/1 excerpt with a median of 10250 us, `search` a
poolbench.search/1 document whose capacity is $FAKE_LOADGEN_CAPACITY ([low, high]). Each call
first sends the target one line (so the server must be up) and appends its argv, port and
whether the server answered to $FAKE_LOADGEN_LOG."""
import json
import os
import socket
import sys


def server_answers(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"ping\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = connection.recv(64)
            if not chunk:
                break
            reply += chunk
    return reply == b"ack:ping\r\n"


def main():
    argv = sys.argv[1:]
    port = int(argv[argv.index("--target") + 1].rsplit(":", 1)[1])
    answered = server_answers(port)
    with open(os.environ["FAKE_LOADGEN_LOG"], "a") as log:
        log.write(json.dumps({"argv": argv, "port": port, "server_answered": answered}) + "\n")
    if argv[0] == "run":
        doc = {"schema": "poolbench.run/1", "completed": 100, "errors": {"total": 0},
               "latency_us": {"count": 100, "p50": 10250, "mean": 10270.0, "p99": 10900}}
    else:
        low, high = json.loads(os.environ["FAKE_LOADGEN_CAPACITY"])
        doc = {"schema": "poolbench.search/1", "outcome": "found",
               "message": "capacity between %g and %g req/s" % (low, high),
               "capacity": {"low_rps": low, "high_rps": high}, "best_achieved_rps": high,
               "probes": [], "cost": {"probes": 0, "trials": 0, "wall_s": 0.0}}
    with open(argv[argv.index("--json") + 1], "w") as out:
        json.dump(doc, out)
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main())
