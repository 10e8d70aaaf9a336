"""Jobs, schedule and the sensor that publishes the good catalogs after a partly failed sync."""

from __future__ import annotations

import dagster as dg

from modelsync_pipeline.definitions import defs
from modelsync_pipeline.defs.jobs import publish_after_partial_sync, publish_after_recovery
from modelsync_pipeline.resources import ProviderApi

from .pipeline import PUBLISH, step_failures, sync


def _failure_context(instance, result):
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE" or e.event_type_value == "RUN_FAILURE")
    return dg.build_run_status_sensor_context(
        sensor_name=publish_after_partial_sync.name, dagster_event=failure, dagster_instance=instance, dagster_run=run,
    ).for_run_failure()


def test_sensor_publishes_after_a_run_whose_table_step_failed(synced, redis_url, replay_dir, monkeypatch):
    """A provider's failure no longer fails the run (the others publish in it); a failed refresh does, and
    the sensor then republishes the staged catalogs."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    from modelsync_pipeline.defs import catalog

    def refresh_fails(*args, **kwargs):
        raise RuntimeError("lock timeout")

    real_refresh = catalog.db.refresh_models_table
    monkeypatch.setattr(catalog.db, "refresh_models_table", refresh_fails)
    with dg.instance_for_test() as instance:
        result = sync(database_url, redis_url, replay_dir, instance=instance)
        assert not result.success and "lock timeout" in step_failures(result)["models_table"]
        requests = list(publish_after_partial_sync(_failure_context(instance, result)))
        assert len(requests) == 1
        assert publish_after_partial_sync.job_name == "publish_catalog"
        assert requests[0].run_key == result.run_id
        # A re-execution on its way publishes itself: a publish beside it would be a second refresh.
        instance.add_run(dg.DagsterRun(job_name="sync_all", run_id="re-executing", status=dg.DagsterRunStatus.STARTED,
                                       tags={"dagster/parent_run_id": result.run_id, "dagster/root_run_id": result.run_id}))
        assert list(publish_after_partial_sync(_failure_context(instance, result))) == []
        instance.report_run_failed(instance.get_run_by_id("re-executing"))
        assert len(list(publish_after_partial_sync(_failure_context(instance, result)))) == 1
        # Re-executed from failure and recovered before the sensor ran: nothing left to publish.
        monkeypatch.setattr(catalog.db, "refresh_models_table", real_refresh)
        recovered = sync(database_url, redis_url, replay_dir, selection=PUBLISH, instance=instance,
                         tags={"dagster/parent_run_id": result.run_id, "dagster/root_run_id": result.run_id})
        assert recovered.success
        assert list(publish_after_partial_sync(_failure_context(instance, result))) == []


def test_sensor_stays_quiet_when_nothing_was_staged(database_url, redis_url, replay_dir):
    with dg.instance_for_test() as instance:
        result = sync(database_url, redis_url, replay_dir, selection=PUBLISH, instance=instance)  # nothing staged yet
        assert not result.success
        assert list(publish_after_partial_sync(_failure_context(instance, result))) == []


def test_sensor_leaves_a_providers_only_run_alone(database_url, redis_url, replay_dir, monkeypatch):
    from modelsync_pipeline.defs import provider_catalogs

    def database_went_away(*args, **kwargs):
        raise RuntimeError("database went away")

    (replay_dir / "groq.status").write_text("500")
    monkeypatch.setattr(provider_catalogs, "record_failed_attempt", database_went_away)
    with dg.instance_for_test() as instance:
        selection = [dg.AssetKey("groq_catalog"), dg.AssetKey("openai_catalog")]
        result = sync(database_url, redis_url, replay_dir, selection=selection, instance=instance)
        assert not result.success and "database went away" in step_failures(result)["fetch_provider_catalogs"]
        assert list(publish_after_partial_sync(_failure_context(instance, result))) == []


def test_sensor_never_turns_a_failed_reset_into_a_refresh(synced, redis_url, replay_dir):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    (replay_dir / "groq.status").write_text("503")
    with dg.instance_for_test() as instance:
        result = sync(database_url, redis_url, replay_dir, instance=instance, mode="reset")
        assert not result.success and "reset_and_resync failed whole" in step_failures(result)["models_table"]
        assert list(publish_after_partial_sync(_failure_context(instance, result))) == []


def test_sensor_never_turns_a_failed_dry_run_into_a_refresh(synced, redis_url, replay_dir, monkeypatch):
    """A dry run of a sync (models_table dry_run: true, from the Launchpad) stages every provider and is to write
    nothing to the table; its plan failing (here behind an operator's lock on models) must not make the sensor
    publish what it staged."""
    import psycopg

    from modelsync_pipeline.db import locks

    monkeypatch.setenv(locks.WAIT_ENV, "1")
    with dg.instance_for_test() as instance, psycopg.connect(synced, application_name="psql-operator") as holder:
        holder.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")
        result = sync(synced, redis_url, replay_dir, instance=instance, dry_run=True)
        holder.rollback()
        assert not result.success and "psql-operator" in step_failures(result)["models_table"]
        assert list(publish_after_partial_sync(_failure_context(instance, result))) == []


def _success_context(instance, result):
    run = instance.get_run_by_id(result.run_id)
    success = next(e for e in result.all_events if e.event_type_value in ("RUN_SUCCESS", "PIPELINE_SUCCESS"))
    return dg.build_run_status_sensor_context(
        sensor_name=publish_after_recovery.name, dagster_event=success, dagster_instance=instance, dagster_run=run)


def test_a_re_execution_of_the_providers_a_sync_failed_on_gets_published(synced, redis_url, replay_dir):
    """After an outage the UI offers "re-execute from asset failure": a run of the failed provider assets
    alone, green, that stages their catalogs and does not touch the table. The sensor publishes them; a fresh
    selection of providers without the table, and a sync that did publish, are left alone."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    groq = [dg.AssetKey("groq_catalog")]
    with dg.instance_for_test() as instance:
        (replay_dir / "groq.status").write_text("500")
        outage = sync(database_url, redis_url, replay_dir, instance=instance)
        assert outage.success and "groq_catalog" not in {str(e.asset_key.path[-1]) for e in outage.get_asset_materialization_events()}
        assert list(publish_after_recovery(_success_context(instance, outage))) == []  # it published the others
        # the first try comes too early (still 500): nothing staged, nothing to publish
        early = sync(database_url, redis_url, replay_dir, selection=groq, instance=instance,
                     tags={"dagster/parent_run_id": outage.run_id, "dagster/root_run_id": outage.run_id})
        assert early.success and list(publish_after_recovery(_success_context(instance, early))) == []
        (replay_dir / "groq.status").unlink()
        recovery = sync(database_url, redis_url, replay_dir, selection=groq, instance=instance,
                        tags={"dagster/parent_run_id": early.run_id, "dagster/root_run_id": outage.run_id})
        assert recovery.success
        requests = list(publish_after_recovery(_success_context(instance, recovery)))
        assert [r.run_key for r in requests] == [recovery.run_id]
        assert publish_after_recovery.job_name == "publish_catalog"
        fresh = sync(database_url, redis_url, replay_dir, selection=groq, instance=instance)
        assert fresh.success and list(publish_after_recovery(_success_context(instance, fresh))) == []


def test_jobs_and_schedule():
    sync_all = defs.resolve_job_def("sync_all")
    publish = defs.resolve_job_def("publish_catalog")
    keys = {k.to_user_string() for k in sync_all.asset_layer.executable_asset_keys}
    assert {"models_table", "models_cache", "openrouter_catalog", "cloudflare_workers_ai_catalog"} <= keys
    assert {k.to_user_string() for k in publish.asset_layer.executable_asset_keys} == {"models_table", "models_cache"}
    schedule = defs.resolve_schedule_def("daily_sync")
    assert schedule.job_name == "sync_all" and schedule.cron_schedule == "0 4 * * *"
    # on from the start: a deployment syncs on its schedules without anyone switching them on in the UI
    assert {s.name: s.default_status for s in defs.schedules} == {
        s.name: dg.DefaultScheduleStatus.RUNNING for s in defs.schedules}
    for asset in defs.assets:
        for spec in asset.specs:
            assert spec.description and spec.group_name and spec.owners and spec.kinds, spec.key


def test_overriding_one_provider_api_field_in_the_launchpad_keeps_the_deployments_source(monkeypatch, tmp_path):
    """A run that sets `deadline_seconds` on provider_api (as the Launchpad lets an operator) gets Dagster's
    defaults for the other fields: the source must still be the deployment's (live), never the recorded
    payloads it would silently publish instead."""
    import dagster as dg

    from modelsync_pipeline.definitions import build_resources

    monkeypatch.setenv("MODELSYNC_SOURCE", "live")
    monkeypatch.setenv("MODELSYNC_REPLAY_DIR", str(tmp_path))
    seen = {}

    @dg.asset
    def probe(provider_api: ProviderApi):
        seen.update(source=provider_api.resolved_source, replay_dir=provider_api.resolved_replay_dir,
                    deadline=provider_api.deadline_seconds)

    resources = {"provider_api": build_resources()["provider_api"]}
    config = {"resources": {"provider_api": {"config": {"deadline_seconds": 120}}}}
    assert dg.materialize([probe], resources=resources, run_config=config).success
    assert seen == {"source": "live", "replay_dir": str(tmp_path), "deadline": 120}


def test_a_re_execution_someone_launched_is_not_audited_as_the_schedule():
    """A re-execution inherits its parent's tags, dagster/schedule_name included: it is the operator's run
    (audited as a re-execution, not refused as automated); Dagster's own retries stay automated."""
    from modelsync_pipeline.defs.catalog import is_automated, launched_by

    scheduled = {"dagster/schedule_name": "daily_sync"}
    clicked = dg.DagsterRun(job_name="sync_all", run_id="b", tags={**scheduled, "dagster/parent_run_id": "a"})
    retried = dg.DagsterRun(job_name="sync_all", run_id="c", tags={**clicked.tags, "dagster/retry_number": "1"})
    assert (launched_by(clicked), is_automated(clicked)) == ("ui-or-cli (no user recorded): re-execution of run a", False)
    assert (launched_by(retried), is_automated(retried)) == ("schedule:daily_sync", True)
    original = dg.DagsterRun(job_name="sync_all", run_id="a", tags=scheduled)
    assert (launched_by(original), is_automated(original)) == ("schedule:daily_sync", True)


def test_the_staging_asset_alone_is_refused_not_a_success_with_nothing_staged(database_url, redis_url, replay_dir):
    result = sync(database_url, redis_url, replay_dir, selection=[dg.AssetKey("provider_catalogs")])
    assert not result.success
    assert "select at least one of them" in step_failures(result)["fetch_provider_catalogs"]


def test_a_re_execution_of_a_cli_run_is_neither_killed_nor_credited_to_the_cli():
    """A UI re-execution of a `modelsync run` run inherits its modelsync/pid and modelsync/launched_by tags: the
    killed-process sensor must not fail it for its parent's dead process, nor the audit call it the CLI's. Nor a
    launch of a copy of its tags (which carries no parent run id)."""
    from modelsync_pipeline.defs.catalog import launched_by
    from modelsync_pipeline.defs.jobs import HOST_TAG, PROCESS_TAG, fail_runs_of_dead_processes

    import os
    import socket
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    cli_tags = {PROCESS_TAG: str(dead.pid), HOST_TAG: socket.gethostname(), "modelsync/launched_by": "cli"}
    with dg.instance_for_test() as instance:
        killed = dg.DagsterRun(job_name="sync_all", run_id="killed", status=dg.DagsterRunStatus.STARTED, tags=cli_tags)
        clicked = dg.DagsterRun(job_name="sync_all", run_id="clicked", status=dg.DagsterRunStatus.STARTED,
                                tags={**cli_tags, "dagster/parent_run_id": "killed", "dagster/root_run_id": "killed"})
        # Ctrl-C during start-up: the command had created its run and not started it.
        stopped = dg.DagsterRun(job_name="sync_all", run_id="stopped", status=dg.DagsterRunStatus.NOT_STARTED,
                                tags=cli_tags)
        # Launched from the UI's *Open in Launchpad* on the killed run: its tags copied, no parent run id, and run
        # by a run launcher, whose process writes its events
        copied = dg.DagsterRun(job_name="sync_all", run_id="copied", status=dg.DagsterRunStatus.STARTED, tags=cli_tags)
        instance.add_run(killed)
        instance.add_run(clicked)
        instance.add_run(stopped)
        instance.add_run(copied)
        instance.report_dagster_event(dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_STARTING.value,
                                                      job_name="sync_all"), "copied")  # as a run launcher does
        assert sorted(fail_runs_of_dead_processes(instance)) == ["killed", "stopped"]
        assert instance.get_run_by_id("clicked").status == dg.DagsterRunStatus.STARTED
        assert instance.get_run_by_id("copied").status == dg.DagsterRunStatus.STARTING  # as the launcher left it
        # started by its run worker since: its events name that process, not the tagged one
        started = dg.DagsterRun(job_name="sync_all", run_id="started", status=dg.DagsterRunStatus.STARTED, tags=cli_tags)
        instance.add_run(started)
        instance.report_dagster_event(dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value,
                                                      job_name="sync_all", pid=os.getpid()), "started")
        assert fail_runs_of_dead_processes(instance) == []
        assert instance.get_run_by_id("stopped").status == dg.DagsterRunStatus.FAILURE
    assert launched_by(clicked).endswith("re-execution of run killed") and launched_by(killed) == "cli"


def test_a_selection_without_downstream_says_it_published_nothing(synced, redis_url, replay_dir):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    groq = [dg.AssetKey("groq_catalog")]
    with dg.instance_for_test() as instance:
        result = sync(database_url, redis_url, replay_dir, selection=groq, instance=instance)
        assert result.success
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == 30]  # logging.WARNING
        assert any("staged only, not published: groq" in m and "publish_catalog" in m for m in warnings), warnings
        everything = sync(database_url, redis_url, replay_dir, instance=instance)
        assert not [e for e in instance.all_logs(everything.run_id) if "staged only" in (e.user_message or "")]


def test_a_re_execution_that_fails_leaves_the_failed_runs_catalogs_to_the_failure_sensor(synced, redis_url, replay_dir, monkeypatch):
    """The failure sensor stays quiet while a re-execution is on its way; if that re-execution then fails too,
    judged with the run it re-executes, the catalogs that run staged are still published."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    from modelsync_pipeline.defs import catalog

    def refresh_fails(*args, **kwargs):
        raise RuntimeError("lock timeout")

    monkeypatch.setattr(catalog.db, "refresh_models_table", refresh_fails)
    with dg.instance_for_test() as instance:
        failed = sync(database_url, redis_url, replay_dir, instance=instance)
        assert not failed.success
        again = sync(database_url, redis_url, replay_dir, selection=PUBLISH, instance=instance,
                     tags={"dagster/parent_run_id": failed.run_id, "dagster/root_run_id": failed.run_id})
        assert not again.success  # the table still fails: nothing re-staged in it, nothing published
        assert [r.run_key for r in publish_after_partial_sync(_failure_context(instance, again))] == [again.run_id]


def test_the_plans_step_key_is_the_table_assets():
    """The staging step and the sensors look for the table's step by this key; a renamed asset must rename it."""
    from modelsync_pipeline.defs.catalog import models_table
    from modelsync_pipeline.defs.plans import TABLE_STEP

    assert TABLE_STEP == models_table.key.to_python_identifier()


def test_a_killed_make_job_run_is_marked_failed_not_left_holding_a_queue_slot(synced, redis_url, tmp_path,
                                                                              monkeypatch):
    """`make job` ran `dagster job execute` without the process tags: killed, its run stayed STARTED for ever,
    and four of them filled the queue's four slots (the schedule's sync then never started)."""
    import contextlib
    import os
    import signal
    import subprocess
    import time

    import psycopg

    from modelsync_pipeline.defs.jobs import PROCESS_TAG, fail_runs_of_dead_processes

    from .faults import REPO_ROOT

    ready = tmp_path / "ready"
    state = tmp_path / "state"
    env = {**os.environ, "DATABASE_URL": synced, "REDIS_URL": redis_url, "STATE": str(state),
           "MODELSYNC_SOURCE": "replay", "MODELSYNC_FAULT": "refresh:before_delete=pause",
           "MODELSYNC_FAULT_READY": str(ready)}
    proc = subprocess.Popen(["make", "-s", "job", "J=publish_catalog"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "make job never reached the refresh"
            time.sleep(0.05)
        with psycopg.connect(synced) as conn:
            (run_id, pid), = conn.execute(
                "SELECT r.run_id, t.value FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
                "WHERE r.status = 'STARTED' AND t.key = %s", (PROCESS_TAG,)).fetchall()
        os.kill(int(pid), signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # make, and a run left paused if the test failed before its kill
    from modelsync_pipeline.local.services import sqlalchemy_url

    # The instance `make job` used: its DAGSTER_HOME under the state folder, its storage the catalog database.
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster_home"))
    monkeypatch.setenv("DAGSTER_PG_URL", sqlalchemy_url(synced))
    with dg.DagsterInstance.get() as instance:
        assert fail_runs_of_dead_processes(instance) == [run_id]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
