"""Settings an operator's database or role gives every session (`ALTER DATABASE ... SET`, `ALTER ROLE ... SET`)
that modelsync did not choose: a sync, `make status` and the reader work under them, or fail naming the cause."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import psycopg

from modelsync_pipeline import db, writes
from modelsync_pipeline.db import refresh_models
from modelsync_pipeline.providers.registry import PROVIDERS
from modelsync_pipeline.reader import CatalogReader

from .faults import paused_at
from .test_bulk_path import catalog
from .test_partitions import prices

from .pipeline import providers, step_failures, sync
from .test_cli import run_cli
from .test_migrations import status


def _alter_database(database_url: str, *settings: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for setting in settings:
            conn.execute(f'ALTER DATABASE "{urlsplit(database_url).path.lstrip("/")}" SET {setting}')


def _two_staged(database_url: str) -> list:
    """Two providers staged with 40 models each, on a migrated database: their specs."""
    specs = PROVIDERS[:2]
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        for spec in specs:
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(40)), "staged")
    return specs


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


def test_a_first_load_outlasts_an_idle_in_transaction_timeout(database_url, tmp_path, monkeypatch):
    """A first load's refresh keeps its transaction open, idle, while its second connection builds the partitions
    and history, and the second one idles while the first attaches them. With the database's
    idle_in_transaction_session_timeout at 1 s, a first load of 300,000 models failed every time ("connection
    lost", rolled back): the table could never be filled."""
    monkeypatch.setattr(refresh_models, "HISTORY_BATCH_MIN_ROWS", 50)  # these first loads have 80 rows
    specs = _two_staged(database_url)
    _alter_database(database_url, "idle_in_transaction_session_timeout = '300ms'")

    def refresh():
        with db.connect(database_url) as conn:
            request = writes.WriteRequest(mode="refresh", run_id="first", launched_by="test")
            return writes.write_catalog(conn, request, specs, reconnect=lambda: db.connect(database_url)).refresh

    with paused_at("refresh:history_batch_built", refresh, tmp_path, monkeypatch) as outcome:
        time.sleep(1.5)  # both of the refresh's transactions stand idle, past the timeout
    assert "error" not in outcome, outcome["error"]
    assert outcome["result"].inserted == {spec.slug: 40 for spec in specs}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 80


def test_run_with_a_search_path_before_the_catalogs_schema_says_so(tmp_path, synced, redis_url):
    """The migration check refuses such a session naming both schemas (README), but `modelsync run` said only
    'PostgreSQL failed a statement (...): UndefinedTable: relation "providers" does not exist', from its summary."""
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA other")
    proc = run_cli(tmp_path, f"{synced}?options=-csearch_path%3Dother", redis_url, "--providers", "groq")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "UndefinedTable" not in proc.stderr, proc.stderr
    assert "modelsync's catalog is in schema public" in proc.stderr and "puts schema other first" in proc.stderr
    with psycopg.connect(synced) as conn:  # nothing was made in the other schema
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'other'").fetchone()[0] == 0


def test_a_wait_behind_another_modelsync_write_outlasts_a_statement_timeout(database_url):
    """Waiting behind another modelsync write is reported and never cut short (README): with the database's
    statement_timeout at 1 s, a refresh behind another one's lock failed "QueryCanceled: canceling statement due to
    statement timeout", and nothing said what it had waited for. The timeout still bounds the refresh's statements."""
    specs = _two_staged(database_url)
    _alter_database(database_url, "statement_timeout = '1s'")
    holder = db.connect(database_url)  # another modelsync write, holding the lock for 2.5 s
    holder.execute("SELECT pg_advisory_lock(hashtext('modelsync.models'))")
    threading.Timer(2.5, holder.close).start()
    started = time.monotonic()
    with db.connect(database_url) as conn:
        request = writes.WriteRequest(mode="refresh", run_id="behind", launched_by="test")
        result = writes.write_catalog(conn, request, specs, reconnect=lambda: db.connect(database_url)).refresh
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1s"  # lifted for the wait alone
    assert time.monotonic() - started > 2
    assert result.inserted == {spec.slug: 40 for spec in specs}


def test_a_stage_behind_another_stage_of_the_provider_works_under_repeatable_read(database_url, tmp_path, monkeypatch):
    """With the database's default_transaction_isolation 'repeatable read', a stage waiting behind another run's
    stage of the same provider took its snapshot with the wait and failed "could not serialize access due to
    concurrent delete" once that one committed, instead of staging after it as under the default."""
    spec = PROVIDERS[0]
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(40)), "first")
    _alter_database(database_url, "default_transaction_isolation = 'repeatable read'")

    def stage(run_id: str, start: float):
        with db.connect(database_url) as conn:
            return db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(40, start)), run_id)

    behind: dict = {}
    with paused_at("stage:after_clear", lambda: stage("ahead", 2.0), tmp_path, monkeypatch) as ahead:
        waiter = threading.Thread(target=_into(behind, lambda: stage("behind", 3.0)))
        waiter.start()
        time.sleep(1)  # it waits for the provider's stage lock
    waiter.join(60)
    assert "error" not in ahead, ahead["error"]
    assert behind.get("result") is not None and behind["result"].changed, behind
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT run_id FROM provider_catalog_versions WHERE provider_slug = %s",
                            (spec.slug,)).fetchone()[0] == "behind"


def _into(outcome: dict, target):
    """A thread's target that keeps what `target()` returned or raised in `outcome`."""
    def run():
        try:
            outcome["result"] = target()
        except Exception as exc:  # noqa: BLE001 - the test reads it
            outcome["error"] = exc
    return run
