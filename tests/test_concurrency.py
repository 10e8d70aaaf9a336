"""Providers fetched at once over real sockets (the fake provider server), each within its own deadline.

A hung provider and a slow one run beside healthy ones: the hung one is named with its step and reason and
keeps its last good catalog, the slow one still arrives, and everyone else is published in the same run.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from modelsync_pipeline.providers.http import ProviderClient, ProviderFetchError, RetryPolicy
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG

from .fake_providers import FakeProviders
from .pipeline import materialized, provider_failures, providers, sync
from .test_failures import _shrink
from .test_pipeline import cached_rows, counts_by_provider, expected_counts, table_rows


def _client(fake, slug, **kwargs):
    return ProviderClient(PROVIDERS_BY_SLUG[slug], environ=fake.environ(), **kwargs)


def test_every_provider_is_served_by_the_fake_server_through_the_live_client(fake):
    for spec in PROVIDERS:
        with _client(fake, spec.slug) as client:
            assert client.fetch_records(), spec.slug
    assert set(fake.requests) == {spec.slug for spec in PROVIDERS}


@pytest.mark.parametrize(("fault", "step", "reason"), [
    ("500", "fetch", "HTTP 500"),
    ("malformed", "decode", "malformed JSON"),
    ("truncated", "decode", "malformed JSON"),
])
def test_faults_are_named_with_their_step(fake, fault, step, reason):
    fake.set("groq", fault=fault)
    with _client(fake, "groq", retry=RetryPolicy(max_attempts=2, backoff_seconds=0.01)) as client:
        with pytest.raises(ProviderFetchError) as err:
            client.fetch_records()
    assert (err.value.provider, err.value.step) == ("groq", step) and reason in err.value.reason
    assert "fake-groq-key" not in str(err.value)


def test_429_with_retry_after_is_honoured_then_succeeds(fake):
    fake.set("openai", fault="429", times=1, retry_after=0.8)  # longer than the first backoff (0.5 s)
    sleeps = []
    with _client(fake, "openai", sleep=lambda s: (sleeps.append(s), time.sleep(s))) as client:
        assert len(client.fetch_records()) == expected_counts()["openai"]
    assert sleeps == [0.8] and fake.requests["openai"] == 2


def test_a_hung_provider_gives_up_at_its_deadline_not_after_every_retry(fake):
    fake.set("mistral", fault="hang")
    with _client(fake, "mistral", deadline_seconds=1.5) as client:
        with pytest.raises(ProviderFetchError) as err:
            client.fetch_records()
    assert err.value.step == "fetch" and "1.5 s deadline (1 attempt; last: ReadTimeout" in err.value.reason
    # one request, cut at the deadline: not 4 attempts of a 30 s timeout each
    assert fake.requests["mistral"] == 1


def test_a_hung_and_a_slow_provider_beside_healthy_ones(fake, database_url, redis_url):
    assert sync(database_url, redis_url, provider_api={"source": "live"}).success
    before = table_rows(database_url)

    fake.set("mistral", fault="hang")
    fake.set("groq", latency=1.0)
    fake.set("deepinfra", fault="503")
    result = sync(database_url, redis_url, provider_api={"source": "live", "deadline_seconds": 3.0})

    failures = provider_failures(result)
    assert set(failures) == {"mistral_catalog", "deepinfra_catalog"}
    assert "provider 'mistral' failed at fetch: no complete answer within its 3 s deadline" in failures["mistral_catalog"]
    assert "HTTP 503" in failures["deepinfra_catalog"]
    assert "groq_catalog" in materialized(result)  # slow, but within its deadline
    assert result.success and {"models_table", "models_cache"} <= materialized(result)
    # the hung provider's time was its own: asked once more (after the first sync), cut at its deadline
    assert fake.requests["mistral"] == 2
    after = table_rows(database_url)
    for slug in ("mistral", "deepinfra"):
        assert {k: v for k, v in after.items() if k[0] == slug} == {k: v for k, v in before.items() if k[0] == slug}
    assert counts_by_provider(database_url) == expected_counts()


def test_a_one_provider_backfill_refreshes_table_and_cache_from_its_new_catalog(
        database_url, redis_url, redis_client, replay_dir, monkeypatch):
    """Selecting one provider (and its downstream) re-syncs it alone: the table and the cache get its new
    catalog and everyone else's last good one, even though others changed upstream meanwhile."""
    with FakeProviders(replay_dir) as server:
        for name, value in server.environ().items():
            monkeypatch.setenv(name, value)
        assert sync(database_url, redis_url, provider_api={"source": "live"}).success
        before = table_rows(database_url)

        _shrink(replay_dir, "groq", 14)    # groq dropped two models upstream
        _shrink(replay_dir, "openai", 5)   # openai changed too, but is not selected
        result = sync(database_url, redis_url, selection=providers("groq"), provider_api={"source": "live"})

    assert result.success
    assert materialized(result) == {"groq_catalog", "provider_catalogs", "models_table", "models_cache"}
    assert server.requests.get("openai") == 1  # only the first full sync asked openai
    counts = counts_by_provider(database_url)
    assert counts["groq"] == 14 and counts["openai"] == expected_counts()["openai"]
    after = table_rows(database_url)
    assert {k: v for k, v in after.items() if k[0] != "groq"} == {k: v for k, v in before.items() if k[0] != "groq"}
    assert cached_rows(redis_client) == after


def test_the_progress_line_shows_the_url_really_requested(fake, database_url, redis_url):
    """With MODELSYNC_<SLUG>_BASE_URL set, the operator reads the host the request went to, not the default."""
    import dagster as dg

    with dg.instance_for_test() as instance:
        result = sync(database_url, redis_url, selection=providers("deepinfra"), instance=instance,
                      provider_api={"source": "live"})
        assert result.success
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    fetching = [m for m in messages if m.startswith("deepinfra: fetching")]
    assert fetching == [f"deepinfra: fetching {fake.base_url('deepinfra')}/models (live)"]
    assert not any("api.deepinfra.com" in m for m in messages)


def test_a_credential_in_a_base_url_override_is_used_and_never_shown_or_stored(fake, database_url, redis_url,
                                                                                monkeypatch):
    """A proxy's "http://user:token@host/..." in MODELSYNC_<SLUG>_BASE_URL: the request carries it; the
    progress line, the run's logs and providers.base_url show the URL without it."""
    import dagster as dg
    import psycopg

    base = fake.base_url("deepinfra")
    scheme, rest = base.split("://", 1)
    monkeypatch.setenv("MODELSYNC_DEEPINFRA_BASE_URL", f"{scheme}://proxy-user:pr0xy-t0ken@{rest}")
    with dg.instance_for_test() as instance:
        result = sync(database_url, redis_url, selection=providers("deepinfra"), instance=instance,
                      provider_api={"source": "live"})
        assert result.success
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert f"deepinfra: fetching {base}/models (live)" in messages
    assert not any("pr0xy-t0ken" in m or "proxy-user" in m for m in messages)
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT base_url FROM providers WHERE slug = 'deepinfra'").fetchone()[0]
    assert stored == base


def test_a_first_live_run_whose_fetches_fail_names_the_replayed_catalogs_it_keeps(synced, redis_url, fake):
    """A new live deployment on a database a replay run filled: when its first live fetches fail, every catalog
    in the table is still a recorded payload, and with no live catalog beside them nothing said so."""
    failing = ("groq", "cerebras")
    for slug in failing:
        fake.set(slug, fault="500")
    result = sync(synced, redis_url, selection=providers(*failing), provider_api={"source": "live"})
    assert provider_failures(result).keys() == {f"{slug}_catalog" for slug in failing}
    table = [m.metadata for m in result.asset_materializations_for_node("models_table")]
    replayed = sorted(spec.slug for spec in PROVIDERS if not spec.static)
    assert len(table) == 1 and table[0]["replayed_beside_live"].value == replayed


def test_a_live_run_records_where_each_catalog_came_from_and_names_replayed_ones_it_keeps(
        synced, redis_url, fake, monkeypatch, capsys):
    """`synced` staged every catalog from the recorded payloads (replay). A live run in which groq fails keeps
    groq's replayed catalog: it used to stay in the table beside live data, unmarked."""
    from modelsync_pipeline import cli
    from modelsync_pipeline.db import statements

    fake.set("groq", fault="500")
    result = sync(synced, redis_url, provider_api={"source": "live"})
    assert provider_failures(result).keys() == {"groq_catalog"}
    with psycopg.connect(synced) as conn:
        sources = dict(conn.execute(statements("stage_catalog")["catalog_sources"]).fetchall())
    # the others were fetched live; their content equals the recorded one, so only where it came from changed
    assert sources == {spec.slug: "replay" if spec.slug == "groq" else "static" if spec.static else "live"
                       for spec in PROVIDERS}
    table = [m.metadata for m in result.asset_materializations_for_node("models_table")]
    assert len(table) == 1 and table[0]["replayed_beside_live"].value == ["groq"]
    assert table[0]["catalog_sources"].value == {"live": len(PROVIDERS) - 2, "replay": 1, "static": 1}
    stale = table[0]["stale_providers"].value
    assert "groq" in stale and "replay" in stale
    for spec in PROVIDERS[:3]:
        staged = [m for m in result.asset_materializations_for_node("fetch_provider_catalogs")
                  if m.asset_key.path == [spec.asset_name]]
        assert spec.slug == "groq" or staged[0].metadata["source"].value == ("static" if spec.static else "live")
    monkeypatch.setenv("DATABASE_URL", synced)
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "replayed beside live (recorded payloads, not fetched live since): groq" in out
    groq = next(line for line in out.splitlines() if line.split()[:1] == ["groq"])
    assert groq.split()[2] == "replay", groq
