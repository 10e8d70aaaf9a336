"""`models_table`: the atomic refresh (or reset) of providers and models from every provider's latest good catalog."""

import dagster as dg
from pydantic import Field

from .. import db
from ..providers.registry import PROVIDERS
from ..resources import PostgresResource
from .provider_catalogs import OWNERS, STAGING_ASSET, _markdown

GROUP = "catalog"


def launched_by(run: dg.DagsterRun) -> str:
    """Who launched the run, from what Dagster records: a user tag, the schedule, sensor or backfill."""
    tags = run.tags
    for key in ("dagster/user", "user", "modelsync/launched_by"):
        if tags.get(key):
            return tags[key]
    for key, kind in (("dagster/schedule_name", "schedule"), ("dagster/sensor_name", "sensor"), ("dagster/backfill", "backfill")):
        if tags.get(key):
            return f"{kind}:{tags[key]}"
    return "ui-or-cli (no user recorded)"


class ModelsTableConfig(dg.Config):
    mode: str = Field(default="refresh", description="refresh: merge, keeping unchanged rows and ids; "
                                                      "reset: flush providers and models and reload, in one transaction")
    dry_run: bool = Field(default=False, description="print what would be added, removed and changed; write nothing")
    approval: str = Field(default="", description="mode reset only: one-time code from `modelsync approve "
                                                  "reset_and_resync`, run where MODELSYNC_ADMIN_TOKEN is set")


def _stale_providers(conn, run_id: str) -> list[dict]:
    """Providers whose latest attempt failed: the table keeps their last good catalog."""
    rows = conn.execute(db.statements("stage_catalog")["stale_providers"]).fetchall()
    return [
        {"provider": slug, "outcome": outcome, "step": step, "error": (error or "")[:300],
         "in_this_run": attempt_run == run_id, "last_good_catalog": str(validated) if validated else "never"}
        for slug, outcome, step, error, attempt_run, validated in rows
        if outcome in ("fetch_failed", "check_failed", "process_failed")
    ]


def _plan(context, conn, config: ModelsTableConfig) -> dg.AssetObservation:
    plan = db.plan_refresh(conn, PROVIDERS)
    totals = plan.totals()
    if config.mode == "reset":
        before = db.counts(conn)
        totals = {"deleted_then_reinserted": before[1], **totals}
    context.log.info(f"models_table dry run ({config.mode}): {totals}; nothing was written")
    for sample in plan.samples:
        context.log.info(f"  would {sample['kind']}: {sample['provider']}/{sample['model_id']} "
                         f"{sample['old_name'] or ''} -> {sample['new_name'] or ''}")
    db.audit(conn, run_id=context.run.run_id, launched_by=launched_by(context.run), action=f"{config.mode}_plan",
             outcome="planned", dry_run=True, before=db.counts(conn), details=totals)
    return dg.AssetObservation(asset_key=context.asset_key, metadata={
        "dry_run": True, "mode": config.mode, **{k: dg.MetadataValue.int(int(v)) for k, v in totals.items()},
        "per_provider": dg.MetadataValue.md(_markdown(plan.per_provider)),
        "samples": dg.MetadataValue.md(_markdown(plan.samples)),
    })


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    owners=OWNERS,
    deps=[STAGING_ASSET],
    output_required=False,  # a dry run materializes nothing
    description=(
        "providers and models refreshed from the latest good catalog of every provider in ONE transaction: "
        "readers see the old catalog or the new one, never an empty or partial table. Unchanged rows keep "
        "their id and are not rewritten; every change is logged to model_history. mode=reset flushes and "
        "reloads in one transaction (after a backup); dry_run=true only reports the plan."
    ),
)
def models_table(context: dg.AssetExecutionContext, config: ModelsTableConfig, postgres: PostgresResource):
    if config.mode not in ("refresh", "reset"):
        raise dg.Failure(description=f"models_table config mode must be 'refresh' or 'reset', not {config.mode!r}")
    run_id, who = context.run.run_id, launched_by(context.run)
    with postgres.connect() as conn:
        if config.dry_run:
            context.log_event(_plan(context, conn, config))
            return
        if config.mode == "reset" and ("dagster/schedule_name" in context.run.tags or "dagster/sensor_name" in context.run.tags):
            db.audit(conn, run_id=run_id, launched_by=who, action="reset_and_resync", outcome="refused",
                     before=db.counts(conn), error="destructive jobs never run from a schedule or a sensor")
            raise dg.Failure(description="reset_and_resync refused: destructive jobs never run from a schedule or a sensor")
        action = "refresh" if config.mode == "refresh" else "reset_and_resync"
        if config.mode == "reset":
            from .admin import require_approval  # admin imports this module

            require_approval(context, conn, action, {}, config.approval, dry_run=False)
        before = db.counts(conn)
        failed_now = [f for f in _stale_providers(conn, run_id) if f["in_this_run"]]
        if config.mode == "reset" and failed_now:
            # A reset reloads everything from this run's catalogs; one that is missing would leave that
            # provider on an old catalog under new ids. It fails whole, and never becomes a refresh.
            reason = "; ".join(f"{f['provider']} failed at {f['step']}: {f['error']}" for f in failed_now)
            db.audit(conn, run_id=run_id, launched_by=who, action=action, outcome="failed", before=before,
                     error=f"not every provider was fetched and checked in this run: {reason}")
            raise dg.Failure(description=f"reset_and_resync failed whole, nothing was flushed: not every provider "
                                         f"was fetched and checked in this run ({reason})")
        try:
            if config.mode == "refresh":
                result, backup = db.refresh_models_table(conn, PROVIDERS, run_id), None
            else:
                admin, result = db.reset_models_table(conn, PROVIDERS, run_id, postgres.backup_retention)
                backup = admin.backup
        except Exception as exc:  # the write's own transaction has rolled back; record why
            db.audit(conn, run_id=run_id, launched_by=who, action=action, outcome="failed", before=before,
                     error=f"{type(exc).__name__}: {exc}")
            raise
        after = db.counts(conn)
        stale = _stale_providers(conn, run_id)
        row_count, checksum = db.table_checksum(conn)
        audit_id = db.audit(conn, run_id=run_id, launched_by=who, action=action, outcome="succeeded",
                            before=before, after=after, backup_id=backup.id if backup else None,
                            details={"inserted": result.inserted, "updated": result.updated, "deleted": result.deleted})
    if not result.providers:
        raise dg.Failure(description="no provider has a good catalog yet: nothing to publish")
    context.log.info(
        f"models_table ({action}): {result.total_rows} models from {len(result.providers)} providers "
        f"(+{sum(result.inserted.values())} ~{sum(result.updated.values())} -{sum(result.deleted.values())})"
    )
    for s in stale:
        context.log.warning(f"{s['provider']}: latest attempt {s['outcome']} at {s['step']}; keeping its catalog from {s['last_good_catalog']}")
    per_provider = [
        {"provider": slug, "rows": n, "inserted": result.inserted.get(slug, 0),
         "updated": result.updated.get(slug, 0), "deleted": result.deleted.get(slug, 0)}
        for slug, n in result.rows_per_provider.items()
    ]
    yield dg.MaterializeResult(
        metadata={
            "action": action,
            "row_count": dg.MetadataValue.int(row_count),
            "checksum": checksum,
            "rows_written": dg.MetadataValue.int(result.rows_written),
            "providers_published": dg.MetadataValue.int(len(result.providers)),
            "per_provider": dg.MetadataValue.md(_markdown(per_provider)),
            "stale_providers": dg.MetadataValue.md(_markdown(stale)),
            "audit_id": audit_id,
            "backup_id": backup.id if backup else None,
        }
    )
