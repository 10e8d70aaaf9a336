"""Running the real Dagster assets in tests, against the test's database, Redis and payloads."""

from __future__ import annotations

import dagster as dg

from modelsync_pipeline.cli import step_failures  # noqa: F401  (re-exported for tests)
from modelsync_pipeline.definitions import defs
from modelsync_pipeline.providers.registry import PROVIDERS
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


def run_config(force: bool = False, **models_table) -> dict:
    """Run config: `force` accepts shrunken catalogs (the shrink guard); models_table config as keywords."""
    ops = {}
    if force:
        ops.update({spec.asset_name: {"config": {"force": True}} for spec in PROVIDERS})
    if models_table:
        ops["models_table"] = {"config": models_table}
    return {"ops": ops}


def sync(database_url: str, redis_url: str, replay_dir=None, selection=None, instance=None,
         force: bool = False, **models_table) -> dg.ExecuteInProcessResult:
    """Materialize every asset (or `selection`), like the sync_all job; failures are returned, not raised."""
    config = run_config(force, **models_table)
    if selection is not None:  # config only for the ops that run
        keys = {k.to_user_string() if hasattr(k, "to_user_string") else str(k) for k in selection}
        config["ops"] = {op: c for op, c in config["ops"].items() if op in keys}
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        resources=resources(database_url, redis_url, replay_dir),
        instance=instance,
        raise_on_error=False,
        run_config=config,
    )


