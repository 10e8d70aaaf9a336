"""Two runs that fetch the same provider at once stage in whatever order their steps reach the stage. A
catalog fetched before the one already staged never replaces it (migration 0015): its stage is recorded as
'superseded' and the later fetch stays staged and published. Real PostgreSQL; the second test runs two real
syncs at once against the fake provider server."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsync_pipeline import db
from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG

from .fake_providers import FakeProviders
from .pipeline import materialized, provider_failures, providers, sync
from .test_bulk_path import SPECS, catalog, staged
from .test_failures import _shrink
from .test_pipeline import counts_by_provider, expected_counts

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def attempts(conn, slug: str) -> list[tuple[str, str, str | None]]:
    return conn.execute("SELECT run_id, outcome, error FROM sync_attempts WHERE provider_slug = %s ORDER BY id",
                        (slug,)).fetchall()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fetch_minutes=st.lists(st.integers(0, 5), min_size=1, max_size=5),
       same_content=st.lists(st.booleans(), min_size=5, max_size=5))
def test_whatever_order_fetches_are_staged_in_the_latest_fetch_stays_staged(database_url, fetch_minutes, same_content):
    """Fetch i began at minute fetch_minutes[i] and is staged i-th. After each stage the staged catalog is that
    of the latest fetch so far (the earliest staged among equal times, which a later one at the same time
    replaces); every stage of an earlier fetch is recorded as superseded, naming the run that stays."""
    spec = SPECS[0]
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        conn.execute("TRUNCATE provider_catalog_versions, provider_catalogs, provider_catalog_changes, "
                     "provider_catalog_delta, sync_attempts")
        newest = None  # (minute, run, content) of the fetch that must be staged
        for i, minute in enumerate(fetch_minutes):
            # a catalog that equals the staged one (same content, a later fetch) or differs from every other
            content = newest[2] if newest is not None and same_content[i] else {f"model-{i}-{j}": 1.0 + j for j in range(3)}
            result = db.stage_provider_catalog(conn, spec, catalog(spec.slug, content), f"run-{i}",
                                               fetched_at=T0 + timedelta(minutes=minute))
            run_id, outcome, error = attempts(conn, spec.slug)[-1]
            assert run_id == f"run-{i}"
            if newest is not None and minute < newest[0]:
                assert outcome == "superseded" and result.superseded_by is not None and not result.changed
                assert f"run {newest[1]}" in error and error == result.superseded_by
            else:
                assert outcome in ("staged", "unchanged") and result.superseded_by is None
                newest = (minute, f"run-{i}" if outcome == "staged" or newest is None else newest[1], content)
            expected = catalog(spec.slug, newest[2])
            assert {k[1]: v for k, v in staged(conn).items()} == dict(zip(expected["model_id"], expected["content_hash"]))
            fetched = conn.execute("SELECT fetched_at FROM provider_catalog_versions WHERE provider_slug = %s",
                                   (spec.slug,)).fetchone()[0]
            assert fetched == T0 + timedelta(minutes=max(fetch_minutes[: i + 1]))


def test_a_stage_without_a_fetch_time_is_never_refused(database_url):
    """A caller that gives no fetch time (an older worker, a script) stages as before, and after it no order is
    known: the next fetch, whatever its time, is staged."""
    spec = SPECS[0]
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, {"model-a": 1.0}), "timed", fetched_at=T0)
        assert db.stage_provider_catalog(conn, spec, catalog(spec.slug, {"model-b": 1.0}), "untimed").changed
        older = db.stage_provider_catalog(conn, spec, catalog(spec.slug, {"model-c": 1.0}), "older",
                                          fetched_at=T0 - timedelta(days=1))
        assert older.changed and older.superseded_by is None
        assert [k[1] for k in staged(conn)] == ["model-c"]


def test_a_fetch_that_began_before_another_runs_stage_does_not_replace_its_catalog(
        database_url, redis_url, replay_dir, monkeypatch):
    """Run A syncs groq live and its answer is slow: an old list of 4 models. Run B, launched meanwhile, fetches
    groq's whole list live, stages and publishes it. A's answer then arrives: fetched before B's, it is neither
    checked against B's catalog (it would fail its shrink check, 16 -> 4) nor staged; A's run is green, says
    so, and the table keeps B's catalog. Before migration 0015 A staged and published its older list."""
    full = expected_counts()["groq"]
    _shrink(replay_dir, "groq", 4)
    release = threading.Event()
    with FakeProviders(replay_dir) as old, FakeProviders() as new:
        for name, value in old.environ().items():
            monkeypatch.setenv(name, value)
        old.set("groq", held=release)
        outcome: dict = {}

        def run_a():
            try:
                outcome["result"] = sync(database_url, redis_url, selection=providers("groq"),
                                         provider_api={"source": "live"})
            except BaseException as exc:  # noqa: BLE001 - read by the test's thread
                outcome["error"] = exc

        thread = threading.Thread(target=run_a)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while not old.requests.get("groq"):  # A's fetch has begun
                assert thread.is_alive() and time.monotonic() < deadline, outcome
                time.sleep(0.02)
            monkeypatch.setenv(PROVIDERS_BY_SLUG["groq"].base_url_env, new.base_url("groq"))
            later = sync(database_url, redis_url, selection=providers("groq"), provider_api={"source": "live"})
            assert later.success and counts_by_provider(database_url)["groq"] == full
        finally:
            release.set()
            thread.join(120)
    earlier = outcome.get("result")
    assert earlier is not None, outcome
    assert earlier.success and not provider_failures(earlier)
    assert "groq_catalog" not in materialized(earlier) and "models_table" in materialized(earlier)
    staging = [m.metadata for m in earlier.asset_materializations_for_node("fetch_provider_catalogs")
               if m.asset_key.path == ["provider_catalogs"]]
    assert staging[0]["providers_superseded"].value == ["groq"] and staging[0]["providers_failed"].value == 0
    assert counts_by_provider(database_url)["groq"] == full
    with psycopg.connect(database_url) as conn:
        last = attempts(conn, "groq")[-1]
    assert last[:2] == (earlier.run_id, "superseded") and f"run {later.run_id}" in last[2]


def test_a_later_catalog_staged_while_this_one_is_checked_supersedes_it_rather_than_failing_it(
        database_url, redis_url, replay_dir, monkeypatch):
    """Another run stages groq's whole list (16 models) while this run builds its older list of 4: this run's
    shrink check would compare it with that later catalog and fail (16 -> 4). It is superseded instead."""
    from modelsync_pipeline import catalog as catalog_module
    from modelsync_pipeline.providers.http import recorded_items

    full = expected_counts()["groq"]
    _shrink(replay_dir, "groq", 4)
    real, meanwhile = catalog_module.build_catalog, []

    def build(spec, records):
        if spec.slug == "groq" and not meanwhile:
            with db.connect(database_url) as other:
                db.stage_provider_catalog(other, spec, real(spec, recorded_items(spec)), "later-run",
                                          fetched_at=db.server_time(other))
            meanwhile.append(spec.slug)
        return real(spec, records)

    monkeypatch.setattr(catalog_module, "build_catalog", build)
    with FakeProviders(replay_dir) as server:
        for name, value in server.environ().items():
            monkeypatch.setenv(name, value)
        result = sync(database_url, redis_url, selection=providers("groq"), provider_api={"source": "live"})
    assert meanwhile == ["groq"] and result.success and not provider_failures(result)
    assert counts_by_provider(database_url)["groq"] == full
    with psycopg.connect(database_url) as conn:
        last = attempts(conn, "groq")[-1]
    assert last[:2] == (result.run_id, "superseded") and "run later-run" in last[2]


def test_a_superseded_attempt_neither_hides_a_later_failure_nor_refuses_a_reset(database_url):
    """A superseded attempt changed nothing staged. The stale report and `make status` show the attempt before
    it (a failure stays visible), and a reset whose own fetch was superseded reloads the later catalog."""
    from modelsync_pipeline.defs.catalog import _not_fetched_for_reset, _stale_providers

    spec = SPECS[0]
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, {"model-a": 1.0}), "B", fetched_at=T0)
        db.record_failed_attempt(conn, spec.slug, "C", "check_failed", "truth_guard", "a price moved 100x")
        assert db.superseded(conn, spec.slug, "A", T0 - timedelta(minutes=1))
        [stale] = [s for s in _stale_providers(conn, "A", {}) if s["provider"] == spec.slug]
        assert (stale["outcome"], stale["step"]) == ("check_failed", "truth_guard")
        db.sync_providers(conn, [spec])
        [status] = [p for p in db.catalog_status(conn)["providers"] if p["provider"] == spec.slug]
        assert status["last_attempt"].startswith("check_failed at truth_guard")
        assert status["last_good_fetched_at"] == T0
        assert not any(p.startswith(spec.slug) for p in _not_fetched_for_reset(conn, "A"))
        assert f"{spec.slug} failed at truth_guard: a price moved 100x" in _not_fetched_for_reset(conn, "C")
        assert _not_fetched_for_reset(conn, "D") == [
            "no provider was fetched in this run (a re-execution from models_table, or the table step launched alone, "
            "fetches none): launch reset_and_resync anew, whole"]


def test_a_fetch_time_without_its_zone_is_refused(database_url):
    spec = SPECS[0]
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        with pytest.raises(ValueError, match="time zone"):
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, {"model-a": 1.0}), "naive",
                                      fetched_at=datetime(2026, 11, 27, 12, 0))
        assert staged(conn) == {}


def test_a_replayed_catalog_is_staged_in_the_order_it_comes(synced, redis_url, replay_dir):
    """A recorded payload says nothing of when its list was true upstream: a replay run is staged whatever the
    staged catalog's fetch time, and leaves none behind (the next live fetch is staged too)."""
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute("UPDATE provider_catalog_versions SET fetched_at = clock_timestamp() + interval '1 day'")
    _shrink(replay_dir, "groq", 10)
    result = sync(synced, redis_url, replay_dir, selection=providers("groq"), provider_api={"source": "replay"})
    assert result.success and "groq_catalog" in materialized(result)
    assert counts_by_provider(synced)["groq"] == 10
    with psycopg.connect(synced) as conn:
        assert conn.execute("SELECT fetched_at FROM provider_catalog_versions WHERE provider_slug = 'groq'"
                            ).fetchone() == (None,)


def test_fetch_times_come_from_the_database_clock_never_the_workers(database_url, redis_url, fake, monkeypatch):
    """Fetch times order every worker's catalogs, so they are the database server's: a worker whose wall clock
    ran a year ahead would have had every later fetch of its providers refused for a year."""
    from modelsync_pipeline.defs import provider_catalogs

    class WorkerClock(datetime):  # this process's wall clock, a year ahead
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(days=365)

    monkeypatch.setattr(provider_catalogs, "datetime", WorkerClock)
    db.apply_migrations(database_url)
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    assert sync(database_url, redis_url, selection=providers("groq"), provider_api={"source": "live"}).success
    with psycopg.connect(database_url) as conn:
        after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        fetched = conn.execute("SELECT fetched_at FROM provider_catalog_versions WHERE provider_slug = 'groq'").fetchone()[0]
    assert before <= fetched <= after
