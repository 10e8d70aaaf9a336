"""Where the SQL is: the statements of `sql/`, by name, and the one way to open a connection.

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
    return psycopg.connect(database_url, application_name="modelsync", **kwargs)
