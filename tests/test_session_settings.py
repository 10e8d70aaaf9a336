"""Settings an operator's database or role gives every session (`ALTER DATABASE ... SET`, `ALTER ROLE ... SET`)
that modelsync did not choose: a sync, `make status` and the reader work under them, or fail naming the cause."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import psycopg

from modelsync_pipeline.reader import CatalogReader

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


def test_a_sync_works_under_a_latin1_client_encoding(database_url, redis_url):
    """Python's str holds any character; with the database's client_encoding set to LATIN1, providers whose
    records held a character outside it (a right quote, an em dash in a description) failed at `process` with a
    UnicodeEncodeError, on a UTF8 database that stores them, and kept no catalog."""
    _alter_database(database_url, "client_encoding = 'LATIN1'")
    result = sync(database_url, redis_url, selection=providers("openrouter", "deepinfra"))
    assert result.success, step_failures(result)
    with psycopg.connect(database_url, client_encoding="utf8") as conn:
        outcomes = dict(conn.execute(
            "SELECT DISTINCT ON (provider_slug) provider_slug, outcome FROM sync_attempts "
            "WHERE provider_slug IN ('openrouter', 'deepinfra') ORDER BY provider_slug, id DESC").fetchall())
        beyond_latin1 = conn.execute("SELECT count(*) FROM models WHERE metadata::text ~ '[\u2010-\u2027]'").fetchone()[0]
    assert outcomes == {"deepinfra": "staged", "openrouter": "staged"}
    assert beyond_latin1 > 0  # the records that failed reached the table whole


def test_the_reader_answers_from_the_database_under_a_latin1_client_encoding(synced):
    """The reader's database path: a name LATIN1 cannot hold failed the whole answer (untranslatable character)."""
    with psycopg.connect(synced, autocommit=True) as conn:
        model = conn.execute("UPDATE models SET model_name = 'Qwen 通义千问' WHERE id = (SELECT min(id) FROM models) "
                             "RETURNING id").fetchone()[0]
    _alter_database(synced, "client_encoding = 'LATIN1'")
    with CatalogReader("redis://127.0.0.1:1/0", synced, local_ttl_seconds=0, redis_retry_seconds=0) as reader:
        names = {row["id"]: row["model_name"] for row in reader.get_models()}
    assert names[model] == "Qwen 通义千问" and len(names) > 1000
