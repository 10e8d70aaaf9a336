"""`models_table`: every change to providers and models (the refresh, and the admin jobs as its modes)."""

import collections
import contextlib

import dagster as dg
import psycopg
from pydantic import Field

from .. import db, interrupts, writes
from ..providers.registry import PROVIDERS
from ..resources import PostgresResource, ProviderApi
from .plans import TABLE_STEP, plans_step, table_config
from .provider_catalogs import OWNERS, STAGING_ASSET, _markdown

GROUP = "catalog"


def _manual_re_execution(run: dg.DagsterRun) -> bool:
    """A re-execution someone launched (the UI's Re-execute): it inherits the parent's tags, a schedule's or
    sensor's name included, but no schedule or sensor launched it. Dagster's own retries say so
    (dagster/retry_number)."""
    return bool(run.tags.get("dagster/parent_run_id")) and not run.tags.get("dagster/retry_number")


def is_automated(run: dg.DagsterRun) -> bool:
    """Launched by a schedule or a sensor (destructive modes refuse such runs)."""
    tags = run.tags
    return ("dagster/schedule_name" in tags or "dagster/sensor_name" in tags) and not _manual_re_execution(run)


def launched_by(run: dg.DagsterRun) -> str:
    """Who launched the run, from what Dagster records: a user tag, the schedule, sensor or backfill."""
    tags = run.tags
    if tags.get("dagster/user"):
        return tags["dagster/user"]
    if _manual_re_execution(run):  # before the tags it inherited from its parent ("modelsync/launched_by": cli)
        return f"ui-or-cli (no user recorded): re-execution of run {tags['dagster/parent_run_id']}"
    for key in ("user", "modelsync/launched_by"):
        if tags.get(key):
            return tags[key]
    for key, kind in (("dagster/schedule_name", "schedule"), ("dagster/sensor_name", "sensor"), ("dagster/backfill", "backfill")):
        if tags.get(key):
            return f"{kind}:{tags[key]}"
    return "ui-or-cli (no user recorded)"


class ModelsTableConfig(dg.Config):
    mode: str = Field(default="refresh", description=(
        "refresh: merge the staged catalogs, keeping unchanged rows and ids; reset: flush providers and models "
        "and reload them in one transaction; flush_models; flush_providers; restore (a backup); providers_only: "
        "upsert the registry's providers. The admin jobs set it; every change to the tables is this asset's "
        "materialization."))
    dry_run: bool = Field(default=False, description="report what would change; write nothing")
    confirm: str = Field(default="", description="flush_models: DELETE_ALL_MODELS, flush_providers: "
                                                 "DELETE_EVERYTHING, restore: RESTORE")
    approval: str = Field(default="", description="destructive modes: one-time code from `modelsync approve <job> "
                                                  "[args]`, run where MODELSYNC_ADMIN_TOKEN is set")
    provider_count: int = Field(default=-1, description="flush_providers: must equal the current provider count")
    backup_id: int = Field(default=-1, description="restore: id from the backups table")


def _stale_providers(conn, run_id: str, sources: dict[str, str]) -> list[dict]:
    """Providers whose latest attempt failed: the table keeps their last good catalog (from `sources`)."""
    rows = conn.execute(db.statements("stage_catalog")["stale_providers"]).fetchall()
    return [
        {"provider": slug, "outcome": outcome, "step": step, "error": (error or "")[:300],
         "in_this_run": attempt_run == run_id, "last_good_catalog": str(validated) if validated else "never",
         "last_good_source": sources.get(slug, "unknown")}
        for slug, outcome, step, error, attempt_run, validated in rows
        if outcome in db.FAILED_OUTCOMES
    ]


def _catalog_sources(conn) -> dict[str, str]:
    """{provider: where its latest good catalog came from: live, replay, static, or unknown (staged before
    migration 0014)}."""
    return {slug: source or "unknown" for slug, source in conn.execute(db.statements("stage_catalog")["catalog_sources"])}


def replayed_beside_live(sources: dict[str, str], live: bool = False) -> list[str]:
    """Providers whose latest good catalog is a recorded payload while others' came live, or while this run
    fetches live (`live`: a new live deployment on a database a replay run filled, whose first live fetches
    failed): a live deployment serving, for these, what a replay run staged (they have not been fetched live
    successfully since)."""
    if not live and "live" not in sources.values():
        return []
    return sorted(slug for slug, source in sources.items() if source == "replay")


def _not_fetched_for_reset(conn, run_id: str) -> list[str]:
    """Why a reset in run `run_id` cannot reload every provider from this run's catalogs or later ones: a
    provider that failed in this run, or one not fetched in it at all (the table launched alone, a reset
    re-executed from its table step), whose rows would come back from an older catalog under new ids. One
    superseded in this run is staged from a later fetch (migration 0015), and none staged since is older."""
    latest = {slug: (outcome, step, error)
              for slug, outcome, step, error in conn.execute(db.statements("stage_catalog")["run_attempts"],
                                                             {"run_id": run_id})}
    problems, not_fetched = [], []
    for spec in PROVIDERS:
        outcome, step, error = latest.get(spec.slug, (None, None, None))
        if outcome is None:
            not_fetched.append(spec.slug)
        elif outcome not in ("staged", "unchanged", "superseded"):
            problems.append(f"{spec.slug} failed at {step}: {(error or '')[:300]}")
    # Named once, not once per provider: a re-execution from the table step listed all 37, 1,575 characters that
    # never said what to do.
    if len(not_fetched) == len(PROVIDERS):
        problems.append("no provider was fetched in this run (a re-execution from models_table, or the table step "
                        "launched alone, fetches none): launch reset_and_resync anew, whole")
    elif not_fetched:
        shown = ", ".join(not_fetched[:5]) + (f" and {len(not_fetched) - 5} more" if len(not_fetched) > 5 else "")
        problems.append(f"{len(not_fetched)} provider{'s were' if len(not_fetched) > 1 else ' was'} not fetched in "
                        f"this run: {shown}")
    return problems


def preflight(context, conn, postgres: PostgresResource) -> None:
    """Before a run fetches anything: if it is a destructive write (a reset), its guard, so a launch the table
    step would refuse is refused now (writes.preflight), not after fetching every provider. dg.Failure if so."""
    run = context.run
    if not plans_step(context.instance, run, TABLE_STEP):
        return
    config = ModelsTableConfig(**table_config(run))
    if _mode(run, config) not in writes.DESTRUCTIVE:
        return
    request = _request(context, config, conn, postgres.backup_retention, preflight=True)
    try:
        writes.preflight(conn, request, reconnect=postgres.connect, log=context.log.warning)
    except (writes.WriteRefused, writes.WriteFailed) as refused:
        raise dg.Failure(description=f"{refused}; nothing was fetched",
                         metadata={"action": request.action, "refused": str(refused)}) from None


def _mode(run: dg.DagsterRun, config: ModelsTableConfig) -> str:
    """The write a run asks for: a reset_and_resync run resets, whatever its config says. Dagster replaces an
    asset job's default config whole with the launchpad's, so a launch that gave only `approval` ran the
    models_table step with its default mode, refresh: a refresh the operator did not ask for, audited as one."""
    return "reset" if run.job_name == "reset_and_resync" else config.mode


def _request(context, config: ModelsTableConfig, conn, retention: int, preflight: bool = False) -> writes.WriteRequest:
    run = context.run
    mode = _mode(run, config)
    failed = _not_fetched_for_reset(conn, run.run_id) if mode == "reset" and not preflight else []
    return writes.WriteRequest(
        mode=mode, run_id=run.run_id, launched_by=launched_by(run),
        automated=is_automated(run),
        dry_run=config.dry_run, confirm=config.confirm, approval=config.approval,
        provider_count=config.provider_count, backup_id=config.backup_id, failed_providers=failed,
        backup_retention=retention,
    )


_PLAN_VERBS = {"added": "add", "changed": "change", "removed": "remove"}  # a plan's sample kinds (sql/admin.sql)


def _observe_plan(context, config: ModelsTableConfig, outcome: writes.WriteOutcome) -> dg.AssetObservation:
    context.log.info(f"models_table dry run ({outcome.action}): {outcome.details}; nothing was written")
    metadata = {"dry_run": True, "mode": _mode(context.run, config), "audit_id": outcome.audit_id,
                **{k: (dg.MetadataValue.int(int(v)) if isinstance(v, int) else str(v)) for k, v in outcome.details.items()}}
    if outcome.plan is not None:
        for sample in outcome.plan.samples:
            verb = _PLAN_VERBS.get(sample["kind"], sample["kind"])  # "would add", never "would added"
            context.log.info(f"  would {verb}: {sample['provider']}/{sample['model_id']} "
                             f"{sample['old_name'] or ''} -> {sample['new_name'] or ''}")
        metadata["per_provider"] = dg.MetadataValue.md(_markdown(outcome.plan.per_provider))
        metadata["samples"] = dg.MetadataValue.md(_markdown(outcome.plan.samples))
    return dg.AssetObservation(asset_key=context.asset_key, metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    owners=OWNERS,
    deps=[STAGING_ASSET],
    output_required=False,  # a dry run materializes nothing
    description=(
        "providers and models, changed only here. refresh (the default): the latest good catalog of every "
        "provider in ONE transaction: readers see the old catalog or the new one, never an empty or partial "
        "table; unchanged rows keep their id and are not rewritten; every change is logged to model_history. "
        "The admin jobs are its other modes (reset, flush_models, flush_providers, restore, providers_only): "
        "guarded, backed up in the same transaction, audited (modelsync_pipeline/writes.py). "
        "dry_run=true only reports the plan."
    ),
)
def models_table(context: dg.AssetExecutionContext, config: ModelsTableConfig, postgres: PostgresResource,
                 provider_api: ProviderApi):
    interrupts.refuse_after_stop("models_table")
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(postgres.connect())
        request = _request(context, config, conn, postgres.backup_retention)
        try:
            outcome = writes.write_catalog(conn, request, PROVIDERS, reconnect=postgres.connect,
                                           log=context.log.warning)
        except writes.WriteRefused as refused:
            raise dg.Failure(description=str(refused), metadata={"action": request.action, "refused": str(refused)}) from None
        except writes.WriteFailed as failed:
            raise dg.Failure(description=str(failed), metadata={"action": request.action, "failed": str(failed)}) from failed
        if outcome.dry_run:
            context.log_event(_observe_plan(context, config, outcome))
            return
        # The write has committed: what follows only describes it. A statement failing here (a statement
        # timeout on a large table, temp_file_limit) must not fail the step, or the change would have no
        # materialization and the cache would never be republished from it.
        if "connection_lost" in outcome.details:  # lost in its COMMIT, which went through (writes._failed)
            context.log.warning(f"models_table ({outcome.action}): {outcome.details['connection_lost']}")
            conn = stack.enter_context(postgres.connect())  # what follows reads through a new connection
        try:  # watched like the write: an operator's lock taken since the COMMIT must not hold the step
            with db.watch_locks(conn, postgres.connect, f"models_table ({outcome.action}, after its commit)",
                                context.log.warning):
                sources, stale = {}, []
                if outcome.refresh is not None:
                    sources = _catalog_sources(conn)
                    stale = _stale_providers(conn, request.run_id, sources)
                unregistered = db.unregistered_providers(conn, [spec.slug for spec in PROVIDERS])
                row_count, checksum = db.table_checksum(conn)
        except psycopg.Error as exc:
            context.log.warning(f"models_table ({outcome.action}) committed (audit {outcome.audit_id}); its "
                                f"checksum and stale providers could not be read: {type(exc).__name__}: {exc}")
            sources, stale, unregistered = {}, [], {}
            row_count, checksum = outcome.after[1], f"unavailable ({type(exc).__name__})"
    before, after = outcome.before, outcome.after
    if "audit" in outcome.details:
        context.log.warning(outcome.details["audit"])
    backup = "no backup" if outcome.backup_id is None else f"backup {outcome.backup_id}"
    context.log.info(f"models_table ({outcome.action}): providers/models {before} -> {after}; {backup}; "
                     f"audit {outcome.audit_id}")
    for s in stale:
        context.log.warning(f"{s['provider']}: latest attempt {s['outcome']} at {s['step']}; "
                            f"keeping its catalog from {s['last_good_catalog']} ({s['last_good_source']})")
    for slug, models in unregistered.items():
        context.log.warning(f"{slug}: in the providers table with {models} models, but no longer in the provider "
                            "registry (removed, or renamed): a refresh never touches its rows again, so they stay "
                            "published; reset_and_resync removes them")
    replayed = replayed_beside_live(sources, live=provider_api.resolved_source == "live")
    if replayed:
        context.log.warning(f"published in a live deployment, {len(replayed)} providers' catalogs are recorded payloads "
                            f"(replay), not fetched live: {', '.join(replayed)}; they stay until a live fetch of each "
                            "succeeds (set MODELSYNC_SOURCE=live in every process of a deployment)")
    metadata = {
        "action": outcome.action,
        "row_count": dg.MetadataValue.int(row_count),
        "checksum": checksum,
        # not known of a refresh whose connection was lost in its COMMIT (writes._failed)
        "providers_before": before[0] if before else "not known",
        "models_before": before[1] if before else "not known",
        "providers_after": after[0], "models_after": after[1],
        "audit_id": outcome.audit_id,
        "backup_id": outcome.backup_id,
        "providers_not_in_registry": dg.MetadataValue.json(unregistered),
    }
    result = outcome.refresh
    if result is not None:
        per_provider = [
            {"provider": slug, "rows": n, "inserted": result.inserted.get(slug, 0),
             "updated": result.updated.get(slug, 0), "deleted": result.deleted.get(slug, 0)}
            for slug, n in result.rows_per_provider.items()
        ]
        metadata.update({
            "rows_written": dg.MetadataValue.int(result.rows_written),
            "providers_published": dg.MetadataValue.int(len(result.providers)),
            "per_provider": dg.MetadataValue.md(_markdown(per_provider)),
            "stale_providers": dg.MetadataValue.md(_markdown(stale)),
            "catalog_sources": dict(sorted(collections.Counter(sources.values()).items())),
            "replayed_beside_live": replayed,
        })
        if "audit" in outcome.details:
            metadata["audit"] = outcome.details["audit"]
    else:
        metadata.update({k: str(v) for k, v in outcome.details.items()})
    yield dg.MaterializeResult(metadata=metadata)
