"""Benchmark: the models refresh at scale: first load, an unchanged re-sync, a 1% re-sync, and the old write path.

Every figure is printed beside a baseline measured in the same run on the same server (for (a)-(c) the mean
of a raw COPY just before and one just after, as the disk's speed drifts within a run):

  (a) first full load of N models (stage every provider's catalog + refresh `models`, the refresh through the
      one write path, writes.write_catalog, as the `models_table` asset runs it), rows/s, beside a raw
      COPY of the same rows into an unindexed table. Goal: >= 0.5x the raw COPY rate (aim 0.7x).
  (b) re-sync with nothing changed (stage skips each identical catalog by checksum, then refresh): must write
      zero rows to `models` (asserted), time beside a bare COPY of the same rows into a staging-shaped
      unindexed table. Goal: <= 1.2x that time.
  (c) re-sync with 1% of rows changed (price and content_hash of every 100th model): time and rows written,
      beside the same raw COPY. Goal: <= 0.2x its time (stage and apply what changed, not whole catalogs).
  (d) the old system's write path on M models (per provider, `INSERT ... ON CONFLICT DO UPDATE` through
      executemany, 500 rows per transaction) beside modelsync's first load of the same M models.
      Goal: modelsync >= 5x the old rate. Printed beside it, its bound: a raw COPY of the same M rows into
      an unindexed table, which any first load that writes the rows (and then indexes them) cannot beat.
  (e) the next sync of those M models with 1% changed: the old path upserts every row again, modelsync
      writes what changed. Goal: >= 5x.

    python bench/bench_refresh.py                          # N = 1,000,000, M = 100,000
    python bench/bench_refresh.py --rows 100000 --old-rows 20000

Uses DATABASE_URL when set, else embedded PostgreSQL; scratch databases are created and dropped.
Timings are printed, never asserted; only correctness (zero rows written, counts) is asserted.

When the server runs on this machine, (a) and (d) also print the CPU time their writes spent, this process's
and the server's (every process of it, from /proc), and what that bounds them to: a write that keeps this
machine's cores busy for C seconds takes at least C / cores, so (a) cannot pass raw COPY seconds x cores / C
however its work is spread over connections.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models_table import PROVIDER_COUNT, raw_copy, refresh, synthetic_catalog  # noqa: E402
from modelsync_pipeline import db  # noqa: E402
from modelsync_pipeline.local import services  # noqa: E402
from modelsync_pipeline.providers.registry import PROVIDERS  # noqa: E402

CHANGE_EVERY = 100  # (c): one row in 100 changes
OLD_BATCH = 500  # the old system upserted 500 rows per transaction

# The old system's statement: one upsert per row, keyed on the same unique constraint as `models`.
OLD_UPSERT = """
INSERT INTO old_models (provider_id, model_id, model_name, context_length, input_price_per_mtok,
                        output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                        raw_name, name_rule, name_steps, sync_run_id, content_hash)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s)
ON CONFLICT (provider_id, model_id) DO UPDATE
SET model_name = EXCLUDED.model_name, context_length = EXCLUDED.context_length,
    input_price_per_mtok = EXCLUDED.input_price_per_mtok, output_price_per_mtok = EXCLUDED.output_price_per_mtok,
    modality = EXCLUDED.modality, is_free = EXCLUDED.is_free, quantization = EXCLUDED.quantization,
    release_stage = EXCLUDED.release_stage, metadata = EXCLUDED.metadata, raw_name = EXCLUDED.raw_name,
    name_rule = EXCLUDED.name_rule, name_steps = EXCLUDED.name_steps, sync_run_id = EXCLUDED.sync_run_id,
    content_hash = EXCLUDED.content_hash, updated_at = now()
"""
OLD_PROVIDER = """
INSERT INTO providers (name, slug, base_url) VALUES (%s, %s, %s)
ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, base_url = EXCLUDED.base_url
RETURNING id
"""


@dataclass
class Cpu:
    """CPU seconds spent during a stretch of the bench: this process's (the client: encoding, psycopg) and the
    server's (all its processes), or None for the server's when it is not on this machine."""
    client: float
    server: float | None

    def __add__(self, other: Cpu) -> Cpu:
        server = None if self.server is None or other.server is None else self.server + other.server
        return Cpu(self.client + other.client, server)

    def scaled(self, factor: float) -> Cpu:
        return Cpu(self.client * factor, None if self.server is None else self.server * factor)

    @property
    def total(self) -> float | None:
        return None if self.server is None else self.client + self.server

    def describe(self) -> str:
        if self.server is None:
            return f"client {self.client:.2f} s (the server's not measured: not on this machine)"
        return f"{self.total:.2f} s (client {self.client:.2f} + server {self.server:.2f})"


class ServerCpu:
    """The CPU time of a PostgreSQL server running on this machine: its postmaster's, its live processes'
    (backends, checkpointer, WAL writer, ...) and that of the processes it has reaped (a backend that
    disconnected), all read from /proc. `seconds()` is None when the server is elsewhere."""

    TICKS = os.sysconf("SC_CLK_TCK")  # /proc's unit of CPU time

    def __init__(self, conn: psycopg.Connection):
        self._postmaster = self._find_postmaster(conn)

    @staticmethod
    def _stat(pid: int) -> list[str] | None:
        """/proc/<pid>/stat's fields from the state on (the name, which may hold spaces, cut off), or None."""
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2:].split()

    @classmethod
    def _find_postmaster(cls, conn: psycopg.Connection) -> int | None:
        """The postmaster's pid, the checkpointer's parent, if it is a process of this machine started when
        the server says it started (a server elsewhere may have a process of the same pid here)."""
        row = conn.execute("SELECT pid, extract(epoch FROM pg_postmaster_start_time()) FROM pg_stat_activity "
                           "WHERE backend_type = 'checkpointer'").fetchone()
        stat = cls._stat(row[0]) if row else None
        parent = cls._stat(int(stat[1])) if stat else None
        if parent is None:
            return None
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        started = boot + int(parent[19]) / cls.TICKS
        return int(stat[1]) if abs(started - float(row[1])) < 2 else None

    def seconds(self) -> float | None:
        if self._postmaster is None:
            return None
        ticks = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            stat = self._stat(int(entry.name))
            if stat is None:
                continue
            if int(entry.name) == self._postmaster:
                ticks += sum(int(field) for field in stat[11:15])  # its own time and its reaped children's
            elif int(stat[1]) == self._postmaster:
                ticks += int(stat[11]) + int(stat[12])
        return ticks / self.TICKS


@contextlib.contextmanager
def cpu_spent(server: ServerCpu, into: list[Cpu]) -> Iterator[None]:
    """Appends to `into` the CPU time spent in the block."""
    client, before = time.process_time(), server.seconds()
    yield
    after = server.seconds()
    into.append(Cpu(time.process_time() - client, None if before is None or after is None else after - before))


@dataclass
class Write:
    stage_seconds: float
    refresh_seconds: float
    restaged: int  # providers whose catalog was rewritten in staging
    result: db.RefreshResult
    stage_cpu: Cpu
    refresh_cpu: Cpu

    @property
    def seconds(self) -> float:
        return self.stage_seconds + self.refresh_seconds

    @property
    def cpu(self) -> Cpu:
        return self.stage_cpu + self.refresh_cpu


@dataclass
class Row:
    scenario: str
    rows: int
    seconds: float
    baseline: str
    baseline_seconds: float
    ratio_kind: str  # "rate": ours rows/s over baseline rows/s; "time": our seconds over baseline seconds
    goal: str
    met: bool | None


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    name = f"modelsync_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = str(psycopg.conninfo.make_conninfo(server_url, dbname=name))
        db.apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def changed_catalog(frame: pd.DataFrame, every: int, seed: str) -> tuple[pd.DataFrame, int]:
    """The frame with the price and content_hash of every `every`-th model changed (as a new fetch would)."""
    changed = frame.copy()
    rows = np.arange(len(changed)) % every == 0
    changed.loc[rows, "input_price_per_mtok"] = changed.loc[rows, "input_price_per_mtok"] + 0.5
    # Same recipe as synthetic_catalog(seed=...): a new hash for exactly the rows whose content moved.
    changed.loc[rows, "content_hash"] = [
        hashlib.md5(f"{m}{seed}".encode()).hexdigest() for m in changed.loc[rows, "model_id"]
    ]
    return changed, int(rows.sum())


def modelsync_write(conn: psycopg.Connection, url: str, specs, frames: list[pd.DataFrame], run_id: str) -> Write:
    """Stage each provider's catalog, then refresh `models` through the one write path as the `models_table`
    asset does (bench_models_table.refresh): the pipeline's writes, timed in two parts."""
    server, cpu = ServerCpu(conn), []
    started = time.perf_counter()
    with cpu_spent(server, cpu):
        staged = [db.stage_provider_catalog(conn, spec, frame, run_id) for spec, frame in zip(specs, frames)]
    stage_done = time.perf_counter()
    with cpu_spent(server, cpu):
        result = refresh(conn, url, specs, run_id)
    return Write(stage_done - started, time.perf_counter() - stage_done, sum(s.changed for s in staged), result,
                 *cpu)


def old_write(conn: psycopg.Connection, specs, frames: list[pd.DataFrame], run_id: str) -> float:
    """The old system: per provider, upsert the provider, then its models 500 rows per transaction."""
    started = time.perf_counter()
    for spec, frame in zip(specs, frames):
        with conn.transaction():
            provider_id = conn.execute(OLD_PROVIDER, (spec.display_name, spec.slug, spec.resolved_base_url())).fetchone()[0]
        rows = [(provider_id, *values[1:]) for values in db.copy_rows(frame, run_id)]
        for start in range(0, len(rows), OLD_BATCH):
            with conn.transaction():
                conn.cursor().executemany(OLD_UPSERT, rows[start:start + OLD_BATCH])
    return time.perf_counter() - started


def models_write_counters(conn: psycopg.Connection, url: str) -> tuple[int, int, int]:
    """(n_tup_ins, n_tup_upd, n_tup_del) of `models` (all its partitions), after `conn` (the writer) flushed its pending stats."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")  # answered only after the backend went idle, i.e. after the forced flush
    else:
        time.sleep(1.0)  # the stats collector reports with up to 500 ms delay before PostgreSQL 15
    with psycopg.connect(url, autocommit=True) as reader:
        row = reader.execute(
            "SELECT sum(n_tup_ins), sum(n_tup_upd), sum(n_tup_del) FROM pg_stat_user_tables "
            "WHERE relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'models'::regclass)"
        ).fetchone()  # models is partitioned per provider (migration 0008): its rows are in the partitions
    return int(row[0]), int(row[1]), int(row[2])


def baseline_copy(conn: psycopg.Connection, frames: list[pd.DataFrame], cpu: list[Cpu] | None = None) -> float:
    """raw_copy (from bench_models_table) into a fresh unindexed staging-shaped table, then cleaned up; its CPU
    time appended to `cpu` when given."""
    with cpu_spent(ServerCpu(conn), cpu) if cpu is not None else contextlib.nullcontext():
        seconds = raw_copy(conn, frames)
    conn.execute("DROP TABLE _bench_raw")
    conn.execute("CHECKPOINT")
    return seconds


def baseline_mean(label: str, before: float, after: float, details: list[str]) -> float:
    """The baseline as the mean of a raw COPY just before and just after the write it is compared with: the
    disk here drifts by up to 1.6x within a run, and one side of the write alone would pick a side of it."""
    details.append(f"{label} baseline raw COPY {before:.2f} s before, {after:.2f} s after: mean {(before + after) / 2:.2f} s")
    return (before + after) / 2


def cpu_bound(label: str, write: Write, baseline: str, baseline_seconds: float, baseline_cpu: Cpu | None,
              details: list[str]) -> list[Row]:
    """The detail line of `write`'s CPU time, and, when the server's was measured, the row of its bound: the
    least time that much CPU takes on this machine's cores, against the baseline."""
    cores = os.cpu_count() or 1
    cpu = write.cpu
    line = (f"{label} CPU: {cpu.describe()} in {write.seconds:.2f} s (stage {write.stage_cpu.describe()}; "
            f"refresh {write.refresh_cpu.describe()})")
    if baseline_cpu is not None:
        line += f"; the {baseline}: {baseline_cpu.describe()} in {baseline_seconds:.2f} s"
    if cpu.total is None:
        details.append(line)
        return []
    details.append(f"{line}; {cpu.total / write.seconds:.2f} of {cores} cores busy. This much work takes "
                   f"{cpu.total / cores:.2f} s at least, so however it is spread over connections, {label} cannot "
                   f"pass {baseline_seconds / (cpu.total / cores):.3f}x")
    return [Row(f"{label} CPU bound ({cores} cores)", write.result.total_rows, cpu.total / cores, baseline,
                baseline_seconds, "rate", "", None)]


def settle(conn: psycopg.Connection) -> None:
    """What autovacuum would have done between two syncs hours apart: visibility map, hint bits, statistics."""
    conn.execute("VACUUM (ANALYZE) models, provider_catalogs, model_history")
    conn.execute("CHECKPOINT")


def full_scale(url: str, specs, per_provider: int, details: list[str]) -> list[Row]:
    total = per_provider * len(specs)
    print(f"building {total:,} synthetic models over {len(specs)} providers ...", flush=True)
    frames = [synthetic_catalog(spec, per_provider) for spec in specs]
    rows: list[Row] = []
    with db.connect(url, autocommit=True) as conn:
        # (a) first full load
        print("(a) raw COPY baseline, then first full load ...", flush=True)
        raw_cpu: list[Cpu] = []
        raw_a = baseline_copy(conn, frames, raw_cpu)
        first = modelsync_write(conn, url, specs, frames, "bench-a")
        assert first.result.total_rows == total, (first.result.total_rows, total)
        assert sum(first.result.inserted.values()) == total
        details.append(f"(a) stage {first.stage_seconds:.2f} s + refresh {first.refresh_seconds:.2f} s; "
                       f"{sum(first.result.inserted.values()):,} inserted")
        raw_a = baseline_mean("(a)", raw_a, baseline_copy(conn, frames, raw_cpu), details)
        rows.append(Row("(a) first full load", total, first.seconds, "raw COPY, unindexed", raw_a,
                        "rate", ">= 0.5", total / first.seconds >= 0.5 * total / raw_a))
        rows += cpu_bound("(a)", first, "raw COPY, unindexed", raw_a, (raw_cpu[0] + raw_cpu[1]).scaled(0.5),
                          details)

        # (b) nothing changed
        settle(conn)
        print("(b) raw COPY baseline, then unchanged re-sync ...", flush=True)
        raw_b = baseline_copy(conn, frames)
        before = models_write_counters(conn, url)
        history_before = conn.execute("SELECT count(*) FROM model_history").fetchone()[0]
        same = modelsync_write(conn, url, specs, frames, "bench-b")
        after = models_write_counters(conn, url)
        history_after = conn.execute("SELECT count(*) FROM model_history").fetchone()[0]
        assert same.restaged == 0, f"{same.restaged} identical catalogs were restaged"
        assert same.result.rows_written == 0, same.result
        assert after == before, f"models n_tup_ins/upd/del moved: {before} -> {after}"
        assert history_after == history_before, (history_before, history_after)
        assert same.result.total_rows == total
        details.append(f"(b) stage {same.stage_seconds:.2f} s (0 of {len(specs)} catalogs restaged) + refresh "
                       f"{same.refresh_seconds:.2f} s; rows written 0; models n_tup_ins/upd/del {before} -> {after}")
        raw_b = baseline_mean("(b)", raw_b, baseline_copy(conn, frames), details)
        rows.append(Row("(b) re-sync, nothing changed", total, same.seconds, "bare COPY into staging shape", raw_b,
                        "time", "<= 1.2", same.seconds <= 1.2 * raw_b))

        # (c) 1% changed
        settle(conn)
        changed_frames, expected = [], 0
        for frame in frames:
            changed, count = changed_catalog(frame, CHANGE_EVERY, seed="bench-c")
            changed_frames.append(changed)
            expected += count
        print("(c) raw COPY baseline, then 1% re-sync ...", flush=True)
        raw_c = baseline_copy(conn, changed_frames)
        before = models_write_counters(conn, url)
        one_pct = modelsync_write(conn, url, specs, changed_frames, "bench-c")
        after = models_write_counters(conn, url)
        r = one_pct.result
        assert sum(r.updated.values()) == expected, (sum(r.updated.values()), expected)
        assert sum(r.inserted.values()) == 0 and sum(r.deleted.values()) == 0, r
        assert after[1] - before[1] == expected, (before, after)
        details.append(f"(c) stage {one_pct.stage_seconds:.2f} s ({one_pct.restaged} of {len(specs)} catalogs "
                       f"restaged) + refresh {one_pct.refresh_seconds:.2f} s; rows written {r.rows_written:,} "
                       f"({sum(r.updated.values()):,} updated, 0 inserted, 0 deleted)")
        raw_c = baseline_mean("(c)", raw_c, baseline_copy(conn, changed_frames), details)
        rows.append(Row("(c) re-sync, 1% changed", total, one_pct.seconds, "raw COPY, unindexed", raw_c,
                        "time", "<= 0.2", one_pct.seconds <= 0.2 * raw_c))
    return rows


def old_vs_modelsync(url: str, specs, per_provider: int, details: list[str]) -> list[Row]:
    total = per_provider * len(specs)
    print(f"(d) modelsync first load vs the old upserts on {total:,} models ...", flush=True)
    frames = [synthetic_catalog(spec, per_provider) for spec in specs]
    with db.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE old_models (LIKE models INCLUDING ALL)")
        conn.execute("CHECKPOINT")
        # What bounds (d): a raw COPY of the same rows into a table with no index, no constraint and no history.
        # A first load that keeps models' indexes and history writes at least these rows, so it cannot be
        # faster; a goal above this ratio cannot be met by writing the rows.
        raw_d = baseline_copy(conn, frames)
        ours = modelsync_write(conn, url, specs, frames, "bench-d")
        assert ours.result.total_rows == total, (ours.result.total_rows, total)
        conn.execute("CHECKPOINT")
        old_seconds = old_write(conn, specs, frames, "bench-old")
        old_count = conn.execute("SELECT count(*) FROM old_models").fetchone()[0]
        assert old_count == total, (old_count, total)
        # (e) every later sync: the old path upserts every row again; modelsync writes only what changed
        changed_frames = [changed_catalog(frame, 100, "bench-e")[0] for frame in frames]
        conn.execute("CHECKPOINT")
        ours_e = modelsync_write(conn, url, specs, changed_frames, "bench-e")
        conn.execute("CHECKPOINT")
        old_e = old_write(conn, specs, changed_frames, "bench-old-e")
    details.append(f"(d) modelsync stage {ours.stage_seconds:.2f} s + refresh {ours.refresh_seconds:.2f} s; "
                   f"old path {total // OLD_BATCH:,} transactions of {OLD_BATCH} upserts; a raw COPY of the same "
                   f"rows, unindexed, {raw_d:.2f} s: {old_seconds / raw_d:.2f}x the old path, the most a first load "
                   f"could reach")
    bound_d = cpu_bound("(d)", ours, "old write path", old_seconds, None, details)
    details.append(f"(e) modelsync stage {ours_e.stage_seconds:.2f} s + refresh {ours_e.refresh_seconds:.2f} s, "
                   f"{ours_e.result.rows_written:,} rows written; old path rewrote all {total:,}")
    return [
        Row("(d) old write path (upserts x500)", total, old_seconds, "", old_seconds, "", "", None),
        Row("(d) raw COPY, unindexed (bound)", total, raw_d, "old write path", old_seconds, "rate", "", None),
        Row("(d) modelsync first full load", total, ours.seconds, "old write path", old_seconds,
            "rate", ">= 5", total / ours.seconds >= 5 * total / old_seconds),
        *bound_d,
        Row("(e) old path, next sync (1% changed)", total, old_e, "", old_e, "", "", None),
        Row("(e) modelsync, next sync (1% changed)", total, ours_e.seconds, "old write path", old_e,
            "rate", ">= 5", total / ours_e.seconds >= 5 * total / old_e),
    ]


def print_table(rows: list[Row]) -> None:
    header = (f"{'scenario':<34} {'rows':>10} {'seconds':>8} {'rows/s':>10}  {'baseline':<29} {'base s':>7} "
              f"{'base rows/s':>11} {'ratio':>13} {'goal':>7} {'met':>4}")
    print(header)
    print("-" * len(header))
    for row in rows:
        rate = row.rows / row.seconds
        if row.ratio_kind == "rate":
            ratio = f"{rate / (row.rows / row.baseline_seconds):.3f}x rate"
        elif row.ratio_kind == "time":  # three places: (c) sits within a few thousandths of its goal
            ratio = f"{row.seconds / row.baseline_seconds:.3f}x time"
        else:
            ratio = ""
        base_s = f"{row.baseline_seconds:.2f}" if row.baseline else ""
        base_rate = f"{row.rows / row.baseline_seconds:,.0f}" if row.baseline else ""
        met = "" if row.met is None else ("yes" if row.met else "no")
        print(f"{row.scenario:<34} {row.rows:>10,} {row.seconds:>8.2f} {rate:>10,.0f}  {row.baseline:<29} "
              f"{base_s:>7} {base_rate:>11} {ratio:>13} {row.goal:>7} {met:>4}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="models in (a), (b), (c)")
    parser.add_argument("--old-rows", type=int, default=100_000, help="models in the old-path comparison (d)")
    args = parser.parse_args()
    specs = PROVIDERS[:PROVIDER_COUNT]

    rows: list[Row] = []
    details: list[str] = []
    with services.services(Path(".modelsync") / "bench") as endpoints:
        with psycopg.connect(endpoints.database_url, autocommit=True) as admin:
            settings = dict(admin.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                "('server_version', 'shared_buffers', 'fsync', 'synchronous_commit', 'max_wal_size', 'work_mem')"
            ).fetchall())
        with scratch_database(endpoints.database_url) as url:
            rows += full_scale(url, specs, args.rows // len(specs), details)
        with scratch_database(endpoints.database_url) as url:
            rows += old_vs_modelsync(url, specs, args.old_rows // len(specs), details)

    print()
    print(f"server: {endpoints.database_source}; " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    print_table(rows)
    print()
    for line in details:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
