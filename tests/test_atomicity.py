"""Atomicity: a SIGKILL at any of 25 points inside a write leaves exactly the old catalog; readers
polling during repeated refreshes only ever see a whole catalog."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from modelsync_pipeline import db
from modelsync_pipeline.catalog import build_catalog
from modelsync_pipeline.providers.http import recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG

from .faults import REPO_ROOT, Relay, cut_in_commit, kill_at, slow_commits

# Runs one write in a fresh process, so the test can SIGKILL it at a fault point.
_WRITER = """
import sys
from modelsync_pipeline.providers.registry import PROVIDERS
from tests.test_atomicity import write
write(sys.argv[1], sys.argv[2], *sys.argv[3:])
"""


def write(action: str, url: str, *extra: str) -> None:
    """The write under test, by name; run in the killed subprocess and, afterwards, in the test itself."""
    with db.connect(url) as conn:
        if action == "refresh":
            db.refresh_models_table(conn, PROVIDERS, "killed-run")
        elif action == "reset":
            db.reset_models_table(conn, PROVIDERS, "killed-run")
        elif action == "flush_models":
            db.flush_models(conn, "killed-run")
        elif action == "flush_providers":
            db.flush_providers(conn, "killed-run")
        elif action == "restore":
            db.restore_backup(conn, int(extra[0]), "killed-run")
        elif action in ("stage", "first_stage"):
            spec = PROVIDERS_BY_SLUG["openai"]
            db.stage_provider_catalog(conn, spec, build_catalog(spec, recorded_items(spec)[:7]), "killed-run")

KILL_POINTS = [
    ("refresh", "refresh:before_delete"), ("refresh", "refresh:after_delete"), ("refresh", "refresh:after_update"),
    ("refresh", "refresh:after_insert"), ("refresh", "refresh:before_commit"),
    ("reset", "reset:after_backup"), ("reset", "reset:after_delete_models"), ("reset", "reset:after_delete_providers"),
    ("reset", "reset:after_providers"), ("reset", "reset:after_insert"), ("reset", "reset:before_commit"),
    ("flush_models", "backup:after_copy"), ("flush_models", "flush_models:after_backup"),
    ("flush_models", "flush_models:after_delete"),
    ("flush_providers", "flush_providers:after_backup"), ("flush_providers", "flush_providers:after_delete"),
    ("restore", "restore:after_backup"), ("restore", "restore:after_delete"), ("restore", "restore:after_insert"),
    ("restore", "restore:before_commit"),
    ("stage", "stage:after_clear"), ("stage", "stage:after_fold"), ("stage", "stage:after_copy"),
    ("first_stage", "stage:after_clear"), ("first_stage", "stage:after_copy"),  # into a new partition of staging
]


def stage_all(conn, run_id: str, shrink: dict[str, int] | None = None, skip: str = "") -> None:
    for spec in PROVIDERS:
        if spec.slug == skip:
            continue
        items = recorded_items(spec)[: (shrink or {}).get(spec.slug)]
        db.stage_provider_catalog(conn, spec, build_catalog(spec, items), run_id)


def state(database_url) -> dict:
    """Everything a write may touch, row for row."""
    with psycopg.connect(database_url) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("providers", "models", "model_history", "backups", "provider_catalogs",
                              "provider_catalog_versions", "provider_catalog_changes", "provider_catalog_delta")} | {
            # every table, attached or not (a first stage creates its partition of staging)
            "tables": conn.execute("SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
                                   "AND relnamespace = 'public'::regnamespace ORDER BY 1").fetchall()}


@pytest.mark.parametrize("action,point", KILL_POINTS, ids=[p if a != "first_stage" else f"first-{p}" for a, p in KILL_POINTS])
def test_sigkill_at_any_point_leaves_exactly_the_old_catalog(database_url, tmp_path, action, point):
    db.apply_migrations(database_url)
    extra = []
    with db.connect(database_url) as conn:
        stage_all(conn, "run-a", skip="openai" if action == "first_stage" else "")
        db.refresh_models_table(conn, PROVIDERS, "run-a")
        if action in ("refresh", "reset"):
            stage_all(conn, "run-b", shrink={"openrouter": 10, "mistral": 20})  # a new catalog waits in staging
        if action == "restore":
            extra = [str(db.flush_models(conn, "run-flush").backup.id)]
    before = state(database_url)

    kill_at(point, _WRITER, [action, database_url, *extra], tmp_path)
    assert state(database_url) == before

    # and the same write, not killed, still goes through afterwards (no lock or half-state left behind)
    write(action, database_url, *extra)
    assert state(database_url) != before


def test_readers_never_see_an_empty_or_partial_table(database_url):
    """A reader polls models while the table flips between two catalogs ten times."""
    db.apply_migrations(database_url)
    catalogs = ({}, {"openrouter": 10, "openai": 15, "google": 5})
    seen, errors, stop = [], [], threading.Event()
    fingerprint = ("SELECT count(*), md5(string_agg(model_id || content_hash, ',' ORDER BY model_id, content_hash)) "
                   "FROM models")

    with db.connect(database_url) as conn:
        expected = []
        for run, shrink in enumerate(catalogs):
            stage_all(conn, f"setup-{run}", shrink)
            db.refresh_models_table(conn, PROVIDERS, f"setup-{run}")
            expected.append(conn.execute(fingerprint).fetchone())

    def reader():
        with psycopg.connect(database_url, autocommit=True) as rconn:
            while not stop.is_set():
                try:
                    seen.append(rconn.execute(fingerprint).fetchone())
                except Exception as exc:  # noqa: BLE001 - any error is a finding
                    errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with db.connect(database_url) as conn:
            for run in range(10):
                stage_all(conn, f"flip-{run}", catalogs[run % 2])
                db.refresh_models_table(conn, PROVIDERS, f"flip-{run}")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []
    assert len(seen) > 50
    assert set(seen) <= set(expected), set(seen) - set(expected)
    assert set(seen) == set(expected)  # both catalogs were observed, never anything else


def test_a_catalog_staged_while_a_refresh_runs_is_left_whole_for_the_next_refresh(database_url, tmp_path, monkeypatch):
    """The refresh reads one snapshot: a stage that commits in the middle of it is neither half applied
    nor marked as published, so the next refresh applies it."""
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        stage_all(conn, "run-a")
        db.refresh_models_table(conn, PROVIDERS, "run-a")
        stage_all(conn, "run-b", shrink={"mistral": 30})  # a change waiting for the refresh

    ready, go_on = tmp_path / "ready", tmp_path / "continue"
    monkeypatch.setenv("MODELSYNC_FAULT", "refresh:after_delete=wait")
    monkeypatch.setenv("MODELSYNC_FAULT_READY", str(ready))
    monkeypatch.setenv("MODELSYNC_FAULT_CONTINUE", str(go_on))
    outcome = {}

    def refresh():
        with db.connect(database_url) as conn:
            outcome["result"] = db.refresh_models_table(conn, PROVIDERS, "run-b")

    thread = threading.Thread(target=refresh)
    thread.start()
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    spec = PROVIDERS_BY_SLUG["mistral"]
    with db.connect(database_url) as conn:  # the provider asset commits an even newer catalog mid-refresh
        db.stage_provider_catalog(conn, spec, build_catalog(spec, recorded_items(spec)[:25]), "run-c")
    go_on.write_text("go")
    thread.join(timeout=60)
    monkeypatch.delenv("MODELSYNC_FAULT")

    with psycopg.connect(database_url) as conn:
        per_provider = dict(conn.execute(
            "SELECT p.slug, count(*) FROM models m JOIN providers p ON p.id = m.provider_id GROUP BY 1").fetchall())
    assert per_provider["mistral"] == 30  # exactly the catalog the refresh started with, not a mix
    with db.connect(database_url) as conn:
        again = db.refresh_models_table(conn, PROVIDERS, "run-d")
    assert again.rows_per_provider["mistral"] == 25  # not marked published: the next refresh applies it


_AUDITED_REFRESH = """
import sys
from modelsync_pipeline import db, writes
from modelsync_pipeline.providers.registry import PROVIDERS
with db.connect(sys.argv[1]) as conn:
    writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="killed-run", launched_by="test"), PROVIDERS,
                         reconnect=lambda: db.connect(sys.argv[1]))
"""


def _wait_for_the_killed_session(database_url, audit_id: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while conn.execute("SELECT 1 FROM pg_stat_activity a JOIN audit_log l ON a.pid = l.writer_pid "
                           "WHERE l.id = %s", (audit_id,)).fetchone():
            assert time.monotonic() < deadline, "the killed writer's server process never ended"
            time.sleep(0.05)


def _audit_log(database_url) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT id, action, run_id, outcome, error FROM audit_log ORDER BY id").fetchall()


@pytest.mark.parametrize("point, outcome, said", [
    ("refresh:before_commit", "failed", "nothing was changed: its transaction rolled back"),
    ("write:after_commit", "succeeded", "it committed, and its change to the catalog stands"),
])
def test_a_write_killed_outright_leaves_its_audit_row_and_the_next_write_says_what_became_of_it(
        database_url, tmp_path, point, outcome, said):
    """The audit row was written after the write: a writer killed by SIGKILL (or the OOM killer) left no row at all,
    and nothing in the log said a write had been attempted. Its row is now written first, as 'started'; the next
    write finds its session gone and gives it an outcome: whether it committed is marked in the write's own
    transaction, so it is known even when other writes changed the catalog since."""
    from modelsync_pipeline import writes

    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        stage_all(conn, "run-a")
    kill_at(point, _AUDITED_REFRESH, [database_url], tmp_path)
    *_, killed = _audit_log(database_url)
    assert killed[1:4] == ("refresh", "killed-run", "started"), killed
    _wait_for_the_killed_session(database_url, killed[0])  # its server process ends once it reads the closed socket
    status = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "status"], cwd=REPO_ROOT, timeout=120,
                            env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True)
    [told] = [line for line in status.stdout.splitlines()
              if line.startswith(f"  audit {killed[0]}: refresh (run killed-run)")]
    assert ("it committed" if outcome == "succeeded" else "nothing was changed") in told, told
    with psycopg.connect(database_url, autocommit=True) as operator:  # the catalog changes meanwhile, by hand
        operator.execute("UPDATE providers SET is_active = is_active")

    logged = []
    with db.connect(database_url) as conn:
        written = writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="next-run", launched_by="test"),
                                       PROVIDERS, log=logged.append)
    rows = {row[0]: row for row in _audit_log(database_url)}
    assert rows[killed[0]][3] == outcome and said in rows[killed[0]][4], rows[killed[0]]
    assert "its process killed: SIGKILL" in rows[killed[0]][4]
    assert rows[written.audit_id][1:4] == ("refresh", "next-run", "succeeded")
    assert [line for line in logged if line.startswith(f"audit {killed[0]}: an earlier refresh (run killed-run) "
                                                       "ended without an outcome")], logged


def test_a_started_write_whose_session_is_alive_is_left_started(database_url):
    """A write that waits for a lock, or runs long, is not taken for a killed one by another write."""
    from modelsync_pipeline import writes

    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        stage_all(conn, "run-a")
    request = writes.WriteRequest(mode="refresh", run_id="next-run", launched_by="test")
    with db.connect(database_url) as running:
        started, _ = db.audit_started(running, run_id="long-run", launched_by="test", action="refresh")
        with db.connect(database_url) as conn:
            writes.write_catalog(conn, request, PROVIDERS)
        assert {row[0]: row[3] for row in _audit_log(database_url)}[started] == "started"
    with db.connect(database_url) as conn:  # its session gone: the next write gives it an outcome
        writes.write_catalog(conn, request, PROVIDERS)
    assert {row[0]: row[3] for row in _audit_log(database_url)}[started] == "failed"


def test_a_write_interrupted_in_its_commit_is_not_said_to_have_changed_nothing(database_url):
    """Ctrl-C (or the run terminated) landing while the writer waited for its COMMIT's reply: psycopg waits for the
    result after a KeyboardInterrupt, so the COMMIT completed, yet the row said "its transaction was rolled back,
    nothing was changed" of a refresh whose every row was in the table (found by a kill hunt). The row's mark, made
    in the write's transaction, tells it committed. The writer is stopped (SIGSTOP) inside its
    COMMIT, made slow here by a deferred trigger, until the server has committed; SIGINT then lands."""
    import signal

    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        stage_all(conn, "run-a")
        slow_commits(conn)
    writer = subprocess.Popen([sys.executable, "-c", _AUDITED_REFRESH, database_url], cwd=REPO_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    session = ("SELECT a.state, a.query FROM pg_stat_activity a JOIN audit_log l ON l.writer_pid = a.pid "
               "AND l.writer_session_start = a.backend_start WHERE l.run_id = 'killed-run'")
    try:
        with psycopg.connect(database_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 60
            while (row := watcher.execute(session).fetchone()) is None or row != ("active", "COMMIT"):
                assert writer.poll() is None and time.monotonic() < deadline, (row, writer.poll())
                time.sleep(0.005)
            os.kill(writer.pid, signal.SIGSTOP)
            while watcher.execute(session).fetchone()[0] == "active":  # the server commits; the writer is stopped
                assert time.monotonic() < deadline
                time.sleep(0.01)
            os.kill(writer.pid, signal.SIGINT)
            os.kill(writer.pid, signal.SIGCONT)
        writer.wait(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode != 0, writer.stderr.read().decode()[-2000:]
    with psycopg.connect(database_url) as conn:
        written = conn.execute("SELECT count(*) FROM model_history WHERE run_id = 'killed-run'").fetchone()[0]
    assert written > 0  # the refresh committed
    (_, action, run_id, outcome, error), = _audit_log(database_url)
    assert (action, run_id, outcome) == ("refresh", "killed-run", "succeeded")
    assert error.startswith("stopped (KeyboardInterrupt)"), error
    assert "nothing was changed" not in error and "its COMMIT went through all the same" in error, error


def test_a_write_whose_connection_is_lost_in_its_commit_that_went_through_is_the_write_it_was(database_url):
    """The network cut while the writer waited for its COMMIT's reply (a failover, a load balancer's idle cut):
    the server committed, yet the write failed "the connection to PostgreSQL was lost ... a transaction whose
    connection is lost before it commits is rolled back" with counts read before the server had committed, and its
    audit row said `failed` of a refresh whose every row was in the table. Its row's mark tells it committed: the
    write is returned as succeeded, said so, with its counts after read through a new connection."""
    from modelsync_pipeline import writes

    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        stage_all(conn, "run-a")
        slow_commits(conn)
    with Relay(database_url) as relay, cut_in_commit(relay, database_url, "lost-run") as cut:
        with db.connect(relay.url) as conn:
            outcome = writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="lost-run",
                                                                     launched_by="test"),
                                           PROVIDERS, reconnect=lambda: db.connect(database_url))
    assert cut == ["cut"], cut
    with psycopg.connect(database_url) as conn:
        models = conn.execute("SELECT count(*) FROM models").fetchone()[0]
        written = conn.execute("SELECT count(*) FROM model_history WHERE run_id = 'lost-run'").fetchone()[0]
    assert written == models > 0  # the refresh committed: every row is in the table
    assert outcome.after[1] == models and outcome.before is None, outcome
    assert "the COMMIT went through: the change stands" in outcome.details["connection_lost"], outcome.details
    (audit_id, action, run_id, result, error), = _audit_log(database_url)
    assert (audit_id, action, run_id, result) == (outcome.audit_id, "refresh", "lost-run", "succeeded")
    with psycopg.connect(database_url) as conn:
        details, after = conn.execute("SELECT details, models_after FROM audit_log").fetchone()
    assert after == models and "the change stands" in details["connection_lost"], details


def test_a_role_with_no_privilege_on_the_audit_log_still_writes_the_catalog_by_hand(database_url):
    """The statement triggers that mark a started write's row (migration 0021) touch audit_log only in a session a
    write set up: an operator's role, granted the catalog tables alone, is not refused its UPDATE of providers."""
    import uuid

    import psycopg.conninfo

    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        stage_all(conn, "run-a")
        db.refresh_models_table(conn, PROVIDERS, "run-a")
    role = f"ms_catalog_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT SELECT, UPDATE ON providers, models, catalog_version TO {role}")
    try:
        with psycopg.connect(psycopg.conninfo.make_conninfo(database_url, user=role), autocommit=True) as operator:
            operator.execute("UPDATE providers SET is_active = is_active")
            operator.execute("UPDATE models SET model_name = model_name WHERE id = (SELECT min(id) FROM models)")
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
