"""Failures lose nothing: a failing provider, an exception or a SIGKILL inside the refresh, a bad cache write."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from modelsync_pipeline import cache
from modelsync_pipeline.providers.http import recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG

from .faults import kill_at
from .pipeline import PUBLISH, materialized, provider_failures, providers, step_failures, sync
from .test_pipeline import cached_rows, counts_by_provider, expected_counts, table_rows


def _shrink(replay_dir: Path, slug: str, keep: int) -> None:
    """Rewrite a recorded payload to its first `keep` models: a real, smaller catalog."""
    spec = PROVIDERS_BY_SLUG[slug]
    path = replay_dir / spec.recorded
    path.write_text(json.dumps(spec.envelope(recorded_items(spec, replay_dir)[:keep], {})))


@pytest.mark.parametrize("breakage", ["http_500", "malformed_json"])
def test_failing_provider_is_named_and_keeps_its_previous_catalog(synced, redis_url, replay_dir, breakage):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    before = table_rows(database_url)

    spec = PROVIDERS_BY_SLUG["groq"]
    if breakage == "http_500":
        (replay_dir / spec.recorded).with_suffix(".status").write_text("500")
    else:
        (replay_dir / spec.recorded).write_text('{"object": "list", "data": [{"id": ')
    _shrink(replay_dir, "openai", 10)  # a real change elsewhere must still be published

    result = sync(database_url, redis_url, replay_dir, force=True)
    failures = provider_failures(result)
    assert list(failures) == ["groq_catalog"]
    reason = "HTTP 500" if breakage == "http_500" else "malformed JSON"
    assert "provider 'groq' failed at" in failures["groq_catalog"] and reason in failures["groq_catalog"]
    assert "groq_catalog" not in materialized(result)  # no new materialization: it kept its last good one

    # the others are published in the same run
    assert result.success and {"models_table", "models_cache"} <= materialized(result)
    after = table_rows(database_url)
    groq_before = {k: v for k, v in before.items() if k[0] == "groq"}
    assert {k: v for k, v in after.items() if k[0] == "groq"} == groq_before
    assert counts_by_provider(database_url)["openai"] == 10
    with psycopg.connect(database_url) as conn:
        outcome = conn.execute(
            "SELECT outcome, step FROM sync_attempts WHERE provider_slug = 'groq' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert outcome == ("fetch_failed", "fetch" if breakage == "http_500" else "decode")


def test_a_provider_never_turns_into_success_with_zero_models(synced, redis_url, replay_dir):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    _shrink(replay_dir, "cerebras", 0)
    result = sync(database_url, redis_url, replay_dir, selection=providers("cerebras"))
    assert "empty model list" in provider_failures(result)["cerebras_catalog"]
    assert counts_by_provider(database_url)["cerebras"] == expected_counts()["cerebras"]


def test_exception_inside_refresh_leaves_table_and_cache_as_they_were(synced, redis_url, redis_client, replay_dir, monkeypatch):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    before, cached_before = table_rows(database_url), cached_rows(redis_client)
    _shrink(replay_dir, "openrouter", 5)
    assert sync(database_url, redis_url, replay_dir, selection=[providers("openrouter")[0]], force=True).success

    for point in ("refresh:after_delete", "refresh:after_update", "refresh:before_commit"):
        monkeypatch.setenv("MODELSYNC_FAULT", f"{point}=raise")
        result = sync(database_url, redis_url, replay_dir, selection=PUBLISH)
        assert "fault injected at " + point in step_failures(result)["models_table"]
        assert table_rows(database_url) == before
        assert cached_rows(redis_client) == cached_before
        # audited with the models it found: a refresh is counted after it rolled back, not before it started
        action, outcome, error, models_before, models_after = _audit_rows(database_url)[-1]
        assert (action, outcome, models_before, models_after) == ("refresh", "failed", len(before), None), error

    monkeypatch.delenv("MODELSYNC_FAULT")
    assert sync(database_url, redis_url, replay_dir, selection=PUBLISH).success
    assert counts_by_provider(database_url)["openrouter"] == 5
    assert cached_rows(redis_client) == table_rows(database_url)


def test_exception_before_the_cache_switch_keeps_readers_on_the_old_version(synced, redis_url, redis_client, replay_dir, monkeypatch):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    version, cached_before = cache.current_version(redis_client), cached_rows(redis_client)
    _shrink(replay_dir, "mistral", 3)
    monkeypatch.setenv("MODELSYNC_FAULT", "cache:before_switch=raise")
    result = sync(database_url, redis_url, replay_dir, force=True)
    assert list(step_failures(result)) == ["models_cache"]
    assert cache.current_version(redis_client) == version
    assert cached_rows(redis_client) == cached_before
    assert counts_by_provider(database_url)["mistral"] == 3  # the table moved on; the cache heals next run


def _assert_equal(actual, expected) -> None:
    assert actual == expected


_KILL_SCRIPT = """
import sys
from tests.pipeline import PUBLISH, sync
result = sync(sys.argv[1], sys.argv[2], selection=PUBLISH)
sys.exit(0 if result.success else 1)
"""


@pytest.mark.parametrize("point", ["refresh:before_delete", "refresh:after_delete", "refresh:after_update", "refresh:after_insert", "refresh:before_commit"])
def test_sigkill_inside_refresh_leaves_the_previous_table(synced, redis_url, redis_client, replay_dir, tmp_path, point):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    before, cached_before = table_rows(database_url), cached_rows(redis_client)
    _shrink(replay_dir, "nebius", 7)
    assert sync(database_url, redis_url, replay_dir, selection=[providers("nebius")[0]], force=True).success

    # Readers during the open transaction still see the previous catalog, whole.
    kill_at(point, _KILL_SCRIPT, [database_url, redis_url], tmp_path,
            while_paused=lambda: _assert_equal(table_rows(database_url), before))
    assert table_rows(database_url) == before
    assert cached_rows(redis_client) == cached_before

    assert sync(database_url, redis_url, replay_dir, selection=PUBLISH).success
    assert counts_by_provider(database_url)["nebius"] == 7


def _staged(database_url) -> dict[str, list]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT provider_slug, model_id, content_hash FROM staged_catalogs ORDER BY 1, 2").fetchall()
    staged: dict[str, list] = {}
    for slug, model_id, digest in rows:
        staged.setdefault(slug, []).append((model_id, digest))
    return staged


def test_every_provider_that_fails_to_fetch_keeps_its_last_good_catalog(database_url, redis_url, replay_dir):
    """All 37 providers staged, then every one answers 503: each fails at fetch, named, and keeps its rows."""
    from modelsync_pipeline.providers.registry import PROVIDERS

    catalogs = [dg.AssetKey(spec.asset_name) for spec in PROVIDERS]
    assert sync(database_url, redis_url, replay_dir, selection=catalogs).success
    before = _staged(database_url)
    assert set(before) == {spec.slug for spec in PROVIDERS}
    assert {slug: len(rows) for slug, rows in before.items()} == expected_counts(replay_dir)

    for spec in PROVIDERS:
        if not spec.static:  # a static catalog is a file in the repo, not a request that can fail
            (replay_dir / spec.recorded).with_suffix(".status").write_text("503")
    result = sync(database_url, redis_url, replay_dir, selection=catalogs)
    failures = provider_failures(result)
    failing = {spec.asset_name for spec in PROVIDERS if not spec.static}
    assert set(failures) == failing
    for spec in PROVIDERS:
        if not spec.static:
            assert f"provider '{spec.slug}' failed at fetch: HTTP 503" in failures[spec.asset_name]
    assert _staged(database_url) == before


@pytest.mark.parametrize("message, recorded", [
    ("disk full", "RuntimeError: disk full"),
    # a message quoting upstream text that PostgreSQL's text cannot hold (NUL, a lone surrogate)
    ("bad name 'Ctrl\x00 Model' \ud800", "RuntimeError: bad name 'Ctrl\\u0000 Model' \ufffd"),
    # a library's message quoting the provider's key (in a URL, percent-encoded): redacted like a fetch error
    ("GET https://x/?key=gsk%2FLEAK%2B0123456789 refused", "RuntimeError: GET https://x/?key=[redacted] refused"),
])
def test_an_unexpected_error_while_staging_one_provider_is_that_providers_failure(
        synced, redis_url, replay_dir, monkeypatch, message, recorded):
    """A crash in one provider's staging (after its checks passed) fails that provider, not the run, and is
    recorded whatever its message holds."""
    from modelsync_pipeline.defs import provider_catalogs

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    monkeypatch.setenv("GROQ_API_KEY", "gsk/LEAK+0123456789")
    before = table_rows(database_url)
    real = provider_catalogs.stage_provider_catalog

    def stage(conn, spec, frame, run_id, source, **when):
        if spec.slug == "groq":
            raise RuntimeError(message)
        return real(conn, spec, frame, run_id, source, **when)

    monkeypatch.setattr(provider_catalogs, "stage_provider_catalog", stage)
    _shrink(replay_dir, "groq", 10)
    _shrink(replay_dir, "openai", 10)
    result = sync(database_url, redis_url, replay_dir, force=True)
    assert result.success and "groq_catalog" not in materialized(result)
    assert counts_by_provider(database_url)["openai"] == 10
    assert {k: v for k, v in table_rows(database_url).items() if k[0] == "groq"} == {
        k: v for k, v in before.items() if k[0] == "groq"}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT outcome, step, error FROM sync_attempts WHERE provider_slug = 'groq' "
                            "ORDER BY id DESC LIMIT 1").fetchone() == ("process_failed", "process", recorded)


def test_last_synced_moves_only_for_providers_that_answered(synced, redis_url, replay_dir):
    """`make status` shows providers.last_synced_at as "last synced": a provider that failed keeps its last
    good catalog in the table, and the time it was last synced with it."""
    def last_synced():
        with psycopg.connect(synced) as conn:
            return dict(conn.execute("SELECT slug, (last_synced_at, last_sync_run_id) FROM providers").fetchall())

    before = last_synced()
    (replay_dir / "groq.status").write_text("503")
    result = sync(synced, redis_url, replay_dir)
    assert result.success
    after = last_synced()
    assert after["groq"] == before["groq"]
    assert after["openai"] != before["openai"] and after["openai"][1] == result.run_id
    # A run that fetched one provider refreshes the table with every catalog; the others were not synced in it.
    (replay_dir / "groq.status").unlink()
    only_groq = sync(synced, redis_url, replay_dir, selection=[dg.AssetKey("groq_catalog"), *PUBLISH])
    assert only_groq.success
    again = last_synced()
    assert again["groq"][1] == only_groq.run_id and again["groq"][0] > after["openai"][0]
    assert again["openai"] == after["openai"]


def _audit_rows(database_url):
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT action, outcome, error, models_before, models_after FROM audit_log "
                            "ORDER BY id").fetchall()


def test_a_write_whose_connection_is_lost_is_audited_through_another_and_says_what_happened(synced, tmp_path,
                                                                                            monkeypatch):
    """The connection terminated inside a refresh (pg_terminate_backend, a failover): the audit row was
    written on the dead connection, which raised instead, so there was no audit row and the only reason left
    was "the connection is lost", not whether anything had changed."""
    from modelsync_pipeline import db, writes
    from modelsync_pipeline.providers.registry import PROVIDERS

    from .faults import paused_at

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    audits_before = len(_audit_rows(database_url))
    before = table_rows(database_url)
    conn = db.connect(database_url)

    def write():
        return writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="lost", launched_by="test"),
                                    PROVIDERS, reconnect=lambda: db.connect(database_url))

    with paused_at("refresh:after_delete", write, tmp_path, monkeypatch) as outcome:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    conn.close()
    error = outcome["error"]
    assert isinstance(error, writes.WriteFailed), repr(error)
    assert "refresh failed: the connection to PostgreSQL was lost" in str(error)
    assert f"providers/models now (37, {len(before)})" in str(error)
    assert table_rows(database_url) == before
    [row] = _audit_rows(database_url)[audits_before:]
    assert row[:2] == ("refresh", "failed") and row[2].startswith("connection lost: ") and row[3:] == (len(before),) * 2


def test_a_write_cut_off_from_a_session_that_still_runs_is_not_said_to_have_rolled_back(synced, tmp_path,
                                                                                       monkeypatch):
    """The network cut inside a refresh, its server session left behind (idle in its transaction, until TCP
    keepalive or the server's timeouts end it): the write said "a transaction whose connection is lost before it
    commits is rolled back" while that transaction still held its locks and could not yet be known to end. It now
    says the session still runs, leaves its audit row started, and the next write gives it its outcome."""
    from modelsync_pipeline import db, writes
    from modelsync_pipeline.providers.registry import PROVIDERS

    from .faults import Relay, paused_at

    database_url = synced
    before = table_rows(database_url)
    request = writes.WriteRequest(mode="refresh", run_id="cut-off", launched_by="test")
    with Relay(database_url) as relay:
        conn = db.connect(relay.url)
        with paused_at("refresh:after_delete", lambda: writes.write_catalog(
                conn, request, PROVIDERS, reconnect=lambda: db.connect(database_url)), tmp_path, monkeypatch) as outcome:
            with psycopg.connect(database_url) as watcher:
                [(started, port)] = watcher.execute(
                    "SELECT l.id, a.client_port FROM audit_log l JOIN pg_stat_activity a ON a.pid = l.writer_pid "
                    "WHERE l.outcome = 'started'").fetchall()
            relay.cut(port)
        conn.close()
        error = outcome["error"]
        assert isinstance(error, writes.WriteFailed), repr(error)
        assert "its server session still runs, holding the write's locks, so whether it commits is not known yet" in str(error), str(error)
        assert "rolled back" not in str(error), str(error)
        assert [row[:2] for row in _audit_rows(database_url)][-1] == ("refresh", "started")
        relay.close_server(port)  # the server finds its client gone: the transaction rolls back
    with db.connect(database_url) as conn:
        for _ in range(100):  # its session ends as the server reads the closed socket
            if not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE client_port = %s", (port,)).fetchone()[0]:
                break
            time.sleep(0.05)
        writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="next", launched_by="test"), PROVIDERS)
    assert table_rows(database_url) == before
    with psycopg.connect(database_url) as conn:
        outcome, said = conn.execute("SELECT outcome, error FROM audit_log WHERE id = %s", (started,)).fetchone()
    assert outcome == "failed" and "nothing was changed" in said, said


def test_a_refresh_whose_connection_is_lost_in_its_commit_that_went_through_is_materialized_and_published(
        synced, redis_url, redis_client, replay_dir):
    """The network cut while models_table waited for its COMMIT's reply, which the server completed: the step failed
    "the connection to PostgreSQL was lost" and the cache was never published from a table that had changed. The
    write is what it was (writes._failed): the step materializes the table, says its connection was lost after
    the COMMIT, and models_cache publishes what the table now holds."""
    from .faults import Relay, cut_in_commit, slow_commits

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    _shrink(replay_dir, "openrouter", 5)
    assert sync(database_url, redis_url, replay_dir, selection=[providers("openrouter")[0]], force=True).success
    with psycopg.connect(database_url, autocommit=True) as conn:
        slow_commits(conn)
    with Relay(database_url) as relay, cut_in_commit(relay, database_url) as cut:
        result = sync(relay.url, redis_url, replay_dir, selection=PUBLISH)
    assert cut == ["cut"], cut
    assert result.success, step_failures(result)
    assert counts_by_provider(database_url)["openrouter"] == 5
    [table] = [event.event_specific_data.materialization for event in result.get_asset_materialization_events()
               if event.asset_key == dg.AssetKey("models_table")]
    assert "the COMMIT went through: the change stands" in table.metadata["connection_lost"].value
    assert table.metadata["models_after"].value == sum(counts_by_provider(database_url).values())
    assert cached_rows(redis_client) == table_rows(database_url)  # published from the changed table
    action, outcome, error, models_before, models_after = _audit_rows(database_url)[-1]
    assert (action, outcome, models_after) == ("refresh", "succeeded", table.metadata["models_after"].value)


def test_a_write_whose_first_statement_fails_is_audited(synced):
    """A lock or statement timeout on the write's first statement failed the step without an audit row. The
    tables are still locked when it is audited: its counts are left out rather than waited for."""
    from modelsync_pipeline import db, writes
    from modelsync_pipeline.providers.registry import PROVIDERS

    database_url = synced
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        with db.connect(database_url) as conn:
            conn.execute("SET lock_timeout = '200ms'")
            with pytest.raises(writes.WriteFailed, match="refresh failed and was rolled back.*LockNotAvailable"):
                writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="t", launched_by="test"),
                                     PROVIDERS)
    assert _audit_rows(database_url)[-1][:2] == ("refresh", "failed")
    assert _audit_rows(database_url)[-1][3:] == (None, None)


def test_a_connection_lost_while_staging_one_provider_fails_that_provider_alone(synced, redis_url, replay_dir,
                                                                                 monkeypatch):
    """The staging connection terminated under one provider: recording its failure on the dead connection
    raised instead, so the step failed with "the connection is lost", no provider after it was staged, and
    the real cause was only in a log line."""
    from modelsync_pipeline.defs import provider_catalogs

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    real = provider_catalogs.stage_provider_catalog

    def stage(conn, spec, frame, run_id, source, **when):
        if spec.slug == "groq":
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        return real(conn, spec, frame, run_id, source, **when)

    monkeypatch.setattr(provider_catalogs, "stage_provider_catalog", stage)
    _shrink(replay_dir, "openai", 10)
    result = sync(database_url, redis_url, replay_dir, force=True)
    assert result.success, step_failures(result)
    assert "groq_catalog" not in materialized(result) and "openai_catalog" in materialized(result), provider_failures(result)
    assert counts_by_provider(database_url)["openai"] == 10  # the providers after it were staged and published
    with psycopg.connect(database_url) as conn:
        outcome, error = conn.execute("SELECT outcome, error FROM sync_attempts WHERE provider_slug = 'groq' "
                                      "ORDER BY id DESC LIMIT 1").fetchone()
    assert outcome == "process_failed" and "AdminShutdown: terminating connection" in error


def test_a_statement_failing_after_the_write_committed_still_materializes_and_publishes(synced, redis_url,
                                                                                         redis_client, replay_dir,
                                                                                         monkeypatch):
    """The refresh committed, then a query describing it hit temp_file_limit: the step failed, so the change
    had no materialization and the cache went on serving the catalog the table no longer held."""
    from modelsync_pipeline.defs import catalog

    def describing_fails(conn, run_id, sources):
        raise psycopg.errors.ConfigurationLimitExceeded("temporary file size exceeds temp_file_limit (0kB)")

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    monkeypatch.setattr(catalog, "_stale_providers", describing_fails)
    _shrink(replay_dir, "openai", 10)
    result = sync(database_url, redis_url, replay_dir, force=True)
    assert result.success, step_failures(result)
    assert {"models_table", "models_cache"} <= materialized(result)
    assert counts_by_provider(database_url)["openai"] == 10
    assert {k: v for k, v in cached_rows(redis_client).items() if k[0] == "openai"} == {
        k: v for k, v in table_rows(database_url).items() if k[0] == "openai"}


@pytest.mark.parametrize("mode", ["refresh", "flush_models"])
def test_a_write_whose_connection_is_lost_after_its_commit_stands_and_is_audited(synced, tmp_path, monkeypatch, mode):
    """The connection lost between the COMMIT and the audit row (a failover): the audit row was written on the
    dead connection, which raised a bare AdminShutdown, so a write that had changed the tables had no audit row
    and failed its step, and the cache was never published from it."""
    from modelsync_pipeline import db, writes
    from modelsync_pipeline.providers.registry import PROVIDERS

    from .faults import paused_at
    from .pipeline import approval_for

    database_url = synced
    audits_before = len(_audit_rows(database_url))
    models_before = len(table_rows(database_url))
    conn = db.connect(database_url)
    extra = {"confirm": "DELETE_ALL_MODELS", "approval": approval_for("flush_models")} if mode == "flush_models" else {}

    def write():
        request = writes.WriteRequest(mode=mode, run_id="lost-after-commit", launched_by="test", **extra)
        return writes.write_catalog(conn, request, PROVIDERS, reconnect=lambda: db.connect(database_url))

    with paused_at("write:after_commit", write, tmp_path, monkeypatch) as outcome:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    conn.close()
    assert outcome.get("error") is None, repr(outcome.get("error"))
    written = outcome["result"]
    models_after = 0 if mode == "flush_models" else models_before
    assert len(table_rows(database_url)) == models_after
    assert written.after == (37, models_after)
    [row] = _audit_rows(database_url)[audits_before:]
    assert row == (writes.ACTIONS[mode], "succeeded", None, models_before, models_after)
    assert written.audit_id is not None and "audit" not in written.details


def test_a_committed_write_whose_audit_row_cannot_be_written_still_stands_and_says_so(synced, tmp_path, monkeypatch):
    """No connection to write the audit row with (no reconnect): the committed refresh is returned, with why its
    audit row is missing, not failed."""
    from modelsync_pipeline import db, writes
    from modelsync_pipeline.providers.registry import PROVIDERS

    from .faults import paused_at

    audits_before = len(_audit_rows(synced))
    conn = db.connect(synced)

    def write():
        return writes.write_catalog(conn, writes.WriteRequest(mode="refresh", run_id="no-audit", launched_by="test"),
                                    PROVIDERS)

    with paused_at("write:after_commit", write, tmp_path, monkeypatch) as outcome:
        with psycopg.connect(synced, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    conn.close()
    written = outcome["result"]
    assert written.audit_id is None
    assert written.details["audit"].startswith("refresh committed, but its audit row could not be written (")
    # its row stays as written before the write began, 'started', for the next write to give an outcome
    assert _audit_rows(synced)[audits_before:] == [("refresh", "started", None, None, None)]
