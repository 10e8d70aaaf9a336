"""Running the real Dagster assets in tests, against the test's database, Redis and payloads."""

from __future__ import annotations

import dagster as dg

from modelsync_pipeline.cli import step_failures  # noqa: F401  (re-exported for tests)
from modelsync_pipeline.definitions import defs
from modelsync_pipeline.resources import PostgresResource, ProviderApi, RedisResource

ALL_ASSETS = list(defs.assets)
PUBLISH = [dg.AssetKey("models_table"), dg.AssetKey("models_cache")]


def providers(*slugs: str) -> list[dg.AssetKey]:
    """Selection of the given provider catalogs plus everything downstream of them."""
    return [dg.AssetKey(f"{slug.replace('-', '_')}_catalog") for slug in slugs] + PUBLISH


def resources(database_url: str, redis_url: str, replay_dir=None) -> dict:
    config = {"source": "replay", "backoff_seconds": 0.01, "max_attempts": 2}
    if replay_dir is not None:
        config["replay_dir"] = str(replay_dir)
    return {
        "provider_api": ProviderApi(**config),
        "postgres": PostgresResource(database_url=database_url),
        "redis": RedisResource(redis_url=redis_url),
    }


def sync(database_url: str, redis_url: str, replay_dir=None, selection=None, instance=None) -> dg.ExecuteInProcessResult:
    """Materialize every asset (or `selection`), like the sync_all job; failures are returned, not raised."""
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        resources=resources(database_url, redis_url, replay_dir),
        instance=instance,
        raise_on_error=False,
    )


