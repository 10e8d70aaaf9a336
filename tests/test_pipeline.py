"""End to end from replay: provider catalogs -> pandera -> models table -> Redis, on real servers."""

from __future__ import annotations

import json
import re

import psycopg

from modelsync_pipeline import cache
from modelsync_pipeline.providers.http import RECORDED_DIR, recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG

from .pipeline import providers, step_failures, sync

BAD_NAME = re.compile(r"^[^:]+:\s|\)$|[/@]")


def expected_counts(replay_dir=RECORDED_DIR) -> dict[str, int]:
    counts = {}
    for spec in PROVIDERS:
        items = recorded_items(spec, replay_dir)
        # one model per id: Morpheus lists an id once per registration, and the newest is the model
        counts[spec.slug] = len({spec.parse(item).model_id for item in items if spec.keep is None or spec.keep(item)})
    return counts


def table_rows(database_url) -> dict[tuple[str, str], dict]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT provider, model_id, to_jsonb(r)::text FROM catalog_rows r").fetchall()
    return {(p, m): json.loads(j) for p, m, j in rows}


def cached_rows(client) -> dict[tuple[str, str], dict]:
    version = cache.current_version(client)
    assert version, "no cache version published"
    members = client.zrange(cache.version_key(version, "all"), 0, -1)
    keys = [cache.model_key(version, *m.split(cache.SEP, 1)) for m in members]
    values = client.mget(keys) if keys else []
    return {tuple(m.split(cache.SEP, 1)): json.loads(v) for m, v in zip(members, values)}


def counts_by_provider(database_url) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return dict(conn.execute(
            "SELECT p.slug, count(*) FROM models m JOIN providers p ON p.id = m.provider_id GROUP BY 1"
        ).fetchall())


def test_full_sync_publishes_every_provider_with_clean_names(database_url, redis_url, redis_client):
    result = sync(database_url, redis_url)
    assert result.success, step_failures(result)

    assert counts_by_provider(database_url) == expected_counts()
    rows = table_rows(database_url)
    bad = [(key, row["model_name"]) for key, row in rows.items() if BAD_NAME.search(row["model_name"])]
    assert bad == []
    # the seed's examples, as a reader sees them
    assert rows[("cerebras", "llama3.1-8b")]["model_name"] == "Llama 3.1 8B"
    assert rows[("nebius", "deepseek-ai/DeepSeek-R1-0528")]["model_name"] == "DeepSeek R1 0528"
    assert rows[("cloudflare-workers-ai", "@cf/meta/llama-3.3-70b-instruct-fp8-fast")]["model_name"] == "Llama 3.3 70B Instruct FP8 Fast"
    assert rows[("fireworks", "accounts/fireworks/models/kimi-k2p6")]["model_name"] == "Kimi K2.6"
    assert rows[("openrouter", "openai/gpt-4.1")]["model_name"] == "GPT-4.1"
    # lineage: the raw upstream value and the rule are on the row
    assert rows[("openrouter", "openai/gpt-4.1")]["raw_name"] == "OpenAI: GPT-4.1"
    assert rows[("openrouter", "openai/gpt-4.1")]["name_rule"] == "name"

    assert cached_rows(redis_client) == rows
    manifest = cache.manifest(redis_client, cache.current_version(redis_client))
    assert int(manifest["row_count"]) == len(rows)


def test_second_run_changes_nothing(synced, redis_url, redis_client):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    before = table_rows(database_url)
    with psycopg.connect(database_url) as conn:
        ids_before = conn.execute("SELECT id, updated_at FROM models ORDER BY id").fetchall()

    result = sync(database_url, redis_url)
    assert result.success
    table_meta = result.asset_materializations_for_node("models_table")[0].metadata
    assert table_meta["rows_written"].value == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT id, updated_at FROM models ORDER BY id").fetchall() == ids_before
    assert table_rows(database_url) == before
    assert cached_rows(redis_client) == before


def test_a_provider_the_registry_no_longer_lists_is_named_by_every_refresh(synced, redis_url):
    """A provider removed from the registry, or renamed to a new slug ("groq" listed under a new one), keeps its
    rows published, since a refresh never touches it again: no warning said so."""
    import dagster as dg

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE providers SET slug = 'groq-retired' WHERE slug = 'groq'")
        groq_models = conn.execute("SELECT count(*) FROM models m JOIN providers p ON p.id = m.provider_id "
                                   "WHERE p.slug = 'groq-retired'").fetchone()[0]
    assert groq_models > 0
    with dg.instance_for_test() as instance:
        result = sync(database_url, redis_url, instance=instance)
        assert result.success, step_failures(result)
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == 30]  # logging.WARNING
    table_meta = result.asset_materializations_for_node("models_table")[0].metadata
    assert table_meta["providers_not_in_registry"].value == {"groq-retired": groq_models}
    assert any(m.startswith(f"groq-retired: in the providers table with {groq_models} models, but no longer in the "
                            "provider registry") and "reset_and_resync removes them" in m for m in warnings), warnings
    assert not any("registry" in m and "groq:" in m for m in warnings)


def test_a_base_url_override_under_replay_says_nothing_is_requested_from_it(synced, redis_url, monkeypatch):
    """Under replay (the default) a MODELSYNC_<SLUG>_BASE_URL moved the progress line to a host nothing listened
    on, and the run succeeded from the recorded payload: an operator simulating an outage so saw a silent success."""
    import dagster as dg

    monkeypatch.setenv("MODELSYNC_GROQ_BASE_URL", "http://127.0.0.1:9/openai/v1")
    with dg.instance_for_test() as instance:
        result = sync(synced, redis_url, selection=providers("groq"), instance=instance)
        assert result.success, step_failures(result)
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == 30]  # logging.WARNING
    assert any(m.startswith("groq: MODELSYNC_GROQ_BASE_URL is set, but the provider source is replay") for m in warnings), warnings
    assert not any("BASE_URL" in m and not m.startswith("groq:") for m in warnings), warnings


def test_prices_are_usd_per_million_tokens_and_unknowns_stay_null(synced, redis_url):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    rows = table_rows(database_url)
    gpt41 = rows[("openrouter", "openai/gpt-4.1")]
    assert float(gpt41["input_price_per_mtok"]) == 2.0  # "0.000002" per token upstream
    assert float(gpt41["output_price_per_mtok"]) == 8.0
    assert rows[("openrouter", "openrouter/auto")]["input_price_per_mtok"] is None  # "-1" = variable
    assert rows[("cerebras", "llama3.1-8b")]["context_length"] is None  # Cerebras does not say
    assert rows[("groq", "llama-3.1-8b-instant")]["context_length"] == 131072  # context_window, not 0
    assert float(rows[("deepinfra", "Qwen/Qwen3.5-27B")]["output_price_per_mtok"]) == 2.6


def test_partial_resync_keeps_everyone_elses_models(synced, redis_url):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    before = counts_by_provider(database_url)
    result = sync(database_url, redis_url, selection=providers("groq"))
    assert result.success
    assert counts_by_provider(database_url) == before


def test_a_vision_model_behind_vercel_is_stored_multimodal_as_everywhere_else(database_url, redis_url, replay_dir):
    """Vercel's type "language" says nothing of input; its `tags` do ("vision"). Read as "text", Claude, GPT-4o and
    Gemini were text in the table at Vercel and multimodal at every other provider."""
    path = replay_dir / "vercel-ai-gateway.constructed.json"
    payload = json.loads(path.read_text())
    for record in payload["data"]:
        if record["id"] == "deepseek/deepseek-v3.2":
            record["tags"] = ["reasoning", "tool-use"]
        if record["id"] == "google/gemini-2.5-flash-image":
            record["tags"] = ["image-generation", "vision"]
    path.write_text(json.dumps(payload))
    assert sync(database_url, redis_url, replay_dir, selection=providers("vercel-ai-gateway", "anthropic")).success
    rows = table_rows(database_url)
    assert rows[("vercel-ai-gateway", "anthropic/claude-sonnet-4")]["modality"] == "multimodal"  # no tags: the family
    assert rows[("anthropic", "claude-sonnet-4-20250514")]["modality"] == "multimodal"
    assert rows[("vercel-ai-gateway", "google/gemini-2.5-flash-image")]["modality"] == "multimodal"  # tags say so
    assert rows[("vercel-ai-gateway", "deepseek/deepseek-v3.2")]["modality"] == "text"  # tags without "vision"


def test_a_music_model_named_clip_is_not_stored_as_an_embedding_model(database_url, redis_url, replay_dir):
    """OpenRouter declares Lyria 3 Clip's inputs (text, image) and outputs (text, audio); "clip" in its id is a music
    clip, not OpenAI's CLIP, and overruled the declaration: it was stored an embedding model beside its -pro
    sibling, multimodal."""
    august = json.loads((RECORDED_DIR / "openrouter_2026-08.json").read_text())["data"]
    lyria = [r for r in august if r["id"] in ("google/lyria-3-clip-preview", "google/lyria-3-pro-preview")]
    path = replay_dir / "openrouter.json"
    payload = json.loads(path.read_text())
    payload["data"] += lyria
    path.write_text(json.dumps(payload))
    assert sync(database_url, redis_url, replay_dir, selection=providers("openrouter")).success
    rows = table_rows(database_url)
    assert rows[("openrouter", "google/lyria-3-pro-preview")]["modality"] == "multimodal"
    assert rows[("openrouter", "google/lyria-3-clip-preview")]["modality"] == "multimodal"


def test_a_token_in_a_base_url_overrides_path_is_in_no_log_row_or_cache_key(database_url, redis_url, redis_client,
                                                                            monkeypatch):
    """A live sync through a gateway that takes its token in the path (MODELSYNC_<SLUG>_BASE_URL=
    https://gw/v1/<token>/...), answering with records and errors that echo the path: the token was in the
    progress line, the failed check's metadata, providers.base_url, sync_attempts.error and the stored records."""
    import dagster as dg

    from .test_fetch_faults import Loopback, as_json

    token, short = "gwPATH7c1e9a3f5b2d", "t0k3n"
    recorded = json.loads((RECORDED_DIR / PROVIDERS_BY_SLUG["groq"].recorded).read_text())
    recorded["data"][0]["note"] = f"served GET /v1/{token}/groq/models"
    server = Loopback()
    try:
        server.routes[f"/v1/{token}/groq/models"] = lambda q: as_json(recorded)
        server.routes[f"/t/{short}/cerebras/models"] = lambda q: as_json(
            {"error": {"message": f"no route GET /t/{short}/cerebras/models"}}, 401)
        monkeypatch.setenv("MODELSYNC_GROQ_BASE_URL", f"{server.origin}/v1/{token}/groq")
        monkeypatch.setenv("MODELSYNC_CEREBRAS_BASE_URL", f"{server.origin}/t/{short}/cerebras")
        monkeypatch.setenv("GROQ_API_KEY", "gsk-test-key-0123456789")
        monkeypatch.setenv("CEREBRAS_API_KEY", "csk-test-key-0123456789")
        with dg.instance_for_test() as instance:
            result = sync(database_url, redis_url, selection=providers("groq", "cerebras"), instance=instance,
                          provider_api={"source": "live"})
            events = [repr(event) for event in instance.all_logs(result.run_id)]
    finally:
        server.close()
    assert result.success, step_failures(result)
    assert any(f"groq: fetching {server.origin}/v1/[redacted]/groq/models (live)" in e for e in events)
    assert any("failed at fetch: HTTP 401 from" in e and "/t/[redacted]/cerebras/models" in e for e in events)
    with psycopg.connect(database_url) as conn:
        stored = [str(row) for table in ("providers", "sync_attempts", "models", "catalog_rows", "audit_log")
                  for row in conn.execute(f"SELECT * FROM {table}")]  # noqa: S608 - fixed table names
        assert conn.execute("SELECT base_url FROM providers WHERE slug = 'groq'").fetchone() == (
            f"{server.origin}/v1/[redacted]/groq",)
    cached = [f"{key} {redis_client.dump(key)!r}" for key in redis_client.scan_iter()]
    assert cached
    for text in (events, stored, cached):
        assert not [line for line in text if token in line or f"/{short}/" in line], text
