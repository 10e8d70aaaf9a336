"""Code locations that run the local one's assets, jobs and resources on a distributed executor.

`modelsync_pipeline.definitions` runs every step in the run's own process (`in_process_executor`), which
suits one machine. The modules here are the same definitions with only the executor swapped:

    modelsync_pipeline.deploy.celery   steps as Celery tasks (dagster-celery, Redis as the broker)
    modelsync_pipeline.deploy.k8s      steps as Kubernetes jobs (dagster-k8s `k8s_job_executor`)

Each is its own module so that one machine never imports celery or the Kubernetes client.
"""

from __future__ import annotations

import dagster as dg

from ..definitions import defs as local_defs


def with_executor(executor: dg.ExecutorDefinition) -> dg.Definitions:
    """The local code location with `executor` as the default of every job.

    A job that names its own executor keeps it (none does today: every job takes the location's default).
    """
    return dg.Definitions(
        assets=local_defs.assets,
        asset_checks=local_defs.asset_checks,
        jobs=local_defs.jobs,
        schedules=local_defs.schedules,
        sensors=local_defs.sensors,
        resources=local_defs.resources,
        loggers=local_defs.loggers,
        metadata=local_defs.metadata,
        executor=executor,
    )
