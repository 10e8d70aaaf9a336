"""The modelsync code location with each step run as a Celery task (dagster-celery, Redis as the broker).

    dagster-celery worker start -A dagster_celery.app -y deploy/celery/worker.yaml   # on each worker machine
    dagster job execute -m modelsync_pipeline.deploy.celery -j sync_all                # or the UI / schedule

The broker (and result backend) is `DAGSTER_CELERY_BROKER_URL`, e.g. `redis://redis.internal:6379/1`: a
Redis database of its own, never the cache's (`REDIS_URL`), whose keys the cache owns. It is fixed here, not
left to run config, because a run pointed at another broker than the workers' waits for ever.

Workers and the process that launches runs need the same environment as a local run (`DATABASE_URL`,
`REDIS_URL`, provider keys, `MODELSYNC_ADMIN_TOKEN`) and the same Dagster instance (`DAGSTER_HOME` with
`modelsync_pipeline/dagster.yaml`, storage in PostgreSQL), since a worker writes each step's events there.
"""

from __future__ import annotations

from dagster_celery import celery_executor

from . import with_executor

BROKER_URL_ENV = "DAGSTER_CELERY_BROKER_URL"

# Results go back through the same Redis database: one URL for the operator to set, no RabbitMQ.
modelsync_celery_executor = celery_executor.configured(
    {"broker": {"env": BROKER_URL_ENV}, "backend": {"env": BROKER_URL_ENV}}, name="celery"
)

defs = with_executor(modelsync_celery_executor)
