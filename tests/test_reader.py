"""The reader API: Redis first, the in-process layer, then the database; one version per answer, never a mix."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
import redis

from modelsync_pipeline import cache, db
from modelsync_pipeline.catalog import build_catalog
from modelsync_pipeline.providers.http import recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG
from modelsync_pipeline.reader import CatalogReader

from .pipeline import PUBLISH, step_failures, sync
from .test_failures import _shrink
from .test_pipeline import cached_rows, expected_counts, table_rows

_SQL = 'SELECT to_jsonb(r)::text FROM catalog_rows r {where} ORDER BY provider COLLATE "C", model_id COLLATE "C"'


def table_list(database_url, where: str = "", params=()) -> list[dict]:
    """The table's answer, computed independently of the reader (to_jsonb, not the reader's row_to_json)."""
    with psycopg.connect(database_url) as conn:
        return [json.loads(r[0]) for r in conn.execute(_SQL.format(where=where), params).fetchall()]


def assert_answers_match_the_table(reader: CatalogReader, database_url: str, source: str) -> None:
    everything = table_list(database_url)
    answer = reader.lookup_models()
    assert answer.source == source and answer.rows == everything
    providers = sorted({row["provider"] for row in everything})
    modalities = sorted({row["modality"] for row in everything})
    for provider in providers:
        expected = table_list(database_url, "WHERE provider = %s", (provider,))
        assert expected and reader.get_models(provider=provider) == expected
    for modality in modalities:
        assert reader.get_models(modality=modality) == table_list(database_url, "WHERE modality = %s", (modality,))
        for provider in providers:
            assert reader.get_models(provider, modality) == table_list(
                database_url, "WHERE provider = %s AND modality = %s", (provider, modality))
    for row in everything[::7]:
        assert reader.get_model(row["provider"], row["model_id"]) == row
    assert reader.get_model("openrouter", "no-such/model") is None
    assert reader.get_model("no-such-provider", "gpt-4") is None
    assert reader.get_models(provider="no-such-provider") == []


def test_filters_and_lookups_match_sql_from_redis_and_from_the_database(synced, redis_url):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    with CatalogReader(redis_url, database_url, local_ttl_seconds=0) as reader:
        assert reader.version() is not None
        assert_answers_match_the_table(reader, database_url, "redis")
    with CatalogReader("redis://127.0.0.1:1/0", database_url, local_ttl_seconds=0) as reader:  # nothing listens
        assert reader.version() is None
        assert_answers_match_the_table(reader, database_url, "database")


def test_in_process_layer_serves_the_current_version_and_bridges_a_redis_outage(synced, redis_url, redis_client):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    with CatalogReader(redis_url, database_url, local_ttl_seconds=60, redis_retry_seconds=0) as reader:
        first = reader.lookup_model("groq", "llama-3.1-8b-instant")
        again = reader.lookup_model("groq", "llama-3.1-8b-instant")
        assert (first.source, again.source) == ("redis", "local") and again.rows == first.rows
        with db.connect(database_url) as conn:
            cache.publish_cache(conn, redis_client, "next-run")
        assert reader.lookup_model("groq", "llama-3.1-8b-instant").source == "redis"  # new version: not kept
        redis_client.delete(cache.CURRENT_KEY)  # no current version: the kept answer, then the database
        assert reader.lookup_model("groq", "llama-3.1-8b-instant").source == "local"
        other = table_list(database_url, "WHERE provider = 'groq' AND model_id <> 'llama-3.1-8b-instant'")[0]
        answer = reader.lookup_model("groq", other["model_id"])
        assert answer.source == "database" and answer.rows == [other]


def _damage(redis_client, version: str, how: str, row: dict) -> None:
    """Keys of the live version lost the way Redis loses them: evicted (allkeys-* under memory pressure) or
    deleted by hand."""
    if how == "model key":
        redis_client.delete(cache.model_key(version, row["provider"], row["model_id"]))
    elif how == "all":
        redis_client.delete(cache.version_key(version, "all"))
    elif how == "modality set":
        redis_client.delete(cache.version_key(version, "modality", row["modality"]))
    elif how == "random fifth":  # what allkeys-random does: a scatter of keys of every kind
        keys = sorted(redis_client.scan_iter(match=cache.version_key(version, "*"), count=1000))
        keys = [k for k in keys if not k.endswith(":manifest")]
        redis_client.delete(*keys[::5])


@pytest.mark.parametrize("how", ["model key", "all", "modality set", "random fifth"])
def test_a_version_that_lost_keys_sends_the_question_to_the_database(synced, redis_url, redis_client, how):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    everything = table_list(database_url)
    row = next(r for r in everything if r["provider"] == "groq")
    with CatalogReader(redis_url, database_url, local_ttl_seconds=0) as reader:
        _damage(redis_client, reader.version(), how, row)
        hit = {"model key": lambda: reader.lookup_model("groq", row["model_id"]), "all": reader.lookup_models,
               "modality set": lambda: reader.lookup_models(modality=row["modality"]),
               "random fifth": reader.lookup_models}[how]()
        assert hit.source == "database"  # the question the lost keys answered went to the database
        assert reader.get_models() == everything
        assert reader.get_models(provider="groq") == table_list(database_url, "WHERE provider = 'groq'")
        assert reader.get_models(modality=row["modality"]) == table_list(
            database_url, "WHERE modality = %s", (row["modality"],))
        assert reader.get_model("groq", row["model_id"]) == row
        assert reader.get_model("groq", "no-such-model") is None


def test_a_provider_that_is_no_slug_never_reads_another_models_key(synced, redis_url):
    """Model keys join provider and id with ":", which ids may hold: "p:a/b" + "c" would be the key of
    ("p", "a/b:c"). Only a slug is looked up in Redis; anything else names no provider."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    row = next(r for r in table_list(database_url) if ":" in r["model_id"])
    head, tail = row["model_id"].rsplit(":", 1)
    with CatalogReader(redis_url, database_url, local_ttl_seconds=0) as reader:
        assert reader.get_model(row["provider"], row["model_id"]) == row
        assert reader.get_model(f"{row['provider']}:{head}", tail) is None
        assert reader.get_models(provider=f"{row['provider']}:x") == []
        for bad in (5, None, ["groq"]):
            with pytest.raises(TypeError, match="must be a str"):
                reader.get_model(bad, "x")
        with pytest.raises(TypeError, match="modality must be a str"):
            reader.get_models(modality=["audio"])


def test_an_answer_kept_in_process_is_not_changed_by_what_a_caller_does_to_it(synced, redis_url):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    with CatalogReader(redis_url, database_url, local_ttl_seconds=60) as reader:
        rows = reader.get_models(provider="groq")
        expected = [dict(r) for r in rows]
        rows[0]["model_name"] = "edited"
        rows.pop()
        again = reader.lookup_models(provider="groq")
        assert again.source == "local" and again.rows == expected
        again.rows[0]["model_name"] = "edited again"
        assert reader.get_models(provider="groq") == expected


def _groq_catalog(keep: int | None):
    spec = PROVIDERS_BY_SLUG["groq"]
    return build_catalog(spec, recorded_items(spec)[:keep])


def test_readers_see_one_whole_version_throughout_20_refreshes(synced, redis_url, redis_client):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    snapshots = {cache.current_version(redis_client): table_list(database_url)}
    stop = threading.Event()
    answers: list[tuple[str, object, object]] = []
    errors: list[BaseException] = []
    kept_id = _groq_catalog(5)["model_id"].iloc[0]  # in every version below
    stable = table_list(database_url, "WHERE provider = 'groq' AND model_id = %s", (kept_id,))[0]

    def poll(query):
        with CatalogReader(redis_url, database_url) as reader:
            while not stop.is_set():
                try:
                    answers.append((query, reader.lookup_models(**query) if query != "one" else
                                    reader.lookup_model(stable["provider"], stable["model_id"]), None))
                except BaseException as exc:  # noqa: BLE001 - every error is a test failure, reported below
                    errors.append(exc)
                # A breath between queries: five busy loops in the writer's process starved it of the GIL and
                # left 26,000 answers to check (22 s) for what a few thousand show as well.
                time.sleep(0.005)

    queries = [{}, {}, {"provider": "groq"}, {"modality": "text"}, "one"]
    threads = [threading.Thread(target=poll, args=(q,)) for q in queries]
    for t in threads:
        t.start()
    try:
        with db.connect(database_url) as conn:
            for i in range(20):
                catalog = _groq_catalog(None if i % 2 else 5)  # shrink, grow, shrink, ...
                db.stage_provider_catalog(conn, PROVIDERS_BY_SLUG["groq"], catalog, f"refresh-{i}")
                db.refresh_models_table(conn, PROVIDERS, f"refresh-{i}")
                published = cache.publish_cache(conn, redis_client, f"refresh-{i}", previous_version_ttl=1)
                snapshots[published.version] = table_list(database_url)
                time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)

    assert errors == []
    assert len({len(rows) for rows in snapshots.values()}) == 2  # the data really changed back and forth

    def expected_rows(query, version):
        whole = snapshots[version]  # an answer names one version, and it is exactly that version's rows
        if query == "one":
            return [r for r in whole if (r["provider"], r["model_id"]) == (stable["provider"], stable["model_id"])]
        return [r for r in whole if all(r[k] == v for k, v in query.items())]

    expected = {}  # per (query, version): thousands of answers share a few dozen
    seen_versions = set()
    for query, answer, _ in answers:
        assert answer.rows, (query, answer.version)  # never an empty answer
        assert answer.source in ("redis", "local")
        key = (repr(query), answer.version)
        if key not in expected:
            expected[key] = expected_rows(query, answer.version)
        assert answer.rows == expected[key], (query, answer.version)
        seen_versions.add(answer.version)
    assert len(answers) > 100 and len(seen_versions) > 10


def test_redis_stopped_mid_run_fails_the_cache_readers_use_the_database_and_the_next_run_heals(
    database_url, own_redis, replay_dir, monkeypatch
):
    url, stop_redis, start_redis = own_redis
    assert sync(database_url, url).success
    mistral = expected_counts()["mistral"] - 2  # a real change, small enough for the shrink guard
    _shrink(replay_dir, "mistral", mistral)

    # Redis dies while the cache is being written, after the table committed.
    send = cache._BatchWriter.send

    def send_after_redis_died(self, commands, **kwargs):
        stop_redis()
        monkeypatch.setattr(cache._BatchWriter, "send", send)
        return send(self, commands, **kwargs)

    monkeypatch.setattr(cache._BatchWriter, "send", send_after_redis_died)
    result = sync(database_url, url, replay_dir)
    failures = step_failures(result)
    assert list(failures) == ["models_cache"]
    assert f"Redis at {url} failed while publishing the cache" in failures["models_cache"]
    assert "models table is untouched by this step" in failures["models_cache"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM catalog_rows WHERE provider = 'mistral'").fetchone()[0] == mistral

    with CatalogReader(url, database_url, local_ttl_seconds=0, redis_retry_seconds=0) as reader:
        started = time.monotonic()
        assert_answers_match_the_table(reader, database_url, "database")
        assert time.monotonic() - started < 20  # a dead Redis costs a refused connection, not a timeout

        start_redis()  # back, empty (no persistence): still no current version, still the database
        assert reader.lookup_models().source == "database"

        result = sync(database_url, url, replay_dir, selection=PUBLISH)
        assert result.success, step_failures(result)
        client = redis.Redis.from_url(url, decode_responses=True)
        assert cached_rows(client) == table_rows(database_url)
        client.close()
        assert_answers_match_the_table(reader, database_url, "redis")


@pytest.mark.parametrize("how", ["model key", "all"])
def test_a_damaged_version_is_never_answered_from_an_older_kept_answer(synced, redis_url, redis_client, how):
    """A kept answer bridges a Redis outage only. With Redis answering and its current version damaged, an
    answer kept from the version before served a model the database had deleted, for up to the TTL."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    row = next(r for r in table_list(database_url) if r["provider"] == "groq")
    with CatalogReader(redis_url, database_url, local_ttl_seconds=60) as reader:
        assert reader.lookup_model("groq", row["model_id"]).rows == [row]
        assert len(reader.lookup_models(provider="groq").rows) == len(table_list(database_url, "WHERE provider = 'groq'"))
        with db.connect(database_url) as conn:  # the model leaves the table; the next version is published
            conn.execute("DELETE FROM models m USING providers p WHERE m.provider_id = p.id "
                         "AND p.slug = 'groq' AND m.model_id = %s", (row["model_id"],))
            cache.publish_cache(conn, redis_client, "after-delete")
        _damage(redis_client, reader.version(), how, row)
        if how == "model key":  # its key was never written: damage a key the version does list
            other = table_list(database_url, "WHERE provider = 'groq'")[0]
            _damage(redis_client, reader.version(), how, other)
        answer = reader.lookup_model("groq", row["model_id"])
        assert answer.rows == [] and answer.source != "local", answer  # deleted: never the kept row
        groq = reader.lookup_models(provider="groq")
        assert groq.rows == table_list(database_url, "WHERE provider = 'groq'") and groq.source != "local"


@pytest.mark.parametrize("value", [b"not json", b"\xff\xfe{}", b"null", b"[1]", b"42", b'"text"', "another-row"],
                         ids=["not-json", "not-utf8", "null", "list", "number", "string", "another-row"])
def test_a_value_another_writer_corrupted_is_answered_from_the_database(synced, redis_url, redis_client, value):
    """JSON that is not the key's row ("null", a list, another model's row) answered None for a model the
    table holds, a number for a row, or the other model's row."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    row, other = [r for r in table_list(database_url) if r["provider"] == "groq"][:2]
    if value == "another-row":
        value = json.dumps(other).encode()
    with CatalogReader(redis_url, database_url, local_ttl_seconds=0) as reader:
        version = reader.version()
        with redis.Redis.from_url(redis_url) as raw:
            raw.set(cache.model_key(version, row["provider"], row["model_id"]), value)
        assert reader.lookup_model("groq", row["model_id"]).source == "database"
        assert reader.get_model("groq", row["model_id"]) == row
        assert reader.get_models(provider="groq") == table_list(database_url, "WHERE provider = 'groq'")
        assert reader.get_models() == table_list(database_url)
        redis_client.hset(cache.version_key(version, "manifest"), "providers", "[1, 2]")
        assert reader.get_models(provider="groq") == table_list(database_url, "WHERE provider = 'groq'")


@pytest.mark.parametrize("redis_up", [True, False], ids=["redis", "redis-down"])
def test_a_name_no_text_column_can_hold_is_answered_empty_on_every_path(synced, redis_url, redis_up):
    """A NUL or a lone surrogate (os.fsdecode, surrogateescape) is in no row. Redis answered a model id with a
    NUL "no such model" and the database raised DataError for the same question; a surrogate raised
    UnicodeEncodeError on either."""
    url = redis_url if redis_up else "redis://127.0.0.1:1/0"  # nothing listens
    with CatalogReader(url, synced, local_ttl_seconds=0) as reader:
        for bad in ("gpt\x00-4", "\x00", "gpt-\udc80"):
            assert reader.get_model("groq", bad) is None
            assert reader.get_model(bad, "llama-3.1-8b-instant") is None
            assert reader.get_models(provider=bad) == []
            assert reader.get_models(modality=bad) == []
            assert reader.get_models("groq", bad) == []
        assert reader.get_models(provider="groq") == table_list(synced, "WHERE provider = 'groq'")


def test_a_database_connection_dropped_while_idle_costs_no_answer(synced):
    """The server ended the reader's kept connection while it was idle (a restart, a failover,
    idle_session_timeout): the next question raised AdminShutdown although the database answered it."""
    with CatalogReader("redis://127.0.0.1:1/0", synced, local_ttl_seconds=0) as reader:  # nothing listens
        expected = table_list(synced, "WHERE provider = 'groq'")
        assert expected and reader.get_models(provider="groq") == expected
        with psycopg.connect(synced, autocommit=True) as conn:
            ended = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = 'modelsync-reader' AND datname = current_database()").fetchall()
        # The reader's connection, which just answered, is among them; a reader closed by an earlier test may
        # still be listed while its backend exits (True or False for it, whichever comes first).
        assert (True,) in ended
        assert reader.get_models(provider="groq") == expected
        assert reader.get_model("groq", expected[0]["model_id"]) == expected[0]


def _readers_sessions(database_url) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'modelsync-reader' "
                            "AND datname = current_database()").fetchone()[0]


def test_a_reader_made_before_a_fork_answers_each_process_its_own_question(synced):
    """A server that makes its reader, then forks its workers (gunicorn --preload): the children shared the parent's
    database connection, and answered each other's questions (a child asking for groq got openai's models), lost
    synchronisation with the server, or hung."""
    import os

    providers = ["groq", "openai", "cerebras", "xai", "mistral", "deepseek"]
    expected = {p: table_list(synced, "WHERE provider = %s", (p,)) for p in providers}
    with CatalogReader("redis://127.0.0.1:1/0", synced, local_ttl_seconds=0) as reader:  # the database answers
        assert reader.get_models(provider="groq") == expected["groq"]  # the parent's connection is open and idle
        children = {}
        for provider in providers:
            pid = os.fork()
            if pid == 0:  # the child: its own questions, many times; the exit status says whether all were right
                code = 0
                try:
                    for _ in range(30):
                        if reader.get_models(provider=provider) != expected[provider]:
                            code = 1
                except BaseException:  # noqa: BLE001 - any error is a wrong answer here
                    code = 2
                os._exit(code)
            children[pid] = provider
        results = {children[pid]: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children}
        assert results == {provider: 0 for provider in providers}, results
        assert reader.get_models(provider="openai") == expected["openai"]  # the parent's own still answers right


def test_threads_that_read_and_end_leave_no_database_session_each(synced):
    """A connection kept per thread was closed only by close(): a thread-per-request server whose Redis was down
    kept one session per thread that ever read, until PostgreSQL refused new clients ("too many clients")."""
    from modelsync_pipeline.reader import IDLE_CONNECTIONS

    expected = table_list(synced, "WHERE provider = 'groq'")
    before = _readers_sessions(synced)
    with CatalogReader("redis://127.0.0.1:1/0", synced, local_ttl_seconds=0) as reader:
        answers = []
        for _ in range(20):  # one short-lived thread after another, as a request each
            thread = threading.Thread(target=lambda: answers.append(reader.get_models(provider="groq")))
            thread.start()
            thread.join()
        assert answers == [expected] * 20
        assert _readers_sessions(synced) - before <= IDLE_CONNECTIONS
    deadline = time.monotonic() + 10
    while _readers_sessions(synced) > before and time.monotonic() < deadline:  # close() ends them
        time.sleep(0.1)
    assert _readers_sessions(synced) <= before


def test_timestamps_read_the_same_from_redis_and_from_a_database_session_in_another_time_zone(synced, redis_url):
    """A reader role or PGTZ with another TimeZone: the database path wrote updated_at as "05:37:24-05:00" where
    Redis held "10:37:24+00:00", and a client comparing rows saw the catalog change on every Redis failover."""
    import urllib.parse

    elsewhere = synced + ("&" if "?" in synced else "?") + "options=" + urllib.parse.quote("-c TimeZone=America/New_York")
    with CatalogReader(redis_url, elsewhere, local_ttl_seconds=0) as cached, \
            CatalogReader("redis://127.0.0.1:1/0", elsewhere, local_ttl_seconds=0) as database:
        from_redis, from_database = cached.lookup_models(provider="groq"), database.lookup_models(provider="groq")
        assert from_redis.source == "redis" and from_database.source == "database"
        assert from_database.rows == from_redis.rows
        assert from_database.rows[0]["updated_at"].endswith("+00:00"), from_database.rows[0]


def test_a_fork_while_another_thread_holds_the_readers_lock_leaves_the_child_a_working_reader(synced):
    """The child of a fork inherits every lock as it was: one another thread of the parent held at that moment (a
    read in progress) stayed held in the child for ever, and the child's first read hung."""
    import os

    expected = table_list(synced, "WHERE provider = 'groq'")
    with CatalogReader("redis://127.0.0.1:1/0", synced, local_ttl_seconds=0) as reader:
        with reader._lock:  # as a read in another thread holds it while this thread forks
            pid = os.fork()
            if pid == 0:
                try:
                    os._exit(0 if reader.get_models(provider="groq") == expected else 1)
                except BaseException:  # noqa: BLE001 - any error is a wrong answer here
                    os._exit(2)
        deadline = time.monotonic() + 30
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if done[0] == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0, "the child's read hung or failed"


def test_when_redis_and_the_database_both_fail_the_error_names_both(redis_url):
    """The error was psycopg's alone ("connection refused" to the database): nothing said the cache had been tried
    and had failed too, nor why, so an operator looked at the database only."""
    with CatalogReader("redis://:hunter2@127.0.0.1:1/0", "postgresql://nobody@127.0.0.1:1/none",
                       local_ttl_seconds=0) as reader, pytest.raises(psycopg.OperationalError) as failed:
        reader.get_models(provider="groq")
    notes = " ".join(getattr(failed.value, "__notes__", []))
    assert "The cache was not read either: Redis at redis://:***@127.0.0.1:1/0 failed: ConnectionError" in notes, notes
    assert "hunter2" not in notes


def test_a_reader_with_no_cache_under_its_prefix_says_why_it_reads_the_database(synced, redis_url, redis_client, caplog):
    """A reader whose Redis holds no version under its key prefix (MODELSYNC_CACHE_PREFIX differing from the
    publisher's, or nothing published yet) answered every call from the database without a word: only
    `answer.source` showed it. It is logged, once per LOG_AGAIN_SECONDS, not once per call."""
    redis_client.delete(cache.CURRENT_KEY)
    with caplog.at_level("WARNING", logger="modelsync_pipeline.reader"), CatalogReader(redis_url, synced,
                                                                                      local_ttl_seconds=0) as reader:
        for _ in range(3):
            assert reader.lookup_models(provider="groq").source == "database"
    said = [r.getMessage() for r in caplog.records if r.name == "modelsync_pipeline.reader"]
    assert len(said) == 1, said
    assert f"has no {cache.CURRENT_KEY}" in said[0] and "MODELSYNC_CACHE_PREFIX differs" in said[0], said


def test_a_reader_that_retries_redis_at_once_says_redis_failed_not_that_it_has_no_version(synced, caplog):
    """With redis_retry_seconds=0 (Redis tried again on every call), a Redis that failed was reported as one holding
    no version under the reader's prefix ("MODELSYNC_CACHE_PREFIX differs"): the reason was read back from a window
    already over, and an operator was sent to check a prefix that was right."""
    with caplog.at_level("WARNING", logger="modelsync_pipeline.reader"), CatalogReader(
            "redis://127.0.0.1:1/0", synced, local_ttl_seconds=0, redis_retry_seconds=0) as reader:
        assert reader.lookup_models(provider="groq").source == "database"
    said = [r.getMessage() for r in caplog.records if r.name == "modelsync_pipeline.reader"]
    assert len(said) == 1 and "failed: ConnectionError" in said[0] and "PREFIX" not in said[0], said
