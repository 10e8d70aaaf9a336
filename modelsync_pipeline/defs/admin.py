"""The audit's admin endpoints as Dagster jobs: providers-only sync, flushes, restore, status.

Each admin job is a mode of `models_table` (modelsync_pipeline/writes.py owns the guard, backup, write and
audit), selected with `models_cache`, so the asset's history shows every change to the tables and only
`models_cache` publishes the cache. The operator's config is the job's own, flat: `confirm`, `approval`,
`dry_run` and the job's argument (config/<job>.yaml). A dry run needs neither the phrase nor a code.
"""

import dagster as dg

from .. import db, faults
from ..resources import PostgresResource
from ..writes import PHRASES
from .cache import models_cache
from .catalog import GROUP, models_table
from .provider_catalogs import OWNERS, _markdown

APPROVAL_HELP = "one-time code from `modelsync approve <job> [args]`, run where MODELSYNC_ADMIN_TOKEN is set"
DRY_RUN = dg.Field(bool, default_value=False, description="report what would change; change nothing")


def _admin_job(name: str, mode: str, description: str, **arguments: dg.Field):
    """`models_table` in `mode` (then `models_cache`), configured by the operator's flat config."""
    schema = dict(arguments)
    if mode in PHRASES:
        schema["confirm"] = dg.Field(str, default_value="", description=f"must be exactly {PHRASES[mode]}")
    if mode != "providers_only":
        schema["approval"] = dg.Field(str, default_value="", description=APPROVAL_HELP)
    schema["dry_run"] = DRY_RUN

    def to_models_table(config: dict) -> dict:
        return {"ops": {"models_table": {"config": {"mode": mode, **config}}}}

    return dg.define_asset_job(
        name, selection=dg.AssetSelection.assets(models_table, models_cache), description=description,
        config=dg.ConfigMapping(config_schema=schema, config_fn=to_models_table),
    )


flush_models_job = _admin_job(
    "flush_models", "flush_models",
    "DELETE /admin/model-sync/flush-models: back up, then delete every model (models_table mode flush_models).",
)
flush_providers_job = _admin_job(
    "flush_providers", "flush_providers",
    "DELETE /admin/model-sync/flush-providers: back up, then delete every provider and its models "
    "(models_table mode flush_providers).",
    provider_count=dg.Field(int, default_value=-1, description="must equal the current number of providers"),
)
restore_backup_job = _admin_job(
    "restore_backup", "restore",
    "Restore a chosen backup of providers and models exactly, after backing up the current tables "
    "(models_table mode restore).",
    backup_id=dg.Field(int, description="id from the backups table (see the status report or audit_log)"),
)
sync_providers_job = _admin_job(
    "sync_providers", "providers_only",
    "POST /admin/model-sync/providers-only: upsert the registry's providers; models untouched "
    "(models_table mode providers_only).",
)


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    owners=OWNERS,
    deps=[models_table],
    description="GET /admin/model-sync/status: providers known, with and without models, models total / active / "
                "per provider / per modality, last sync and last attempt per provider. Computed in SQL, no row caps.",
)
def catalog_status(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    with postgres.connect() as conn:
        faults.point("status:read")
        status = db.catalog_status(conn)
    totals = status["totals"]
    context.log.info(f"status: {totals}")
    return dg.MaterializeResult(metadata={
        **{k: dg.MetadataValue.int(int(v)) for k, v in totals.items()},
        "per_provider": dg.MetadataValue.md(_markdown([
            {k: ("" if v is None else str(v)) for k, v in row.items()} for row in status["providers"]])),
        "per_modality": dg.MetadataValue.json(status["modalities"]),
        # audit rows still 'started': writes running, or killed and not yet given an outcome by a later write
        "writes_without_outcome": dg.MetadataValue.int(len(status["writes_without_outcome"])),
    })


admin_jobs = [flush_models_job, flush_providers_job, restore_backup_job, sync_providers_job]
