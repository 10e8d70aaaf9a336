"""One Dagster resource per external system: provider HTTP, PostgreSQL, Redis.

Instances are made in one place, `definitions.py`, from the environment. Keys are read from the
environment at request time by the provider client and never become resource config, metadata or logs.
"""

from __future__ import annotations

import os
import pathlib
import threading

import dagster as dg
import httpx
import psycopg
import redis

from . import db
from .providers.http import RECORDED_DIR, STATIC_DIR, ProviderClient, ReplayTransport, RetryPolicy
from .providers.registry import ProviderSpec

_migrated: set[str] = set()
_migrate_lock = threading.Lock()


class ProviderApi(dg.ConfigurableResource):
    """Fetches provider model lists: `live` from the real endpoints, `replay` from recorded payloads.

    Both go through the same `ProviderClient` (request building, pagination, retries, decoding).
    """

    # None: from the environment when used (MODELSYNC_SOURCE, default replay; MODELSYNC_REPLAY_DIR, default the
    # shipped payloads), not when the code location loaded. A run that overrides another field of this resource
    # (deadline_seconds in the Launchpad) gets the unset fields' defaults: a fixed default here would turn a
    # live deployment's run into a replay of the recorded payloads.
    source: str | None = None
    replay_dir: str | None = None
    timeout_seconds: float = 30.0
    max_attempts: int = 4
    backoff_seconds: float = 0.5
    # Each provider's whole fetch (every page and retry) ends by this deadline, beside the others.
    deadline_seconds: float = 60.0
    # Providers fetched at once. Above the registry's size (37) so that every provider is in flight in the
    # first round: at 16, 37 providers need three rounds of their slowest answer.
    max_concurrency: int = 64

    @property
    def resolved_source(self) -> str:
        source = self.source or os.environ.get("MODELSYNC_SOURCE") or "replay"
        if source not in ("live", "replay"):
            raise ValueError(f"ProviderApi.source (or MODELSYNC_SOURCE) must be 'live' or 'replay', not {source!r}")
        return source

    @property
    def resolved_replay_dir(self) -> str:
        return self.replay_dir or os.environ.get("MODELSYNC_REPLAY_DIR") or str(RECORDED_DIR)

    def client(self, spec: ProviderSpec) -> ProviderClient:
        replay = self.resolved_source == "replay"
        # A provider with no list API is served from its static file in every mode.
        transport = ReplayTransport(spec, self.resolved_replay_dir) if replay or spec.static else None
        return ProviderClient(
            spec,
            transport=transport,
            timeout=httpx.Timeout(self.timeout_seconds, connect=min(10.0, self.timeout_seconds)),
            retry=RetryPolicy(max_attempts=self.max_attempts, backoff_seconds=self.backoff_seconds),
            require_key=not (replay or spec.static),
            deadline_seconds=self.deadline_seconds,
        )

    def endpoint(self, spec: ProviderSpec) -> str:
        """What this resource really reads for `spec`: the list URL it requests (after MODELSYNC_<SLUG>_BASE_URL),
        or under replay the recorded file it serves, which no URL or account placeholder changes."""
        if spec.static:
            return f"static file {_shown(STATIC_DIR / spec.recorded)}"
        if self.resolved_source == "replay":
            return f"recorded payload {_shown(pathlib.Path(self.resolved_replay_dir) / spec.recorded)}"
        return f"{spec.public_base_url().rstrip('/')}{spec.public_path()}"

    def fetch_records(self, spec: ProviderSpec) -> list[dict]:
        with self.client(spec) as client:
            return client.fetch_records()


def _shown(path: pathlib.Path) -> str:
    """A file of the project as its path in the repository (modelsync_pipeline/...), any other as given."""
    try:
        return str(path.resolve().relative_to(pathlib.Path(__file__).resolve().parent.parent))
    except ValueError:
        return str(path)


class PostgresResource(dg.ConfigurableResource):
    """The catalog database. The schema is migrated on first use in each process."""

    database_url: str
    backup_retention: int = db.DEFAULT_BACKUP_RETENTION  # newest backups kept; older ones are pruned

    def connect(self, **kwargs) -> psycopg.Connection:
        with _migrate_lock:
            if self.database_url not in _migrated:
                db.apply_migrations(self.database_url)
                _migrated.add(self.database_url)
        return db.connect(self.database_url, **kwargs)


class RedisResource(dg.ConfigurableResource):
    redis_url: str
    previous_version_ttl_seconds: int = 3600

    def client(self) -> redis.Redis:
        from . import cache

        return cache.client_from_url(self.redis_url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5)


def hold_storage_connection(instance: dg.DagsterInstance) -> None:
    """One pooled connection for Dagster's run and event storage in this process, as the webserver holds one,
    instead of dagster-postgres' new connection per event (a run logs ~700), and checked before each use: a
    pooled connection the server closed meanwhile (a restart, a failover, idle_session_timeout) is replaced,
    where it failed the run's next event, and a run that had published ended "PostgreSQL is unreachable",
    exit 2, recorded as FAILURE. A no-op for other storages."""
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
        # dagster-postgres builds the engine without SQLAlchemy's pre-ping and offers no setting for it
        pool = getattr(getattr(storage, "_engine", None), "pool", None)
        if pool is not None and hasattr(pool, "_pre_ping"):
            pool._pre_ping = True
