"""Schedules from `cadence.yaml`: a provider whose cron differs from the default gets its own schedule.

`daily_sync` (jobs.py) syncs every provider at the default cron. Freshness is declared on each provider's
asset (`provider_catalogs.py`, a FreshnessPolicy from its max age). Destructive jobs are never scheduled.
"""

import dagster as dg

from ..cadence import load_cadence
from ..providers.registry import PROVIDERS_BY_SLUG
from .provider_catalogs import STAGING_ASSET

DEFAULT_CADENCE, CADENCE = load_cadence()


def _provider_schedule(slug: str) -> dg.ScheduleDefinition:
    spec, cadence = PROVIDERS_BY_SLUG[slug], CADENCE[slug]
    name = f"sync_{spec.asset_name.removesuffix('_catalog')}"
    job = dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(spec.asset_name, STAGING_ASSET).downstream(),
        description=f"Re-sync {spec.display_name} alone and publish the table and cache (cadence.yaml).",
    )
    return dg.ScheduleDefinition(
        name=f"{name}_schedule", job=job, cron_schedule=cadence.cron, execution_timezone="UTC",
        description=f"{spec.display_name} on its own cadence from cadence.yaml: {cadence.cron} (UTC).",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


provider_schedules = [_provider_schedule(slug) for slug, c in CADENCE.items() if c.cron != DEFAULT_CADENCE.cron]
