"""Jobs, the daily schedule, and the sensor that publishes the good catalogs of a partly failed sync.

A failed provider check is blocking, so in the run where it fails Dagster skips `models_table`. The
other providers' fresh catalogs are staged all the same; `publish_after_partial_sync` then runs
`publish_catalog` so they reach the table and cache without waiting for the next schedule, while the
failed provider keeps its last good catalog.
"""

import os
import socket

import dagster as dg

from .cache import models_cache
from .catalog import models_table
from .provider_catalogs import PROVIDER_KEYS as PROVIDER_ASSET_KEYS

sync_all = dg.define_asset_job(
    "sync_all",
    selection=dg.AssetSelection.all(),
    description="Fetch every provider catalog, validate it, refresh the models table, fan out to Redis.",
)

reset_and_resync = dg.define_asset_job(
    "reset_and_resync",
    selection=dg.AssetSelection.all(),
    config={"ops": {"models_table": {"config": {"mode": "reset", "dry_run": False}}}},
    description="POST /admin/model-sync/reset-and-resync: fetch every provider, then flush providers and models "
                "and reload them in ONE transaction (after a backup); any failure rolls everything back. "
                "Set models_table config dry_run: true to see the plan only.",
)

publish_catalog = dg.define_asset_job(
    "publish_catalog",
    selection=dg.AssetSelection.assets(models_table, models_cache),
    description="Refresh the models table and the cache from the latest good catalog of every provider.",
)

daily_sync = dg.ScheduleDefinition(
    name="daily_sync", job=sync_all, cron_schedule="0 4 * * *", execution_timezone="UTC",
    description="Daily full sync at 04:00 UTC. Destructive jobs are never scheduled.",
)

PROVIDER_KEYS = frozenset(PROVIDER_ASSET_KEYS)


def should_publish_after(instance: dg.DagsterInstance, run: dg.DagsterRun, provider_keys=PROVIDER_KEYS) -> bool:
    """True when the failed run meant to refresh the table, staged at least one provider catalog, and
    never refreshed it (a run that selected only provider assets, or a reset, is left as the operator chose)."""
    models_table_config = ((run.run_config or {}).get("ops", {}).get("models_table") or {}).get("config") or {}
    if run.job_name == "reset_and_resync" or models_table_config.get("mode") == "reset":
        return False  # a failed reset fails whole; publishing now would be a refresh nobody asked for
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    if plan is None or models_table.key.to_python_identifier() not in plan.step_keys_to_execute:
        return False
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    materialized = {r.event_log_entry.dagster_event.asset_key for r in records}
    return bool(materialized & provider_keys) and models_table.key not in materialized


@dg.run_failure_sensor(
    name="publish_after_partial_sync",
    request_job=publish_catalog,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a sync run in which some provider failed, publish the catalogs that did succeed.",
)
def publish_after_partial_sync(context: dg.RunFailureSensorContext):
    if should_publish_after(context.instance, context.dagster_run):
        yield dg.RunRequest(run_key=context.dagster_run.run_id, tags={"modelsync/after_run": context.dagster_run.run_id})


# A run `modelsync run` executes in its own process carries these tags. No run launcher watches that process:
# killed, its run stayed STARTED, and counted against the run queue's max_concurrent_runs, forever (four such
# runs and no scheduled or UI run started again).
PROCESS_TAG, HOST_TAG = "modelsync/pid", "modelsync/host"


def process_tags() -> dict[str, str]:
    return {PROCESS_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every STARTED run whose own process (PROCESS_TAG, on this host) no longer exists; the run
    ids. A process on another host is not judged from here."""
    host = socket.gethostname()
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={HOST_TAG: host})):
        pid = int(run.tags.get(PROCESS_TAG) or 0)
        if pid <= 0 or pid == os.getpid() or _process_exists(pid):
            continue
        instance.report_run_failed(run, message=f"the process that ran it (pid {pid} on {host}) ended without "
                                                "ending the run: it was killed")
        failed.append(run.run_id)
    return failed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@dg.sensor(
    name="fail_runs_of_killed_processes",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed a run whose `modelsync run` process was killed (on this host), so it does not "
                "hold one of the queue's concurrent-run slots forever.",
)
def fail_runs_of_killed_processes(context: dg.SensorEvaluationContext):
    failed = fail_runs_of_dead_processes(context.instance)
    return dg.SkipReason(f"marked failed: {', '.join(failed)}" if failed else "no run of a killed process")
