"""Two runs that fetch the same provider at once stage in whatever order their steps reach the stage. A
catalog fetched before the one already staged never replaces it (migration 0015): its stage is recorded as
'superseded' and the later fetch stays staged and published. Real PostgreSQL; the second test runs two real
syncs at once against the fake provider server."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsync_pipeline import db

from .fake_providers import FakeProviders
from .pipeline import materialized, providers, sync
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
    """Run A syncs groq and its answer is slow. Run B, launched meanwhile, fetches groq's new list (two models
    fewer), stages and publishes it. A's answer then arrives: its catalog, fetched before B's, is not staged;
    A's run is green, says so, and the table and B's publish keep B's catalog. Before migration 0015 A staged
    and published its older list over B's."""
    release = threading.Event()
    with FakeProviders() as fake:  # A: live, through the fake server, from the recorded payloads
        for name, value in fake.environ().items():
            monkeypatch.setenv(name, value)
        fake.set("groq", held=release)
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
            while not fake.requests.get("groq"):  # A's fetch has begun
                assert thread.is_alive() and time.monotonic() < deadline, outcome
                time.sleep(0.02)
            _shrink(replay_dir, "groq", expected_counts()["groq"] - 2)
            later = sync(database_url, redis_url, replay_dir=replay_dir, selection=providers("groq"),
                         provider_api={"source": "replay"})
            assert later.success and counts_by_provider(database_url)["groq"] == expected_counts()["groq"] - 2
        finally:
            release.set()
            thread.join(120)
    earlier = outcome.get("result")
    assert earlier is not None, outcome
    assert earlier.success
    assert "groq_catalog" not in materialized(earlier) and "models_table" in materialized(earlier)
    staging = [m.metadata for m in earlier.asset_materializations_for_node("fetch_provider_catalogs")
               if m.asset_key.path == ["provider_catalogs"]]
    assert staging[0]["providers_superseded"].value == ["groq"] and staging[0]["providers_failed"].value == 0
    assert counts_by_provider(database_url)["groq"] == expected_counts()["groq"] - 2
    with psycopg.connect(database_url) as conn:
        last = attempts(conn, "groq")[-1]
    assert last[:2] == (earlier.run_id, "superseded") and f"run {later.run_id}" in last[2]


def test_fetch_times_come_from_the_database_clock_never_the_workers(database_url, redis_url, monkeypatch):
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
    assert sync(database_url, redis_url, selection=providers("groq")).success
    with psycopg.connect(database_url) as conn:
        after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        fetched = conn.execute("SELECT fetched_at FROM provider_catalog_versions WHERE provider_slug = 'groq'").fetchone()[0]
    assert before <= fetched <= after
