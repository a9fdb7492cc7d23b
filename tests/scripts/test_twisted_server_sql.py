"""Tests for the sql: work parts of scripts/twisted_server.py (scripts/twisted_server_sql.py).

Run: /usr/bin/python3 -m unittest discover tests/scripts -p test_twisted_server_sql.py
The parser and the per-thread connection logic are tested without a database; the server itself
against a real MariaDB that scripts/db starts in a temporary directory. Those tests skip, saying
why, without Twisted or MySQLdb (python3-twisted, python3-mysqldb) for the server's interpreter,
or without mariadbd (mariadb-server).
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from test_twisted_server import MODES, PYTHON, ROOT, SERVER, Server

DB_SCRIPT = os.path.join(ROOT, "scripts", "db")
URL_ERROR = ("bad --db URL '{}': expected "
             "mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?socket=PATH]")


def load_server_module():
    spec = importlib.util.spec_from_file_location("twisted_server", SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # stdlib only at import time: no Twisted, no MySQLdb
    return module


server_module = load_server_module()
sql = server_module.sql  # scripts/twisted_server_sql.py


def server_skip_reason():
    if PYTHON is None:
        return "Twisted is not installed: install python3-twisted (Debian) or pip install twisted"
    if subprocess.run([PYTHON, "-c", "import MySQLdb"], capture_output=True).returncode != 0:
        return f"MySQLdb is not installed for {PYTHON}: install python3-mysqldb (Debian)"
    return None


def database_skip_reason():
    if not (shutil.which("mariadbd") or os.path.exists("/usr/sbin/mariadbd")):
        return "mariadbd is not installed: install mariadb-server (Debian)"
    if not os.path.exists(DB_SCRIPT):
        return "scripts/db is not in this checkout"
    return server_skip_reason()


SERVER_SKIP = server_skip_reason()
DATABASE_SKIP = database_skip_reason()


def send_lines(port, lines, timeout=15):
    """Sends each line on one connection, waiting for its reply; returns the replies (bytes).
    Then checks that nothing more arrives: each request gets exactly one reply."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        reader = sock.makefile("rb")
        for line in lines:
            sock.sendall(line + b"\r\n")
            reply = reader.readline()
            if not reply.endswith(b"\r\n"):
                raise AssertionError(f"connection closed, no reply to {line!r}")
            replies.append(reply[:-2])
        sock.settimeout(0.2)
        try:
            extra = sock.recv(4096)
        except socket.timeout:
            extra = b""
        if extra:
            raise AssertionError(f"a reply too many: {extra!r}")
    return replies


def last_sql_stats(server, until=lambda stats: True, timeout=5):
    """The newest STATS line's dict once `until` holds for it (the server runs with
    --stats-interval)."""
    deadline = time.monotonic() + timeout
    stats = None
    while time.monotonic() < deadline:
        lines = [line for line in server.stderr_text().splitlines() if line.startswith("STATS ")]
        if lines:
            stats = json.loads(lines[-1][len("STATS "):])
            if until(stats):
                return stats
        time.sleep(0.05)
    raise AssertionError(f"no STATS line as expected within {timeout} s; last: {stats}")


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeMySQLdb:
    """MySQLdb as Database uses it: connect(), cursor().execute/fetchall/close, Error(errno,
    message). `failures` are raised, in turn, by the next executes."""

    class Error(Exception):
        pass

    def __init__(self):
        self.statements = []
        self.connects = 0
        self.failures = []

    def connect(self, **_):
        self.connects += 1
        return self

    def cursor(self):
        return self

    def execute(self, statement):
        if self.failures:
            raise self.failures.pop(0)
        self.statements.append(statement)

    def fetchall(self):
        return ()

    def close(self):
        pass


class SqlPartTest(unittest.TestCase):
    """What needs no database: the URL, the error kinds, the keys and the connection's life."""

    def test_db_url(self):
        self.assertEqual(sql.parse_db_url("mysql://poolbench@127.0.0.1:3307/poolbench"),
                         {"host": "127.0.0.1", "port": 3307, "user": "poolbench",
                          "db": "poolbench"})
        self.assertEqual(sql.parse_db_url("mysql://u:secret@localhost/d?socket=/tmp/m.sock"),
                         {"host": "localhost", "port": 3306, "user": "u", "passwd": "secret",
                          "db": "d", "unix_socket": "/tmp/m.sock"})
        for bad in ("mysql://h/d", "mysql://u@h:0/d", "mysql://u@h:65536/d", "mysql://u@h/",
                    "postgres://u@h/d", "mysql://u@h:x/d", "mysql://u@h/d?sock=/s"):
            with self.subTest(url=bad):
                with self.assertRaises(ValueError) as raised:
                    sql.parse_db_url(bad)
                self.assertEqual(str(raised.exception), URL_ERROR.format(bad))

    def test_error_kinds_and_which_drop_the_connection(self):
        kinds = {2003: "cannot_connect", 1045: "access_denied", 1040: "too_many_connections",
                 1203: "too_many_connections", 2013: "connection_lost",
                 1927: "connection_lost", 1205: "lock_wait_timeout", 1213: "deadlock",
                 1064: "statement", 2014: "client", 0: "client"}
        for errno, kind in kinds.items():
            self.assertEqual(sql.error_kind(errno), kind, errno)
        self.assertEqual([errno for errno in (1053, 1064, 1205, 1927, 2006, 2014, 4031, 0)
                          if sql.drops_connection(errno)], [1053, 1927, 2006, 2014, 4031, 0])

    def test_each_placeholder_is_drawn_once_per_request(self):
        fake = FakeMySQLdb()
        database = sql.Database(fake, {}, db_keys=5, seed=1)
        spec = self.parse("sql:SELECT {rand},{rand:3},{rand}+sql:SELECT {rand:3},{rand}")
        for _ in range(200):
            spec.run(None, database)
        keys = [tuple(int(key) for key in statement[len("SELECT "):].split(","))
                for statement in fake.statements]
        for first, second in zip(keys[0::2], keys[1::2]):
            self.assertEqual(first[0], first[2])  # {rand} twice: one key
            self.assertEqual(second, (first[1], first[0]))  # and the same in the next part
        self.assertEqual({first[0] for first in keys[0::2]}, {1, 2, 3, 4, 5})  # --db-keys 5
        self.assertEqual({first[1] for first in keys[0::2]}, {1, 2, 3})
        self.assertEqual(fake.connects, 1)  # one thread, one connection, kept

    def test_a_lost_connection_is_reopened_by_the_next_task(self):
        fake = FakeMySQLdb()
        database = sql.Database(fake, {}, db_keys=5, seed=1)
        part = self.parse("sql:SELECT 1").parts[0]
        fake.failures = [fake.Error(1064, "syntax"), fake.Error(2013, "Lost connection")]
        for expected in ("sql 1064: syntax", "sql 2013: Lost connection"):
            with self.assertRaises(sql.SqlError) as raised:
                database.execute(part, {})
            self.assertEqual(str(raised.exception), expected)
        database.execute(part, {})
        stats = database.stats()
        self.assertEqual(fake.connects, 2)  # kept after the statement error, not after 2013
        self.assertEqual((stats["connects"], stats["connections_open"], stats["statements"]),
                         (2, 1, 1))
        self.assertEqual({kind: n for kind, n in stats["errors"].items() if n},
                         {"statement": 1, "connection_lost": 1})

    @staticmethod
    def parse(text):
        return server_module.WorkSpec.parse(text)


@unittest.skipIf(SERVER_SKIP, SERVER_SKIP)
class SqlFlagsTest(unittest.TestCase):
    def run_server(self, *flags):
        return subprocess.run([PYTHON, SERVER, "--port", "0", *flags],
                              capture_output=True, text=True, timeout=20)

    def test_sql_work_needs_a_good_db_url(self):
        without_db = self.run_server("--work", "sql:point-read")
        self.assertEqual(without_db.returncode, 2)
        self.assertTrue(without_db.stderr.endswith(
            "error: --work has sql: parts: give --db mysql://...\n"), without_db.stderr)
        bad_url = self.run_server("--work", "sql:point-read", "--db", "mysql://u@h:0/d")
        self.assertEqual(bad_url.returncode, 2)
        self.assertTrue(bad_url.stderr.endswith(URL_ERROR.format("mysql://u@h:0/d") + "\n"),
                        bad_url.stderr)

    def test_an_unreachable_database_is_a_warning_then_err_replies(self):
        # The socket's name holds a '|': the reply's error text has it as '/', as
        # reference_server writes it, so the reply still splits at its first '|'.
        for url, error in ((f"mysql://poolbench@127.0.0.1:{closed_port()}/poolbench",
                            rb"Can't connect to server on '127\.0\.0\.1' \([0-9]+\)"),
                           ("mysql://poolbench@localhost/poolbench?socket=/nonexistent/a|b",
                            rb"Can't connect to local server through socket "
                            rb"'/nonexistent/a/b' \(2\)")):
            with self.subTest(url=url):
                server = Server("--work", "sql:point-read", "--mode", "inline", "--db", url)
                self.addCleanup(server.stderr.close)
                self.addCleanup(server.stop)
                replies = send_lines(server.port, [b"u1", b"u2"])
                for reply, line in zip(replies, (b"u1", b"u2")):
                    self.assertRegex(reply, b"^err:sql 2002: " + error + rb"\|" + line + b"$")
                self.assertIn("warning: cannot check the sql statements", server.stderr_text())
                self.assertEqual(server.stop(), 0)


@unittest.skipIf(DATABASE_SKIP, DATABASE_SKIP)
class MariaDbTest(unittest.TestCase):
    """The server against a real MariaDB (scripts/db, 1000 rows), one for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="poolbench-sql-test-")
        cls.url = cls.db("start", "--rows", "1000")

    @classmethod
    def tearDownClass(cls):
        cls.db("stop")
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def db(cls, command, *flags):
        result = subprocess.run([DB_SCRIPT, command, "--dir", cls.tmp, *flags], cwd=ROOT,
                                capture_output=True, text=True, timeout=90)
        if result.returncode != 0:
            raise AssertionError(f"scripts/db {command} failed: {result.stderr}")
        return result.stdout.strip()

    def start(self, *flags):
        server = Server("--db", self.url, "--db-keys", "1000", "--stats-interval", "0.05",
                        *flags)
        self.addCleanup(server.stderr.close)
        self.addCleanup(server.stop)
        return server

    def query(self, statement):
        """The rows of one statement, run by MySQLdb in the server's interpreter."""
        program = ("import json, sys, MySQLdb\n"
                   "connection = MySQLdb.connect(**json.loads(sys.argv[1]))\n"
                   "cursor = connection.cursor()\n"
                   "cursor.execute(sys.argv[2])\n"
                   "print(json.dumps([[str(v) for v in row] for row in cursor.fetchall()]))\n")
        result = subprocess.run([PYTHON, "-c", program, json.dumps(sql.parse_db_url(self.url)),
                                 statement], capture_output=True, text=True, timeout=20)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_point_read_acks_in_every_mode(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                server = self.start("--mode", mode, "--pool-size", "2", "--work", "sql:point-read")
                self.assertEqual(send_lines(server.port, [b"r1", b"r2", b"r3"]),
                                 [b"ack:r1", b"ack:r2", b"ack:r3"])
                stats = last_sql_stats(server, lambda s: s["sql"]["statements"] == 3)
                # One connection per thread that ran work, kept: the reactor's, or each pool
                # thread's (each was made for a task).
                threads = 1 if mode == "inline" else stats["threads_created"]
                self.assertEqual((stats["sql"]["connects"], stats["sql"]["connections_open"]),
                                 (threads, threads))
                self.assertEqual(server.stop(), 0)

    def test_a_statement_the_database_rejects_exits_2_at_start(self):
        for statement, error in (("SELEC v FROM kv", "1064: You have an error in your SQL syntax"),
                                 ("SELECT v FROM missing WHERE id={rand}",
                                  "1146: Table 'poolbench.missing' doesn't exist")):
            with self.subTest(statement=statement):
                result = subprocess.run([PYTHON, SERVER, "--port", "0", "--db", self.url,
                                         "--work", f"sql:{statement}"],
                                        capture_output=True, text=True, timeout=20)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(error, result.stderr)
                self.assertNotIn("listening on", result.stderr)

    def test_hot_update_adds_one_per_request(self):
        def hot_rows_total():
            return int(self.query("SELECT SUM(n) FROM kv WHERE id <= 8")[0][0])

        before = hot_rows_total()
        server = self.start("--mode", "call-in-thread", "--pool-size", "4",
                            "--work", "sql:hot-update")
        clients = [threading.Thread(target=send_lines, args=(server.port, [b"h"] * 50))
                   for _ in range(4)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(30)
        stats = last_sql_stats(server, lambda s: s["replies"] + s["errors"] == 200)
        self.assertEqual((stats["replies"], stats["sql"]["statements"]), (200, 200))
        self.assertEqual(hot_rows_total() - before, 200)

    def test_a_stopped_database_gives_err_replies_until_it_is_back(self):
        servers = {mode: self.start("--mode", mode, "--pool-size", "2", "--work",
                                    "sql:point-read") for mode in MODES}
        for server in servers.values():
            self.assertEqual(send_lines(server.port, [b"up"]), [b"ack:up"])
        self.db("stop")
        try:
            for mode, server in servers.items():
                with self.subTest(mode=mode, database="stopped"):
                    replies = send_lines(server.port, [b"d1", b"d2", b"d3", b"d4"])
                    for reply, line in zip(replies, (b"d1", b"d2", b"d3", b"d4")):
                        self.assertRegex(reply, rb"^err:sql [0-9]+: .*\|" + line + rb"$")
        finally:
            self.db("start", "--rows", "1000")
        for mode, server in servers.items():
            with self.subTest(mode=mode, database="started again"):
                # A pool thread that ran no task while it was down still holds a dead
                # connection: its next task fails once, and reconnects on the one after.
                replies = send_lines(server.port, [b"b%d" % i for i in range(8)])
                self.assertEqual(replies[-4:], [b"ack:b4", b"ack:b5", b"ack:b6", b"ack:b7"])
                errors = last_sql_stats(server)["sql"]["errors"]
                self.assertGreater(errors["cannot_connect"] + errors["connection_lost"], 0)

    def test_a_pool_over_max_connections_gets_counted_errors_not_a_hang(self):
        self.db("stop")
        self.addCleanup(self.db, "start", "--rows", "1000")
        self.addCleanup(self.db, "stop")
        self.db("start", "--rows", "1000", "--set", "max_connections=4")
        # MariaDB raises max_connections to at least 10: go over what it took.
        with open(os.path.join(self.tmp, "db.json")) as f:
            limit = json.load(f)["max_connections"]
        clients = limit + 4
        server = self.start("--mode", "call-in-thread", "--pool-size", str(clients),
                            "--work", "sql:SELECT SLEEP(0.05)")
        replies = []
        barrier = threading.Barrier(clients)

        def client(i):
            barrier.wait(timeout=10)
            replies.extend(send_lines(server.port, [b"c%d" % i] * 5))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(len(replies), clients * 5)  # every request answered
        refused = [reply for reply in replies if reply.startswith(b"err:")]
        self.assertTrue(refused, "no request was refused a connection")
        for reply in refused:
            self.assertRegex(reply, rb"^err:sql 1040: Too many connections\|c[0-9]+$")
        stats = last_sql_stats(server, lambda s: s["replies"] + s["errors"] == clients * 5)
        self.assertEqual(stats["sql"]["errors"]["too_many_connections"], len(refused))
        self.assertLessEqual(stats["sql"]["connections_open"], limit)


if __name__ == "__main__":
    unittest.main()
