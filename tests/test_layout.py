"""Every SQL statement lives in sql/ as a reviewed file; Python modules load statements by name."""

from __future__ import annotations

import re
from pathlib import Path

from modelsync_pipeline import db

PACKAGE = Path(__file__).resolve().parent.parent / "modelsync_pipeline"
SQL_IN_A_STRING = re.compile(r"""(['"]{1,3})\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+|ALTER\s+|DROP\s+|SET\s+TRANSACTION|COPY\s+)""")


def test_no_sql_outside_the_sql_folder():
    found = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if SQL_IN_A_STRING.search(line)]
    assert found == []


def test_every_statement_file_parses_into_named_statements():
    for path in sorted(db.SQL_DIR.glob("*.sql")):
        named = db.statements(path.stem)
        assert named and all(text.strip() for text in named.values()), path.name
