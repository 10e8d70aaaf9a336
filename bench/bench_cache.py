"""Benchmark: the Redis fan-out of N models (`cache.publish_cache`) and reader latency.

Fills a scratch database with N synthetic models (SQL `generate_series`, 10 providers, 8 modalities), then
measures, in the same run on the same Redis:

* baseline: a plain redis-py `MSET` of N keys (BATCH keys per call), key and value sizes like the cache's;
* `publish_cache`: read the table in one snapshot, write the version (model keys + indexes), verify it
  against the table, switch; keys/s counts model keys, as the baseline does. Goal: ratio >= 0.5;
* a second publish, which also expires the first version's keys (ZSCAN + EXPIRE);
* the publish of a sync that changed nothing (`unless_unchanged=True`, what `models_cache` does): the live
  version checked again (counts, manifest, an EXISTS of every model key) and kept, beside the second publish
  of the same table, which rewrote it. No goal: it is printed so that what a no-change sync costs is known;
* peak RSS of this process before and after the publishes (bounded memory: it must not grow with N);
* `CatalogReader.get_model` latency from Redis on loopback (in-process layer off), p50 / p99.

    python bench/bench_cache.py                 # N = 1,000,000
    python bench/bench_cache.py --rows 100000

Uses DATABASE_URL when set (a scratch database is created and dropped there), else embedded PostgreSQL.
Redis is always an embedded redis-server of its own (state dir .modelsync/bench-cache): the benchmark
flushes it and moves its `modelsync:current`, which must never happen to a real cache.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modelsync_pipeline import cache, db  # noqa: E402
from modelsync_pipeline.local import services  # noqa: E402
from modelsync_pipeline.reader import CatalogReader  # noqa: E402

STATE_DIR = Path(".modelsync") / "bench-cache"
READER_CALLS = 10_000

# 10 providers, 8 modalities, ids and names shaped like real ones; one statement, all in the server.
_PROVIDERS_SQL = """
INSERT INTO providers (name, slug, base_url)
SELECT 'Provider ' || p, 'provider-' || p, 'https://api.provider-' || p || '.example/v1'
FROM generate_series(1, 10) p
"""
_MODELS_SQL = """
INSERT INTO models (provider_id, model_id, model_name, context_length, input_price_per_mtok,
                    output_price_per_mtok, modality, is_free, raw_name, name_rule, name_steps,
                    sync_run_id, content_hash)
SELECT p.id,
       'org-' || (i %% 97) || '/model-' || lpad(i::text, 8, '0') || '-instruct',
       'Model ' || i || ' 70B Instruct',
       8192 + i %% 1000,
       0.15 + (i %% 100) / 100.0,
       0.6 + (i %% 100) / 100.0,
       (ARRAY['text', 'multimodal', 'image', 'embedding', 'audio', 'video', 'moderation', 'rerank'])[1 + i %% 8],
       i %% 13 = 0,
       'Company: Model ' || i || ' 70B Instruct',
       'name',
       ARRAY['strip_company_prefix'],
       'bench-' || md5('run'),
       md5(i::text)
FROM generate_series(1, %(rows)s) i
JOIN providers p ON p.slug = 'provider-' || (1 + i %% 10)
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def fill(url: str, rows: int) -> tuple[int, int]:
    """Insert the synthetic models; return the mean key and value lengths of what the cache will hold."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_PROVIDERS_SQL)
        conn.execute(db.statements("admin")["ensure_partitions"])  # each provider's partition of models
        conn.execute(_MODELS_SQL, {"rows": rows})
        conn.execute("VACUUM ANALYZE models")
        key_len, value_len = conn.execute(
            "SELECT avg(length(provider || ':' || model_id)), avg(octet_length(row_to_json(r)::text)) FROM catalog_rows r"
        ).fetchone()
    return round(key_len), round(value_len)


def plain_mset(client: redis.Redis, rows: int, key_len: int, value_len: int) -> float:
    """The baseline: N keys of the cache's sizes through redis-py's own MSET, BATCH keys per call."""
    prefix = cache.version_key("baseline-00000000000000000000000-00000000", "model", "")
    value = "x" * value_len
    started = time.perf_counter()
    for start in range(0, rows, cache.BATCH):
        client.mset({f"{prefix}{i:0{key_len}d}": value for i in range(start, min(start + cache.BATCH, rows))})
    return time.perf_counter() - started


def reader_latency(redis_url: str, database_url: str, client: redis.Redis, calls: int) -> list[float]:
    version = cache.current_version(client)
    members = client.zrandmember(cache.version_key(version, "all"), calls) or []
    pairs = [m.split(cache.SEP, 1) for m in members]
    random.shuffle(pairs)
    timings = []
    with CatalogReader(redis_url, database_url, local_ttl_seconds=0) as reader:
        for provider, model_id in pairs:
            started = time.perf_counter()
            answer = reader.lookup_model(provider, model_id)
            timings.append(time.perf_counter() - started)
            assert answer.source == "redis" and answer.rows, (provider, model_id, answer)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = args.rows

    env = {"DATABASE_URL": os.environ["DATABASE_URL"]} if os.environ.get("DATABASE_URL") else {}
    with services.services(STATE_DIR, env=env) as endpoints:
        name = f"modelsync_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(endpoints.database_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = str(psycopg.conninfo.make_conninfo(endpoints.database_url, dbname=name))
        # No socket timeout (redis-py 8 defaults to 5 s): flushing millions of keys takes longer than that.
        client = redis.Redis.from_url(endpoints.redis_url, decode_responses=True, socket_timeout=None)
        try:
            db.apply_migrations(url)
            print(f"filling {rows:,} synthetic models ...", flush=True)
            key_len, value_len = fill(url, rows)
            print(f"  mean key suffix {key_len} chars, mean value {value_len} bytes", flush=True)

            client.flushdb()
            mset_seconds = plain_mset(client, rows, key_len, value_len)
            client.flushdb()

            rss_before = peak_rss_mb()
            with db.connect(url) as conn:
                first = cache.publish_cache(conn, client, "bench-run-1")
                second = cache.publish_cache(conn, client, "bench-run-2")
                kept = cache.publish_cache(conn, client, "bench-run-3", unless_unchanged=True)
            rss_after = peak_rss_mb()
            assert first.row_count == rows and first.matches_table, first
            assert kept.unchanged and kept.version == second.version, kept

            timings = reader_latency(endpoints.redis_url, url, client, min(READER_CALLS, rows))
        finally:
            client.flushdb()
            client.close()
            with psycopg.connect(endpoints.database_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    mset_rate, ours_rate = rows / mset_seconds, rows / first.seconds
    quantiles = statistics.quantiles(timings, n=100)
    print(f"redis: {endpoints.redis_source}")
    print(f"{'plain redis-py MSET of the same keys':<52} {mset_rate:>10,.0f} keys/s  ({mset_seconds:.2f} s)")
    print(f"{'publish_cache (read, write, verify, switch)':<52} {ours_rate:>10,.0f} keys/s  ({first.seconds:.2f} s)")
    print(f"ratio publish_cache / plain MSET: {ours_rate / mset_rate:.2f}  (goal >= 0.5)")
    print(f"second publish, also expiring the first version: {second.seconds:.2f} s "
          f"({rows / second.seconds:,.0f} keys/s)")
    print(f"publish of an unchanged table, live version checked and kept: {kept.seconds:.2f} s "
          f"({kept.seconds / second.seconds:.2f}x the second publish, which rewrote it)")
    print(f"cache: {first.key_count:,} keys, ~{first.bytes_used / 2**20:,.0f} MiB (estimate), matches table: {first.matches_table}")
    print(f"peak RSS: {rss_before:,.0f} MiB before the publishes, {rss_after:,.0f} MiB after")
    print(f"get_model from Redis ({len(timings):,} calls): p50 {quantiles[49] * 1e6:,.0f} us, "
          f"p99 {quantiles[98] * 1e6:,.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
