"""The Redis fan-out: the cached form equals the table, the metadata tells the truth, old and orphaned versions expire."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import redis

from modelsync_pipeline import cache, db

from .pipeline import step_failures, sync
from .test_pipeline import cached_rows, table_rows

REPO_ROOT = Path(__file__).resolve().parent.parent


def version_keys(client, version: str) -> list[str]:
    """Every key of a version, by SCAN (a test may; the pipeline never lists keys)."""
    return sorted(client.scan_iter(match=cache.version_key(version, "*"), count=1000))


def test_cached_form_equals_the_table_field_by_field_and_the_metadata_says_so(database_url, redis_url, redis_client):
    result = sync(database_url, redis_url)
    assert result.success, step_failures(result)

    table = table_rows(database_url)
    cached = cached_rows(redis_client)
    assert cached.keys() == table.keys()
    for key, row in table.items():  # every field of every model of every provider
        assert cached[key].keys() == row.keys(), key
        for field, value in row.items():
            assert cached[key][field] == value, (key, field)

    meta = result.asset_materializations_for_node("models_cache")[0].metadata
    version = cache.current_version(redis_client)
    with psycopg.connect(database_url) as conn:
        row_count, checksum = db.table_checksum(conn)
    assert meta["version"].value == version
    assert meta["matches_table"].value is True
    assert meta["row_count"].value == meta["cached_row_count"].value == row_count == len(table)
    assert meta["checksum"].value == checksum
    assert meta["key_count"].value == len(version_keys(redis_client, version))
    used = sum(redis_client.memory_usage(k) for k in version_keys(redis_client, version))
    assert 0.5 * used < meta["bytes_used"].value < 2 * used
    assert meta["previous_version_ttl_seconds"].value == 3600

    manifest = cache.manifest(redis_client, version)
    assert (int(manifest["row_count"]), manifest["checksum"]) == (row_count, checksum)
    by_provider = {}
    for provider, _ in table:
        by_provider[provider] = by_provider.get(provider, 0) + 1
    assert json.loads(manifest["providers"]) == by_provider
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [version]
    assert all(redis_client.ttl(k) == -1 for k in version_keys(redis_client, version))


def test_a_new_version_expires_the_previous_one_and_nothing_else(synced, redis_url, redis_client):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    first = cache.current_version(redis_client)
    first_keys = version_keys(redis_client, first)
    with db.connect(database_url) as conn:
        published = cache.publish_cache(conn, redis_client, "second-run", previous_version_ttl=120)
    assert published.previous_version == first
    assert cache.current_version(redis_client) == published.version != first
    assert all(0 < redis_client.ttl(k) <= 120 for k in first_keys)
    # the manifest expires first, never after a key a reader could still be reading (read last, in one MULTI)
    pipe = redis_client.pipeline(transaction=True)
    for key in first_keys:
        pipe.pttl(key)
    pipe.pttl(cache.version_key(first, "manifest"))
    *others, manifest_pttl = pipe.execute()
    assert manifest_pttl <= min(others)
    assert all(redis_client.ttl(k) == -1 for k in version_keys(redis_client, published.version))
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [published.version]
    assert cached_rows(redis_client) == table_rows(database_url)


_KILLED_PUBLISH = """
import sys
import redis
from modelsync_pipeline import cache, db
with db.connect(sys.argv[1]) as conn:
    cache.publish_cache(conn, redis.Redis.from_url(sys.argv[2], decode_responses=True), "killed-run")
"""


def test_a_version_left_by_a_killed_publish_is_expired_by_the_next_one(synced, redis_url, redis_client, tmp_path):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    current = cache.current_version(redis_client)

    ready = tmp_path / "ready"
    env = {**os.environ, "MODELSYNC_FAULT": "cache:mid_write=pause", "MODELSYNC_FAULT_READY": str(ready)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_PUBLISH, database_url, redis_url], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the publish never reached the fault point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    orphans = [v for v in redis_client.zrange(cache.VERSIONS_KEY, 0, -1) if v != current]
    assert len(orphans) == 1
    orphan_keys = version_keys(redis_client, orphans[0])
    assert orphan_keys and all(redis_client.ttl(k) == -1 for k in orphan_keys)  # left without TTLs
    assert cache.current_version(redis_client) == current  # readers never saw it

    with db.connect(database_url) as conn:
        young = cache.publish_cache(conn, redis_client, "next-run", orphan_grace=3600)
        assert young.orphans_expired == ()  # it might still be being written
        later = cache.publish_cache(conn, redis_client, "later-run", orphan_grace=0, previous_version_ttl=60)
    assert later.orphans_expired == (orphans[0],)
    assert all(0 < redis_client.ttl(k) <= 60 for k in orphan_keys)
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [later.version]
    assert cached_rows(redis_client) == table_rows(database_url)


def test_a_failed_write_before_the_switch_deletes_its_own_keys(synced, redis_url, redis_client, monkeypatch):
    """No reader ever saw the version: its keys go at once (they were kept an hour, taking memory from the
    live version, and under an allkeys-* policy pushing its keys out)."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    current = cache.current_version(redis_client)
    live = sorted(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000))
    monkeypatch.setenv("MODELSYNC_FAULT", "cache:before_switch=raise")
    result = sync(database_url, redis_url, selection=[dg.AssetKey("models_cache")], rewrite_cache=True)
    assert "fault injected at cache:before_switch" in step_failures(result)["models_cache"]
    assert cache.current_version(redis_client) == current
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [current]
    assert sorted(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000)) == live



def test_a_models_table_materialized_alone_schedules_the_cache(database_url, redis_url):
    """The fan-out: models_cache is eager, so the daemon republishes it after any models_table run."""
    import dagster as dg

    from modelsync_pipeline.definitions import defs

    from .pipeline import sync

    with dg.instance_for_test() as instance:
        assert sync(database_url, redis_url, instance=instance).success
        cache_key = dg.AssetKey("models_cache")
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.get_num_requested(cache_key) == 0  # the full sync already published the cache
        assert sync(database_url, redis_url, instance=instance, selection=[dg.AssetKey("models_table")]).success
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.get_num_requested(cache_key) == 1
    sensor = defs.resolve_sensor_def("cache_fan_out")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_publish_into_a_redis_that_evicts_keys_without_a_ttl_is_refused(synced, own_redis):
    """allkeys-random under memory pressure: the new version (keys without a TTL) may lose keys as it is
    written; a sample of 200 keys may not notice. Any eviction while it is written refuses the switch. The Redis
    is this test's own: a memory limit and a policy are the server's, and would evict other tests' keys."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    url, _, _ = own_redis
    with redis.Redis.from_url(url, decode_responses=True) as redis_client, db.connect(database_url) as conn:
        cache.publish_cache(conn, redis_client, "first-run")
        first = cache.current_version(redis_client)
        assert first is not None
        pipe = redis_client.pipeline(transaction=False)
        for i in range(20_000):
            pipe.set(f"filler:{i}", "y" * 100)
        pipe.execute()
        redis_client.config_set("maxmemory-policy", "allkeys-random")
        # a version of the recorded catalog needs ~2.6 MB: with 1 MB to spare, something must be evicted
        redis_client.config_set("maxmemory", str(redis_client.info("memory")["used_memory"] + 1_000_000))
        with pytest.raises(cache.CacheMismatch, match="evicted .* allkeys-random"):
            cache.publish_cache(conn, redis_client, "evicting-run")
        # readers never switched to it (allkeys-random may have evicted the pointer itself: then they read the
        # database)
        assert cache.current_version(redis_client) in (first, None)


class _RestartedBeforeTheSwitch(redis.Redis):
    """A Redis without persistence restarted between the publish's checks and its switch: empty again. The
    client empties the real database at that moment (the switch is the one EVAL of a publish)."""

    def eval(self, *args, **kwargs):
        self.flushdb()
        return super().eval(*args, **kwargs)


def test_a_redis_restarted_empty_before_the_switch_is_never_pointed_at_nothing(synced, redis_url):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    client = _RestartedBeforeTheSwitch.from_url(redis_url, decode_responses=True)
    with db.connect(database_url) as conn, pytest.raises(cache.CacheMismatch, match="lost its manifest"):
        cache.publish_cache(conn, client, "restarted-run")
    assert cache.current_version(client) is None  # no pointer at all: readers ask the database


class _ReplyLostAfter(redis.Redis):
    """A client whose connection drops right after Redis applied a command (`lose` names it): the way a
    network cut between the reply and the client looks from here. Redis itself is real."""

    lose: str = "eval"  # the switch

    def execute_command(self, *args, **options):
        reply = super().execute_command(*args, **options)
        if str(args[0]).casefold() == self.lose:
            raise redis.ConnectionError("connection lost after the command (test)")
        return reply


def test_a_switch_whose_reply_is_lost_is_a_publish_that_happened(synced, redis_url):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    client = _ReplyLostAfter.from_url(redis_url, decode_responses=True)
    first = cache.current_version(client)
    with db.connect(database_url) as conn:
        published = cache.publish_cache(conn, client, "lost-reply-run")
    assert cache.current_version(client) == published.version != first
    # which version was current before is unknown, so none was expired now: a later publish expires it
    assert published.previous_version is None and published.previous_expired is False
    assert first in client.zrange(cache.VERSIONS_KEY, 0, -1)
    assert cached_rows(client) == table_rows(database_url)


def test_redis_failing_after_the_switch_leaves_a_publish_that_says_so(synced, redis_url, redis_client):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    client = _ReplyLostAfter.from_url(redis_url, decode_responses=True)
    client.lose = "zrem"  # the previous version's cleanup, after the switch
    first = cache.current_version(client)
    with db.connect(database_url) as conn:
        published = cache.publish_cache(conn, client, "cleanup-fails-run")
    assert cache.current_version(redis_client) == published.version and published.previous_version == first
    assert published.previous_expired is False  # the run's metadata and log say so; readers are on the new one
    assert published.previous_expire_error == "ConnectionError: connection lost after the command (test)"


@pytest.fixture
def acl_user(redis_client):
    """A Redis user made for one test (ACLs are the server's, not a database's), removed afterwards."""
    import uuid

    made = []

    def user(*rules: str) -> str:
        name = f"modelsync_t_{uuid.uuid4().hex[:8]}"
        redis_client.execute_command("ACL", "SETUSER", name, "on", ">pw", "~*", "&*", "+@all", *rules)
        made.append(name)
        return name

    yield user
    for name in made:
        redis_client.execute_command("ACL", "DELUSER", name)


def _as_user(redis_url: str, name: str) -> redis.Redis:
    host_and_db = redis_url.split("://", 1)[1].split("@")[-1]
    return redis.Redis.from_url(f"redis://{name}:pw@{host_and_db}", decode_responses=True)


def test_a_redis_user_without_a_command_the_publish_needs_is_refused_before_anything_is_written(
        synced, redis_url, redis_client, acl_user):
    """Without ZSCAN a publish 'succeeded' leaving its previous version without a TTL, and every publish
    after failed; without EVAL a whole version was written, then the switch failed. The command is named
    before anything is written."""
    for command in ("zscan", "eval"):
        keys_before, current = sorted(redis_client.scan_iter(count=1000)), cache.current_version(redis_client)
        with _as_user(redis_url, acl_user(f"-{command}")) as client, db.connect(synced) as conn:
            with pytest.raises(redis.exceptions.NoPermissionError, match=command):
                cache.publish_cache(conn, client, f"no-{command}")
        assert sorted(redis_client.scan_iter(count=1000)) == keys_before
        assert cache.current_version(redis_client) == current


def test_a_redis_user_without_memory_usage_still_publishes(synced, redis_url, redis_client, acl_user):
    """MEMORY USAGE only feeds the size estimate in the metadata: refusing it failed a publish that passed
    every check."""
    with _as_user(redis_url, acl_user("-memory")) as client, db.connect(synced) as conn:
        published = cache.publish_cache(conn, client, "no-memory")
    assert published.bytes_used is None and cache.current_version(redis_client) == published.version


def test_a_redis_user_without_expire_is_refused_before_it_leaves_a_version_behind(synced, own_redis):
    """A user granted by data type (+@string +@hash +@set +@sortedset, no @keyspace) or a Redis with EXPIRE
    renamed: each publish switched readers, failed to give the previous version a TTL and succeeded with a
    warning, leaving a whole version in memory for good, until 15 minutes later every publish failed. Refused
    before anything is written, naming EXPIRE. The Redis is this test's own: ACL users are the server's."""
    url, _, _ = own_redis
    with redis.Redis.from_url(url, decode_responses=True) as admin, db.connect(synced) as conn:
        first = cache.publish_cache(conn, admin, "first-run").version
        admin.execute_command("ACL", "SETUSER", "no_expire", "on", ">pw", "~*", "+@all", "-expire")
        keys_before = sorted(admin.scan_iter(count=1000))
        with _as_user(url, "no_expire") as client:
            with pytest.raises(redis.exceptions.NoPermissionError, match="may not run EXPIRE"):
                cache.publish_cache(conn, client, "no-expire")
        assert sorted(admin.scan_iter(count=1000)) == keys_before
        assert cache.current_version(admin) == first
        assert admin.zrange(cache.VERSIONS_KEY, 0, -1) == [first]


@pytest.fixture
def redis_server_with(tmp_path):
    """A redis-server of this test's own started with extra settings (those only a start takes, such as
    rename-command); yields a function of the settings that returns its URL. Stopped afterwards."""
    import socket

    from modelsync_pipeline.local import services

    started = []

    def start(*settings: str) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        folder = tmp_path / f"redis-{port}"
        folder.mkdir()
        process = subprocess.Popen([services._redis_executable(), "--bind", "127.0.0.1", "--port", str(port),
                                    "--save", "", "--appendonly", "no", "--dir", str(folder), *settings],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 30
        while True:
            try:
                with redis.Redis.from_url(url) as client:
                    client.ping()
                return url
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    yield start
    for process in started:
        process.terminate()
        process.wait(30)


def test_a_redis_without_the_memory_command_still_publishes(synced, redis_server_with):
    """A server with MEMORY renamed away (or a Redis-compatible one without it) answers MEMORY USAGE with
    "unknown command": only NOPERM was taken as "no estimate", and every publish was refused at its last step,
    after writing the whole version, for a figure of the metadata."""
    url = redis_server_with("--rename-command", "MEMORY", "")
    with redis.Redis.from_url(url, decode_responses=True) as client, db.connect(synced) as conn:
        published = cache.publish_cache(conn, client, "no-memory-command")
        assert published.bytes_used is None and cache.current_version(client) == published.version
        kept = cache.publish_cache(conn, client, "unchanged", unless_unchanged=True)
        assert kept.unchanged and kept.version == published.version


def test_a_redis_that_closes_idle_clients_takes_a_publish_whose_database_paused_between_batches(
        synced, own_redis, tmp_path, monkeypatch):
    """`timeout` in redis.conf closes a client idle that long. The write took one connection for all its batches
    and let it idle while PostgreSQL produced the next rows (2 s before the first batch of 200,000 models):
    Redis closed it, and every publish of a large catalog failed with "Broken pipe". Here PostgreSQL's pause is
    a fault point between two batches, longer than the server's timeout (this test's own server). Connected
    again to a server that lost the batches before (restarted empty), the publish fails saying so."""
    from .faults import paused_at

    monkeypatch.setattr(cache, "BATCH", 200)
    url, stop, start = own_redis
    with redis.Redis.from_url(url, decode_responses=True) as client:
        client.config_set("timeout", "1")

        def publish():
            with db.connect(synced) as conn:
                return cache.publish_cache(conn, client, "idle-between-batches")

        with paused_at("cache:mid_write", publish, tmp_path, monkeypatch) as outcome:
            time.sleep(3)  # Redis checks idle clients about once a second
        assert "error" not in outcome, outcome.get("error")
        published = outcome["result"]
        assert cache.current_version(client) == published.version and published.matches_table
        with psycopg.connect(synced) as conn:
            assert client.zcard(cache.version_key(published.version, "all")) == db.table_checksum(conn)[0]

        (tmp_path / "continue-cache_mid_write").unlink()
        (tmp_path / "ready-cache_mid_write").unlink()
        with paused_at("cache:mid_write", publish, tmp_path, monkeypatch) as outcome:
            # The batch sent just before the pause applied and answered first: a server gone with the replies
            # unread fails the publish as a lost connection instead (seen on a loaded machine), not this case.
            sizes = [-1, client.dbsize()]
            while sizes[-1] != sizes[-2]:
                time.sleep(0.2)
                sizes.append(client.dbsize())
            stop()
            start()  # empty: no persistence
        assert isinstance(outcome.get("error"), redis.ConnectionError), outcome
        assert "no longer holds" in str(outcome["error"]) and "restarted empty" in str(outcome["error"])
        assert cache.current_version(client) is None  # nothing switched to a version missing its first batch


def test_a_replica_that_takes_writes_is_refused_by_its_role_before_anything_is_written(
        synced, own_redis, redis_server_with):
    """A URL naming a replica configured `replica-read-only no`: every write went through, the publish succeeded,
    and the primary's readers stayed on the old version; the replica's next sync with its primary dropped it."""
    primary, _, _ = own_redis
    with redis.Redis.from_url(primary, decode_responses=True) as client, db.connect(synced) as conn:
        first = cache.publish_cache(conn, client, "first-run").version
    host, port = primary.split("://")[1].split("/")[0].split(":")
    url = redis_server_with("--replicaof", host, port, "--replica-read-only", "no")
    with redis.Redis.from_url(url, decode_responses=True) as replica, db.connect(synced) as conn:
        deadline = time.monotonic() + 30
        while cache.current_version(replica) != first:  # the replica has synced
            assert time.monotonic() < deadline
            time.sleep(0.1)
        keys_before = sorted(replica.scan_iter(count=1000))
        with pytest.raises(redis.exceptions.ReadOnlyError, match=f"replica.*Redis replied: READONLY role:slave of "
                                                                  f"{host}:{port}"):
            cache.publish_cache(conn, replica, "into-a-replica")
        assert sorted(replica.scan_iter(count=1000)) == keys_before


def test_a_redis_url_that_is_no_redis_is_named_in_the_failure(synced):
    """Pointed at PostgreSQL's port, the publish failed with 'Connection closed by server.', naming neither
    the server nor that it is not Redis."""
    from .pipeline import PUBLISH

    port = int(psycopg.conninfo.conninfo_to_dict(synced).get("port") or synced.rsplit(":", 1)[1].split("/")[0])
    url = f"redis://:secret-pw@127.0.0.1:{port}/0"
    failure = step_failures(sync(synced, url, selection=PUBLISH))["models_cache"]
    assert f"Redis at redis://:***@127.0.0.1:{port}/0 failed while publishing" in failure and "secret-pw" not in failure


def test_a_flushdb_during_a_publish_leaves_no_key_without_a_ttl(synced, redis_client, tmp_path, monkeypatch):
    """Someone's FLUSHDB while a version was written: the publish was refused, but the modality sets later
    batches created again were listed in no index (only a set's first batch listed it) and never expired."""
    from .faults import paused_at

    monkeypatch.setattr(cache, "BATCH", 200)

    def publish():
        with db.connect(synced) as conn:
            return cache.publish_cache(conn, redis_client, "flushed")

    with paused_at("cache:mid_write", publish, tmp_path, monkeypatch) as failure:
        redis_client.flushdb()
    assert isinstance(failure.get("error"), cache.CacheMismatch), failure
    assert list(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000)) == []  # the later batches' keys


def test_a_sync_that_changed_nothing_keeps_the_live_version_checked_not_rewritten(synced, redis_url, redis_client):
    """Every sync rewrote every key of the cache and switched readers to an identical copy, even when no model
    changed (an hourly schedule with nothing new upstream): the live version is now checked again and kept."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    live = cache.current_version(redis_client)
    keys = version_keys(redis_client, live)
    result = sync(database_url, redis_url)  # the same payloads again: no model changes
    assert result.success, step_failures(result)
    meta = result.asset_materializations_for_node("models_cache")[0].metadata
    assert (meta["version"].value, meta["rewritten"].value, meta["matches_table"].value) == (live, False, True)
    assert cache.current_version(redis_client) == live
    assert version_keys(redis_client, live) == keys and all(redis_client.ttl(k) == -1 for k in keys)
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [live]
    assert cached_rows(redis_client) == table_rows(database_url)
    # the sync still wrote providers (last synced): the kept version now carries that snapshot's fence
    with psycopg.connect(database_url) as conn:
        catalog_version = conn.execute("SELECT version FROM catalog_version").fetchone()[0]
    assert int(cache.manifest(redis_client, live)["catalog_version"]) == catalog_version


def _damage(client, version: str, how: str, database_url: str) -> None:
    member = client.zrange(cache.version_key(version, "all"), 3, 3)[0]
    if how == "table changed":
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE models SET content_hash = md5(content_hash) WHERE id = (SELECT min(id) FROM models)")
    elif how == "model key lost":
        client.delete(cache.model_key(version, *member.split(cache.SEP, 1)))
    elif how == "index member lost":
        client.zrem(cache.version_key(version, "all"), member)
    elif how == "modality set lost":
        client.delete(sorted(client.smembers(cache.version_key(version, "indexes")))[0])
    elif how == "manifest field lost":
        client.hdel(cache.version_key(version, "manifest"), "providers")


@pytest.mark.parametrize("how", ["nothing", "table changed", "model key lost", "index member lost",
                                 "modality set lost", "manifest field lost"])
def test_the_live_version_is_kept_only_while_it_holds_the_table_whole(synced, redis_client, how):
    """A kept version is one readers get every model from: a table that changed, or a live version missing any
    key (evicted, deleted by hand), gets a whole new version, and materializing models_cache heals it."""
    live = cache.current_version(redis_client)
    if how != "nothing":
        _damage(redis_client, live, how, synced)
    with db.connect(synced) as conn:
        published = cache.publish_cache(conn, redis_client, "again", unless_unchanged=True)
    kept = how == "nothing"
    assert (published.unchanged, published.version == live) == (kept, kept), published
    assert cache.current_version(redis_client) == published.version
    assert cached_rows(redis_client) == table_rows(synced)


def test_a_kept_version_fences_off_an_older_snapshot_still_under_way(synced, redis_client, tmp_path, monkeypatch):
    """The table went from X to Y and back to X (a restore, a change reverted) while the publish of Y, its lock
    lost with its connection, went on in Redis. The publish of X found X live and kept it: unless the kept version
    takes X's newer fence, Y's publish then switches readers to a table that no longer exists."""
    from .faults import paused_at

    changed = "UPDATE models SET content_hash = %s WHERE id = (SELECT min(id) FROM models)"
    with psycopg.connect(synced, autocommit=True) as other:
        original = other.execute("SELECT content_hash FROM models ORDER BY id LIMIT 1").fetchone()[0]
        other.execute(changed, ("0" * 32,))  # Y
    live = cache.current_version(redis_client)
    conn = db.connect(synced)
    with paused_at("cache:before_switch", lambda: cache.publish_cache(conn, redis_client, "y-run"),
                   tmp_path, monkeypatch) as publish_of_y:
        _terminate(synced, conn.info.backend_pid)
        with psycopg.connect(synced, autocommit=True) as other:
            other.execute(changed, (original,))  # X again
        monkeypatch.delenv("MODELSYNC_FAULT")
        with db.connect(synced) as conn2:
            kept = cache.publish_cache(conn2, redis_client, "x-run", unless_unchanged=True)
        assert kept.unchanged and kept.version == live
    assert isinstance(publish_of_y.get("error"), cache.NewerCatalogLive), publish_of_y
    assert cache.current_version(redis_client) == live
    assert cached_rows(redis_client) == table_rows(synced)


def test_a_publish_fenced_by_a_newer_one_succeeds_and_says_so(synced, redis_url, redis_client, tmp_path, monkeypatch):
    """models_cache whose older snapshot lost to a newer publish (its lock gone with a lost connection) failed the
    run ("Nothing to do: the newer publish already serves the table"): `modelsync run` exited 2, and the sensor
    publish_after_partial_sync published once more. Readers are on a later snapshot of the table, which holds what
    the run wrote: the step succeeds, saying it was superseded, and readers stay on the newer version."""
    from .faults import paused_at
    from .pipeline import PUBLISH

    with paused_at("cache:before_switch", lambda: sync(synced, redis_url, selection=PUBLISH[1:], rewrite_cache=True),
                   tmp_path, monkeypatch) as older:
        with psycopg.connect(synced, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'modelsync' "
                          "AND datname = current_database()")
            other.execute("DELETE FROM models WHERE id = (SELECT max(id) FROM models)")
        monkeypatch.delenv("MODELSYNC_FAULT")
        with db.connect(synced) as conn:
            newer = cache.publish_cache(conn, redis_client, "newer-run")
    result = older["result"]
    assert result.success, step_failures(result)
    [event] = result.get_asset_materialization_events()
    metadata = event.event_specific_data.materialization.metadata
    assert metadata["version"].value == newer.version and metadata["rewritten"].value is False
    assert "was older than the live version's" in metadata["superseded"].value
    assert cache.current_version(redis_client) == newer.version
    assert cached_rows(redis_client) == table_rows(synced)


def test_a_fenced_publish_whose_database_cannot_be_read_again_does_not_succeed(synced, redis_url, redis_client,
                                                                               tmp_path, monkeypatch):
    """A publish fenced by the live version succeeds only when the database is known not to be behind it. Its
    connection lost (a failover, to a replica that lagged) left the database's version unread, and the fence was
    taken for a newer publish: the step succeeded, saying readers were on "the newer version, which holds this run's
    table", while they were served a catalog the database no longer held."""
    from .faults import paused_at
    from .pipeline import PUBLISH

    with paused_at("cache:before_switch", lambda: sync(synced, redis_url, selection=PUBLISH[1:], rewrite_cache=True),
                   tmp_path, monkeypatch) as older:
        live = cache.current_version(redis_client)
        # The live version was published from a later catalog version than this database now holds: it went back.
        redis_client.hset(cache.version_key(live, "manifest"), "catalog_version", 10 ** 9)
        with psycopg.connect(synced, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'modelsync' "
                          "AND datname = current_database()")
    result = older["result"]
    assert not result.success
    assert "went back" in step_failures(result)["models_cache"]
    assert cache.current_version(redis_client) == live


def _terminate(database_url: str, pid: int) -> None:
    """A failover or pg_terminate_backend: the session, and the publish lock with it, are gone."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_older_snapshot_never_takes_readers_back_from_a_newer_one(synced, redis_client, tmp_path, monkeypatch):
    """The publish lock went with a lost connection while its publish went on in Redis: a publish of the newer
    table switched readers, then the older one switched them back to its snapshot until the next sync."""
    from .faults import paused_at

    conn = db.connect(synced)
    with paused_at("cache:before_switch", lambda: cache.publish_cache(conn, redis_client, "older-run",
                                                                      reconnect=lambda: db.connect(synced)),
                   tmp_path, monkeypatch) as older:
        _terminate(synced, conn.info.backend_pid)
        with psycopg.connect(synced, autocommit=True) as other:  # a later write, by hand even
            other.execute("DELETE FROM models WHERE id = (SELECT max(id) FROM models)")
        monkeypatch.delenv("MODELSYNC_FAULT")
        with db.connect(synced) as conn2:  # not blocked: the lock went with the lost session
            newer = cache.publish_cache(conn2, redis_client, "newer-run")
    assert cache.current_version(redis_client) == newer.version
    assert cached_rows(redis_client) == table_rows(synced)
    error = older.get("error")
    assert "a newer catalog (catalog version " in str(error), older
    assert "was published meanwhile; this older snapshot (catalog version " in str(error)
    assert "was not switched in" in str(error) and isinstance(error, cache.NewerCatalogLive)
    # the refused version's keys are gone, and nothing is left for a later publish to expire
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [newer.version]
    assert [k for k in redis_client.scan_iter(match=f"{cache.PREFIX}:v:*older-r*", count=1000)] == []


def test_a_publish_whose_postgresql_session_is_lost_after_its_snapshot_switches_and_succeeds(
        synced, redis_client, tmp_path, monkeypatch):
    """Readers were switched to the new version, then the unlock on the dead connection failed the step."""
    from .faults import paused_at

    before = cache.current_version(redis_client)
    conn = db.connect(synced)
    with paused_at("cache:before_switch", lambda: cache.publish_cache(conn, redis_client, "lost-session"),
                   tmp_path, monkeypatch) as outcome:
        _terminate(synced, conn.info.backend_pid)
    assert "result" in outcome, outcome
    assert cache.current_version(redis_client) == outcome["result"].version != before
    assert cached_rows(redis_client) == table_rows(synced)


def test_a_publish_whose_postgresql_session_is_lost_mid_write_says_so(synced, redis_url, redis_client, tmp_path,
                                                                         monkeypatch):
    """The unlock on the dead connection replaced the error that ended the publish ("the connection is lost"
    instead of the server's reason), and models_cache passed it on raw, unlike a Redis error."""
    from .faults import paused_at

    current = cache.current_version(redis_client)
    publish = lambda: sync(synced, redis_url, selection=[dg.AssetKey("models_cache")], rewrite_cache=True)  # noqa: E731
    with paused_at("cache:mid_write", publish, tmp_path, monkeypatch) as outcome:
        with psycopg.connect(synced, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND application_name = 'modelsync' AND pid <> pg_backend_pid()")
    failure = step_failures(outcome["result"])["models_cache"]
    host = psycopg.conninfo.conninfo_to_dict(synced)["host"]
    assert "PostgreSQL at postgresql://" in failure and host in failure, failure
    assert "terminating connection due to administrator command" in failure, failure
    assert "readers keep the previous cache version" in failure
    assert cache.current_version(redis_client) == current
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [current]


class _EvictsTheIndexes(redis.Redis):
    """allkeys-lru under memory pressure, made exact: once the new version is written its `all` and `indexes`
    are evicted (deleted here), and INFO counts the evictions. The rest is the real Redis."""

    evicted = 0

    def hset(self, name, *args, **kwargs):  # the manifest, written after the rows
        reply = super().hset(name, *args, **kwargs)
        version = name.split(":")[2]
        self.evicted += self.delete(cache.version_key(version, "all"), cache.version_key(version, "indexes"))
        return reply

    def info(self, section=None, *args, **kwargs):
        reply = super().info(section, *args, **kwargs)
        if section == "stats":
            reply["evicted_keys"] = int(reply.get("evicted_keys", 0)) + self.evicted
        if section == "memory":
            reply["maxmemory_policy"] = "allkeys-lru"
        return reply


def test_a_refused_version_whose_indexes_were_evicted_leaves_no_key_behind(synced, redis_url, redis_client):
    """Its model keys are listed only in `all`: with `all` evicted they were left without a TTL, for good,
    while the version left `versions` (so no later publish would expire them either)."""
    current = cache.current_version(redis_client)
    live = sorted(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000))
    client = _EvictsTheIndexes.from_url(redis_url, decode_responses=True)
    with db.connect(synced) as conn, pytest.raises(cache.CacheMismatch):
        cache.publish_cache(conn, client, "evicted-indexes")
    assert sorted(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000)) == live
    assert redis_client.zrange(cache.VERSIONS_KEY, 0, -1) == [current] == [cache.current_version(redis_client)]


class _ManagedRedis(redis.Redis):
    """A managed Redis: CONFIG is not allowed, and other databases of the server (another tenant's keys with
    a TTL) have keys evicted all the time, which INFO's server-wide evicted_keys counts."""

    report_policy = True
    evicted = 0

    def config_get(self, *args, **kwargs):
        raise redis.ResponseError("unknown command 'CONFIG', with args beginning with: 'GET'")

    def info(self, section=None, *args, **kwargs):
        reply = super().info(section, *args, **kwargs)
        if section == "stats":
            self.evicted += 100
            reply["evicted_keys"] = int(reply.get("evicted_keys", 0)) + self.evicted
        if section == "memory" and not self.report_policy:
            reply.pop("maxmemory_policy", None)
        return reply


def test_a_redis_that_refuses_config_is_asked_its_eviction_policy_through_info(synced, redis_url, redis_client):
    """With CONFIG refused the policy read 'unknown', and another tenant's evictions refused every publish."""
    server_policy = redis_client.info("memory")["maxmemory_policy"]
    assert server_policy == "noeviction" or server_policy.startswith("volatile-")  # the test server's
    client = _ManagedRedis.from_url(redis_url, decode_responses=True)
    with db.connect(synced) as conn:
        published = cache.publish_cache(conn, client, "managed")
    assert published.eviction_policy == server_policy
    assert cache.current_version(redis_client) == published.version

    # a server that does not tell at all: refused, saying why the count may not be this cache's
    client.report_policy = False
    with db.connect(synced) as conn, pytest.raises(cache.CacheMismatch) as refused:
        cache.publish_cache(conn, client, "untold")
    assert "does not report its maxmemory-policy" in str(refused.value)
    assert "evicted_keys counts the whole server, other databases' keys too" in str(refused.value)
    assert cache.current_version(redis_client) == published.version


class _Redis60(redis.Redis):
    """A Redis 6.0 (Debian 11, ElastiCache 6.0): no ZRANDMEMBER, no SET ... GET."""

    def info(self, section=None, *args, **kwargs):
        reply = super().info(section, *args, **kwargs)
        if section == "server":
            reply["redis_version"] = "6.0.16"
        return reply


def test_a_redis_older_than_6_2_is_refused_by_name_before_anything_is_written(synced, redis_url, redis_client):
    """It wrote and checked a whole version, then failed with "unknown command 'ZRANDMEMBER'"."""
    keys_before, current = sorted(redis_client.scan_iter(count=1000)), cache.current_version(redis_client)
    client = _Redis60.from_url(redis_url, decode_responses=True)
    with db.connect(synced) as conn, pytest.raises(redis.RedisError,
                                                   match=r"Redis >= 6\.2 is required, this server is 6\.0\.16"):
        cache.publish_cache(conn, client, "old-redis")
    assert sorted(redis_client.scan_iter(count=1000)) == keys_before
    assert cache.current_version(redis_client) == current


@pytest.mark.parametrize("separator", [":", "\t"])
def test_a_provider_slug_holding_a_key_separator_is_refused_by_name_not_written_over_another(
        synced, redis_url, redis_client, separator):
    """Provider "groq:x" with model "y" has the model key of provider "groq" with model "x:y" (and "groq\\tx" +
    "y" the `all` member of "groq" + "x\\ty"). The publish wrote one over the other and said it matched the
    table; readers of groq got the other provider's row (with a tab, a CacheMismatch that named nothing)."""
    current = cache.current_version(redis_client)
    live = sorted(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000))
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute("UPDATE models SET model_id = %s WHERE id = (SELECT min(m.id) FROM models m JOIN providers p "
                     "ON p.id = m.provider_id WHERE p.slug = 'groq')", (f"x{separator}y",))
        conn.execute("UPDATE models SET model_id = 'y' WHERE id = (SELECT min(m.id) FROM models m JOIN providers p "
                     "ON p.id = m.provider_id WHERE p.slug = 'xai')")
        conn.execute("UPDATE providers SET slug = %s WHERE slug = 'xai'", (f"groq{separator}x",))
    with db.connect(synced) as conn, pytest.raises(cache.CacheMismatch) as refused:
        cache.publish_cache(conn, redis_client, "slug-separator")
    assert repr(f"groq{separator}x") in str(refused.value) and "not switched in" in str(refused.value)
    assert cache.current_version(redis_client) == current
    assert sorted(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000)) == live
    # The step says what heals it: the slug, not another publish (which would be refused again). Rewritten: the
    # table's checksum (row ids and content hashes) did not move with the edits made here behind the pipeline.
    failure = step_failures(sync(synced, redis_url, selection=[dg.AssetKey("models_cache")],
                                 rewrite_cache=True))["models_cache"]
    assert "Fix the slug in the providers table" in failure and "Materialize models_cache" not in failure
    assert ".." not in failure


@pytest.mark.parametrize("delimiter", ["#", "?", "/"])
def test_a_redis_password_holding_a_url_delimiter_appears_in_no_error(synced, delimiter):
    """An unencoded "#", "?" or "/" ends the URL's host part inside the password: the publish failed with
    "ValueError: Port could not be cast to integer value as 's3cr'" and the reader's constructor raised the same,
    a part of the password each, and the redacted URL showed all of it."""
    from modelsync_pipeline.reader import CatalogReader

    url = f"redis://:s3cr{delimiter}et-pw@127.0.0.1:6379/10"
    failure = step_failures(sync(synced, url, selection=[dg.AssetKey("models_cache")]))["models_cache"]
    assert "redis://:***@127.0.0.1:6379/10" in failure and "percent-encoded" in failure
    with pytest.raises(ValueError) as refused:
        CatalogReader(url, synced)
    for shown in (failure, str(refused.value)):
        assert "s3cr" not in shown and "et-pw" not in shown


def _published_version_keys(client) -> dict[str, int]:
    """Every key under the cache's version prefix, with its TTL (-1: none)."""
    return {key: client.ttl(key) for key in client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000)}


def _refuse_the_switch(synced, own_redis, tmp_path, monkeypatch, refuse):
    """Publish into a Redis of this test's own (a memory limit and replication are the server's), then
    publish again and call `refuse(client)` while that publish stands before its switch. Returns (the version
    published first, the failure of the second, the client)."""
    from .faults import paused_at

    url, _, _ = own_redis
    client = redis.Redis.from_url(url, decode_responses=True)
    with db.connect(synced) as conn:
        first = cache.publish_cache(conn, client, "first-run").version

    def publish():
        with db.connect(synced) as conn:
            return cache.publish_cache(conn, client, "refused-run")

    with paused_at("cache:before_switch", publish, tmp_path, monkeypatch) as outcome:
        refuse(client)
    return first, outcome.get("error"), client


def test_a_switch_refused_for_memory_deletes_the_new_version_and_says_why(synced, own_redis, tmp_path, monkeypatch):
    """maxmemory reached between the checks and the switch: the switch's script failed with Redis' "Error running
    script (call to f_...)", and the whole new version (~1,300 keys) was left without a TTL."""
    url, _, _ = own_redis
    try:
        first, error, client = _refuse_the_switch(synced, own_redis, tmp_path, monkeypatch,
                                                  lambda c: c.config_set("maxmemory", "1"))
    finally:
        with redis.Redis.from_url(url) as admin:
            admin.config_set("maxmemory", "0")
    assert isinstance(error, redis.exceptions.OutOfMemoryError), (error, str(error))
    assert "refused the cache publish at step 'switch readers to the new version'" in str(error)
    assert f"Redis at {url}" in str(error) and "out of memory" in str(error) and "OOM" in str(error)
    assert cache.current_version(client) == first
    assert all(ttl > 0 or key.startswith(cache.version_key(first, "")) for key, ttl in
               _published_version_keys(client).items())
    assert client.zrange(cache.VERSIONS_KEY, 0, -1) == [first]


def test_a_switch_refused_by_a_read_only_replica_says_so_and_a_later_publish_expires_the_version(
        synced, own_redis, tmp_path, monkeypatch):
    """A failover demoted the server between the checks and the switch: "Error running script", and nothing
    said that the server had become a replica or what became of the new version."""
    url, _, _ = own_redis
    try:
        # a primary that is not there: the server stays a read-only replica, holding its keys
        first, error, client = _refuse_the_switch(synced, own_redis, tmp_path, monkeypatch,
                                                  lambda c: c.execute_command("REPLICAOF", "127.0.0.1", "1"))
    finally:
        with redis.Redis.from_url(url) as admin:
            admin.execute_command("REPLICAOF", "NO", "ONE")
    assert isinstance(error, redis.exceptions.ReadOnlyError), (error, str(error))
    assert "refused the cache publish at step 'switch readers to the new version'" in str(error)
    assert f"Redis at {url}" in str(error) and "read-only replica" in str(error)
    assert "a later publish" in str(error)  # the keys could not be deleted on a replica: who does it
    assert cache.current_version(client) == first
    refused = [v for v in client.zrange(cache.VERSIONS_KEY, 0, -1) if v != first]
    assert len(refused) == 1  # listed, so that a later publish finds it
    with db.connect(synced) as conn:
        later = cache.publish_cache(conn, client, "later-run", orphan_grace=0, previous_version_ttl=60)
    assert later.orphans_expired == (refused[0],)
    assert all(ttl > 0 or key.startswith(cache.version_key(later.version, "")) for key, ttl in
               _published_version_keys(client).items())


def test_a_redis_user_without_scan_is_refused_at_its_first_publish_naming_the_command(
        synced, redis_url, redis_client, acl_user):
    """SCAN finds the keys of a version whose indexes were lost (an eviction, a FLUSHDB mid-write). Without it
    a user published until one version lost its indexes; from then on every publish failed expiring it."""
    keys_before, current = sorted(redis_client.scan_iter(count=1000)), cache.current_version(redis_client)
    name = acl_user("-scan")
    with _as_user(redis_url, name) as client, db.connect(synced) as conn:
        with pytest.raises(redis.exceptions.NoPermissionError) as refused:
            cache.publish_cache(conn, client, "no-scan")
    message = str(refused.value)
    assert "'scan'" in message and "lost its indexes" in message and "+scan" in message
    assert f"Redis at redis://{name}@" in message and ":pw@" not in message
    assert sorted(redis_client.scan_iter(count=1000)) == keys_before
    assert cache.current_version(redis_client) == current


@pytest.mark.parametrize("keys", [("~other:*",), ("~modelsync:v:*",), ("%R~*",)],
                         ids=["another-apps-keys", "versions-only", "read-only"])
def test_a_redis_user_whose_acl_misses_the_caches_keys_is_told_which_keys_and_access(
        synced, redis_url, redis_client, acl_user, keys):
    """NOPERM "this user has no permissions to access one of the keys used as arguments" named neither the keys
    nor the access; read-only, it failed at the first write, after reading and expiring."""
    keys_before, current = sorted(redis_client.scan_iter(count=1000)), cache.current_version(redis_client)
    # Key patterns by access (%R~) came with Redis 7; a user that may only read is written -@write before it (the
    # embedded server is 6.2), and is refused by the command, which the error names instead of the keys.
    by_command = keys == ("%R~*",) and int(redis_client.info("server")["redis_version"].split(".")[0]) < 7
    name = acl_user("resetkeys", *(("~*", "-@write") if by_command else keys))
    with _as_user(redis_url, name) as client, db.connect(synced) as conn:
        with pytest.raises(redis.exceptions.NoPermissionError) as refused:
            cache.publish_cache(conn, client, "no-keys")
    message = str(refused.value)
    if by_command:
        assert f"Redis user {name} may not run " in message and "which a publish needs" in message
    else:
        assert "~modelsync:*" in message and "read and write" in message
    assert "at step 'check the server and the user's permissions'" in message  # before a version is expired or written
    assert f"user {name}" in message and f"Redis at redis://{name}@" in message and ":pw@" not in message
    assert sorted(redis_client.scan_iter(count=1000)) == keys_before
    assert cache.current_version(redis_client) == current
    # the step's failure says it once, password masked
    user_url = f"redis://{name}:pw@{redis_url.split('://', 1)[1].split('@')[-1]}"
    failure = step_failures(sync(synced, user_url, selection=[dg.AssetKey("models_cache")],
                                 rewrite_cache=True))["models_cache"]
    assert failure.count("Redis at ") == 1 and ":pw@" not in failure
    assert ("may not run " if by_command else "~modelsync:*") in failure


@pytest.mark.parametrize("command,step", [("hset", "write the new version"),
                                          ("zrandmember", "check the new version against the table")])
def test_a_redis_error_reply_mid_publish_names_the_step_the_server_and_the_reply(
        synced, redis_url, redis_client, acl_user, command, step):
    """The wider class: any error reply was raised as Redis worded it, naming no step and no server."""
    current = cache.current_version(redis_client)
    live = sorted(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000))
    name = acl_user(f"-{command}")
    with _as_user(redis_url, name) as client, db.connect(synced) as conn:
        with pytest.raises(redis.exceptions.NoPermissionError) as refused:
            cache.publish_cache(conn, client, f"no-{command}")
    message = str(refused.value)
    assert f"at step '{step}'" in message and f"Redis at redis://{name}@" in message
    assert f"'{command}'" in message and "Redis replied: NOPERM" in message
    assert "its keys were deleted" in message
    assert sorted(redis_client.scan_iter(match=f"{cache.PREFIX}:v:*", count=1000)) == live
    assert cache.current_version(redis_client) == current


def test_a_publish_that_failed_before_its_first_write_scans_nothing(synced, own_redis):
    """Its cleanup looked for the version's keys with SCAN MATCH, which walks the whole database (another app's
    20,000 keys here) to find nothing: no key of the version had been written."""
    url, _, _ = own_redis
    with redis.Redis.from_url(url, decode_responses=True) as client:
        pipe = client.pipeline(transaction=False)
        for i in range(20_000):
            pipe.set(f"otherapp:{i}", "x")
        pipe.execute()
        with psycopg.connect(synced, autocommit=True) as conn:  # refused in the first batch, before it is sent
            conn.execute("UPDATE providers SET slug = 'x:ai' WHERE slug = 'xai'")
        client.config_resetstat()
        with db.connect(synced) as conn, pytest.raises(cache.UncacheableProvider):
            cache.publish_cache(conn, client, "bad-slug")
        # one SCAN COUNT 1 at most: the check that the user may run SCAN at all (cache._check_permissions)
        assert client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0) <= 1
        assert _published_version_keys(client) == {} and client.zrange(cache.VERSIONS_KEY, 0, -1) == []


def _another_catalog(database_url: str) -> str:
    """Give the database a catalog identity of its own (migration 0020), as a second deployment's database has:
    the one of the cache's live version is then another's. Its new identity."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("UPDATE catalog_version SET catalog_id = gen_random_uuid() RETURNING catalog_id::text").fetchone()[0]


def test_a_publish_from_another_catalog_database_is_refused_before_it_writes(synced, redis_client):
    """Two deployments given the same Redis database and key prefix: the second's publish switched the first's
    readers to its own catalog whenever its catalog_version was the higher. It is refused, naming both catalogs
    and what to change, before it writes a key; readers stay on the first's version."""
    live = cache.current_version(redis_client)
    keys = sorted(redis_client.scan_iter(count=1000))
    owner = cache.manifest(redis_client, live)  # the synced template's publish (conftest.synced)
    assert owner["catalog_database"].startswith("modelsync_tpl_") and owner["catalog_id"]
    ours = _another_catalog(synced)
    with db.connect(synced) as conn:
        conn.execute("UPDATE catalog_version SET version = version + 1000")  # the fence alone would let it through
        with pytest.raises(cache.OtherCatalogLive) as refused:
            cache.publish_cache(conn, redis_client, "second-deployment")
    message = str(refused.value)
    assert f"its live version {live} was published from catalog {owner['catalog_id']}" in message
    assert f"this publish reads catalog {ours}" in message
    assert "MODELSYNC_CACHE_PREFIX" in message and f"DEL {cache.CURRENT_KEY}" in message
    assert message.endswith("nothing was written")
    assert cache.current_version(redis_client) == live
    assert sorted(redis_client.scan_iter(count=1000)) == keys


def test_the_switch_itself_refuses_a_live_version_of_another_catalog(synced, redis_client, tmp_path, monkeypatch):
    """The check before writing and the switch are apart: a deployment whose version went live meanwhile is
    found by the switch's script too, and the new version is deleted."""
    from .faults import paused_at

    def publish():
        with db.connect(synced) as conn:
            return cache.publish_cache(conn, redis_client, "racing")

    live = cache.current_version(redis_client)
    with paused_at("cache:before_switch", publish, tmp_path, monkeypatch) as outcome:
        redis_client.hset(cache.version_key(live, "manifest"), "catalog_id", "another-deployments-catalog")
    assert isinstance(outcome.get("error"), cache.OtherCatalogLive), outcome
    assert "published from catalog another-deployments-catalog" in str(outcome["error"])
    assert "were deleted" in str(outcome["error"])
    assert cache.current_version(redis_client) == live
    assert {v for v in redis_client.zrange(cache.VERSIONS_KEY, 0, -1)} == {live}
    assert all(key.startswith(cache.version_key(live)) or not key.startswith(cache.version_key(""))
               for key in redis_client.scan_iter(count=1000))


_PUBLISH_AS = """
import sys
import redis
from modelsync_pipeline import cache, db
with db.connect(sys.argv[1]) as conn:
    published = cache.publish_cache(conn, redis.Redis.from_url(sys.argv[2], decode_responses=True), "other-deployment")
print(cache.CURRENT_KEY, published.version)
"""


def test_deployments_with_their_own_key_prefix_share_a_redis_database(synced, redis_url, redis_client):
    live = cache.current_version(redis_client)
    ours = _another_catalog(synced)  # the second deployment's database
    env = {**os.environ, "MODELSYNC_CACHE_PREFIX": "staging.modelsync"}
    done = subprocess.run([sys.executable, "-c", _PUBLISH_AS, synced, redis_url], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    pointer, version = done.stdout.split()
    assert pointer == "staging.modelsync:current" and redis_client.get(pointer) == version
    assert redis_client.hget(f"staging.modelsync:v:{version}:manifest", "catalog_id") == ours
    assert cache.current_version(redis_client) == live  # the first deployment's readers are where they were
    assert cache.manifest(redis_client, live)["catalog_id"] != ours

    bad = subprocess.run([sys.executable, "-c", "import modelsync_pipeline.cache"], cwd=REPO_ROOT, timeout=60,
                         env={**os.environ, "MODELSYNC_CACHE_PREFIX": "mine:*"}, capture_output=True, text=True)
    assert bad.returncode != 0 and "MODELSYNC_CACHE_PREFIX must be" in bad.stderr and "'mine:*'" in bad.stderr


def test_a_live_version_kept_from_before_catalog_identities_takes_its_catalogs(synced, redis_client):
    """A version published before migration 0020 names no catalog, so another deployment's switch would have
    nothing to compare: the first publish that keeps it (nothing changed) gives it its catalog's identity."""
    live = cache.current_version(redis_client)
    manifest_key = cache.version_key(live, "manifest")
    ours = redis_client.hget(manifest_key, "catalog_id")
    redis_client.hdel(manifest_key, "catalog_id", "catalog_database")
    with db.connect(synced) as conn:
        kept = cache.publish_cache(conn, redis_client, "unchanged", unless_unchanged=True)
    assert kept.unchanged and kept.version == live
    assert redis_client.hget(manifest_key, "catalog_id") == ours
    _another_catalog(synced)
    with db.connect(synced) as conn, pytest.raises(cache.OtherCatalogLive):
        cache.publish_cache(conn, redis_client, "second-deployment")
    assert cache.current_version(redis_client) == live


def test_a_publish_says_a_previous_version_expired_only_when_there_was_one(synced, redis_url, redis_client):
    """models_cache said previous_version_expired = true beside previous_version = none (the first publish), and
    when the live version was kept unchanged with no TTL: a version expired that was not."""
    redis_client.flushdb()
    with db.connect(synced) as conn:
        first = cache.publish_cache(conn, redis_client, "first")
        kept = cache.publish_cache(conn, redis_client, "again", unless_unchanged=True)
        second = cache.publish_cache(conn, redis_client, "rewritten")
    assert (first.previous_version, first.previous_expired) == (None, None)
    assert kept.unchanged and kept.previous_expired is None
    assert redis_client.ttl(cache.version_key(first.version, "manifest")) > 0  # the rewrite expired the first one
    assert (second.previous_version, second.previous_expired) == (first.version, True)


def test_a_database_behind_the_live_version_says_so_and_how_to_serve_it(synced, redis_client):
    """A catalog database restored from a backup (or failed over to a replica that lagged) is at an older catalog
    version than the live cache was published from: every publish of it was refused as "published meanwhile ...
    Nothing to do", run after run, while readers were served a catalog its table no longer held."""
    live = cache.current_version(redis_client)
    with db.connect(synced) as conn:
        now = conn.execute("SELECT version FROM catalog_version").fetchone()[0]
    redis_client.hset(cache.version_key(live, "manifest"), "catalog_version", now + 500)  # as the lost database left it
    with db.connect(synced) as conn, pytest.raises(cache.NewerCatalogLive) as refused:
        cache.publish_cache(conn, redis_client, "restored-run")
    message = str(refused.value)
    assert refused.value.behind and f"which is now at catalog version {now}" in message, message
    assert "the database went back" in message and f"DEL {cache.CURRENT_KEY}" in message
    assert cache.current_version(redis_client) == live
    redis_client.delete(cache.CURRENT_KEY)  # what the message says to do
    with db.connect(synced) as conn:
        published = cache.publish_cache(conn, redis_client, "after-del")
    assert cached_rows(redis_client) == table_rows(synced) and published.version != live


def test_a_tls_url_to_a_server_that_never_answers_the_handshake_says_tls():
    """rediss:// against a Redis without TLS: "Timeout connecting to server" after the connect timeout, no word of
    TLS. The step's failure now says what the timeout most likely means."""
    import socket

    import redis

    from modelsync_pipeline.defs.cache import _tls_hint

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts, and never answers the TLS handshake
    url = f"rediss://127.0.0.1:{silent.getsockname()[1]}/0"
    try:
        client = cache.client_from_url(url, socket_connect_timeout=1, socket_timeout=1)
        with pytest.raises(redis.exceptions.RedisError) as failed:
            client.ping()
    finally:
        silent.close()
    assert "asks for TLS, rediss://" in _tls_hint(url, failed.value), repr(failed.value)
    assert _tls_hint(url.replace("rediss", "redis"), failed.value) == ""
