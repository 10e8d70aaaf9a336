"""A write that waits for a lock says what it waits for, and gives up on a holder outside modelsync.

An operator's `LOCK TABLE`, a long DDL or a forgotten open transaction used to make a refresh or a flush
wait silently for as long as it was held. Waiting behind another modelsync write is legitimate and is only
reported; waiting behind anything else ends after MODELSYNC_LOCK_WAIT_SECONDS with the write rolled back,
audited, and the holder named.
"""

from __future__ import annotations

import threading
import time

import dagster as dg
import psycopg
import pytest

from modelsync_pipeline import db, writes
from modelsync_pipeline.db import locks
from modelsync_pipeline.providers.registry import PROVIDERS

from .pipeline import providers, step_failures, sync
from .test_admin import audit_rows, run_admin, snapshot


def test_a_flush_behind_an_outside_lock_gives_up_naming_the_holder(synced, redis_url, monkeypatch):
    monkeypatch.setenv(locks.WAIT_ENV, "2")
    before = snapshot(synced)
    with psycopg.connect(synced, application_name="psql-operator") as holder:
        holder.execute("LOCK TABLE models IN SHARE MODE")  # what a CREATE INDEX (not CONCURRENTLY) holds
        pid = holder.info.backend_pid
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_admin("flush_models", synced, redis_url, {"confirm": "DELETE_ALL_MODELS"}, instance=instance)
            logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
        assert holder.execute("SELECT count(*) FROM models").fetchone()[0] > 0  # the holder was left alone
    assert not result.success
    message = step_failures(result)["models_table"]
    assert "flush_models failed and was rolled back, nothing was changed" in message
    assert f"server process {pid} (psql-operator" in message and "MODELSYNC_LOCK_WAIT_SECONDS=2" in message
    assert "its approval code was not used up" in message
    assert snapshot(synced) == before
    last = audit_rows(synced)[-1]
    assert (last["action"], last["outcome"]) == ("flush_models", "failed") and f"server process {pid}" in last["error"]
    # the run's log says it too, from the watch itself
    assert any(line.startswith("flush_models waited") and f"server process {pid}" in line for line in logged), logged


def test_a_refresh_behind_another_modelsync_write_waits_and_says_so(synced, monkeypatch):
    monkeypatch.setenv(locks.WAIT_ENV, "1")  # shorter than the wait: a modelsync holder is never cut short
    monkeypatch.setattr(locks, "REPORT_EVERY_SECONDS", 1.0)
    said = []
    with db.connect(synced) as holder, db.connect(synced) as conn:
        holder.execute(db.statements("refresh_models")["session_lock"])  # as a running refresh holds it
        pid = holder.info.backend_pid
        release = threading.Timer(3.5, lambda: holder.execute(db.statements("refresh_models")["session_unlock"]))
        release.start()
        try:
            outcome = writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="queued", launched_by="test"),
                                           PROVIDERS, reconnect=lambda: db.connect(synced), log=said.append)
        finally:
            release.join()
    assert outcome.audit_id and not outcome.dry_run
    assert said, "a wait of 3.5 s was not reported"
    assert all(f"server process {pid} (a modelsync write" in line for line in said), said
    assert "another modelsync write goes first" in said[0]
    assert audit_rows(synced)[-1]["outcome"] == "succeeded"


def test_a_write_that_waits_for_nothing_reports_nothing(synced):
    said = []
    with db.connect(synced) as conn:
        writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="alone", launched_by="test"),
                             PROVIDERS, reconnect=lambda: db.connect(synced), log=said.append)
    assert said == []


@pytest.mark.parametrize("raw", ["0", "-5", "ten", "nan"])
def test_a_bad_wait_bound_is_named(monkeypatch, raw):
    monkeypatch.setenv(locks.WAIT_ENV, raw)
    with pytest.raises(ValueError, match=f"MODELSYNC_LOCK_WAIT_SECONDS must be a number of seconds above 0, not '{raw}'"):
        locks.wait_bound()


def test_staging_behind_an_outside_lock_fails_each_provider_once_naming_the_holder(database_url, redis_url, monkeypatch):
    monkeypatch.setenv(locks.WAIT_ENV, "2")
    slugs = ("groq", "cerebras", "mistral")
    with psycopg.connect(database_url, application_name="psql-operator") as holder:
        db.apply_migrations(database_url)
        holder.execute("LOCK TABLE provider_catalogs IN SHARE MODE")
        pid = holder.info.backend_pid
        started = time.monotonic()
        result = sync(database_url, redis_url, selection=providers(*slugs))
        took = time.monotonic() - started
    assert not result.success
    with psycopg.connect(database_url) as conn:
        attempts = conn.execute("SELECT provider_slug, outcome, step, error FROM sync_attempts").fetchall()
    assert sorted(slug for slug, *_ in attempts) == sorted(slugs), attempts
    for slug, outcome, step, error in attempts:
        assert (outcome, step) == ("process_failed", "stage"), (slug, outcome, step)
        assert error.startswith("staging waited") and f"server process {pid} (psql-operator" in error, error
    # the holder was given the bound once, not once per provider
    assert took < 2 + 15, took
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM provider_catalogs").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 0
