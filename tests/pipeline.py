"""Running the real Dagster assets in tests, against the test's database, Redis and payloads."""

from __future__ import annotations

import os

import dagster as dg

from modelsync_pipeline import approval
from modelsync_pipeline.cli import step_failures  # noqa: F401  (re-exported for tests)
from modelsync_pipeline.defs.provider_catalogs import PROVIDER_KEYS, STAGING_ASSET
from modelsync_pipeline.definitions import defs
from modelsync_pipeline.resources import PostgresResource, ProviderApi, RedisResource

ALL_ASSETS = list(defs.assets)
FETCH_OP = "fetch_provider_catalogs"
STAGING = dg.AssetKey(STAGING_ASSET)
PUBLISH = [dg.AssetKey("models_table"), dg.AssetKey("models_cache")]


def providers(*slugs: str) -> list[dg.AssetKey]:
    """Selection of the given provider catalogs plus everything downstream of them."""
    return [dg.AssetKey(f"{slug.replace('-', '_')}_catalog") for slug in slugs] + [STAGING, *PUBLISH]


def resources(database_url: str, redis_url: str, replay_dir=None, **provider_api) -> dict:
    config = {"source": "replay", "backoff_seconds": 0.01, "max_attempts": 2, **provider_api}
    if replay_dir is not None:
        config["replay_dir"] = str(replay_dir)
    return {
        "provider_api": ProviderApi(**config),
        "postgres": PostgresResource(database_url=database_url),
        "redis": RedisResource(redis_url=redis_url),
    }


def approval_for(job: str, args: dict | None = None) -> str:
    """A valid one-time code for `job`, made with the admin secret of the test's environment."""
    return approval.issue(os.environ[approval.SECRET_ENV], job, args or {})


def run_config(force: bool = False, rewrite_cache: bool = False, **models_table) -> dict:
    """Run config: `force` accepts held-back catalogs (shrink and truth guards); `rewrite_cache` makes models_cache
    write a new version even of a table the live one holds; models_table config as keywords (a reset that does
    not say otherwise gets a valid approval code)."""
    ops = {}
    if force:
        ops[FETCH_OP] = {"config": {"force": True}}
    if rewrite_cache:
        ops["models_cache"] = {"config": {"rewrite": True}}
    if models_table.get("mode") == "reset" and not models_table.get("dry_run") and "approval" not in models_table:
        models_table["approval"] = approval_for("reset_and_resync")
    if models_table:
        ops["models_table"] = {"config": models_table}
    return {"ops": ops}


def sync(database_url: str, redis_url: str, replay_dir=None, selection=None, instance=None,
         force: bool = False, provider_api: dict | None = None, tags: dict | None = None,
         rewrite_cache: bool = False, **models_table) -> dg.ExecuteInProcessResult:
    """Materialize every asset (or `selection`), like the sync_all job; failures are returned, not raised."""
    config = run_config(force, rewrite_cache, **models_table)
    if selection is not None:  # config only for the ops that run
        keys = set(selection)
        runs = {FETCH_OP} if keys & (set(PROVIDER_KEYS) | {STAGING}) else set()
        runs |= {key.to_user_string() for key in keys}
        config["ops"] = {op: c for op, c in config["ops"].items() if op in runs}
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        resources=resources(database_url, redis_url, replay_dir, **(provider_api or {})),
        instance=instance,
        raise_on_error=False,
        run_config=config,
        tags=tags,
    )


def provider_failures(result) -> dict[str, str]:
    """{provider asset name: "provider '<slug>' failed at <step>: <reason>"} from the run's failed checks."""
    return {
        evaluation.asset_key.to_user_string(): evaluation.metadata["failure"].value
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed and "failure" in evaluation.metadata
    }


def materialized(result) -> set[str]:
    return {event.event_specific_data.materialization.asset_key.to_user_string()
            for event in result.get_asset_materialization_events()}
