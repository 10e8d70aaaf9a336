"""Reading the model catalog: Redis first, then an in-process layer, then PostgreSQL. Never a provider API.

    reader = CatalogReader(redis_url, database_url)
    reader.get_models(provider="groq")                 # list of catalog_rows dicts
    reader.get_model("openrouter", "openai/gpt-4.1")   # one dict, or None
    reader.lookup_models(modality="embedding")         # CatalogAnswer(rows, version, source)

Every answer comes from ONE cache version: `modelsync:current` is read once per call, then only that
version's keys. Versions are never modified after the switch, only expired, and `cache.expire_version`
gives the manifest its TTL first; so a reader that still finds the version's manifest after reading its
keys knows it read the whole version. If the manifest is gone (the version expired mid-read), the call
starts again from the pointer; after `MAX_ATTEMPTS` it reads the database.

A version can also lose keys while it is current: Redis evicts under memory pressure (an `allkeys-*` policy),
or an operator deletes one. Every answer is checked against the version's manifest (how many models in all,
per provider, per modality): a list shorter than the manifest says, a listed model whose key is missing, or a
model listed in `all` whose key is gone reads the database instead of answering from a damaged version.

The in-process layer keeps answers for `local_ttl_seconds`, keyed by version: while Redis answers, a
kept answer is used only if the current version is still the one it came from (so it is never stale);
while Redis is unreachable or has no current version, a kept answer younger than the TTL is used before
the database is asked (at most `local_ttl_seconds` old). A current version that is damaged (lost keys, or a
value another writer left unreadable, or JSON that is not its key's row) is answered by the database, never by an answer kept from an older one. The database path reads the `catalog_rows` view
in one query and returns the same dicts as the cache: both are `row_to_json` of the same view.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import psycopg
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import cache, db
from .urls import redact_url

MAX_ATTEMPTS = 3
# schema.CatalogSchema's provider_slug. A provider holding anything else (":" in particular, which model keys use
# as a separator: "p:a/b" + "c" is the key of "p" + "a/b:c") names no provider; the database answers it.
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
MGET_CHUNK = 10_000
DATABASE_SOURCE = "database"
# Idle database connections a reader keeps for its next queries; one more is opened while more threads read at once,
# and closed when it comes back to a full pool.
IDLE_CONNECTIONS = 4
# A reason the database answers instead of Redis is logged (logger "modelsync_pipeline.reader", WARNING) once, then
# again only if it still holds this long after: a reader whose MODELSYNC_CACHE_PREFIX differs from the publisher's
# read the database on every call, silently.
LOG_AGAIN_SECONDS = 300.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogAnswer:
    rows: list[dict]
    version: str  # the cache version the rows came from, or "database"
    source: str  # "redis", "local" (the in-process layer) or "database"


class _VersionGone(Exception):
    """The version read from the pointer expired while we read it."""


class _VersionDamaged(Exception):
    """The current version lacks keys its manifest counts (evicted or deleted): the database answers."""


def _text(name: str, value: object) -> str:
    """An argument that must be a str: the same TypeError whichever path (Redis or the database) answers."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def _storable(value: str) -> bool:
    """Whether a PostgreSQL text column can hold `value`: not with a NUL, nor with a lone surrogate (no UTF-8
    form). No row holds such a name, so it is answered empty on every path: Redis answered "no such model" while
    the database raised DataError (NUL), and either raised UnicodeEncodeError (a surrogate, as os.fsdecode
    and surrogateescape make them)."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


class CatalogReader:
    """Thread-safe reader of the catalog; one per process is enough. Made before a fork (a server that loads its
    app, then forks its workers), each process uses database connections of its own: the parent's are left to it."""

    def __init__(
        self,
        redis_url: str,
        database_url: str,
        local_ttl_seconds: float = 30.0,
        local_max_entries: int = 1024,
        socket_timeout: float = 1.0,
        redis_retry_seconds: float = 1.0,
    ):
        # Short timeouts: a dead or hung Redis must send readers to the database quickly, not hang them.
        self._redis = cache.client_from_url(
            redis_url, decode_responses=True, socket_timeout=socket_timeout,
            socket_connect_timeout=min(socket_timeout, 0.5), retry=Retry(NoBackoff(), 0),
        )
        self._database_url = database_url
        self._local_ttl = local_ttl_seconds
        self._local_max = local_max_entries
        self._local: OrderedDict[tuple, tuple[float, CatalogAnswer]] = OrderedDict()
        self._lock = threading.Lock()
        # Database connections: a pool of idle ones, each taken for one query and given back (a connection kept
        # per thread was never closed when its thread ended: one open session per thread that ever read). A forked
        # child drops them (_after_fork) and opens its own rather than share the parent's sockets.
        self._idle: list[psycopg.Connection] = []
        _READERS.add(self)
        self._redis_retry = redis_retry_seconds
        self._redis_down_until = 0.0
        self._redis_said = redact_url(redis_url)
        self._redis_failure: str | None = None  # why Redis failed last, while it is taken as down
        self._logged: dict[str, float] = {}  # reason kind -> when it was last logged

    # -- the API ----------------------------------------------------------------------------------------

    def get_models(self, provider: str | None = None, modality: str | None = None) -> list[dict]:
        """Rows of `catalog_rows` (optionally of one provider and/or modality), ordered by provider, model id."""
        return self.lookup_models(provider, modality).rows

    def get_model(self, provider: str, model_id: str) -> dict | None:
        rows = self.lookup_model(provider, model_id).rows
        return rows[0] if rows else None

    def lookup_models(self, provider: str | None = None, modality: str | None = None) -> CatalogAnswer:
        provider = None if provider is None else _text("provider", provider)
        modality = None if modality is None else _text("modality", modality)

        def from_database():
            return self._query(db.statements("catalog_read")["reader_models"], {"provider": provider, "modality": modality})

        if not all(_storable(arg) for arg in (provider, modality) if arg is not None):
            return CatalogAnswer([], DATABASE_SOURCE, DATABASE_SOURCE)
        if provider is not None and not _SLUG.fullmatch(provider):
            return CatalogAnswer(from_database(), DATABASE_SOURCE, DATABASE_SOURCE)  # not a slug: no cache key
        return self._answer(("models", provider, modality), lambda v: self._redis_models(v, provider, modality),
                            from_database)

    def lookup_model(self, provider: str, model_id: str) -> CatalogAnswer:
        provider, model_id = _text("provider", provider), _text("model_id", model_id)
        def from_database():
            return self._query(db.statements("catalog_read")["reader_model"], {"provider": provider, "model_id": model_id})

        if not (_storable(provider) and _storable(model_id)):
            return CatalogAnswer([], DATABASE_SOURCE, DATABASE_SOURCE)
        if not _SLUG.fullmatch(provider):
            return CatalogAnswer(from_database(), DATABASE_SOURCE, DATABASE_SOURCE)  # not a slug: no cache key
        return self._answer(("model", provider, model_id), lambda v: self._redis_model(v, provider, model_id),
                            from_database)

    def version(self) -> str | None:
        """The cache version readers are on now; None if Redis has none or does not answer."""
        try:
            return cache.current_version(self._redis)
        except cache.REDIS_ERRORS:
            return None

    def close(self) -> None:
        self._redis.close()
        with self._lock:
            for conn in self._idle:
                conn.close()
            self._idle.clear()

    def __enter__(self) -> CatalogReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the three layers ----------------------------------------------------------------------------------

    def _answer(self, query: tuple, from_redis, from_database) -> CatalogAnswer:
        failed = None  # why Redis failed in this call: not read back from a window that may be over already
        for _ in range(MAX_ATTEMPTS):
            try:
                version = self._current()
                if version is None:
                    break
                kept = self._kept(query, version)
                if kept is not None:
                    return kept
                rows = from_redis(version)
            except _VersionGone:
                continue
            except (_VersionDamaged, UnicodeDecodeError):  # lost keys, or a value that is not the text written
                # Reading it again finds the same keys missing. Redis answers, and its current version is not
                # the one a kept answer came from: the database answers, never an older version.
                return self._from_database(query, from_database, "damaged", f"cache version {version} at "
                                           f"{self._redis_said} lacks keys its manifest lists, or holds a value "
                                           "that is not its model's row")
            except cache.REDIS_ERRORS as exc:
                self._redis_down_until = time.monotonic() + self._redis_retry
                self._redis_failure = failed = f"Redis at {self._redis_said} failed: {type(exc).__name__}: {exc}"
                break
            return self._keep(query, CatalogAnswer(rows, version, "redis"))
        else:  # every version read expired under us
            return self._from_database(query, from_database, "expired",
                                       f"{MAX_ATTEMPTS} cache versions in a row expired while they were read")
        # Redis unreachable, or no current version: a kept answer bridges it, for at most the TTL.
        kept = self._kept(query, None)
        if kept is not None:
            return kept
        failed = failed or (self._redis_failure if time.monotonic() < self._redis_down_until else None)
        if failed is not None:
            return self._from_database(query, from_database, "down", failed)
        return self._from_database(query, from_database, "no version",
                                   f"Redis at {self._redis_said} has no {cache.CURRENT_KEY}: no publish under this "
                                   "key prefix yet, or MODELSYNC_CACHE_PREFIX differs from the publisher's")

    def _from_database(self, query: tuple, from_database, kind: str, why: str) -> CatalogAnswer:
        """The database's answer, Redis having given none for the reason `why`: logged (rate-limited), and added
        to the database's error as a note when it fails too (otherwise psycopg's words alone, naming no Redis)."""
        now = time.monotonic()
        if now - self._logged.get(kind, -LOG_AGAIN_SECONDS) >= LOG_AGAIN_SECONDS:
            self._logged[kind] = now
            log.warning("catalog reader: answering from the database: %s", why)
        try:
            rows = from_database()
        except psycopg.Error as exc:
            exc.add_note(f"The cache was not read either: {why}.")
            raise
        return self._keep(query, CatalogAnswer(rows, DATABASE_SOURCE, DATABASE_SOURCE))

    def _current(self) -> str | None:
        if time.monotonic() < self._redis_down_until:
            return None  # failed a moment ago: do not make every call wait for it again
        version = cache.current_version(self._redis)
        self._redis_failure = None
        return version

    def _kept(self, query: tuple, version: str | None) -> CatalogAnswer | None:
        """A kept answer: of `version` when given, else any answer younger than the TTL."""
        if self._local_ttl <= 0:
            return None
        with self._lock:
            entry = self._local.get(query)
            if entry is None:
                return None
            stored_at, answer = entry
            if time.monotonic() - stored_at > self._local_ttl:
                del self._local[query]
                return None
            if version is not None and answer.version != version:
                return None
            self._local.move_to_end(query)
        return CatalogAnswer(_copied(answer.rows), answer.version, "local")

    def _keep(self, query: tuple, answer: CatalogAnswer) -> CatalogAnswer:
        """Keep `answer` and return it; the kept rows are a copy, so a caller editing its rows (or its list)
        changes nothing another caller is given."""
        if self._local_ttl > 0:
            kept = CatalogAnswer(_copied(answer.rows), answer.version, answer.source)
            with self._lock:
                self._local[query] = (time.monotonic(), kept)
                self._local.move_to_end(query)
                while len(self._local) > self._local_max:
                    self._local.popitem(last=False)
        return answer

    # -- Redis ---------------------------------------------------------------------------------------------

    def _redis_model(self, version: str, provider: str, model_id: str) -> list[dict]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(cache.model_key(version, provider, model_id))
        pipe.exists(cache.version_key(version, "manifest"))
        value, alive = pipe.execute()
        if not alive:
            raise _VersionGone(version)
        if value is not None:
            return [_row(value, version, provider, model_id)]
        # No key: no such model, or its key evicted or deleted. Only a miss pays this second round trip.
        all_key = cache.version_key(version, "all")
        pipe = self._redis.pipeline(transaction=False)
        pipe.zscore(all_key, f"{provider}{cache.SEP}{model_id}")
        pipe.exists(all_key)
        pipe.hget(cache.version_key(version, "manifest"), "row_count")
        listed, all_exists, row_count = pipe.execute()
        if row_count is None:
            raise _VersionGone(version)
        if listed is not None or (not all_exists and int(row_count) > 0):
            raise _VersionDamaged(version)  # listed (or the list itself gone) but its key missing
        return []

    def _redis_models(self, version: str, provider: str | None, modality: str | None) -> list[dict]:
        manifest_key = cache.version_key(version, "manifest")
        pipe = self._redis.pipeline(transaction=False)
        if modality is not None:
            pipe.smembers(cache.version_key(version, "modality", modality))
        elif provider is not None:
            pipe.zrangebylex(cache.version_key(version, "all"), *cache.provider_range(provider))
        else:
            pipe.zrange(cache.version_key(version, "all"), 0, -1)
        pipe.hmget(manifest_key, ["row_count", "providers", "modalities"])
        found, manifest = pipe.execute()
        if manifest[0] is None:
            raise _VersionGone(version)
        # What the manifest counts for this question: fewer members means evicted or deleted keys.
        if modality is not None:
            expected = _count(_decoded(manifest[2] or "{}", version), modality, version)
        elif provider is not None:
            expected = _count(_decoded(manifest[1] or "{}", version), provider, version)
        else:
            expected = _count({"": _decoded(manifest[0], version)}, "", version)
        if len(found) != expected:
            raise _VersionDamaged(version)
        if modality is not None:
            found = sorted(found)  # a set: put it in the order of `all`
            if provider is not None:
                found = [m for m in found if m.startswith(provider + cache.SEP)]
        pairs = [m.split(cache.SEP, 1) for m in found]
        keys = [cache.model_key(version, p, m) for p, m in pairs]
        pipe = self._redis.pipeline(transaction=False)
        for start in range(0, len(keys), MGET_CHUNK):
            pipe.mget(keys[start:start + MGET_CHUNK])
        pipe.exists(manifest_key)
        *chunks, alive = pipe.execute()
        values = [v for chunk in chunks for v in chunk]
        if not alive:
            raise _VersionGone(version)
        if any(v is None for v in values):
            raise _VersionDamaged(version)
        return [_row(v, version, p, m) for v, (p, m) in zip(values, pairs)]

    # -- PostgreSQL ----------------------------------------------------------------------------------------

    def _query(self, sql: str, params: dict) -> list[dict]:
        # A kept connection the server dropped while it was idle (a restart, a failover, idle_session_timeout)
        # fails the first statement sent on it although the database answers: that question is asked once more,
        # on a new connection (a read, safe to repeat). A new connection's failure is the answer.
        while True:
            conn, kept = self._take()
            try:
                rows = conn.execute(sql, params).fetchall()
            except psycopg.OperationalError:
                conn.close()
                if kept and conn.broken:
                    continue
                raise
            except BaseException:
                conn.close()  # a statement cut short (an interrupt) leaves the connection in no state to reuse
                raise
            self._give_back(conn)
            return [json.loads(row[0]) for row in rows]

    def _take(self) -> tuple[psycopg.Connection, bool]:
        """An idle connection of this process, and True; else a new one, and False."""
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn, True
        conn = psycopg.connect(self._database_url, autocommit=True, connect_timeout=5,
                               application_name="modelsync-reader", client_encoding=db.CLIENT_ENCODING)
        try:
            # Timestamps in UTC whatever the role, database or PGTZ set: the cache holds the publisher's rows, in
            # UTC too, and the database path answered "05:37:24-05:00" where Redis answered "10:37:24+00:00".
            conn.execute(db.statements("catalog_read")["utc_session"])
        except BaseException:
            conn.close()
            raise
        return conn, False

    def _give_back(self, conn: psycopg.Connection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def _after_fork(self) -> None:
        """In the child of a fork. The idle connections are the parent's, on sockets it still uses (two processes'
        queries on one socket answered each other's: a child asking for groq's models got openai's): they are
        dropped unused and unclosed (psycopg ends a session only in the process that opened it), and the child
        opens its own. A lock another thread of the parent held at the fork stays held for ever in the child (no
        thread there will release it): the child gets a new one."""
        self._lock = threading.Lock()
        self._idle = []


_READERS: weakref.WeakSet[CatalogReader] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for reader in list(_READERS):
        reader._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _decoded(value: str, version: str):
    """A value of the version as written (JSON); one another writer left unreadable is damage, as a lost key
    is: the database answers."""
    try:
        return json.loads(value)
    except ValueError:
        raise _VersionDamaged(version) from None


def _row(value: str, version: str, provider: str, model_id: str) -> dict:
    """The row a model key holds: a JSON object naming that provider and model id. JSON of anything else
    ("null", a list, another model's row) is damage as unreadable text is: it answered None for a model the
    table holds, a number for a row, or another model's row."""
    row = _decoded(value, version)
    if not isinstance(row, dict) or row.get("provider") != provider or row.get("model_id") != model_id:
        raise _VersionDamaged(version)
    return row


def _count(counts, name: str, version: str) -> int:
    """The manifest's count for `name` (0 when it lists none); a count of another kind is damage."""
    count = counts.get(name, 0) if isinstance(counts, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise _VersionDamaged(version)
    return count


def _copied(rows: list[dict]) -> list[dict]:
    return [dict(row) for row in rows]
