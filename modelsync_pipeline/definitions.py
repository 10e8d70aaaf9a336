"""The Dagster code location: every asset, check, job, schedule and sensor, and the resources they use.

Resources come from the environment: `DATABASE_URL`, `REDIS_URL` and `MODELSYNC_SOURCE` (`replay`, the
default, serves the recorded payloads, from `MODELSYNC_REPLAY_DIR` when set; `live` calls the provider
APIs with keys from their env vars).
`make run` / `make ui` set them, starting embedded servers when none are configured.
"""

from __future__ import annotations

import os

import dagster as dg

from .defs.admin import admin_jobs, catalog_status
from .defs.cache import cache_fan_out, models_cache
from .defs.cadence import daily_sync, provider_schedules
from .defs.catalog import models_table
from .defs.jobs import (
    fail_runs_of_killed_processes,
    publish_after_partial_sync,
    publish_after_recovery,
    publish_catalog,
    reset_and_resync,
    sync_all,
)
from .defs.progress import progress_logger
from .defs.provider_catalogs import provider_catalog_assets
from .resources import PostgresResource, ProviderApi, RedisResource


def build_resources(environ: dict[str, str] | None = None) -> dict:
    environ = os.environ if environ is None else environ
    if environ.get("MODELSYNC_SOURCE", "replay") not in ("live", "replay"):  # fail the load, not the first run
        raise ValueError(f"MODELSYNC_SOURCE must be 'live' or 'replay', not {environ['MODELSYNC_SOURCE']!r}")
    return {
        # source and replay_dir are read from the environment when used (see ProviderApi.source)
        "provider_api": ProviderApi(),
        "postgres": PostgresResource(database_url=dg.EnvVar("DATABASE_URL")),
        "redis": RedisResource(redis_url=dg.EnvVar("REDIS_URL")),
    }


defs = dg.Definitions(
    assets=[*provider_catalog_assets, models_table, models_cache, catalog_status],
    jobs=[sync_all, publish_catalog, reset_and_resync, *admin_jobs],
    schedules=[daily_sync, *provider_schedules],
    sensors=[publish_after_partial_sync, publish_after_recovery, cache_fan_out, fail_runs_of_killed_processes],
    resources=build_resources(),
    loggers={"console": dg.colored_console_logger, "progress": progress_logger},
    # Runs launched from the UI execute in the run worker's own process: no fresh interpreter (and code
    # location import, ~7 s) per step. The provider fetches are concurrent inside their one step.
    executor=dg.in_process_executor,
)
