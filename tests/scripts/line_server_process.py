"""Test support for tests/scripts: one line server (a peer, or ours) started for real on
--port 0. Its port comes from its first stderr line ("listening on HOST:PORT"), which every
server of this project prints first; SIGTERM stops it."""

import os
import signal
import subprocess
import tempfile
import time


class LineServerProcess:
    def __init__(self, command, *flags, timeout=10):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([*command, "--port", "0", *flags],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.port = self._wait_for_port(timeout)

    def _wait_for_port(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            first = self.stderr_text().split("\n", 1)
            if len(first) == 2:
                prefix = "listening on 127.0.0.1:"
                if not first[0].startswith(prefix):
                    raise AssertionError(f"unexpected first stderr line: {first[0]!r}")
                return int(first[0][len(prefix):])
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}: "
                                     f"{self.stderr_text()}")
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"server did not print its port within {timeout} s")

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def cpu_seconds(self):
        """User + system CPU time of the process so far (/proc, clock-tick resolution)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout=15):
        """SIGTERM, then SIGKILL if it does not exit; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
