"""Tests for scripts/db, the private MariaDB, against a real mariadbd on loopback.

Run: /usr/bin/python3 -m unittest discover -s tests/scripts -p test_db.py -v
Each test uses its own temporary --dir (so its own data directory) and a port the script picks
as free. Every server a test started is stopped in tearDown by the pid scripts/db recorded.
The tests skip, saying why, when MariaDB's server or client programs are not installed.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DB = os.path.join(ROOT, "scripts", "db")
SEARCH_PATH = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/usr/local/sbin"
NEEDED = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin")
MISSING = [p for p in NEEDED if shutil.which(p, path=SEARCH_PATH) is None]
URL = re.compile(r"^mysql://poolbench@127\.0\.0\.1:(\d+)/poolbench$")
ROWS = 1000
STOP_TIMEOUT_S = 30


def process_alive(pid):
    """True while the process exists and is not a zombie (its new parent may reap it late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@unittest.skipIf(MISSING, f"MariaDB is not installed (missing {', '.join(MISSING)}): "
                          "run scripts/install-deps")
class DbScriptTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="poolbench-db-")
        self.instance = os.path.join(self.dir, "instance")
        self.seen_pids = set()

    def tearDown(self):
        self.seen_pids.add(self.recorded_pid())
        for pid in filter(None, self.seen_pids):
            self.stop_by_pid(pid)
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop_by_pid(self, pid):
        """SIGTERM (SIGKILL after 30 s) to a mariadbd of this test's --dir, and nothing else."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                ours = f"--datadir={self.instance}/data".encode() in f.read().split(b"\0")
        except FileNotFoundError:
            return
        if not ours or not process_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, STOP_TIMEOUT_S):
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 10)

    def db(self, command, *flags, directory=None):
        result = subprocess.run([DB, command, "--dir", directory or self.instance, *flags],
                                capture_output=True, text=True, timeout=120)
        return result

    def start(self, *flags):
        result = self.db("start", *flags)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.seen_pids.add(self.recorded_pid())
        return result.stdout

    def recorded_pid(self):
        try:
            with open(os.path.join(self.instance, "mysqld.pid")) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def db_json(self):
        with open(os.path.join(self.instance, "db.json")) as f:
            return json.load(f)

    def query(self, port, statement):
        """One statement as user poolbench over TCP (not the socket), result as text."""
        result = subprocess.run(
            ["mariadb", "--no-defaults", "--host=127.0.0.1", f"--port={port}", "--user=poolbench",
             "--batch", "--skip-column-names", "--connect-timeout=5", "poolbench",
             "-e", statement], capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip()

    def test_start_prints_the_url_alone_and_seeds_the_asked_rows(self):
        stdout = self.start("--rows", str(ROWS))
        lines = stdout.splitlines()
        self.assertEqual(len(lines), 1, stdout)
        port = int(URL.match(lines[0]).group(1))
        self.assertEqual(self.query(port, "SELECT COUNT(*), MIN(id), MAX(id), SUM(n) FROM kv"),
                         f"{ROWS}\t1\t{ROWS}\t0")
        self.assertEqual(self.query(port, "SELECT v = MD5(42) FROM kv WHERE id = 42"), "1")
        info = self.db_json()
        self.assertEqual(info["schema"], "poolbench.db/1")
        self.assertEqual((info["url"], info["port"], info["rows"]), (lines[0], port, ROWS))
        self.assertEqual(info["pid"], self.recorded_pid())
        # Its own session: a signal to the caller's process group does not reach it.
        self.assertEqual(os.getsid(info["pid"]), info["pid"])

    def test_start_again_is_idempotent(self):
        first = self.start("--rows", str(ROWS))
        pid = self.recorded_pid()
        self.assertEqual(self.start("--rows", str(ROWS)), first)
        self.assertEqual(self.recorded_pid(), pid)

    def test_status_is_0_while_running_and_3_after_stop(self):
        url = self.start("--rows", str(ROWS)).strip()
        status = self.db("status")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertEqual(status.stdout.strip(), f"{url} pid {self.recorded_pid()}")
        pid = self.recorded_pid()
        self.assertEqual(self.db("stop").returncode, 0)
        self.assertFalse(process_alive(pid))
        self.assertEqual(self.db("status").returncode, 3)
        self.assertEqual(self.db("stop").returncode, 0, "stop when nothing runs")

    def test_start_after_sigkill_comes_back_on_the_same_port_with_the_data(self):
        url = self.start("--rows", str(ROWS)).strip()
        port = int(URL.match(url).group(1))
        self.query(port, "UPDATE kv SET n = 5 WHERE id = 7")
        pid = self.recorded_pid()
        os.kill(pid, signal.SIGKILL)
        self.assertTrue(wait_gone(pid, 10))
        self.assertEqual(self.db("status").returncode, 3)
        self.assertEqual(self.start().strip(), url)
        self.assertNotEqual(self.recorded_pid(), pid)
        self.assertEqual(self.query(port, "SELECT n FROM kv WHERE id = 7"), "5")
        self.assertEqual(self.query(port, "SELECT COUNT(*) FROM kv"), str(ROWS))

    def test_set_passes_server_variables(self):
        # MariaDB raises a max_connections below 10 to 10, so 12 is asked to see it unchanged.
        self.start("--rows", str(ROWS), "--set", "max_connections=12",
                   "--set", "innodb_lock_wait_timeout=3")
        info = self.db_json()
        self.assertEqual((info["max_connections"], info["innodb_lock_wait_timeout"]), (12, 3))

    def test_a_directory_not_ours_is_refused(self):
        foreign = os.path.join(self.dir, "foreign")
        os.mkdir(foreign)
        with open(os.path.join(foreign, "notes.txt"), "w") as f:
            f.write("someone else's\n")
        result = self.db("start", directory=foreign)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("not made by scripts/db", result.stderr)
        self.assertEqual(os.listdir(foreign), ["notes.txt"])

    def test_a_port_taken_by_another_listener_is_refused(self):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]
            result = self.db("start", "--port", str(port), "--rows", str(ROWS))
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"port {port}", result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertIsNone(self.recorded_pid())


if __name__ == "__main__":
    unittest.main()
