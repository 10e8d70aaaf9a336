"""The same sync on Dagster's Celery executor: a real worker on loopback, Redis as the broker.

One worker for the module (started as a user would, `dagster-celery worker start`, in its own process group
and killed with it), a database and a Dagster home shared by the worker and the launching CLI, as on a real
deployment. The broker is the Redis database after the cache's, on the same server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import redis

from modelsync_pipeline.definitions import defs as local_defs
from modelsync_pipeline.deploy import celery as celery_location
from modelsync_pipeline.local.services import sqlalchemy_url
from modelsync_pipeline.providers.http import RECORDED_DIR

from .conftest import TEST_ADMIN_SECRET, flushed_redis, redis_database, scratch_database
from .test_pipeline import cached_rows, counts_by_provider, expected_counts, table_rows

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_CONFIG = REPO_ROOT / "deploy" / "celery" / "worker.yaml"
VENV_BIN = Path(sys.executable).parent
STEPS = {"fetch_provider_catalogs", "models_table", "models_cache", "catalog_status"}


class Deployment:
    """What a Celery deployment shares: environment, Dagster home, database, cache, broker, worker log."""

    def __init__(self, env: dict[str, str], home: Path, database_url: str, redis_url: str, worker_name: str,
                 worker_log: Path, replay_dir: Path):
        self.env, self.home, self.database_url, self.redis_url = env, home, database_url, redis_url
        self.worker_name, self.worker_log, self.replay_dir = worker_name, worker_log, replay_dir

    def execute(self, job: str = "sync_all") -> subprocess.CompletedProcess:
        """`dagster job execute` on the Celery code location, as an operator would type it."""
        return subprocess.run(
            [str(VENV_BIN / "dagster"), "job", "execute", "-m", "modelsync_pipeline.deploy.celery", "-j", job],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=240,
        )

    def instance(self) -> dg.DagsterInstance:
        os.environ["DAGSTER_PG_URL"] = self.env["DAGSTER_PG_URL"]  # dagster.yaml reads storage from it
        return dg.DagsterInstance.from_config(str(self.home))


def _wait_until_ready(proc: subprocess.Popen, log: Path, name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if f"{name}@" in text and " ready." in text:
            return
        if proc.poll() is not None:
            pytest.fail(f"the Celery worker exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.3)
    pytest.fail(f"the Celery worker was not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def deployment(servers, tmp_path_factory):
    root = tmp_path_factory.mktemp("celery")
    broker_url = redis_database(servers.redis_url, 1)  # the worker's second database: the broker keeps out of the cache's keys
    with scratch_database(servers, "modelsync_celery") as database_url, flushed_redis(servers.redis_url, broker_url):
        yield from _deployment(servers, root, database_url, broker_url)


def _deployment(servers, root, database_url: str, broker_url: str):

    home = root / "dagster_home"  # persistent, not ephemeral: worker and launcher share run storage
    home.mkdir()
    shutil.copy(REPO_ROOT / "modelsync_pipeline" / "dagster.yaml", home / "dagster.yaml")
    replay_dir = root / "recorded"  # the worker reads payloads from here; a test may break one
    shutil.copytree(RECORDED_DIR, replay_dir)
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # the worker execs `celery`
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": sqlalchemy_url(database_url),
        "DATABASE_URL": database_url,
        "REDIS_URL": servers.redis_url,
        celery_location.BROKER_URL_ENV: broker_url,
        "MODELSYNC_SOURCE": "replay",
        "MODELSYNC_REPLAY_DIR": str(replay_dir),
        "MODELSYNC_ADMIN_TOKEN": TEST_ADMIN_SECRET,
    }
    worker_name = f"modelsync-test-{uuid.uuid4().hex[:6]}"
    worker_log = root / "worker.log"
    with worker_log.open("w") as log:
        worker = subprocess.Popen(
            [str(VENV_BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(WORKER_CONFIG), "--name", worker_name, "--", "--concurrency", "2"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_until_ready(worker, worker_log, worker_name)
        yield Deployment(env, home, database_url, servers.redis_url, worker_name, worker_log, replay_dir)
    finally:
        _stop(worker)


def _stop(worker: subprocess.Popen) -> None:
    """The worker's whole process group (dagster-celery, celery and its pool): cold shutdown (no task is left), then kill.

    Waits for the group, not just the `dagster-celery` parent, which exits before celery has finished."""
    for sig, wait_s in ((signal.SIGQUIT, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(worker.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            worker.poll()  # reap the parent so the group can empty
            try:
                os.killpg(worker.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _steps_run_by_worker(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """{step key: the Celery worker that executed it}, from the engine events the worker wrote for the run."""
    ran = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        metadata = event.engine_event_data.metadata if event.engine_event_data else {}
        if "Celery worker" in metadata:
            ran[event.step_key] = metadata["Celery worker"].value
    return ran


def test_the_celery_location_is_the_local_one_with_another_executor():
    celery_defs = celery_location.defs
    assert {key for a in celery_defs.assets for key in a.keys} == {key for a in local_defs.assets for key in a.keys}
    assert sorted(j.name for j in celery_defs.jobs) == sorted(j.name for j in local_defs.jobs)
    assert sorted(s.name for s in celery_defs.schedules) == sorted(s.name for s in local_defs.schedules)
    assert sorted(s.name for s in celery_defs.sensors) == sorted(s.name for s in local_defs.sensors)
    assert celery_defs.resources.keys() == local_defs.resources.keys()
    assert celery_defs.executor.name == "celery"
    assert local_defs.executor is dg.in_process_executor  # one machine keeps its fast path


@pytest.mark.timeout(420)
def test_sync_all_through_a_celery_worker_publishes_every_provider(deployment):
    proc = deployment.execute()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    assert counts_by_provider(deployment.database_url) == expected_counts()
    rows = table_rows(deployment.database_url)
    with redis.Redis.from_url(deployment.redis_url, decode_responses=True) as client:
        assert cached_rows(client) == rows  # the cache a reader sees is the table

    instance = deployment.instance()
    runs = instance.get_runs(dg.RunsFilter(job_name="sync_all"))
    assert [run.status for run in runs][:1] == [dg.DagsterRunStatus.SUCCESS]
    ran = _steps_run_by_worker(instance, runs[0].run_id)
    # Every step, not just some, went through the broker to our worker; none ran in the launching process.
    assert set(ran) == STEPS, proc.stdout[-3000:]
    assert {worker.split("@")[0] for worker in ran.values()} == {deployment.worker_name}
    log = deployment.worker_log.read_text()
    assert log.count("Task execute_plan[") >= 2 * len(STEPS)  # received and succeeded, per step


@pytest.mark.timeout(420)
def test_a_provider_failing_in_the_worker_is_recorded_and_the_others_are_published(deployment):
    groq_before = {k: v for k, v in table_rows(deployment.database_url).items() if k[0] == "groq"}
    status_file = deployment.replay_dir / "groq.status"
    status_file.write_text("503")  # the worker's replay answers groq's list with HTTP 503
    try:
        proc = deployment.execute()
    finally:
        status_file.unlink()
    # One provider failing is that provider's failure, not the run's (as in a local run).
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    with psycopg.connect(deployment.database_url) as conn:
        outcome = conn.execute("SELECT outcome, step, error FROM sync_attempts WHERE provider_slug = 'groq' "
                               "ORDER BY id DESC LIMIT 1").fetchone()
    assert outcome[:2] == ("fetch_failed", "fetch") and "HTTP 503" in outcome[2]
    counts, expected = counts_by_provider(deployment.database_url), expected_counts()
    assert {slug: n for slug, n in counts.items() if slug != "groq"} == {
        slug: n for slug, n in expected.items() if slug != "groq"}
    rows = table_rows(deployment.database_url)
    assert {k: v for k, v in rows.items() if k[0] == "groq"} == groq_before  # its last good catalog stays
    with redis.Redis.from_url(deployment.redis_url, decode_responses=True) as client:
        assert cached_rows(client) == rows

    instance = deployment.instance()
    run = instance.get_runs(dg.RunsFilter(job_name="sync_all"), limit=1)[0]
    assert set(_steps_run_by_worker(instance, run.run_id)) == STEPS
