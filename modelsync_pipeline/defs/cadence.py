"""Schedules from `cadence.yaml`: `daily_sync` at the default cron, and a schedule of its own for a provider
whose cron differs from the default.

`daily_sync` syncs every provider (job `sync_all`). Freshness is declared on each provider's asset
(`provider_catalogs.py`, a FreshnessPolicy from its max age). Destructive jobs are never scheduled.
"""

import dagster as dg

from ..cadence import CadenceError, cadence_file, load_cadence
from ..providers.registry import PROVIDERS_BY_SLUG
from .jobs import sync_all
from .provider_catalogs import STAGING_ASSET

DEFAULT_CADENCE, CADENCE = load_cadence()


def _schedule(where: str, cron: str, **kwargs) -> dg.ScheduleDefinition:
    """A schedule on `cron`; a cron Dagster cannot schedule (a minute 61, February 30) fails the load naming the
    cadence file and its entry, as every other wrong entry does, not the schedule Dagster would have made."""
    try:
        return dg.ScheduleDefinition(cron_schedule=cron, execution_timezone="UTC",
                                     default_status=dg.DefaultScheduleStatus.RUNNING, **kwargs)
    except dg.DagsterInvalidDefinitionError:
        raise CadenceError(f"{cadence_file()}: {where}: cron {cron!r} is no cron Dagster can schedule (5 fields, "
                           "each in range, a day that exists in its month)") from None


# The catalog is synced on a schedule without a click (default_status RUNNING).
daily_sync = _schedule(
    "default", DEFAULT_CADENCE.cron, name="daily_sync", job=sync_all,
    description=f"Full sync of every provider at the default cadence from cadence.yaml: {DEFAULT_CADENCE.cron} "
                "(UTC). Destructive jobs are never scheduled.",
)


def _provider_schedule(slug: str) -> dg.ScheduleDefinition:
    spec, cadence = PROVIDERS_BY_SLUG[slug], CADENCE[slug]
    name = f"sync_{spec.asset_name.removesuffix('_catalog')}"
    job = dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(spec.asset_name, STAGING_ASSET).downstream(),
        description=f"Re-sync {spec.display_name} alone and publish the table and cache (cadence.yaml).",
    )
    return _schedule(
        f"providers.{slug}", cadence.cron, name=f"{name}_schedule", job=job,
        description=f"{spec.display_name} on its own cadence from cadence.yaml: {cadence.cron} (UTC).",
    )


provider_schedules = [_provider_schedule(slug) for slug, c in CADENCE.items() if c.cron != DEFAULT_CADENCE.cron]
