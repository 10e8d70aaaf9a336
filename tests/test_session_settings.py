"""Settings an operator's database or role gives every session (`ALTER DATABASE ... SET`, `ALTER ROLE ... SET`)
that modelsync did not choose: a sync, `make status` and the reader work under them, or fail naming the cause."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import psycopg

from .pipeline import providers, step_failures, sync
from .test_migrations import status


def _alter_database(database_url: str, *settings: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for setting in settings:
            conn.execute(f'ALTER DATABASE "{urlsplit(database_url).path.lstrip("/")}" SET {setting}')


def test_a_sync_and_the_status_work_under_a_non_iso_date_style(synced, redis_url):
    """psycopg reads timestamptz only in DateStyle ISO: with the database set to 'SQL, DMY' the provider step failed
    whole ("can't parse timestamptz with DateStyle 'SQL, DMY'"), nothing was staged or published."""
    _alter_database(synced, "DateStyle = 'SQL, DMY'", "IntervalStyle = 'sql_standard'")
    started = datetime.now(timezone.utc)
    result = sync(synced, redis_url, selection=providers("groq"))
    assert result.success, step_failures(result)
    with psycopg.connect(synced) as conn:
        assert conn.info.parameter_status("DateStyle") == "SQL, DMY"  # the setting held for other sessions
        conn.execute("SET DateStyle = ISO")
        synced_at = conn.execute("SELECT last_synced_at FROM providers WHERE slug = 'groq'").fetchone()[0]
    assert abs(synced_at - started) < timedelta(minutes=5)
    proc = status(synced)
    assert proc.returncode == 0 and "groq" in proc.stdout and "Traceback" not in proc.stderr, proc.stderr

