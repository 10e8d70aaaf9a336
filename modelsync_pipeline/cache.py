"""The Redis fan-out of the `models` table: versioned keys, one atomic switch, bounded memory.

Clients are made with `decode_responses=True` (see `RedisResource`).

The cache is a pure function of the table: `publish_cache` reads `catalog_rows` (the one schema for
database and cache) in a single REPEATABLE READ snapshot, streams it (libpq chunked rows) in batches of
`BATCH` rows with at most one batch in flight to Redis (memory stays flat however large the table), writes
a new version, checks it against the snapshot (row count, per-provider and per-modality counts, manifest,
a sample of model keys) and only then points readers at it with one SET. Keys (prefix `modelsync`):

| key | type | holds |
|---|---|---|
| `modelsync:current` | string | the version readers use |
| `modelsync:versions` | sorted set | versions whose keys have no TTL yet (current, being written, or left by a failed write), scored by the time their write started |
| `modelsync:v:<version>:model:<provider>:<model_id>` | string | one row of `catalog_rows` as JSON |
| `modelsync:v:<version>:all` | sorted set | `<provider>\\t<model_id>` of every model, all scored 0: the whole catalog in lexicographic order; `ZRANGEBYLEX` on `<provider>\\t` gives one provider's models in order |
| `modelsync:v:<version>:modality:<modality>` | set | `<provider>\\t<model_id>` members |
| `modelsync:v:<version>:indexes` | set | names of the version's modality keys (so a half-written version can be expired) |
| `modelsync:v:<version>:manifest` | hash | version, run_id, row_count, checksum, catalog_version, key_count, created_at, providers and modalities (JSON name -> count) |

A superseded version's keys expire `previous_version_ttl` seconds after the switch (default one hour),
so a reader that started on it finishes on it. The manifest is given its TTL first, so it expires no later
than any other key of its version: a reader that still finds the manifest after reading a version's keys
knows every key it read was there (`reader.py`). A version left behind by a failed write (Redis died, the
process was killed) is expired by a later publish once it is `orphan_grace` seconds old. Nothing here
calls `KEYS`. An error reply at any step (out of memory, a read-only replica, an ACL refusal) fails the
publish as redis-py's class for it, its message naming the step, the server, what to do and the reply
(`_refusal`): Redis' own words named none of that, and inside the switch's script not even the cause.

Publishes are serialised by a session advisory lock, which goes with a lost PostgreSQL connection while the
publish goes on in Redis. So the switch is fenced too: `catalog_version` (migration 0016), a number every write
to providers or models bumps in its transaction, is read in the rows' snapshot and kept in the manifest; the
switch refuses to replace a live version whose number is higher (NewerCatalogLive), and an older snapshot never
takes readers back from a newer one. The manifest names the catalog database it was published from too
(migration 0020): a publish from another one (a second deployment given the same Redis database and key prefix)
is refused before it writes anything, and by the switch itself (OtherCatalogLive), rather than taking that
deployment's readers over. Deployments sharing a Redis database each set their own MODELSYNC_CACHE_PREFIX.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Callable

import psycopg
import redis

from . import db, faults
from .urls import redact_url


def _prefix() -> str:
    """The cache's key prefix: MODELSYNC_CACHE_PREFIX, default "modelsync". Every process of a deployment, its
    readers included, must have the same; deployments sharing a Redis database must not."""
    value = os.environ.get("MODELSYNC_CACHE_PREFIX", "modelsync")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
        raise ValueError(f"MODELSYNC_CACHE_PREFIX must be 1-64 letters, digits, '_', '.' or '-' (it begins every "
                         f"cache key, and the key patterns the cache scans for are built from it), not {value!r}")
    return value


PREFIX = _prefix()
CURRENT_KEY = f"{PREFIX}:current"
VERSIONS_KEY = f"{PREFIX}:versions"
DEFAULT_PREVIOUS_VERSION_TTL = 3600
# A version still being written is never older than this: a publish of 1M models takes well under a minute.
DEFAULT_ORPHAN_GRACE = 900
BATCH = 5000
MEMORY_SAMPLE = 200
SEP = "\t"
# What a failing Redis raises through redis-py: its own errors and the socket's.
REDIS_ERRORS = (redis.RedisError, OSError)

class CacheMismatch(RuntimeError):
    """What was written to Redis does not match the table snapshot it was read from; readers were not switched."""


class SwitchUncertain(RuntimeError):
    """Redis failed while switching readers and could not be asked afterwards which version they are on."""


class OtherCatalogLive(CacheMismatch):
    """Readers are on a version published from another catalog database (migration 0020): this publish wrote
    nothing, or deleted what it wrote, and readers stay where they are."""


class PublishGaveUp(RuntimeError):
    """The publish waited MODELSYNC_LOCK_WAIT_SECONDS for a lock held outside modelsync (an operator's `LOCK TABLE
    models`, a long DDL) and cancelled its statement (db.locks): nothing was written to Redis."""


class NewerCatalogLive(RuntimeError):
    """Readers are on a version of a newer table than this publish read (a publish that ran while this one had
    lost its lock): this version was not switched in, and its keys were deleted. `behind` is True when the
    database itself is behind the live version (restored from a backup, failed over to a replica that lagged):
    no later publish of it goes through until its catalog version passes the live one's; None when that could not
    be told (the database's version could not be read again: its connection lost, as in a failover). `live` is the
    version readers stay on, `refused` this publish's."""

    def __init__(self, message: str, behind: bool | None = False, live: str | None = None, refused: str | None = None):
        super().__init__(message)
        self.behind = behind
        self.live = live
        self.refused = refused


# SET ... GET (the switch) and ZRANDMEMBER (the size estimate) are Redis 6.2's.
MIN_REDIS_VERSION = (6, 2)


class RedisTooOld(redis.RedisError):
    """The server is older than MIN_REDIS_VERSION; nothing was written."""


# Why a publish runs a command a Redis user may be refused, beyond plain reads and writes of its keys.
_WHY_COMMAND = {
    "scan": "it finds the keys of a version that lost its indexes (evicted, or deleted by a FLUSHDB mid-write), "
            "which are listed nowhere else",
    "zscan": "it walks a version's index to give the version's keys their TTL",
    "eval": "the switch of readers to a new version is one script",
    "zrandmember": "it samples a new version's keys to check them",
    "expire": "a version readers left, or one a failed publish left, is given a TTL (or deleted) with it, and "
              "without it every version written stays in memory for good",
}


def _server(client: redis.Redis) -> str:
    """The server and database `client` talks to, as a URL without a password (for errors)."""
    kwargs = client.connection_pool.connection_kwargs
    user = f"{kwargs['username']}@" if kwargs.get("username") else ""
    if kwargs.get("path"):
        return redact_url(f"unix://{user}{kwargs['path']}?db={kwargs.get('db', 0)}")
    scheme = "rediss" if issubclass(client.connection_pool.connection_class, redis.SSLConnection) else "redis"
    return redact_url(f"{scheme}://{user}{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/"
                      f"{kwargs.get('db', 0)}")


def _error_code(exc: redis.ResponseError) -> str:
    """Redis' error code of a reply (OOM, READONLY, NOPERM...): redis-py keeps it in status_code and cuts it from
    the message. A script's is inside Redis 6's "ERR Error running script (call to f_...): @user_script:1:
    @user_script: 1: -OOM command not allowed ...", whose own code is ERR."""
    inner = re.search(r": -([A-Z]{3,}) ", str(exc))
    return inner.group(1) if inner else (getattr(exc, "status_code", None) or "")


_REPLY_CLASSES = {"OOM": redis.exceptions.OutOfMemoryError, "READONLY": redis.exceptions.ReadOnlyError,
                  "NOPERM": redis.exceptions.NoPermissionError}


def _refusal(client: redis.Redis, progress: "_Progress", exc: redis.ResponseError) -> redis.ResponseError:
    """`exc`, an error reply Redis gave a publish, as an error naming the step, the server, what the reply means
    for the cache and what to do, then the reply itself and what became of the new version's keys. Of redis-py's
    class for the code (OutOfMemoryError, ReadOnlyError, NoPermissionError; else ResponseError), found inside a
    script's error too, so that callers catching those still do."""
    code = _error_code(exc)
    user = client.connection_pool.connection_kwargs.get("username") or "default"
    reply = str(exc).rstrip(".")
    if code and not reply.startswith(code) and f"-{code}" not in reply:
        reply = f"{code} {reply}"
    if code == "OOM":
        why = ("it is out of memory (maxmemory reached, and its maxmemory-policy would not evict enough): give it "
               "more memory (maxmemory), or free some")
    elif code == "READONLY" and reply.startswith("READONLY role:slave"):  # _check_permissions' own
        why = ("it is a replica: a read-only one refuses the new version, and one that takes writes "
               "(replica-read-only no) keeps it from the primary's readers and drops it at its next sync with the "
               "primary. Point the cache's Redis URL at the primary")
    elif code == "READONLY":
        why = ("it is a read-only replica (a failover demoted it, or the URL names a replica): point the cache's "
               "Redis URL at the primary")
    elif code == "NOPERM" and (command := re.search(r"run the '([^']+)' command", reply)):
        name = command.group(1).split("|")[0].lower()
        why = (f"Redis user {user} may not run {name.upper()}, which a publish needs"
               + (f": {_WHY_COMMAND[name]}" if name in _WHY_COMMAND else "")
               + f". Allow it (ACL SETUSER {user} +{name})")
    elif code == "NOPERM" and "key" in reply:
        why = (f"Redis user {user} may not read or write the cache's keys: modelsync needs read and write access to "
               f"every key under {PREFIX}: (ACL SETUSER {user} ~{PREFIX}:*; a %R~ pattern gives reads only)")
    else:
        why = "it answered with an error"
    # The class of the reply's code, found inside the switch's script error too (a plain ResponseError there).
    cls = _REPLY_CLASSES.get(code, redis.ResponseError)
    outcome = progress.cleanup or "Nothing of the new version was written"
    message = (f"Redis at {_server(client)} (user {user}) refused the cache publish at step '{progress.step}': {why}. "
               f"Redis replied: {reply}. {outcome}. Readers stay on the previous version")
    error = cls(message, status_code=code or None)
    error.publish_step = progress.step
    return error


def _eviction_policy(client: redis.Redis) -> str | None:
    """maxmemory-policy from INFO memory (there since Redis 4), which a managed Redis that refuses CONFIG
    still answers; None only when the server hides it there too."""
    return client.info("memory").get("maxmemory_policy")


def _evicted_keys(client: redis.Redis) -> int:
    return int(client.info("stats").get("evicted_keys", 0))


def version_key(version: str, *parts: str) -> str:
    return ":".join((PREFIX, "v", version, *parts))


def model_key(version: str, provider: str, model_id: str) -> str:
    return version_key(version, "model", provider, model_id)


def provider_range(provider: str) -> tuple[str, str]:
    """ZRANGEBYLEX bounds of one provider's members in `all`: from `<provider>\\t` up to `<provider>\\n` (tab + 1)."""
    return f"[{provider}{SEP}", f"({provider}\n"


@dataclass(frozen=True)
class CachePublication:
    version: str
    previous_version: str | None
    row_count: int
    checksum: str
    key_count: int
    seconds: float
    previous_version_ttl: int
    bytes_used: int | None  # estimate: see _bytes_used (None: this Redis user may not run MEMORY USAGE)
    cached_row_count: int  # ZCARD of the version's `all`, read back before the switch
    matches_table: bool  # row count and checksum of what was written equal the snapshot's
    orphans_expired: tuple[str, ...] = ()
    # False when Redis failed after the switch, before the previous version got its TTL: a later publish
    # expires it (expire_orphans, after DEFAULT_ORPHAN_GRACE). None when there was none to expire: no version
    # was live before, or the live one was kept (unchanged).
    previous_expired: bool | None = None
    previous_expire_error: str | None = None  # why not, when Redis answered the expiry with an error (its words)
    eviction_policy: str | None = None  # Redis' maxmemory-policy, None if INFO memory does not say
    catalog_version: int = 0  # of the table snapshot published (migration 0016)
    # True when the table read as the live version already holds it (publish_cache(..., unless_unchanged=True)):
    # readers stay on `version`, which was checked again and not rewritten.
    unchanged: bool = False


# Rows are streamed in bytewise order (sql/catalog_read.sql), the order of `all`: Redis inserts each member
# next to the previous one (3x faster ZADD than in id order), and readers get the same order from either path.


def new_version(run_id: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{run_id[:8]}"


def published_by(version: str, run_id: str) -> bool:
    """Whether `version` (new_version's name) was published by the run `run_id`."""
    return version.endswith(f"-{run_id[:8]}")


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _command(head: list[bytes], packed_args: list[bytes], arg_count: int) -> bytes:
    """One command in the Redis protocol (RESP): `head` arguments, then arguments already packed with _bulk."""
    return b"".join([b"*%d\r\n" % (len(head) + arg_count), *map(_bulk, head), *packed_args])


class _BatchWriter:
    """Sends commands packed by hand on one pooled connection; replies are read one batch later.

    redis-py's packer costs ~1 us per argument in Python and a publish sends 8 arguments per model; packing
    each row's arguments in one format operation is several times cheaper. Reading a batch's replies only
    after the next batch is built lets Redis work while we read PostgreSQL (bench/bench_cache.py).

    The connection is taken at the first send, and one the server closed while it sat idle between two sends
    (redis.conf `timeout`) is opened again. Taken when the writer was made and never looked at again, it sat
    idle while PostgreSQL sorted the rows before the first batch (2 s for 200,000 models) or stalled between
    two, and every publish of a large catalog failed with "Broken pipe". A connection opened again may reach a
    server that lost what was written before (restarted empty, or a failover to a replica that lagged): a send
    may name a key it writes last (`proof`), and after a reconnect the previous send's proof must still exist.
    Redis applies, and a replica receives, one connection's commands in order: what came before it is there too.
    """

    def __init__(self, client: redis.Redis):
        self._pool = client.connection_pool
        self._conn = None
        self._unread = 0
        self._proof: bytes | None = None

    def _connection(self):
        """The connection to send on, nothing being in flight on it (the previous batch's replies are read)."""
        if self._conn is None:
            try:
                self._conn = self._pool.get_connection()
            except TypeError:  # redis-py < 5.3 wants a command name
                self._conn = self._pool.get_connection("MSET")
        elif self._closed(self._conn):
            self._conn.disconnect()
            self._conn.connect()
            if self._proof is not None:
                self._conn.send_command("EXISTS", self._proof)
                if not self._conn.read_response():
                    raise redis.ConnectionError(
                        f"Redis closed the connection between two batches, and connected again no longer holds "
                        f"{self._proof.decode(errors='replace')!r}, written before: it restarted empty, was "
                        f"flushed, or failed over to a replica that had not received it")
        return self._conn

    @staticmethod
    def _closed(conn) -> bool:
        """Whether the server closed `conn` (an idle client's timeout): nothing is in flight on it, so anything
        to read (the end of the stream) or a socket error says so."""
        try:
            return conn.can_read()
        except REDIS_ERRORS:
            return True

    def send(self, commands: list[bytes], proof: bytes | None = None) -> None:
        """Send `commands`, after reading the replies to the previous send (at most one batch in flight)."""
        try:
            self.wait()
            self._connection().send_packed_command([b"".join(commands)])
            self._unread = len(commands)
            self._proof = proof
        except BaseException:
            self._abandon()
            raise

    def wait(self) -> None:
        """Read every outstanding reply; the first error reply is raised (after the rest are read)."""
        error = None
        try:
            while self._unread:
                self._unread -= 1
                try:
                    self._conn.read_response(disable_decoding=True)
                except redis.ResponseError as exc:
                    error = error or exc
        except BaseException:
            self._abandon()
            raise
        if error is not None:
            raise error

    def _abandon(self) -> None:
        self._unread = 0
        if self._conn is not None:
            self._conn.disconnect()  # replies may still be in flight: never hand this socket back as it is

    def close(self) -> None:
        if self._conn is None:
            return
        if self._unread:
            self._abandon()
        self._pool.release(self._conn)
        self._conn = None


def publish_cache(
    conn: psycopg.Connection,
    client: redis.Redis,
    run_id: str,
    previous_version_ttl: int = DEFAULT_PREVIOUS_VERSION_TTL,
    orphan_grace: int = DEFAULT_ORPHAN_GRACE,
    unless_unchanged: bool = False,
    reconnect: Callable[[], psycopg.Connection] | None = None,
    log: Callable[[str], None] | None = None,
) -> CachePublication:
    """Write the table as a new cache version, check it against the table, and switch readers to it in one SET.

    With `unless_unchanged`, a table whose row count and checksum are the live version's, and whose live version
    still passes the checks a new one gets, is not written again (`_keep_live`): a sync that changed nothing
    rewrote every key and made readers switch to an identical copy.

    Raises CacheMismatch (readers stay on the previous version) if what Redis holds does not match the
    snapshot; Redis errors propagate as `REDIS_ERRORS` (an error reply reworded by `_refusal`). Either way the
    table is only read.

    With `reconnect` (a new connection to the same database), the lock watch of the writes (db.locks) watches the
    publish too, reporting to `log`: a wait behind another publish is reported, and one behind a lock held outside
    modelsync (its snapshot reads `models`) ends after MODELSYNC_LOCK_WAIT_SECONDS as PublishGaveUp. Both used to
    be silent and unbounded.
    """
    started = time.perf_counter()
    # One publish at a time (session lock, released on disconnect too): two publishes of one table do the
    # work twice. Which snapshot readers end on is the switch's fence (catalog_version), not this lock.
    sql = db.statements("catalog_read")
    with db.watch_locks(conn, reconnect, "models_cache", log) as watch:
        try:
            conn.execute(sql["utc_session"])  # the rows' timestamps as a reader's database path writes them
            db.locks.wait_behind_writes(conn, sql["cache_lock"])
            try:
                return _publish_locked(conn, client, run_id, previous_version_ttl, orphan_grace, started,
                                       unless_unchanged, reconnect)
            finally:
                _unlock(conn, sql["cache_unlock"])
        except psycopg.Error as exc:
            waited = watch.cancelled(exc)
            if waited is None:
                raise
            raise PublishGaveUp(waited) from None


def _unlock(conn: psycopg.Connection, statement: str) -> None:
    """Release the publish lock, unless the connection is gone: the server released it with the session. A
    failed unlock on a dead connection must neither fail a publish that switched readers (it no longer needs
    PostgreSQL after reading its snapshot) nor replace the error that ended one that did not."""
    if conn.broken or conn.closed:
        return
    try:
        conn.execute(statement)
    except psycopg.OperationalError:
        if not (conn.broken or conn.closed):
            raise


def _keep_live(client: redis.Redis, row_count: int, checksum: str, catalog_version: int,
               catalog_id: str) -> tuple[str, dict, int, int | None] | None:
    """The live version, when it already holds the table snapshot (`row_count`, `checksum`): its manifest's are
    the snapshot's (ids and content_hash of every row, the one identity of a cached row: a row's other columns
    change only with them), its keys pass the checks a new version passes before its switch (_verify), and
    every model key its `all` lists exists. Its manifest then takes the snapshot's `catalog_version`, so that a
    publish of an older snapshot still under way cannot switch readers back (the fence of _SWITCH). Returns
    (version, manifest, cached row count, bytes used); None, and a whole new version is written, when any of
    that does not hold: no live version, another table, a live version with keys missing (the heal an operator
    asks for by materializing models_cache), or a switch by another publish meanwhile."""
    live = current_version(client)
    if live is None:
        return None
    fields = manifest(client, live)
    if fields.get("row_count") != str(row_count) or fields.get("checksum") != checksum:
        return None
    if fields.get("catalog_id") not in (None, catalog_id):  # another catalog's, with the same rows: not ours
        return None
    try:
        written = {"rows": row_count, "providers": json.loads(fields["providers"]),
                   "modalities": json.loads(fields["modalities"])}
        cached_row_count = _verify(client, live, int(row_count), checksum, written)
        if not _every_model_key_exists(client, live):
            return None
        bytes_used = _bytes_used(client, live, cached_row_count)
    except (CacheMismatch, KeyError, ValueError):  # keys or manifest fields missing: write it whole again
        return None
    if not client.eval(_KEEP, 2, CURRENT_KEY, version_key(live, "manifest"), live, catalog_version, catalog_id):
        return None
    return live, fields, cached_row_count, bytes_used


class _Progress:
    """How far a publish got: the step under way (named in a refusal), whether any key of the new version may
    have been written (what its cleanup has to look for), and what became of its keys after a failure."""

    def __init__(self, version: str):
        self.version = version
        self.step = "check the server and the user's permissions"
        self.wrote_keys = False
        self.cleanup = ""


def _publish_locked(conn, client, run_id: str, previous_version_ttl: int, orphan_grace: int, started: float,
                    unless_unchanged: bool, reconnect=None) -> CachePublication:
    progress = _Progress(new_version(run_id))
    try:
        return _publish_steps(conn, client, run_id, previous_version_ttl, orphan_grace, started, unless_unchanged,
                              progress, reconnect)
    except redis.ResponseError as exc:
        # Redis' own words name neither the server, nor the step, nor (for a script or a key) what was refused.
        raise _refusal(client, progress, exc) from exc


def _publish_steps(conn, client, run_id: str, previous_version_ttl: int, orphan_grace: int, started: float,
                   unless_unchanged: bool, progress: _Progress, reconnect=None) -> CachePublication:
    version = progress.version
    _check_permissions(client, version)
    progress.step = "check which catalog the live version serves"
    identity = conn.execute(db.statements("catalog_read")["catalog_identity"]).fetchone()
    live = current_version(client)
    if live is not None:
        owner = manifest(client, live)
        if owner.get("catalog_id") not in (None, identity[0]):
            raise OtherCatalogLive(_other_catalog(client, live, owner, identity, "nothing was written"))
    progress.step = "expire versions left by failed publishes"
    orphans = expire_orphans(client, orphan_grace, previous_version_ttl)
    # A policy that may evict keys without a TTL (allkeys-*, or one INFO does not tell) may evict the keys of
    # the version being written, which has none: any eviction while it is written refuses the switch. (Under
    # volatile-* only keys with a TTL go: earlier versions'.)
    progress.step = "read the eviction policy"
    policy = _eviction_policy(client)
    evicted_before = _evicted_keys(client)
    try:
        progress.step = "compare the table with the live version"
        with conn.transaction():
            # One snapshot for the rows and the checksum: the manifest describes exactly what was written. The
            # live version is compared with the same snapshot, so a table that changed is read once, not twice.
            conn.execute(db.statements("catalog_read")["snapshot_read_only"])
            row_count, checksum = db.table_checksum(conn)
            catalog_version = conn.execute(db.statements("catalog_read")["catalog_version"]).fetchone()[0]
            if unless_unchanged and (kept := _keep_live(client, row_count, checksum, catalog_version, identity[0])) is not None:
                live, fields, cached_row_count, bytes_used = kept
                return CachePublication(
                    version=live, previous_version=live, row_count=int(row_count), checksum=checksum,
                    key_count=int(fields.get("key_count", 0)), seconds=time.perf_counter() - started,
                    previous_version_ttl=previous_version_ttl, bytes_used=bytes_used,
                    cached_row_count=cached_row_count, matches_table=True, orphans_expired=tuple(orphans),
                    eviction_policy=policy, catalog_version=catalog_version, unchanged=True)
            # Listed before its first key, so that keys a killed publish leaves behind are found and expired.
            progress.step = "write the new version"
            client.zadd(VERSIONS_KEY, {version: time.time()})
            written = _write_rows(conn, client, version, progress)
        providers, modalities = written["providers"], written["modalities"]
        key_count = written["rows"] + len(modalities) + 3  # + all, indexes, manifest
        progress.wrote_keys = True
        client.hset(
            version_key(version, "manifest"),
            mapping={
                "version": version,
                "run_id": run_id,
                "row_count": row_count,
                "checksum": checksum,
                "catalog_version": catalog_version,
                "catalog_id": identity[0],
                "catalog_database": identity[1],
                "key_count": key_count,
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "providers": json.dumps(providers, sort_keys=True),
                "modalities": json.dumps(modalities, sort_keys=True),
            },
        )
        progress.step = "check the new version against the table"
        evicted = _evicted_keys(client) - evicted_before
        if evicted > 0 and not (policy or "").startswith("volatile-") and policy != "noeviction":
            raise CacheMismatch(_eviction_refusal(version, evicted, policy))
        cached_row_count = _verify(client, version, int(row_count), checksum, written)
        bytes_used = _bytes_used(client, version, cached_row_count)
        faults.point("cache:before_switch")
    except BaseException:
        # Nobody reads this version: delete it now if Redis still answers (EXPIRE 0), else a later publish
        # expires it. Kept for the hour a superseded version gets, it took memory from the live one, and
        # under an allkeys-* policy pushed the live version's keys out. After an eviction its `all` may have
        # been evicted and made again by a later batch, listing only the models written since: SCAN for them.
        progress.cleanup = _discard(client, version, evicted_before, progress.wrote_keys)
        raise
    # The switch: one SET, made only while the version's manifest exists (a Redis restarted empty after the
    # checks above must not be left pointing readers at nothing). GET hands back the version readers used.
    progress.step = "switch readers to the new version"
    try:
        previous = client.eval(_SWITCH, 2, CURRENT_KEY, version_key(version, "manifest"), version, catalog_version,
                               version_key(""), identity[0])
    except redis.ResponseError as exc:
        if str(exc).startswith("OTHER_CATALOG"):
            live = str(exc).split()[1]
            _discard(client, version)
            raise OtherCatalogLive(_other_catalog(client, live, manifest(client, live), identity,
                                                  f"its keys (cache version {version}) were deleted")) from None
        if str(exc).startswith("NEWER_LIVE"):
            _, live, live_catalog = str(exc).split()[:3]  # the script's reply, whatever Redis appends
            _discard(client, version)
            now = _catalog_version_now(conn, reconnect)
            if now is None:  # a failover, to a replica that lagged, loses the connection too: not told apart
                raise NewerCatalogLive(
                    f"the live cache version {live} was published from catalog version {live_catalog}, later than "
                    f"this snapshot's ({catalog_version}); this publish (cache version {version}) was not switched in "
                    f"and its keys were deleted. Whether this database is behind the live version (went back: "
                    f"restored, or failed over to a replica that lagged) could not be told: its catalog version could "
                    f"not be read again", behind=None, live=live, refused=version) from None
            if now < int(live_catalog):
                raise NewerCatalogLive(
                    f"the live cache version {live} was published from catalog version {live_catalog} of this "
                    f"database, which is now at catalog version {now}: the database went back (restored from a "
                    f"backup, or failed over to a replica that lagged), and readers are served a catalog its table "
                    f"no longer holds. This publish (cache version {version}) was not switched in and its keys were "
                    f"deleted; no publish of this database goes through until its catalog version passes "
                    f"{live_catalog}. To serve the table now: DEL {CURRENT_KEY} in Redis, then materialize "
                    f"models_cache", behind=True, live=live, refused=version) from None
            raise NewerCatalogLive(
                f"a newer catalog (catalog version {live_catalog}, cache version {live}) was published meanwhile; "
                f"this older snapshot (catalog version {catalog_version}, cache version {version}) was not switched "
                f"in and its keys were deleted", live=live, refused=version) from None
        if "MANIFEST_GONE" not in str(exc):
            # Refused (out of memory, a replica, an ACL): an error reply means the script's one write, its last
            # command, was not made. Nobody reads the version: deleted now, as a version refused earlier is.
            progress.cleanup = _discard(client, version, wrote_keys=True)
            raise
        raise CacheMismatch(f"cache version {version} lost its manifest between its checks and the switch (Redis "
                            f"restarted or evicted it); readers were not switched to it") from None
    except REDIS_ERRORS as exc:
        previous = _after_failed_switch(client, version, exc)
        switch_reply_lost = True
    else:
        switch_reply_lost = False
    # Which version was current before is unknown when the switch's reply was lost: none was expired.
    previous_expired = False if switch_reply_lost else None
    previous_expire_error = None
    if previous and previous != version:
        try:
            expire_version(client, previous, previous_version_ttl)
            client.zrem(VERSIONS_KEY, previous)
            previous_expired = True
        except REDIS_ERRORS as exc:
            previous_expired = False  # readers are on the new version; a later publish expires this one
            previous_expire_error = f"{type(exc).__name__}: {str(exc).rstrip('.')}"
    return CachePublication(
        version=version,
        previous_version=previous,
        row_count=int(row_count),
        checksum=checksum,
        key_count=key_count,
        seconds=time.perf_counter() - started,
        previous_version_ttl=previous_version_ttl,
        bytes_used=bytes_used,
        cached_row_count=cached_row_count,
        matches_table=True,
        orphans_expired=tuple(orphans),
        previous_expired=previous_expired,
        previous_expire_error=previous_expire_error,
        eviction_policy=policy,
        catalog_version=catalog_version,
    )


def _discard(client: redis.Redis, version: str, evicted_before: int | None = None, wrote_keys: bool = True) -> str:
    """Delete a version no reader is on (EXPIRE 0) and drop it from `versions`, if Redis still answers; else it
    stays listed there and a later publish expires it (expire_orphans). Found by SCAN when Redis evicted keys
    since `evicted_before` (its evicted_keys when the version's write began). Without `wrote_keys` (the publish
    failed before sending its first batch) it has no key to look for: SCAN MATCH walked the whole database,
    other applications' keys too, to find none. Returns what became of the keys, for the error."""
    try:
        if wrote_keys:
            scan = evicted_before is not None and _evicted_keys(client) > evicted_before
            expire_version(client, version, 0, scan=scan)
        client.zrem(VERSIONS_KEY, version)
    except REDIS_ERRORS as exc:
        return (f"Cache version {version} could not be deleted ({type(exc).__name__}: {str(exc).rstrip('.')}): it "
                f"is listed in {VERSIONS_KEY}, and a later publish to this database expires its keys "
                f"(after {DEFAULT_ORPHAN_GRACE // 60} minutes)")
    if not wrote_keys:
        return f"No key of cache version {version} had been written"
    return f"Cache version {version} was never read: its keys were deleted"


def _eviction_refusal(version: str, evicted: int, policy: str | None) -> str:
    """Why a version written while Redis evicted keys is refused. With the policy unknown, evicted_keys (server
    wide) cannot tell this version's keys from another database's. Not settled by checking every key of the
    version: a pass over every model key costs a round trip per BATCH of them, and a key evicted after it is as
    lost; the refusal stands and says how to find out. INFO memory names the policy on every Redis >= 4."""
    if policy is None:
        return (f"Redis evicted {evicted} keys while cache version {version} was written, and does not report its "
                f"maxmemory-policy (INFO memory has no maxmemory_policy): keys of the new version may be among "
                f"them. evicted_keys counts the whole server, other databases' keys too; if the policy is "
                f"volatile-* or noeviction (ask your provider), keys without a TTL are never evicted: give the "
                f"cache a Redis whose INFO tells, or more memory (maxmemory)")
    return (f"Redis evicted {evicted} keys while cache version {version} was written (maxmemory-policy "
            f"{policy}): keys of the new version may be among them. Give Redis more memory "
            f"(maxmemory) or a policy that keeps keys without a TTL (noeviction, volatile-lru)")


# KEYS[1] the pointer, KEYS[2] the new version's manifest; ARGV[1] the new version, ARGV[2] its catalog_version,
# ARGV[3] the prefix of version keys, ARGV[4] its catalog's identity (migration 0020). The live version's manifest
# is found from the pointer's value (a key not in KEYS: fine outside Redis Cluster, which this prefix does not
# support either). A live version of another catalog stays; so does one whose table was newer; equal is the same
# table. No catalog_id or catalog_version (manifest expired, or written before migrations 0020, 0016): nothing
# to compare, the switch goes ahead. SET ... GET: Redis >= 6.2.
_SWITCH = """
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('MANIFEST_GONE') end
local live = redis.call('GET', KEYS[1])
if live and live ~= ARGV[1] then
  local owner = redis.call('HGET', ARGV[3] .. live .. ':manifest', 'catalog_id')
  if owner and owner ~= ARGV[4] then
    return redis.error_reply('OTHER_CATALOG ' .. live .. ' ' .. owner)
  end
  local fence = redis.call('HGET', ARGV[3] .. live .. ':manifest', 'catalog_version')
  if fence and tonumber(fence) and tonumber(fence) > tonumber(ARGV[2]) then
    return redis.error_reply('NEWER_LIVE ' .. live .. ' ' .. fence)
  end
end
return redis.call('SET', KEYS[1], ARGV[1], 'GET')
"""


def _every_model_key_exists(client: redis.Redis, version: str) -> bool:
    """Whether the model key of every member of the version's `all` exists: EXISTS over BATCH keys per round trip.
    A new version is checked by counts and a sample of its keys, having just written each; a version kept from
    an earlier publish may have lost any key since (an eviction, a DEL by hand), so each is looked for."""
    all_key = version_key(version, "all")
    start = 0
    while members := client.zrange(all_key, start, start + BATCH - 1):
        if client.exists(*(model_key(version, *member.split(SEP, 1)) for member in members)) != len(members):
            return False
        start += len(members)
    return True


# KEYS[1] the pointer, KEYS[2] the live version's manifest; ARGV[1] the live version, ARGV[2] the catalog_version
# of a snapshot it already holds, ARGV[3] its catalog's identity. Raises the manifest's fence to it, and gives a
# manifest written before migration 0020 the identity (else another deployment's switch would find none to
# compare), while readers are still on that version: 1, else 0 (another publish switched them meanwhile).
_KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local fence = tonumber(redis.call('HGET', KEYS[2], 'catalog_version'))
if not fence or fence < tonumber(ARGV[2]) then redis.call('HSET', KEYS[2], 'catalog_version', ARGV[2]) end
if redis.call('HEXISTS', KEYS[2], 'catalog_id') == 0 then redis.call('HSET', KEYS[2], 'catalog_id', ARGV[3]) end
return 1
"""


def _other_catalog(client: redis.Redis, live: str, owner: dict, identity: tuple[str, str], done: str) -> str:
    """Why a publish was refused: readers are on a version of another catalog database (OtherCatalogLive)."""
    return (f"the cache at {_server(client)} (keys {PREFIX}:*) serves another catalog: its live version {live} "
            f"was published from catalog {owner.get('catalog_id', '?')} (database {owner.get('catalog_database', '?')}, "
            f"run {owner.get('run_id', '?')}), this publish reads catalog {identity[0]} (database {identity[1]}). "
            f"Two deployments must not share the cache's keys: give each its own Redis database (the /N of "
            f"REDIS_URL) or its own MODELSYNC_CACHE_PREFIX, in every process of the deployment, its readers "
            f"included. If this database replaced that one (made anew, not copied), delete the pointer "
            f"(DEL {CURRENT_KEY}) and publish again. Readers stay on {live}; {done}")


def _after_failed_switch(client: redis.Redis, version: str, error: BaseException) -> str | None:
    """The SET of the switch raised (the connection dropped): it may or may not have been applied. Ask Redis
    again. Switched: the publish succeeded, and which version was current before is unknown (None: nothing is
    expired now; a later publish expires it). Not switched: the error stands, readers are on the previous
    version. No answer: SwitchUncertain."""
    try:
        switched = current_version(client) == version
    except REDIS_ERRORS:
        raise SwitchUncertain(
            f"Redis failed while switching readers to cache version {version} ({type(error).__name__}: {error}) "
            f"and did not answer afterwards: readers are on that version or on the previous one") from None
    if not switched:
        raise error
    return None


def _write_rows(conn: psycopg.Connection, client: redis.Redis, version: str, progress: _Progress) -> dict:
    """Stream `catalog_rows` into the version's keys, BATCH rows per round trip; return the counts written.
    `progress.wrote_keys` is set before the first batch goes out."""
    model_prefix = version_key(version, "model", "").encode()
    prefix_len = len(model_prefix)
    modality_prefix = version_key(version, "modality", "")
    all_key = version_key(version, "all").encode()
    indexes_key = version_key(version, "indexes").encode()
    providers: dict[str, int] = {}
    modalities: dict[str, int] = {}
    rows_written = 0
    writer = _BatchWriter(client)

    def flush(batch: list[tuple]) -> None:
        nonlocal rows_written
        values: list[bytes] = []
        members: list[bytes] = []
        by_modality: dict[str, list[bytes]] = {}
        for provider, model_id, modality, row_json in batch:
            # Each row's arguments packed in one format operation each (see _BatchWriter).
            p, m, v = provider.encode(), model_id.encode(), row_json.encode()
            member = b"$%d\r\n%s\t%s\r\n" % (len(p) + len(m) + 1, p, m)
            values.append(b"$%d\r\n%s%s:%s\r\n$%d\r\n%s\r\n" % (prefix_len + len(p) + len(m) + 1, model_prefix, p, m, len(v), v))
            members.append(b"$1\r\n0\r\n" + member)  # ZADD score 0, member
            if provider not in providers:
                _check_provider(provider, version)
            providers[provider] = providers.get(provider, 0) + 1
            (by_modality.get(modality) or by_modality.setdefault(modality, [])).append(member)
        rows_written += len(batch)
        commands = []
        # Every set this batch writes is listed in `indexes` before it is written to, so a failed write can be
        # expired. Each batch lists its own (SADD is idempotent): after a FLUSHDB mid-write, a set created
        # again by a later batch would otherwise be in no index, and never expire.
        commands.append(_command([b"SADD", indexes_key, *((modality_prefix + m).encode() for m in by_modality)], [], 0))
        # Indexes before values: a write cut short leaves index entries without keys, never keys no index finds.
        commands.append(_command([b"ZADD", all_key], members, 2 * len(members)))
        for modality, args in by_modality.items():
            commands.append(_command([b"SADD", (modality_prefix + modality).encode()], args, len(args)))
            modalities[modality] = modalities.get(modality, 0) + len(args)
        commands.append(_command([b"MSET"], values, 2 * len(values)))
        progress.wrote_keys = True
        p, m = batch[-1][0].encode(), batch[-1][1].encode()
        writer.send(commands, proof=model_prefix + p + b":" + m)  # the MSET, the batch's last command, wrote it
        faults.point("cache:mid_write")

    try:
        batch = []
        # Chunked streaming: PostgreSQL keeps producing rows while we write; memory stays at a few batches.
        for row in conn.cursor().stream(db.statements("catalog_read")["cache_rows"], size=BATCH):
            batch.append(row)
            if len(batch) >= BATCH:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
        writer.wait()
    finally:
        writer.close()
    return {"rows": rows_written, "providers": providers, "modalities": modalities}


def _catalog_version_now(conn, reconnect=None) -> int | None:
    """The database's catalog version as it is now (outside a publish's snapshot), through a new connection
    (`reconnect`) when the publish's was lost; None when it cannot be read."""
    try:
        with conn.transaction():
            return conn.execute(db.statements("catalog_read")["catalog_version"]).fetchone()[0]
    except psycopg.Error:
        if reconnect is None:
            return None
    try:
        with reconnect() as fresh, fresh.transaction():
            return fresh.execute(db.statements("catalog_read")["catalog_version"]).fetchone()[0]
    except psycopg.Error:
        return None


def client_from_url(url: str, **options) -> redis.Redis:
    """redis.Redis.from_url, with a URL it cannot read named redacted. Its parser's own words quote the part it
    could not read: with an unencoded "#", "?" or "/" in the password, a part of the password."""
    from .urls import redact_url

    try:
        client = redis.Redis.from_url(url, **options)
    except ValueError:
        raise ValueError(f"the Redis URL {redact_url(url)} is not one redis-py can read (a password holding '#', "
                         "'?' or '/' must be percent-encoded: %23, %3F, %2F)") from None
    scheme, _, rest = url.partition("://")
    database = rest.rpartition("@")[2].partition("?")[0].partition("#")[0].partition("/")[2]
    if scheme.casefold() in ("redis", "rediss") and database and not database.isdigit():
        # redis-py drops a path it cannot read as a number, and the cache went to database 0, another's perhaps.
        raise ValueError(f"the Redis URL {redact_url(url)} names database {database!r}, which is no number "
                         "(redis://host:port/<0-15>)")
    return client


class UncacheableProvider(CacheMismatch):
    """A provider slug holds a character the key layout separates with: its keys would be another provider's."""


def _check_provider(provider: str, version: str) -> None:
    """Refuse a provider whose slug holds ":" or SEP. A model key is `...:model:<provider>:<model_id>` and a member
    of `all` is `<provider>SEP<model_id>`, and ids may hold either: provider "p:a" with id "b" wrote the key of
    provider "p" with id "a:b", overwrote its row, and readers of "p" got another provider's model."""
    if ":" in provider or SEP in provider:
        raise UncacheableProvider(
            f"provider slug {provider!r} holds {':' if ':' in provider else 'a tab'}, which separates provider from "
            f"model id in the cache's keys: its models would overwrite another provider's. Cache version {version} "
            f"was not switched in; readers stay on the previous one. Fix the slug in the providers table")


def _verify(client: redis.Redis, version: str, row_count: int, checksum: str, written: dict) -> int:
    """Compare what Redis holds for `version` with the snapshot; raise CacheMismatch before any reader sees it."""
    providers, modalities = written["providers"], written["modalities"]
    pipe = client.pipeline(transaction=False)
    pipe.zcard(version_key(version, "all"))
    for name in providers:
        pipe.zlexcount(version_key(version, "all"), *provider_range(name))
    for name in modalities:
        pipe.scard(version_key(version, "modality", name))
    pipe.hmget(version_key(version, "manifest"), ["row_count", "checksum"])
    replies = pipe.execute()
    cached_rows, manifest_fields = replies[0], replies[-1]
    problems = []
    if written["rows"] != row_count:
        problems.append(f"streamed {written['rows']} rows, the snapshot has {row_count}")
    if cached_rows != row_count:
        problems.append(f"`all` holds {cached_rows} models, the snapshot {row_count}")
    if replies[1:1 + len(providers)] != list(providers.values()):
        problems.append(f"`all` holds per provider {replies[1:1 + len(providers)]}, streamed {list(providers.values())}")
    if sum(replies[1 + len(providers):-1]) != row_count:
        problems.append("the modality indexes do not add up to the row count")
    if manifest_fields != [str(row_count), checksum]:
        problems.append(f"manifest says {manifest_fields}, the snapshot {[row_count, checksum]}")
    if problems:
        raise CacheMismatch(f"cache version {version} does not match the table: " + "; ".join(problems))
    return cached_rows


def _check_permissions(client: redis.Redis, version: str) -> None:
    """Every command a publish needs beyond plain reads and writes, tried before anything is written: a Redis
    user without ZSCAN (expiring old versions) or EVAL (the switch) wrote and checked a whole version, then
    failed at the switch leaving it without a TTL, or published while no old version could ever expire.
    Without SCAN (finding the keys of a version that lost its indexes) it published until one version did,
    then every publish failed expiring it. A refusal (NoPermissionError) names the command. A server older than
    6.2 is refused too, naming its version: it wrote a whole version, then failed with "unknown command
    'ZRANDMEMBER'".

    The keys are tried too, read and write, with writes that change nothing (ZREM of no member, DEL of the new
    version's manifest, not written yet): a user whose ACL does not cover `modelsync:*`, or who may only read,
    or a read-only replica, failed at the first write of a publish that had read and expired versions. A replica
    is refused by its role (INFO replication) first: one that takes writes (replica-read-only no) took the whole
    publish, which "succeeded" while the primary's readers stayed on the old version, and its next sync with the
    primary dropped it.

    EXPIRE too (of the new version's manifest, not written yet: a no-op): a user without it (an ACL granted by
    data type, +@string +@hash +@set +@sortedset, leaves out @keyspace's EXPIRE; a `rename-command EXPIRE`)
    published, switched, failed to expire the previous version and succeeded with a warning, every time: each
    publish left a whole version in memory without a TTL, and from 15 minutes on (expire_orphans' grace) every
    publish failed expiring them."""
    server = str(client.info("server").get("redis_version", ""))
    release = tuple(int(part) for part in server.split(".")[:2] if part.isdigit())
    if len(release) == 2 and release < MIN_REDIS_VERSION:
        raise RedisTooOld(f"Redis >= {'.'.join(map(str, MIN_REDIS_VERSION))} is required, this server is {server}")
    replication = client.info("replication")
    if replication.get("role") == "slave":
        # A read-only replica refuses the writes below; one that takes writes published "successfully".
        raise redis.exceptions.ReadOnlyError(
            f"READONLY role:slave of {replication.get('master_host', '?')}:{replication.get('master_port', '?')} "
            f"(INFO replication)", status_code="READONLY")
    pipe = client.pipeline(transaction=False)
    pipe.zscan(VERSIONS_KEY, 0, count=1)
    pipe.eval("return 1", 0)
    pipe.scan(0, match=version_key("*"), count=1)
    pipe.zrem(VERSIONS_KEY, "")  # a version is never ""
    pipe.exists(version_key(version, "manifest"))
    pipe.delete(version_key(version, "manifest"))
    pipe.expire(version_key(version, "manifest"), 1)  # no such key (deleted just above): changes nothing
    pipe.execute()


def _bytes_used(client: redis.Redis, version: str, row_count: int) -> int | None:
    """Memory of a version, estimated: MEMORY USAGE of every index key and the manifest, plus the mean
    MEMORY USAGE of up to MEMORY_SAMPLE random model keys times the row count. A sampled model key that is
    missing is a CacheMismatch. None when the Redis user may not run MEMORY USAGE, or the server does not know
    it (`rename-command MEMORY ""`, a managed or Redis-compatible server without it): an estimate for the
    metadata, never a reason to refuse a version that passed its checks. Only NOPERM was taken so: a server
    without the command refused every publish at its last step, after writing the whole version."""
    index_keys = [version_key(version, part) for part in ("all", "indexes", "manifest")]
    index_keys += sorted(client.smembers(version_key(version, "indexes")))
    members = client.zrandmember(version_key(version, "all"), MEMORY_SAMPLE) if row_count else []
    pipe = client.pipeline(transaction=False)
    for key in index_keys:
        pipe.memory_usage(key)
    for member in members:
        pipe.memory_usage(model_key(version, *member.split(SEP, 1)))
    try:
        replies = pipe.execute()
    except redis.exceptions.NoPermissionError:
        return None
    except redis.ResponseError as exc:
        if "unknown command" in str(exc).lower():  # the pipeline holds MEMORY USAGE alone
            return None
        raise
    sampled = replies[len(index_keys):]
    missing = [m for m, used in zip(members, sampled) if used is None]
    if missing:
        raise CacheMismatch(f"cache version {version}: {len(missing)} sampled model keys are missing, e.g. {missing[0]!r}")
    per_model = sum(sampled) / len(sampled) if sampled else 0
    return int(sum(u or 0 for u in replies[:len(index_keys)]) + per_model * row_count)


def expire_version(client: redis.Redis, version: str, ttl: int, scan: bool = False) -> None:
    """Give every key of `version` a TTL, walking its own `all` index with ZSCAN, never KEYS.

    The manifest first: it must expire no later than any other key of the version (see the module docstring).
    A version whose `all` or `indexes` is gone (evicted under an allkeys-* policy, deleted by hand), or any
    version when `scan` is set, is found by SCAN MATCH on its key prefix instead: its model keys are listed
    nowhere else, and left without a TTL they would stay for good. SCAN walks the whole database, BATCH keys
    a call: slower than ZSCAN, and only for a version that lost its indexes.
    """
    all_key = version_key(version, "all")
    indexes_key = version_key(version, "indexes")
    manifest_key = version_key(version, "manifest")
    client.expire(manifest_key, ttl)
    if scan or client.exists(all_key, indexes_key) < 2:
        _expire_by_scan(client, version, ttl)
        return
    index_keys = client.smembers(indexes_key)
    ttl_arg = _bulk(str(ttl).encode())
    model_prefix = version_key(version, "model", "").encode()
    writer = _BatchWriter(client)
    try:
        cursor = None
        while cursor != 0:
            cursor, members = client.zscan(all_key, cursor or 0, count=BATCH)
            commands = []
            for member, _ in members:
                key = model_prefix + member.replace(SEP, ":", 1).encode()
                commands.append(b"*3\r\n$6\r\nEXPIRE\r\n$%d\r\n%s\r\n%s" % (len(key), key, ttl_arg))
            if commands:
                writer.send(commands)
        writer.send([_command([b"EXPIRE", k.encode(), str(ttl).encode()], [], 0) for k in (*index_keys, all_key, indexes_key)])
        writer.wait()
    finally:
        writer.close()


def _expire_by_scan(client: redis.Redis, version: str, ttl: int) -> None:
    pattern = version_key(_glob_escape(version), "*")
    ttl_arg = str(ttl).encode()
    writer = _BatchWriter(client)
    try:
        cursor = None
        while cursor != 0:
            cursor, keys = client.scan(cursor or 0, match=pattern, count=BATCH)
            if keys:
                writer.send([_command([b"EXPIRE", k if isinstance(k, bytes) else k.encode(), ttl_arg], [], 0)
                             for k in keys])
        writer.wait()
    finally:
        writer.close()


def _glob_escape(text: str) -> str:
    """`text` matched literally by SCAN MATCH (a run id could hold a glob character)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def expire_orphans(client: redis.Redis, grace: int, ttl: int) -> list[str]:
    """Expire versions a failed publish left without TTLs: listed in `versions`, not current, older than `grace`."""
    current = current_version(client)
    stale = client.zrangebyscore(VERSIONS_KEY, "-inf", time.time() - grace)
    orphans = [v for v in stale if v != current]
    for version in orphans:
        expire_version(client, version, ttl)
        client.zrem(VERSIONS_KEY, version)
    return orphans


def current_version(client: redis.Redis) -> str | None:
    return client.get(CURRENT_KEY)


def manifest(client: redis.Redis, version: str) -> dict[str, str]:
    return client.hgetall(version_key(version, "manifest"))
