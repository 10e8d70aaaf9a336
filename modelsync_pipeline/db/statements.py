"""Where the SQL is: the statements of `sql/`, by name, the one way to open a connection, and the error a
statement raised behind what wrapped it, and its first line.

sql/ is a top-level folder of reviewed files; a wheel carries it as modelsync_pipeline/sql (pyproject.toml),
an editable install (`make run` / `make test`) reads it where it is.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import psycopg

_PACKAGE = Path(__file__).resolve().parent.parent
SQL_DIR = _PACKAGE / "sql" if (_PACKAGE / "sql").is_dir() else _PACKAGE.parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
CLIENT_ENCODING = "UTF8"
_NAME = re.compile(r"^-- name: (\w+)\s*$", re.M)


@cache
def statements(file: str) -> dict[str, str]:
    """Named statements of `sql/<file>.sql`, split on `-- name: <name>` lines."""
    text = (SQL_DIR / f"{file}.sql").read_text()
    parts = _NAME.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def connect(database_url: str, **kwargs) -> psycopg.Connection:
    """A connection in autocommit mode: every all-or-nothing write here is an explicit
    `conn.transaction()` block (a real BEGIN/COMMIT), and nothing else is left open by accident,
    so an audit row written after a failure is committed on its own."""
    kwargs.setdefault("autocommit", True)
    # Text in UTF-8 whatever client_encoding the role or the database set: Python's str holds any character,
    # and with `ALTER DATABASE ... SET client_encoding = 'LATIN1'` a provider whose names held a right quote
    # (U+2019) failed at `process` (UnicodeEncodeError) on a UTF8 database that stores it. A database whose
    # encoding cannot hold a character then says so itself (untranslatable character), naming the bytes.
    kwargs.setdefault("client_encoding", CLIENT_ENCODING)
    conn = psycopg.connect(database_url, application_name="modelsync", **kwargs)
    try:
        readable_formats(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def readable_formats(conn: psycopg.Connection) -> None:
    """Dates and intervals in the one form psycopg reads, whatever the role, the database or PGDATESTYLE set.

    psycopg reads a timestamptz only in DateStyle ISO, an interval only in IntervalStyle postgres: with
    `ALTER DATABASE ... SET DateStyle = 'SQL, DMY'` the provider step failed whole at its first read of the
    server's clock (NotImplementedError: "can't parse timestamptz with DateStyle 'SQL, DMY'"), nothing staged or
    published. Set for the session only when it differs (the server reports both as the session starts), so a
    session that already has them costs nothing more; the input order (DMY, MDY) is kept, as modelsync sends dates
    year first."""
    date_style = conn.info.parameter_status("DateStyle") or "ISO"
    interval_style = conn.info.parameter_status("IntervalStyle") or "postgres"
    if date_style.startswith("ISO") and interval_style == "postgres":
        return
    conn.execute(statements("session")["readable_formats"])
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.commit()  # a connection opened without autocommit: the SET must outlive its first transaction


def raised(exc: BaseException | None, kinds: type | tuple[type, ...]) -> BaseException | None:
    """`exc`, or the first of its causes (`raise ... from`), that is of `kinds`; None if none is. A statement's
    error can reach the write wrapped: a refresh's second connection's comes as the cause of a RuntimeError."""
    for _ in range(10):
        if exc is None or isinstance(exc, kinds):
            return exc
        exc = exc.__cause__
    return None


def first_line(said: BaseException | str) -> str:
    """The first line of an error's text, or of a message, stripped: what a one-line report quotes. An error
    without text gives its class name, so the line never ends in nothing; an empty message gives ''."""
    text = str(said).strip()
    if not text:
        return type(said).__name__ if isinstance(said, BaseException) else ""
    return text.splitlines()[0].strip()


def abandon_if_busy(conn: psycopg.Connection) -> bool:
    """A connection stopped inside a statement (the run terminated, Ctrl-C: an interrupt psycopg does not cancel
    for, as it does KeyboardInterrupt) is still running it on the server: its statement is cancelled and the
    connection closed, so its session ends now, locks and all. Left as it was, a statement waiting for a lock
    waited on after its process was gone, holding what it held, until the lock came, and every later write
    queued behind it. True when it was busy (and is now closed)."""
    if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.ACTIVE:
        return False
    try:
        conn.cancel_safe(timeout=5)
    except (psycopg.Error, OSError):  # the server may be gone too; closing is all that is left
        pass
    conn.close()
    return True
