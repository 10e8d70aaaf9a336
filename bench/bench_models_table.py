"""Benchmark: a synthetic catalog of N models through the models_table write path.

Prints rows/s of modelsync's write path (COPY each provider's validated catalog into staging, then the
one-transaction refresh of `models` through writes.write_catalog) beside a raw COPY of the same rows into an
unindexed table, measured in the same run on the same server, and the ratio. Goal: ratio >= 0.5.

    make bench                      # N = 1,000,000
    python bench/bench_models_table.py --rows 100000

Uses DATABASE_URL when set (a scratch database is created and dropped there), else embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modelsync_pipeline import db, writes  # noqa: E402
from modelsync_pipeline.local import services  # noqa: E402
from modelsync_pipeline.catalog import COLUMNS  # noqa: E402
from modelsync_pipeline.providers.registry import PROVIDERS  # noqa: E402

PROVIDER_COUNT = 10


def synthetic_catalog(spec, rows: int, seed: str = "") -> pd.DataFrame:
    ids = [f"{spec.slug}/model-{i:07d}" for i in range(rows)]
    frame = pd.DataFrame({
        "provider_slug": spec.slug,
        "model_id": ids,
        "model_name": [f"Model {i} 70B Instruct" for i in range(rows)],
        "raw_name": [f"Company: Model {i} 70B Instruct" for i in range(rows)],
        "name_rule": "name",
        "name_steps": [["strip_company_prefix"]] * rows,
        "context_length": pd.array([8192 + i % 1000 for i in range(rows)], dtype="Int64"),
        "input_price_per_mtok": [0.15 + (i % 100) / 100 for i in range(rows)],
        "output_price_per_mtok": [0.6 + (i % 100) / 100 for i in range(rows)],
        "modality": "text",
        "is_free": False,
        "quantization": None,
        "release_stage": None,
        "metadata": [{"id": m, "owned_by": spec.slug} for m in ids],
    })
    frame["content_hash"] = [hashlib.md5(f"{m}{seed}".encode()).hexdigest() for m in ids]
    return frame[COLUMNS]


def raw_copy(conn: psycopg.Connection, frames: list[pd.DataFrame]) -> float:
    conn.execute("""CREATE UNLOGGED TABLE IF NOT EXISTS _bench_raw (LIKE provider_catalogs)""")
    conn.execute("ALTER TABLE _bench_raw SET LOGGED")
    conn.commit()
    started = time.perf_counter()
    with conn.transaction():
        with conn.cursor().copy(
            "COPY _bench_raw (provider_slug, model_id, model_name, context_length, input_price_per_mtok, "
            "output_price_per_mtok, modality, is_free, quantization, release_stage, metadata, raw_name, "
            "name_rule, name_steps, sync_run_id, content_hash) FROM STDIN"
        ) as copy:
            for frame in frames:
                for values in db.copy_rows(frame, "bench"):
                    copy.write_row(values)
    return time.perf_counter() - started


def refresh(conn: psycopg.Connection, url: str, specs, run_id: str) -> db.RefreshResult:
    """Refresh `models` through the one write path (writes.write_catalog: guard, write, audit row, counts; its
    lock watch on a second connection to `url`), as the `models_table` asset does."""
    request = writes.WriteRequest(mode="refresh", run_id=run_id, launched_by="bench")
    return writes.write_catalog(conn, request, specs, reconnect=lambda: db.connect(url)).refresh


def modelsync_write(conn: psycopg.Connection, url: str, specs, frames: list[pd.DataFrame],
                    run_id: str) -> tuple[float, db.RefreshResult]:
    """Stage each catalog, then refresh (refresh)."""
    started = time.perf_counter()
    for spec, frame in zip(specs, frames):
        db.stage_provider_catalog(conn, spec, frame, run_id)
    staged = time.perf_counter()
    result = refresh(conn, url, specs, run_id)
    done = time.perf_counter()
    print(f"  (stage {staged - started:.2f} s, refresh {done - staged:.2f} s)")
    return done - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    specs = PROVIDERS[:PROVIDER_COUNT]
    per_provider = args.rows // len(specs)
    total = per_provider * len(specs)

    with services.services(Path(".modelsync") / "bench") as endpoints:
        name = f"modelsync_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(endpoints.database_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = str(psycopg.conninfo.make_conninfo(endpoints.database_url, dbname=name))
        try:
            db.apply_migrations(url)
            print(f"building {total:,} synthetic models over {len(specs)} providers ...", flush=True)
            frames = [synthetic_catalog(spec, per_provider) for spec in specs]
            with db.connect(url) as conn:
                raw_seconds = raw_copy(conn, frames)
                conn.execute("DROP TABLE _bench_raw")
                conn.commit()
                conn.execute("CHECKPOINT")
                ours_seconds, result = modelsync_write(conn, url, specs, frames, "bench-run-1")
            assert result.total_rows == total, (result.total_rows, total)
        finally:
            with psycopg.connect(endpoints.database_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    raw_rate, ours_rate = total / raw_seconds, total / ours_seconds
    print(f"server: {endpoints.database_source}")
    print(f"{'raw COPY into an unindexed table':<46} {raw_rate:>10,.0f} rows/s  ({raw_seconds:.2f} s)")
    print(f"{'modelsync write path (stage + refresh)':<46} {ours_rate:>10,.0f} rows/s  ({ours_seconds:.2f} s)")
    print(f"ratio modelsync / raw COPY: {ours_rate / raw_rate:.2f}  (goal >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
