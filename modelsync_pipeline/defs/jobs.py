"""Jobs, and the sensors that publish good catalogs a run staged and did not publish.

A provider that fails keeps its last good catalog and does not fail the run. A run that fails at or before
its table step has staged the other providers' fresh catalogs all the same; `publish_after_partial_sync` then
runs `publish_catalog` so they reach the table and cache without waiting for the next schedule.
`publish_after_recovery` does the same after a successful re-execution that fetched only provider assets of a
sync (the UI's "from asset failure" after an outage).
"""

import os
import socket

import dagster as dg

from .cache import models_cache
from .catalog import models_table
from .plans import plans_step, table_config
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

PROVIDER_KEYS = frozenset(PROVIDER_ASSET_KEYS)


def _is_reset(run: dg.DagsterRun) -> bool:
    return run.job_name == "reset_and_resync" or table_config(run).get("mode") == "reset"


def _materialized(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set:
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return {r.event_log_entry.dagster_event.asset_key for r in records}


def should_publish_after(instance: dg.DagsterInstance, run: dg.DagsterRun, provider_keys=PROVIDER_KEYS) -> bool:
    """True when the failed run meant to refresh the table, staged at least one provider catalog, and
    never refreshed it (a run that selected only provider assets, a reset or a dry run is left as the operator
    chose), unless a re-execution of it has already succeeded or is on its way. A failed re-execution is judged
    with the run it re-executes: that run's publish was left to it."""
    origin_id = run.tags.get("dagster/root_run_id")
    origin = instance.get_run_by_id(origin_id) if origin_id and origin_id != run.run_id else None
    if _is_reset(run) or (origin is not None and _is_reset(origin)):
        return False  # a failed reset fails whole; publishing now would be a refresh nobody asked for
    if table_config(run).get("dry_run") or (origin is not None and table_config(origin).get("dry_run")):
        return False  # a dry run was to write nothing: publishing what it staged would be a refresh nobody asked for
    if not (plans_step(instance, run) or (origin is not None and plans_step(instance, origin))):
        return False
    in_run = _materialized(instance, run)
    materialized = in_run | (_materialized(instance, origin) if origin is not None else set())
    if not materialized & provider_keys or models_table.key in in_run:
        return False
    # A re-execution that succeeded, or is still on its way, publishes itself: a publish beside it would be a
    # second refresh and cache version.
    return not any(instance.get_runs(filters=dg.RunsFilter(tags={tag: run.run_id}, statuses=_RECOVERING), limit=1)
                   for tag in ("dagster/parent_run_id", "dagster/root_run_id"))


_RECOVERING = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
               dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def should_publish_after_recovery(instance: dg.DagsterInstance, run: dg.DagsterRun, provider_keys=PROVIDER_KEYS) -> bool:
    """True when the successful run re-executed only provider assets of a run that meant to refresh the table
    (the UI's "re-execute from asset failure" after an outage selects the failed providers alone), staged at
    least one, and so left their new catalogs unpublished. A fresh selection of providers without the table
    is left as the operator chose; so is a reset or a dry run."""
    # The run the re-executions started from: a recovery that took two tries (the outage outlasted the first)
    # has a parent that fetched providers only, and the root that meant to refresh the table.
    origin_id = run.tags.get("dagster/root_run_id") or run.tags.get("dagster/parent_run_id")
    origin = instance.get_run_by_id(origin_id) if origin_id else None
    if origin is None or _is_reset(run) or _is_reset(origin) or table_config(origin).get("dry_run"):
        return False
    if plans_step(instance, run) or not plans_step(instance, origin):
        return False
    return bool(_materialized(instance, run) & provider_keys)


@dg.run_failure_sensor(
    name="publish_after_partial_sync",
    request_job=publish_catalog,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a sync run in which some provider failed, publish the catalogs that did succeed.",
)
def publish_after_partial_sync(context: dg.RunFailureSensorContext):
    if should_publish_after(context.instance, context.dagster_run):
        yield dg.RunRequest(run_key=context.dagster_run.run_id, tags={"modelsync/after_run": context.dagster_run.run_id})


@dg.run_status_sensor(
    name="publish_after_recovery",
    run_status=dg.DagsterRunStatus.SUCCESS,
    request_job=publish_catalog,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a re-execution that fetched only the providers a sync had failed on (from asset failure), "
                "publish their new catalogs: the table and the cache would otherwise wait for the next schedule.",
)
def publish_after_recovery(context: dg.RunStatusSensorContext):
    if should_publish_after_recovery(context.instance, context.dagster_run):
        yield dg.RunRequest(run_key=context.dagster_run.run_id, tags={"modelsync/after_run": context.dagster_run.run_id})


# A run `modelsync run` executes in its own process carries these tags. No run launcher watches that process:
# killed, its run stayed STARTED, and counted against the run queue's max_concurrent_runs, forever (four such
# runs and no scheduled or UI run started again).
PROCESS_TAG, HOST_TAG = "modelsync/pid", "modelsync/host"


def process_tags() -> dict[str, str]:
    return {PROCESS_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


# A run of `modelsync run` in any of these is unfinished: STARTED, or not started yet (the command was stopped
# between creating its run and starting it, Ctrl-C during start-up).
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run (UNFINISHED) whose own process (PROCESS_TAG, on this host) no longer
    exists; the run ids. A process on another host is not judged from here."""
    host = socket.gethostname()
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: host})):
        if run.tags.get("dagster/parent_run_id"):
            continue  # a re-execution inherits its parent's tags: the process they name never ran it
        pid = int(run.tags.get(PROCESS_TAG) or 0)
        if pid <= 0 or pid == os.getpid() or _process_exists(pid) or _run_elsewhere(instance, run, pid):
            continue
        instance.report_run_failed(run, message=f"the process that ran it (pid {pid} on {host}) ended without "
                                                f"ending the run ({run.status.value}): it was killed or stopped")
        failed.append(run.run_id)
    return failed


# Events a run gets only from the run queue or a run launcher, never when its own process executes it.
_LAUNCHED = frozenset(t.value for t in (dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_DEQUEUED,
                                        dg.DagsterEventType.RUN_STARTING))


def _run_elsewhere(instance: dg.DagsterInstance, run: dg.DagsterRun, pid: int) -> bool:
    """Whether `run` is not the tagged process's: its tags were copied from a `modelsync run` run into a launch (by
    hand or by a script; with no parent run id) and the queue or a run launcher started it. `modelsync run` and `make job` execute their run in the process their tag names: none of their
    events is the queue's or a launcher's, and each that names a process names that one."""
    return any(entry.dagster_event is not None and (entry.dagster_event.event_type_value in _LAUNCHED
                                                    or entry.dagster_event.pid not in (None, pid))
               for entry in instance.all_logs(run.run_id))


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
