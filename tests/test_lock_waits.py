"""A write that waits for a lock says what it waits for, and gives up on a holder outside modelsync.

An operator's `LOCK TABLE`, a long DDL or a forgotten open transaction used to make a refresh or a flush
wait silently for as long as it was held. Waiting behind another modelsync write is legitimate and is only
reported; waiting behind anything else ends after MODELSYNC_LOCK_WAIT_SECONDS with the write rolled back,
audited, and the holder named.
"""

from __future__ import annotations

import threading
import time
import uuid

import dagster as dg
import psycopg
import psycopg.conninfo
import pytest

from modelsync_pipeline import db, writes
from modelsync_pipeline.db import locks
from modelsync_pipeline.providers.registry import PROVIDERS

from .pipeline import approval_for, providers, step_failures, sync
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


def test_a_role_lock_timeout_does_not_cut_a_publish_queued_behind_another(synced, redis_url):
    """A publish waiting for another publish's lock failed with a bare LockNotAvailable under a role's
    lock_timeout."""
    from urllib.parse import urlsplit

    import redis as redis_lib

    from modelsync_pipeline import cache

    with psycopg.connect(synced, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{urlsplit(synced).path.lstrip("/")}" SET lock_timeout = \'300ms\'')
    with db.connect(synced) as holder, db.connect(synced) as conn:
        holder.execute(db.statements("catalog_read")["cache_lock"])  # another publish, running
        release = threading.Timer(1.5, lambda: holder.execute(db.statements("catalog_read")["cache_unlock"]))
        release.start()
        try:
            published = cache.publish_cache(conn, redis_lib.Redis.from_url(redis_url, decode_responses=True), "queued")
        finally:
            release.join()
        assert published.row_count > 0
        assert conn.execute("SHOW lock_timeout").fetchone() == ("300ms",)


@pytest.mark.parametrize("what", ["refresh", "stage"])
def test_a_role_lock_timeout_does_not_cut_a_wait_behind_another_modelsync_write(synced, what):
    """A lock_timeout set for the database or the role (a DBA's default for applications) ended a refresh queued
    behind another refresh, and a stage behind another run's stage of the same provider, with "canceling statement
    due to lock timeout": modelsync's own serialisation is a wait to sit out. The setting still holds afterwards."""
    from urllib.parse import urlsplit

    from modelsync_pipeline.catalog import build_catalog
    from modelsync_pipeline.providers.http import recorded_items
    from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG

    with psycopg.connect(synced, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{urlsplit(synced).path.lstrip("/")}" SET lock_timeout = \'300ms\'')
    groq = PROVIDERS_BY_SLUG["groq"]
    lock, unlock = {"refresh": ("session_lock", "session_unlock"), "stage": ("lock", None)}[what]
    # (the stage's lock is a transaction's: the holder keeps its transaction open until the timer commits it)
    with db.connect(synced, autocommit=what == "refresh") as holder, db.connect(synced) as conn:
        assert conn.execute("SHOW lock_timeout").fetchone() == ("300ms",)
        if what == "refresh":
            holder.execute(db.statements("refresh_models")[lock])  # as a running refresh holds it
            release = threading.Timer(1.5, lambda: holder.execute(db.statements("refresh_models")[unlock]))
        else:
            holder.execute(db.statements("stage_catalog")[lock], {"slug": "groq"})  # another run's stage, open
            release = threading.Timer(1.5, holder.commit)
        release.start()
        try:
            if what == "refresh":
                outcome = writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="queued", launched_by="t"),
                                               PROVIDERS, reconnect=lambda: db.connect(synced))
                assert outcome.audit_id
            else:
                frame = build_catalog(groq, recorded_items(groq))
                db.stage_provider_catalog(conn, groq, frame, "queued-stage")
                conn.commit()
        finally:
            release.join()
        assert conn.execute("SHOW lock_timeout").fetchone() == ("300ms",)  # put back after the lock


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


# --- found by review: another role's holder, the guard, the failure record, queues, one transaction at a time --


@pytest.fixture
def app_role(synced):
    """A database URL for a role that is not a superuser, and a second such role for an operator: a role sees
    neither the times nor the state of another role's sessions (pg_stat_activity), as in most deployments."""
    suffix = uuid.uuid4().hex[:8]
    app, operator = f"ms_app_{suffix}", f"ms_op_{suffix}"
    with psycopg.connect(synced, autocommit=True) as admin:
        for role in (app, operator):
            admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
            admin.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
            admin.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
    urls = {role: psycopg.conninfo.make_conninfo(synced, user=role) for role in (app, operator)}
    try:
        yield urls[app], urls[operator]
    finally:
        with psycopg.connect(synced, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(%s)",
                          ([app, operator],))
            for role in (app, operator):
                admin.execute(f"DROP OWNED BY {role}")
                admin.execute(f"DROP ROLE {role}")


def _flush(url: str):
    return writes.WriteRequest(mode="flush_models", run_id=f"flush-{uuid.uuid4().hex[:6]}", launched_by="test",
                               confirm="DELETE_ALL_MODELS", approval=approval_for("flush_models"))


def test_a_holder_of_another_role_is_named_and_the_wait_still_ends(synced, app_role, monkeypatch):
    """Another role's session shows no times: formatting its age crashed the watch, and the write waited on."""
    monkeypatch.setenv(locks.WAIT_ENV, "2")
    app_url, operator_url = app_role
    before = snapshot(synced)
    with psycopg.connect(operator_url, application_name="psql-operator") as holder:
        holder.execute("LOCK TABLE models IN SHARE MODE")
        pid = holder.info.backend_pid
        started = time.monotonic()
        with db.connect(app_url) as conn, pytest.raises(writes.WriteFailed) as failed:
            writes.write_catalog(conn, _flush(app_url), PROVIDERS, reconnect=lambda: db.connect(app_url))
        took = time.monotonic() - started
    assert took < 10, took
    assert f"server process {pid} (psql-operator" in str(failed.value) and "unknown time" in str(failed.value)
    assert snapshot(synced) == before


def test_a_wait_in_the_guard_is_an_audited_failure_naming_the_holder(synced, monkeypatch):
    """A restore's guard reads `backups`; locked (a VACUUM FULL), the cancel escaped unaudited and unexplained."""
    monkeypatch.setenv(locks.WAIT_ENV, "2")
    request = writes.WriteRequest(mode="restore", run_id="restore-guard", launched_by="test", confirm="RESTORE",
                                  backup_id=1, approval=approval_for("restore_backup", {"backup_id": 1}))
    with psycopg.connect(synced, application_name="vacuum-full") as holder:
        holder.execute("LOCK TABLE backups IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        with db.connect(synced) as conn, pytest.raises(writes.WriteFailed) as failed:
            writes.write_catalog(conn, request, PROVIDERS, reconnect=lambda: db.connect(synced))
    assert f"server process {pid} (vacuum-full" in str(failed.value)
    last = audit_rows(synced)[-1]
    assert (last["action"], last["outcome"]) == ("restore_backup", "failed") and f"server process {pid}" in last["error"]


def test_a_locked_attempts_table_fails_each_provider_not_the_staging_step(database_url, redis_url, monkeypatch):
    """Recording a provider's failure waited for the same holder, was cut, and failed the whole step."""
    monkeypatch.setenv(locks.WAIT_ENV, "2")
    db.apply_migrations(database_url)
    slugs = ("groq", "cerebras")
    with psycopg.connect(database_url, application_name="psql-operator") as holder:
        holder.execute("LOCK TABLE sync_attempts IN SHARE MODE")
        with dg.DagsterInstance.ephemeral() as instance:
            result = sync(database_url, redis_url, selection=providers(*slugs), instance=instance)
            logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert "fetch_provider_catalogs" not in step_failures(result), step_failures(result)
    for slug in slugs:
        assert any(line.startswith(f"provider '{slug}' failed at stage: staging waited")
                   and "could not be recorded in sync_attempts" in line for line in logged), logged


def test_the_bound_counts_from_the_current_wait_not_from_an_earlier_transaction_of_the_same_process(synced):
    """A pooled connection that held a lock a while ago, in another transaction, is no holder overdue now."""
    said = []
    with psycopg.connect(synced, application_name="pooled-app", autocommit=True) as holder, \
            db.connect(synced) as conn:
        # Three waits of 1.5 s, 4.9 s from the first's start to the last's end: each under the bound by 2 s (a
        # loaded machine delays the holder's COMMIT; 1 s was once not enough), all of them over it.
        with locks.watch_locks(conn, lambda: db.connect(synced), "test", said.append, bound=3.5) as watch:
            for _ in range(3):
                holder.execute("BEGIN")
                holder.execute("LOCK TABLE providers IN ACCESS EXCLUSIVE MODE")
                threading.Timer(1.5, lambda: holder.execute("COMMIT")).start()
                with conn.transaction():
                    conn.execute("LOCK TABLE providers IN ACCESS SHARE MODE")
                time.sleep(0.2)
    assert watch.gave_up is None and not any("waited" in line and "ms" not in line for line in said
                                             if line.startswith("test waited")), said


def test_a_session_queued_ahead_behind_a_modelsync_write_is_not_cut_as_a_holder(synced):
    """An operator's ALTER queued behind a modelsync write is ahead of the next write in the lock queue:
    pg_blocking_pids names it, yet it holds nothing; the wait is the modelsync write's, and legitimate."""
    said = []
    with db.connect(synced, autocommit=False) as first, db.connect(synced) as second:
        first.execute("LOCK TABLE providers IN SHARE UPDATE EXCLUSIVE MODE")
        operator = psycopg.connect(synced, application_name="psql-operator")

        def alter():  # what an ALTER TABLE takes, released as soon as it is granted
            operator.execute("LOCK TABLE providers IN ACCESS EXCLUSIVE MODE")
            operator.commit()

        queued = threading.Thread(target=alter)
        queued.start()
        time.sleep(0.5)
        threading.Timer(3.0, first.commit).start()
        with locks.watch_locks(second, lambda: db.connect(synced), "test", said.append, bound=1.0, every=1.0) as watch:
            with second.transaction():  # behind the ALTER, itself behind `first`
                second.execute("LOCK TABLE providers IN ROW EXCLUSIVE MODE")
        queued.join(timeout=10)
        operator.close()
    assert watch.gave_up is None and watch.error is None, (watch.gave_up, watch.error)
    assert any("queued ahead of this write" in line for line in said), said


@pytest.mark.parametrize(("message", "ours"), [
    ("canceling statement due to user request", True),
    ("canceling statement due to statement timeout", False),
])
def test_a_statement_timeout_is_never_reported_as_the_watchs_cancel(message, ours):
    watch = locks.LockWatch()
    watch.gave_up = "test waited 2 s for a lock held by ..."
    assert (watch.cancelled(psycopg.errors.QueryCanceled(message)) is not None) == ours


def test_a_reset_launched_with_only_its_code_resets_never_refreshes(synced, redis_url, monkeypatch):
    """The launchpad's config replaces the job's default whole: `approval` alone ran models_table in its
    default mode, a refresh, audited as one, the code never used."""
    from modelsync_pipeline.definitions import defs

    from .pipeline import resources

    monkeypatch.setenv("DATABASE_URL", synced)  # the job's own resources read them
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MODELSYNC_SOURCE", "replay")
    result = defs.resolve_job_def("reset_and_resync").execute_in_process(
        run_config={"ops": {"models_table": {"config": {"approval": approval_for("reset_and_resync")}}}},
        resources=resources(synced, redis_url), raise_on_error=False)
    assert result.success, step_failures(result)
    last = audit_rows(synced)[-1]
    assert (last["action"], last["outcome"]) == ("reset_and_resync", "succeeded") and last["backup_id"]


def test_a_first_loads_history_connection_is_watched_too(database_url, monkeypatch):
    """The 'added' history rows of first loads are built on a second connection; its wait (model_history
    locked) left the write's own connection idle in transaction, unseen by the watch: an unbounded hang."""
    from modelsync_pipeline.db import refresh_models

    from .test_bulk_path import catalog
    from .test_partitions import prices

    monkeypatch.setattr(refresh_models, "HISTORY_BATCH_MIN_ROWS", 1)
    monkeypatch.setenv(locks.WAIT_ENV, "2")
    db.apply_migrations(database_url)
    specs = PROVIDERS[:2]
    with db.connect(database_url) as conn:
        for spec in specs:
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(30)), "staged")
    with psycopg.connect(database_url, application_name="psql-operator") as holder:
        holder.execute("LOCK TABLE model_history IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        started = time.monotonic()
        with db.connect(database_url) as conn, pytest.raises(writes.WriteFailed) as failed:
            writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="first", launched_by="test"),
                                 specs, reconnect=lambda: db.connect(database_url))
        assert time.monotonic() - started < 15
    assert f"server process {pid} (psql-operator" in str(failed.value)
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 0


def test_a_lock_taken_right_after_the_commit_does_not_hold_the_write(synced, tmp_path, monkeypatch):
    """The counts after a write were read after its COMMIT, outside the watch: an operator's LOCK TABLE queued
    behind the refresh got the table next, and the committed write hung in that count, unbounded."""
    from .faults import paused_at

    done = {}

    def refresh():
        with db.connect(synced) as conn:
            outcome = writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="r", launched_by="test"),
                                           PROVIDERS, reconnect=lambda: db.connect(synced))
        done["at"] = time.monotonic()
        return outcome

    holder = psycopg.connect(synced, application_name="psql-operator")
    try:
        with paused_at("refresh:before_commit", refresh, tmp_path, monkeypatch) as outcome:
            locking = threading.Thread(target=lambda: holder.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE"))
            locking.start()  # queued behind the refresh; granted at its COMMIT, then held
            time.sleep(0.5)
            released = time.monotonic()
        locking.join(10)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["result"].after == outcome["result"].before  # nothing changed; counted before COMMIT
        assert done["at"] - released < 10
    finally:
        holder.close()


def test_the_run_summary_gives_up_on_a_locked_table_and_says_why(synced, monkeypatch, capsys):
    """`modelsync run` read its summary after its runs, unwatched: a lock on models held it (and its exit code)."""
    from modelsync_pipeline import cli

    monkeypatch.setenv(locks.WAIT_ENV, "1")
    with psycopg.connect(synced, application_name="psql-operator") as holder:
        holder.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")
        attempts, in_table, written, unread = cli._read_summary(synced, ["r"])
    assert (attempts, in_table, written) == ([], [], {})
    assert unread.startswith("the run's summary waited") and "psql-operator" in unread


@pytest.mark.parametrize("mode", ["refresh", "flush_models"])
def test_a_write_stopped_while_it_waits_for_a_lock_ends_its_session_and_is_audited(synced, mode):
    """Terminated from the UI while it waited behind an operator's lock, a refresh's process ended but its statement
    went on waiting on the server, holding its locks, and every later write queued behind that dead session with no
    bound; the unlock in its `finally` then failed ("another command is already in progress"), hid the interrupt,
    and no audit row was written. Dagster's interrupt is no KeyboardInterrupt, which psycopg would cancel itself."""
    import os
    import signal

    from dagster._core.errors import DagsterExecutionInterruptedError

    def interrupt(signum, frame):
        raise DagsterExecutionInterruptedError("the run was terminated")

    before = snapshot(synced)
    request = (writes.WriteRequest(mode="refresh", run_id="stopped", launched_by="test") if mode == "refresh"
               else _flush(synced))
    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with psycopg.connect(synced, application_name="psql-operator") as holder, db.connect(synced) as conn:
            holder.execute("LOCK TABLE models, providers IN ACCESS EXCLUSIVE MODE")
            writer = conn.info.backend_pid
            threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGUSR1)).start()
            with pytest.raises(DagsterExecutionInterruptedError):
                writes.write_catalog(conn, request, PROVIDERS, reconnect=lambda: db.connect(synced))
            deadline = time.monotonic() + 10
            with psycopg.connect(synced, autocommit=True) as watcher:  # the holder's transaction sees one snapshot
                while watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (writer,)).fetchone()[0]:
                    assert time.monotonic() < deadline, "the stopped write's session still runs on the server"
                    time.sleep(0.1)
            holder.rollback()  # the operator lets go
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert snapshot(synced) == before
    last = audit_rows(synced)[-1]
    assert (last["action"], last["outcome"]) == (request.action, "failed"), last
    assert last["error"].startswith("stopped (DagsterExecutionInterruptedError: the run was terminated): the run was "
                                    "interrupted inside a statement, which was cancelled on the server"), last["error"]
    with db.connect(synced) as conn:  # and the next write is not queued behind anything
        outcome = writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="next", launched_by="test"),
                                       PROVIDERS, reconnect=lambda: db.connect(synced))
    assert outcome.audit_id is not None


def test_a_publish_behind_an_outside_lock_gives_up_naming_the_holder(synced, redis_url, redis_client, monkeypatch):
    """The cache's snapshot reads `models`: behind an operator's LOCK TABLE it waited silently for as long as the lock
    was held. It now ends after MODELSYNC_LOCK_WAIT_SECONDS naming the holder, and readers stay where they were."""
    from modelsync_pipeline import cache

    from .pipeline import PUBLISH
    from .test_pipeline import cached_rows

    monkeypatch.setenv(locks.WAIT_ENV, "1")
    live, rows = cache.current_version(redis_client), cached_rows(redis_client)
    with psycopg.connect(synced, application_name="psql-operator") as holder:
        holder.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        released = threading.Timer(60, holder.commit)  # a publish that never gives up fails below, not hangs
        released.start()
        try:
            with dg.DagsterInstance.ephemeral() as instance:
                result = sync(synced, redis_url, selection=PUBLISH[1:], instance=instance, rewrite_cache=True)
                logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
        finally:
            released.cancel()
    assert not result.success
    message = step_failures(result)["models_cache"]
    assert message.startswith("models_cache waited"), message
    assert f"server process {pid} (psql-operator" in message and "MODELSYNC_LOCK_WAIT_SECONDS=1" in message
    assert "Nothing was published; readers keep the previous cache version" in message
    assert any(line.startswith("models_cache waited") for line in logged), logged
    assert (cache.current_version(redis_client), cached_rows(redis_client)) == (live, rows)
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [live]  # nothing of the abandoned version is left


def test_a_publish_behind_another_publish_waits_and_says_so(synced, redis_client, monkeypatch):
    """Another publish holds the publish lock: a legitimate wait, never cut short, but no longer a silent one."""
    from modelsync_pipeline import cache

    monkeypatch.setenv(locks.WAIT_ENV, "1")  # shorter than the wait: a modelsync holder is never cut short
    monkeypatch.setattr(locks, "REPORT_EVERY_SECONDS", 1.0)
    said = []
    with db.connect(synced) as holder, db.connect(synced) as conn:
        holder.execute(db.statements("catalog_read")["cache_lock"])  # another publish, running
        pid = holder.info.backend_pid
        release = threading.Timer(3.5, lambda: holder.execute(db.statements("catalog_read")["cache_unlock"]))
        release.start()
        try:
            published = cache.publish_cache(conn, redis_client, "queued", reconnect=lambda: db.connect(synced),
                                            log=said.append)
        finally:
            release.join()
    assert cache.current_version(redis_client) == published.version
    assert said, "a wait of 3.5 s was not reported"
    assert all(line.startswith("models_cache has waited") and f"server process {pid} (a modelsync" in line
               for line in said), said
