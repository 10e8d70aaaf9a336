"""The Redis fan-out of the `models` table: versioned keys, one atomic switch, bounded memory.

Clients are made with `decode_responses=True` (see `RedisResource`).

The cache is a pure function of the table: `publish_cache` reads `catalog_rows` (the one schema for
database and cache) in a single REPEATABLE READ snapshot, streams it with a server-side cursor, writes a
new version, and only then points readers at it. Keys (prefix `modelsync`):

| key | type | holds |
|---|---|---|
| `modelsync:current` | string | the version readers use |
| `modelsync:v:<version>:model:<provider>:<model_id>` | string | one row of `catalog_rows` as JSON |
| `modelsync:v:<version>:provider:<provider>` | sorted set | model ids of that provider (lexicographic) |
| `modelsync:v:<version>:modality:<modality>` | sorted set | `<provider>\\t<model_id>` members |
| `modelsync:v:<version>:all` | sorted set | `<provider>\\t<model_id>` of every model: the whole catalog |
| `modelsync:v:<version>:manifest` | hash | version, run_id, row_count, checksum, key_count, created_at |

A superseded version's keys expire `previous_version_ttl` seconds after the switch (default one hour),
so a reader that started on it finishes on it. Nothing here calls `KEYS`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

import psycopg
import redis

from . import faults

PREFIX = "modelsync"
CURRENT_KEY = f"{PREFIX}:current"
DEFAULT_PREVIOUS_VERSION_TTL = 3600
BATCH = 5000
SEP = "\t"
# What a failing Redis raises through redis-py: its own errors and the socket's.
REDIS_ERRORS = (redis.RedisError, OSError)


def version_key(version: str, *parts: str) -> str:
    return ":".join((PREFIX, "v", version, *parts))


def model_key(version: str, provider: str, model_id: str) -> str:
    return version_key(version, "model", provider, model_id)


@dataclass(frozen=True)
class CachePublication:
    version: str
    previous_version: str | None
    row_count: int
    checksum: str
    key_count: int
    seconds: float
    previous_version_ttl: int


_ROWS_SQL = """
SELECT provider, model_id, modality, to_jsonb(r)::text
FROM catalog_rows r
ORDER BY provider, model_id
"""
_CHECKSUM_SQL = """
SELECT count(*), coalesce(md5(string_agg(id::text || ':' || content_hash, ',' ORDER BY id)), '')
FROM models
"""


def new_version(run_id: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{run_id[:8]}"


def publish_cache(
    conn: psycopg.Connection,
    client: redis.Redis,
    run_id: str,
    previous_version_ttl: int = DEFAULT_PREVIOUS_VERSION_TTL,
) -> CachePublication:
    """Write the table as a new cache version and switch readers to it in one step."""
    started = time.perf_counter()
    version = new_version(run_id)
    key_count = 0
    indexes: set[str] = set()
    with conn.transaction():
        # One snapshot for the rows and the checksum: the manifest describes exactly what was written.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row_count, checksum = conn.execute(_CHECKSUM_SQL).fetchone()
        with conn.cursor(name="modelsync_cache_rows") as cursor:
            cursor.itersize = BATCH
            cursor.execute(_ROWS_SQL)
            pipe = client.pipeline(transaction=False)
            pending = 0
            for provider, model_id, modality, row_json in cursor:
                member = f"{provider}{SEP}{model_id}"
                pipe.set(model_key(version, provider, model_id), row_json)
                pipe.zadd(version_key(version, "provider", provider), {model_id: 0})
                pipe.zadd(version_key(version, "modality", modality), {member: 0})
                pipe.zadd(version_key(version, "all"), {member: 0})
                indexes.update(
                    (version_key(version, "provider", provider), version_key(version, "modality", modality))
                )
                key_count += 1
                pending += 1
                if pending >= BATCH:
                    pipe.execute()
                    pending = 0
                    faults.point("cache:mid_write")
            pipe.execute()
    key_count += len(indexes) + 2  # + all, manifest
    client.hset(
        version_key(version, "manifest"),
        mapping={
            "version": version,
            "run_id": run_id,
            "row_count": row_count,
            "checksum": checksum,
            "key_count": key_count,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "providers": json.dumps(sorted(k.rsplit(":", 1)[-1] for k in indexes if ":provider:" in k)),
            "modalities": json.dumps(sorted(k.rsplit(":", 1)[-1] for k in indexes if ":modality:" in k)),
        },
    )
    faults.point("cache:before_switch")
    # The switch: one SET. GETSET hands back the version readers used until now.
    previous = client.set(CURRENT_KEY, version, get=True)
    if previous and previous != version:
        expire_version(client, previous, previous_version_ttl)
    return CachePublication(
        version=version,
        previous_version=previous,
        row_count=int(row_count),
        checksum=checksum,
        key_count=key_count,
        seconds=time.perf_counter() - started,
        previous_version_ttl=previous_version_ttl,
    )


def expire_version(client: redis.Redis, version: str, ttl: int) -> None:
    """Give every key of `version` a TTL, walking its own indexes (ZSCAN), never KEYS."""
    all_key = version_key(version, "all")
    described = manifest(client, version)
    pipe = client.pipeline(transaction=False)
    pending = 0
    for member, _ in client.zscan_iter(all_key, count=BATCH):
        provider, _, model_id = member.partition(SEP)
        pipe.expire(model_key(version, provider, model_id), ttl)
        pending += 1
        if pending >= BATCH:
            pipe.execute()
            pending = 0
    for field, kind in (("providers", "provider"), ("modalities", "modality")):
        for name in json.loads(described.get(field) or "[]"):
            pipe.expire(version_key(version, kind, name), ttl)
    pipe.expire(all_key, ttl)
    pipe.expire(version_key(version, "manifest"), ttl)
    pipe.execute()


def current_version(client: redis.Redis) -> str | None:
    return client.get(CURRENT_KEY)


def manifest(client: redis.Redis, version: str) -> dict[str, str]:
    return client.hgetall(version_key(version, "manifest"))
