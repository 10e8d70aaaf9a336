"""The audit's admin endpoints as Dagster jobs: providers-only sync, flushes, restore, status.

Every destructive job refuses unless its config carries the exact confirmation and a one-time approval code
made with the admin secret (`approval.py`; a dry run, which changes nothing, needs neither), refuses to run
from a
schedule or a sensor, backs up providers and models first (in the same transaction as the change),
writes an audit_log row whatever the outcome, and republishes the cache so it keeps matching the table.
"""

import os

import dagster as dg
from pydantic import Field

from .. import approval, cache, db
from ..providers.registry import PROVIDERS
from ..resources import PostgresResource, RedisResource
from .catalog import GROUP, launched_by, models_table
from .provider_catalogs import OWNERS, _markdown

FLUSH_MODELS_PHRASE = "DELETE_ALL_MODELS"
FLUSH_PROVIDERS_PHRASE = "DELETE_EVERYTHING"
RESTORE_PHRASE = "RESTORE"


APPROVAL_HELP = "one-time code from `modelsync approve <job> [args]`, run where MODELSYNC_ADMIN_TOKEN is set"


class FlushModelsConfig(dg.Config):
    confirm: str = Field(default="", description=f"must be exactly {FLUSH_MODELS_PHRASE}")
    approval: str = Field(default="", description=APPROVAL_HELP)
    dry_run: bool = Field(default=False, description="report what would be deleted; change nothing")


class FlushProvidersConfig(dg.Config):
    confirm: str = Field(default="", description=f"must be exactly {FLUSH_PROVIDERS_PHRASE}")
    provider_count: int = Field(default=-1, description="must equal the current number of providers")
    approval: str = Field(default="", description=APPROVAL_HELP)
    dry_run: bool = False


class RestoreConfig(dg.Config):
    backup_id: int = Field(description="id from the backups table (see the status report or audit_log)")
    confirm: str = Field(default="", description=f"must be exactly {RESTORE_PHRASE}")
    approval: str = Field(default="", description=APPROVAL_HELP)
    dry_run: bool = False


def _refuse(context, conn, action: str, reason: str, dry_run: bool) -> None:
    db.audit(conn, run_id=context.run.run_id, launched_by=launched_by(context.run), action=action,
             outcome="refused", dry_run=dry_run, before=db.counts(conn), error=reason)
    raise dg.Failure(description=f"{action} refused, nothing was changed: {reason}",
                     metadata={"action": action, "refused": reason})


def require_approval(context, conn, action: str, args: dict, code: str, dry_run: bool) -> None:
    """Refuse (audited, nothing changed) unless `code` approves `action` with `args` and was never used."""
    if dry_run:
        return
    try:
        fingerprint = approval.verify(os.environ.get(approval.SECRET_ENV), code, action, args)
    except approval.ApprovalRefused as refused:
        _refuse(context, conn, action, str(refused), dry_run)
    if not db.use_approval(conn, fingerprint, action, context.run.run_id):
        _refuse(context, conn, action, "the approval code was already used; approve this run anew", dry_run)


def _refuse_automation(context, conn, action: str, dry_run: bool) -> None:
    tags = context.run.tags
    if "dagster/schedule_name" in tags or "dagster/sensor_name" in tags:
        _refuse(context, conn, action, "destructive jobs never run from a schedule or a sensor", dry_run)


def _publish_cache(context, conn, redis: RedisResource) -> dict:
    client = redis.client()
    try:
        published = cache.publish_cache(conn, client, context.run.run_id, redis.previous_version_ttl_seconds)
    except cache.REDIS_ERRORS as exc:
        raise dg.Failure(description=f"the table change committed, but Redis failed while republishing the cache: "
                                     f"{type(exc).__name__}: {exc}. Readers keep the previous cache version "
                                     f"(or fall back to the database); re-run publish_catalog to heal it.") from None
    except cache.CacheMismatch as exc:
        raise dg.Failure(description=f"the table change committed, but the new cache version was refused: {exc}. "
                                     f"Readers stay on the previous cache version; re-run publish_catalog to "
                                     f"heal it.") from None
    finally:
        client.close()
    return {"cache_version": published.version, "cache_rows": published.row_count}


def _run_destructive(context, postgres, redis, action: str, operation, dry_run: bool, dry_details: dict):
    with postgres.connect() as conn:
        if dry_run:
            before = db.counts(conn)
            audit_id = db.audit(conn, run_id=context.run.run_id, launched_by=launched_by(context.run),
                                action=action, outcome="planned", dry_run=True, before=before, details=dry_details)
            context.log.info(f"{action} (dry run): would change providers/models {before} -> "
                             f"{dry_details.get('would_leave')}; nothing was written")
            return dg.Output(None, metadata={"dry_run": True, "audit_id": audit_id,
                                             **{k: str(v) for k, v in dry_details.items()}})
        try:
            result = operation(conn)
        except Exception as exc:  # the write's own transaction has rolled back; record why
            db.audit(conn, run_id=context.run.run_id, launched_by=launched_by(context.run), action=action,
                     outcome="failed", before=db.counts(conn), error=f"{type(exc).__name__}: {exc}")
            raise
        audit_id = db.audit(conn, run_id=context.run.run_id, launched_by=launched_by(context.run), action=action,
                            outcome="succeeded", before=result.before, after=result.after,
                            backup_id=result.backup.id if result.backup else None, details=result.details)
        metadata = {
            "action": action, "audit_id": audit_id, "backup_id": result.backup.id if result.backup else None,
            "providers_before": result.before[0], "models_before": result.before[1],
            "providers_after": result.after[0], "models_after": result.after[1], **result.details,
        }
        context.log.info(f"{action}: providers/models {result.before} -> {result.after}; backup {metadata['backup_id']}")
        context.log_event(dg.AssetMaterialization(asset_key=models_table.key, metadata=metadata))
        cache_meta = _publish_cache(context, conn, redis)
        context.log_event(dg.AssetMaterialization(asset_key=dg.AssetKey("models_cache"), metadata=cache_meta))
        return dg.Output(None, metadata={**metadata, **cache_meta})


@dg.op(description=f"Delete every model after a backup. Needs config confirm: {FLUSH_MODELS_PHRASE}.")
def flush_models_op(context: dg.OpExecutionContext, config: FlushModelsConfig, postgres: PostgresResource, redis: RedisResource):
    with postgres.connect() as conn:
        _refuse_automation(context, conn, "flush_models", config.dry_run)
        if config.confirm != FLUSH_MODELS_PHRASE and not config.dry_run:
            _refuse(context, conn, "flush_models",
                    f"config confirm must be {FLUSH_MODELS_PHRASE!r} (got {config.confirm!r})", config.dry_run)
        require_approval(context, conn, "flush_models", {}, config.approval, config.dry_run)
        before = db.counts(conn)
    return _run_destructive(
        context, postgres, redis, "flush_models",
        lambda conn: db.flush_models(conn, context.run.run_id, postgres.backup_retention),
        config.dry_run, {"would_delete_models": before[1], "would_leave": (before[0], 0)},
    )


@dg.op(description=f"Delete every provider and, by cascade, every model, after a backup. Needs config "
                   f"confirm: {FLUSH_PROVIDERS_PHRASE} and provider_count equal to the current count.")
def flush_providers_op(context: dg.OpExecutionContext, config: FlushProvidersConfig, postgres: PostgresResource, redis: RedisResource):
    with postgres.connect() as conn:
        _refuse_automation(context, conn, "flush_providers", config.dry_run)
        before = db.counts(conn)
        missing = []
        if config.confirm != FLUSH_PROVIDERS_PHRASE:
            missing.append(f"config confirm must be {FLUSH_PROVIDERS_PHRASE!r} (got {config.confirm!r})")
        if config.provider_count != before[0]:
            missing.append(f"config provider_count must be the current provider count {before[0]} (got {config.provider_count})")
        if missing and not config.dry_run:
            _refuse(context, conn, "flush_providers", "; ".join(missing), config.dry_run)
        require_approval(context, conn, "flush_providers", {"provider_count": config.provider_count},
                         config.approval, config.dry_run)
    return _run_destructive(
        context, postgres, redis, "flush_providers",
        lambda conn: db.flush_providers(conn, context.run.run_id, postgres.backup_retention),
        config.dry_run, {"would_delete_providers": before[0], "would_delete_models": before[1], "would_leave": (0, 0)},
    )


@dg.op(description=f"Bring back a backup exactly (same rows, same ids; checksum verified), after backing up "
                   f"the current tables. Needs config backup_id and confirm: {RESTORE_PHRASE}.")
def restore_backup_op(context: dg.OpExecutionContext, config: RestoreConfig, postgres: PostgresResource, redis: RedisResource):
    with postgres.connect() as conn:
        _refuse_automation(context, conn, "restore_backup", config.dry_run)
        if config.confirm != RESTORE_PHRASE and not config.dry_run:
            _refuse(context, conn, "restore_backup",
                    f"config confirm must be {RESTORE_PHRASE!r} (got {config.confirm!r})", config.dry_run)
        chosen = conn.execute(db.statements("admin")["backup_counts"], {"backup_id": config.backup_id}).fetchone()
        if chosen is None:
            _refuse(context, conn, "restore_backup", f"backup {config.backup_id} does not exist", config.dry_run)
        require_approval(context, conn, "restore_backup", {"backup_id": config.backup_id}, config.approval,
                         config.dry_run)
    return _run_destructive(
        context, postgres, redis, "restore_backup",
        lambda conn: db.restore_backup(conn, config.backup_id, context.run.run_id, postgres.backup_retention),
        config.dry_run, {"backup_id": config.backup_id, "would_leave": tuple(chosen)},
    )


@dg.op(description="Upsert every registry provider into providers; models are not touched.")
def sync_providers_op(context: dg.OpExecutionContext, postgres: PostgresResource):
    with postgres.connect() as conn:
        with conn.transaction():
            conn.execute(db.statements("refresh_models")["lock"])
            before = db.counts(conn)
            for spec in PROVIDERS:
                conn.execute(db.statements("refresh_models")["upsert_provider"],
                             {"name": spec.display_name, "slug": spec.slug, "base_url": spec.resolved_base_url()})
            after = db.counts(conn)
        audit_id = db.audit(conn, run_id=context.run.run_id, launched_by=launched_by(context.run),
                            action="sync_providers", outcome="succeeded", before=before, after=after)
    context.log.info(f"sync_providers: {after[0]} providers ({after[0] - before[0]} new); models untouched")
    return dg.Output(None, metadata={"providers_before": before[0], "providers_after": after[0], "audit_id": audit_id})


@dg.job(name="flush_models", description="DELETE /admin/model-sync/flush-models: back up, then delete every model.")
def flush_models_job():
    flush_models_op()


@dg.job(name="flush_providers", description="DELETE /admin/model-sync/flush-providers: back up, then delete "
                                            "every provider and its models.")
def flush_providers_job():
    flush_providers_op()


@dg.job(name="restore_backup", description="Restore a chosen backup of providers and models exactly.")
def restore_backup_job():
    restore_backup_op()


@dg.job(name="sync_providers", description="POST /admin/model-sync/providers-only: refresh providers from the registry.")
def sync_providers_job():
    sync_providers_op()


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
        status = db.catalog_status(conn)
    totals = status["totals"]
    context.log.info(f"status: {totals}")
    return dg.MaterializeResult(metadata={
        **{k: dg.MetadataValue.int(int(v)) for k, v in totals.items()},
        "per_provider": dg.MetadataValue.md(_markdown([
            {k: ("" if v is None else str(v)) for k, v in row.items()} for row in status["providers"]])),
        "per_modality": dg.MetadataValue.json(status["modalities"]),
    })


admin_jobs = [flush_models_job, flush_providers_job, restore_backup_job, sync_providers_job]
