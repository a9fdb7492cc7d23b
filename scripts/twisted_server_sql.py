"""The ``sql:`` work parts of twisted_server.py: their grammar, and running them on MariaDB/MySQL.

Kept apart from twisted_server.py so that the server stays one readable file; stdlib only at
import time. MySQLdb (Debian's python3-mysqldb, under /usr/bin/python3) is imported by
``import_mysqldb`` only when a spec has sql parts.

Threading: ``Database.execute`` runs on whichever thread runs the work (the reactor thread in
inline mode, a pool thread otherwise). Each such thread owns its connection and its key RNG in a
``threading.local``; nothing else touches them. The counters are shared by all threads and the
reactor thread (which reads them for the STATS line), so every access holds ``Database._lock``.
MySQLdb releases the GIL inside its blocking calls (connect, query, reading the result), so
threads waiting on the database do not hold up the reactor or each other.
"""

import random
import re
import sys
import threading

SQL_PREFIX = "sql:"
NAMED_STATEMENTS = {
    "point-read": "SELECT v FROM kv WHERE id={rand}",
    "hot-update": "UPDATE kv SET n=n+1 WHERE id={rand:8}",
    "range-scan": "SELECT COUNT(*),SUM(n) FROM kv WHERE id BETWEEN {rand} AND {rand}+9999",
    "sleep-10ms": "SELECT SLEEP(0.01)",
}
MAX_KEY = 2147483647
_RAND_RE = re.compile(r"\{rand(?::([0-9]+))?\}")

URL_SHAPE = "mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?socket=PATH]"
_URL_RE = re.compile(r"mysql://(?P<user>[^:@/?]+)(?::(?P<password>[^@/?]*))?"
                     r"@(?P<host>[^:@/?]+)(?::(?P<port>[0-9]{1,5}))?"
                     r"/(?P<database>[^/?]+)(?:\?socket=(?P<socket>.+))?")
DEFAULT_PORT = 3306
CONNECT_TIMEOUT_S = 2
READ_WRITE_TIMEOUT_S = 10

# The error kinds of the "sql" counters, by errno (client errors are >= 2000).
ERROR_KINDS = ("cannot_connect", "access_denied", "too_many_connections", "connection_lost",
               "lock_wait_timeout", "deadlock", "statement", "client")
_KIND_BY_ERRNO = {
    2002: "cannot_connect", 2003: "cannot_connect", 2005: "cannot_connect",
    1044: "access_denied", 1045: "access_denied", 1698: "access_denied",
    1040: "too_many_connections", 1203: "too_many_connections",
    2006: "connection_lost", 2013: "connection_lost", 2055: "connection_lost",
    1053: "connection_lost", 1927: "connection_lost", 4031: "connection_lost",
    1205: "lock_wait_timeout", 1213: "deadlock",
}
# Server errors after which the session is gone: shutdown, killed, idle timeout.
_SESSION_GONE_ERRNOS = (1053, 1927, 4031)
FIRST_CLIENT_ERRNO = 2000
# "This command is not supported in the prepared statement protocol yet": such a statement
# cannot be checked at start, only run.
_NOT_PREPARABLE_ERRNO = 1295
# MySQLdb raises a few errors of its own (e.g. InterfaceError on a closed connection) without a
# database errno; they are reported as errno 0 and treated as client errors.
NO_ERRNO = 0


class BadSqlPart(Exception):
    """What is wrong with an sql part; the caller adds which spec and which part."""


def error_kind(errno):
    if errno in _KIND_BY_ERRNO:
        return _KIND_BY_ERRNO[errno]
    return "statement" if 0 < errno < FIRST_CLIENT_ERRNO else "client"


def drops_connection(errno):
    """After these the connection is closed and the thread's next sql task opens a new one."""
    return not 0 < errno < FIRST_CLIENT_ERRNO or errno in _SESSION_GONE_ERRNOS


def is_sql_piece(piece):
    return piece.startswith(SQL_PREFIX)


def _placeholder_error(text):
    return BadSqlPart(f"unknown placeholder '{text}' (expected {{rand}} or {{rand:N}}, "
                      f"N from 1 to {MAX_KEY})")


def _split_statement(statement):
    """'id={rand}+{rand:8}' -> ['id=', None, '+', 8, '']: text, then a placeholder's key limit
    (None: --db-keys), alternately. Raises BadSqlPart at the first unknown placeholder."""
    segments = []
    start = 0
    while (opening := statement.find("{", start)) != -1:
        segments.append(statement[start:opening])
        closing = statement.find("}", opening)
        placeholder = statement[opening:] if closing == -1 else statement[opening:closing + 1]
        match = _RAND_RE.fullmatch(placeholder)
        limit = None if match is None or match[1] is None else int(match[1])
        if match is None or (limit is not None and not 1 <= limit <= MAX_KEY):
            raise _placeholder_error(placeholder)
        segments.append(limit)
        start = closing + 1
    segments.append(statement[start:])
    return segments


class SqlPart:
    """sql:STATEMENT or sql:NAME: one statement, run on the thread's connection. Its model costs
    (cpu, blocking) are unknown, so 0 in the means; calibration measures them."""

    kind = "sql"

    def __init__(self, name, statement):
        self.name = name  # a NAMED_STATEMENTS key, or None for a statement given as is
        self.statement = statement
        self._segments = _split_statement(statement)

    @classmethod
    def parse(cls, text):
        """text is a whole piece, 'sql:...'. Raises BadSqlPart."""
        body = text[len(SQL_PREFIX):]
        if not body:
            raise BadSqlPart(f"no statement after '{SQL_PREFIX}'")
        if body in NAMED_STATEMENTS:
            return cls(body, NAMED_STATEMENTS[body])
        return cls(None, body)

    def mean_nanoseconds(self):
        return 0

    def render(self, key_for_limit):
        """The statement with each placeholder replaced by key_for_limit(limit)."""
        return "".join(str(key_for_limit(segment)) if i % 2 else segment
                       for i, segment in enumerate(self._segments))


def parse_db_url(url):
    """MySQLdb.connect keyword arguments for --db; raises ValueError with the flag's message."""
    match = _URL_RE.fullmatch(url)
    port = int(match["port"]) if match and match["port"] else DEFAULT_PORT
    if match is None or not 1 <= port <= 65535:
        raise ValueError(f"bad --db URL '{url}': expected {URL_SHAPE}")
    connect = {"host": match["host"], "port": port, "user": match["user"],
               "db": match["database"]}
    if match["password"] is not None:
        connect["passwd"] = match["password"]
    if match["socket"] is not None:
        connect["unix_socket"] = match["socket"]
    return connect


def import_mysqldb():
    try:
        import MySQLdb
    except ImportError as e:
        sys.stderr.write(
            f"twisted_server.py: --work has sql: parts but MySQLdb cannot be imported ({e}) "
            f"with {sys.executable}.\n"
            "  install python3-mysqldb (Debian) and run this script with /usr/bin/python3\n")
        sys.exit(2)
    return MySQLdb


def open_database(statements, connect_args, db_keys, seed):
    """(Database, warning) for a spec's sql statements, after checking them (Database.check);
    exits 2 when the database refuses one. (None, None) without statements, and MySQLdb is not
    imported."""
    if not statements:
        return None, None
    database = Database(import_mysqldb(), connect_args, db_keys, seed)
    try:
        return database, database.check(statements)
    except StatementRejected as e:
        sys.stderr.write(f"twisted_server.py: error: {e}\n")
        sys.exit(2)


class SqlError(Exception):
    """A database error as the reply shows it: 'sql <errno>: <message>'."""

    def __init__(self, errno, message):
        super().__init__(f"sql {errno}: {message}")
        self.errno = errno


class StatementRejected(Exception):
    """The start check: the database refuses a statement of --work."""


def _errno_and_message(error):
    args = error.args
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    return NO_ERRNO, str(error) or type(error).__name__


class Database:
    """The connections of the threads that run work, and the "sql" counters."""

    def __init__(self, mysqldb, connect_args, db_keys, seed):
        self._mysqldb = mysqldb
        self._connect_args = dict(connect_args, connect_timeout=CONNECT_TIMEOUT_S,
                                  read_timeout=READ_WRITE_TIMEOUT_S,
                                  write_timeout=READ_WRITE_TIMEOUT_S, charset="utf8mb4",
                                  autocommit=None)  # None: the server's default, on
        self._db_keys = db_keys
        self._seed = seed
        self._thread = threading.local()  # .connection, .keys (the thread's RNG)
        self._lock = threading.Lock()
        self._threads_seen = 0
        self._counts = {"connects": 0, "connect_failures": 0, "connections_open": 0,
                        "statements": 0}
        self._errors = dict.fromkeys(ERROR_KINDS, 0)

    def stats(self):
        with self._lock:
            return dict(self._counts, errors=dict(self._errors))

    def check(self, statements):
        """Prepares (does not run) each statement on a connection of its own, not counted.
        Returns None, or a warning when the database cannot be reached; raises
        StatementRejected when the database refuses a statement."""
        try:
            connection = self._mysqldb.connect(**self._connect_args)
        except self._mysqldb.Error as e:
            return self._unreachable_warning(e)
        try:
            cursor = connection.cursor()
            for statement in statements:
                try:
                    cursor.execute("PREPARE poolbench_check FROM %s", (statement,))
                except self._mysqldb.Error as e:
                    errno, message = _errno_and_message(e)
                    if drops_connection(errno):
                        return self._unreachable_warning(e)
                    if errno != _NOT_PREPARABLE_ERRNO:
                        raise StatementRejected(
                            f"the database rejects the statement '{statement}': "
                            f"{errno}: {message}") from None
        finally:
            connection.close()
        return None

    def _unreachable_warning(self, error):
        errno, message = _errno_and_message(error)
        return (f"warning: cannot check the sql statements, the database is not reachable "
                f"({errno}: {message}); running on, sql parts reply err:sql until it is")

    def execute(self, part, request_keys):
        """Runs part's statement on this thread's connection and reads its result in full.
        request_keys: the keys drawn so far for this request, by limit (each distinct
        placeholder is drawn once per request). Raises SqlError."""
        statement = part.render(lambda limit: self._key(request_keys, limit))
        connection = self._connection()
        try:
            cursor = connection.cursor()
            cursor.execute(statement)
            cursor.fetchall()
            # Reads any further result set. Not in a finally: after a failure it would ask a
            # broken connection for the next result and hide the first error behind its own.
            cursor.close()
        except self._mysqldb.Error as e:
            errno, message = _errno_and_message(e)
            self._count_error(errno)
            if drops_connection(errno):
                self._drop_connection()
            raise SqlError(errno, message) from None
        except BaseException:  # whatever state it is in, the next task must not inherit it
            self._drop_connection()
            raise
        self._count("statements")

    def _key(self, request_keys, limit):
        if limit not in request_keys:
            upper = self._db_keys if limit is None else limit
            request_keys[limit] = self._thread_rng().randint(1, upper)
        return request_keys[limit]

    def _thread_rng(self):
        rng = getattr(self._thread, "keys", None)
        if rng is None:
            with self._lock:
                number = self._threads_seen
                self._threads_seen += 1
            # --seed makes each thread's key sequence reproducible; without it, OS entropy.
            rng = random.Random(None if self._seed is None else f"{self._seed}:{number}")
            self._thread.keys = rng
        return rng

    def _connection(self):
        connection = getattr(self._thread, "connection", None)
        if connection is not None:
            return connection
        try:
            connection = self._mysqldb.connect(**self._connect_args)
        except self._mysqldb.Error as e:
            errno, message = _errno_and_message(e)
            self._count("connect_failures")
            self._count_error(errno)
            raise SqlError(errno, message) from None
        self._thread.connection = connection
        with self._lock:
            self._counts["connects"] += 1
            self._counts["connections_open"] += 1
        return connection

    def _drop_connection(self):
        connection = self._thread.connection
        self._thread.connection = None
        with self._lock:
            self._counts["connections_open"] -= 1
        try:
            connection.close()
        except self._mysqldb.Error:
            pass  # already broken: closing only frees it

    def _count(self, name):
        with self._lock:
            self._counts[name] += 1

    def _count_error(self, errno):
        with self._lock:
            self._errors[error_kind(errno)] += 1
