"""The atomic refresh of `providers` and `models` from the staged catalogs (`sql/refresh_models.sql`)."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Sequence

import psycopg
import psycopg.conninfo
import psycopg.sql

from .. import faults
from ..providers.registry import ProviderSpec
from . import locks
from .stage_catalog import FAILED_OUTCOMES, staged_providers
from .statements import abandon_if_busy, statements

@dataclass
class RefreshResult:
    run_id: str
    providers: list[str]
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    rows_per_provider: dict[str, int] = field(default_factory=dict)
    delta_providers: list[str] = field(default_factory=list)  # applied from their staged changes only
    before: tuple[int, int] | None = None  # (providers, models) in the refresh's snapshot, before it wrote
    after: tuple[int, int] | None = None  # and as it leaves them, counted in its transaction before COMMIT

    @property
    def rows_written(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values()) + sum(self.deleted.values())

    @property
    def total_rows(self) -> int:
        return sum(self.rows_per_provider.values())


def refresh_models_table(conn: psycopg.Connection, specs: Sequence[ProviderSpec], run_id: str) -> RefreshResult:
    """Bring `providers` and `models` to the latest good catalog of every staged provider, atomically.

    One transaction: readers see the previous catalog until COMMIT, never an empty or partial one, and
    any failure (an exception, a killed process, a lost connection) leaves the previous catalog as it
    was. Unchanged rows keep their ids and are not rewritten.
    """
    sql = statements("refresh_models")
    locks.wait_behind_writes(conn, sql["session_lock"])
    try:
        drop_orphan_partitions(conn, sql)
        return _refresh_locked(conn, sql, specs, run_id)
    finally:  # stopped inside a statement, the session is ended instead, its lock with it
        if not conn.closed and not abandon_if_busy(conn):
            conn.execute(sql["session_unlock"])


def _refresh_locked(conn: psycopg.Connection, sql: dict[str, str], specs: Sequence[ProviderSpec], run_id: str) -> RefreshResult:
    by_slug = {spec.slug: spec for spec in specs}
    with conn.transaction():
        conn.execute(sql["snapshot"])
        conn.execute(sql["tune"])
        slugs = [slug for slug in staged_providers(conn) if slug in by_slug]
        result = RefreshResult(run_id=run_id, providers=slugs)
        providers_before = conn.execute(sql["provider_count"]).fetchone()[0]
        for slug in slugs:
            spec = by_slug[slug]
            conn.execute(sql["upsert_provider"], {"name": spec.display_name, "slug": slug, "base_url": spec.public_base_url()})
        conn.execute(sql["analyze_providers"])
        # Only providers whose staged catalog changed since their rows were last refreshed are touched: those
        # whose rows are exactly the catalog they were last refreshed to get only the ids staged since (the
        # delta path), the others (first load, after a flush or a restore) a join of their whole catalog.
        changed = [r[0] for r in conn.execute(sql["unpublished"], {"slugs": slugs})]
        delta = [r[0] for r in conn.execute(sql["delta_ready"], {"slugs": changed})]
        # Of the others, those without rows yet (no partition) are built into a new partition of their own.
        fresh, whole = split_fresh(conn, sql, [slug for slug in changed if slug not in delta])
        full = {"slugs": whole, "run_id": run_id}
        result.delta_providers = delta
        conn.execute(sql["changed_rows"])
        if delta:
            conn.execute(sql["tune_delta"])
            conn.execute(sql["delta_rows"], {"slugs": delta})
        faults.point("refresh:before_delete")
        result.deleted = _apply(conn, sql, "delete_removed", full, delta)
        faults.point("refresh:after_delete")
        # The whole catalogs' new ids; the delta path's are inserted with its changed rows (apply_changed), which
        # looks each listed id up once.
        result.inserted = dict(whole_catalogs(conn, sql, "insert_new", full)) if full["slugs"] else {}
        faults.point("refresh:after_insert")
        if full["slugs"]:
            whole_catalogs(conn, sql, "collect_changed", full)
        conn.execute(sql["analyze_changed"])
        for (provider_id,) in conn.execute(sql["changed_providers"]).fetchall():
            for kind, slug, count in conn.execute(sql["apply_changed"], {**full, "provider_id": provider_id}):
                (result.inserted if kind == "added" else result.updated)[slug] = count
        faults.point("refresh:after_update")
        result.inserted.update(build_partitions(conn, sql, fresh, run_id))
        params = {"slugs": changed, "run_id": run_id}
        conn.execute(sql["mark_published"], params)
        conn.execute(sql["rebase"], params)
        conn.execute(sql["mark_synced"], {"slugs": slugs, "run_id": run_id, "failed_outcomes": list(FAILED_OUTCOMES)})
        result.rows_per_provider = dict(conn.execute(sql["rows_per_provider"]).fetchall())
        # (providers, models) as it leaves them and as it found them, from what it counted: rows_per_provider
        # lists every provider, and its models in this snapshot are those found, plus added, less removed.
        result.after = (len(result.rows_per_provider), result.total_rows)
        result.before = (providers_before, result.total_rows - sum(result.inserted.values()) + sum(result.deleted.values()))
        faults.point("refresh:before_commit")
    return result


def _apply(conn: psycopg.Connection, sql: dict[str, str], statement: str, full: dict, delta: list[str]) -> dict[str, int]:
    """Rows per provider that `statement` changed: its whole-catalog form for the `full` providers, its
    `delta_` form for the providers on the delta path (disjoint sets, so the counts simply add up)."""
    counts = dict(whole_catalogs(conn, sql, statement, full)) if full["slugs"] else {}
    if delta:
        counts.update(conn.execute(sql[f"delta_{statement}"], {"run_id": full["run_id"]}).fetchall())
    return counts


def whole_catalogs(conn: psycopg.Connection, sql: dict[str, str], statement: str, params: dict) -> list[tuple]:
    """Run `statement`, which reads whole catalogs, planned with hash joins only (see `hash_joins_only` in
    sql/refresh_models.sql); its rows, if it returns any."""
    conn.execute(sql["hash_joins_only"])
    cursor = conn.execute(sql[statement], params)
    rows = cursor.fetchall() if cursor.description else []
    conn.execute(sql["any_joins"])
    return rows


def split_fresh(conn: psycopg.Connection, sql: dict[str, str], slugs: Sequence[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """(the (provider id, slug) of each provider in `slugs` with no partition yet, for build_partitions; the
    other slugs, whose whole catalogs are joined with their rows)."""
    fresh = conn.execute(sql["fresh_providers"], {"slugs": list(slugs)}).fetchall()
    built = {slug for _, slug in fresh}
    return fresh, [slug for slug in slugs if slug not in built]


# The 'added' rows of a refresh's first loads become a partition of model_history of their own from this
# many on (migration 0010); fewer are moved into model_history_changes, so that small first loads (a new
# provider with a few models) do not add a partition each, which every query of a model's history visits.
HISTORY_BATCH_MIN_ROWS = 10_000

# What each part of a first load costs, in seconds per 100,000 staged rows with both connections at work
# (1M models in 10 catalogs, PostgreSQL 15, this machine, 2026-11-28; solved from the two connections'
# finishing times in runs with 1, 2 and 3 partitions built beside): BesideBuilder's work is split between the
# two by these, so that both finish at about the same time. The refresh's own connection fills a partition and
# attaches it (its two btrees built then, the foreign key checked); the second connection writes the 'added'
# history row of every first load and indexes the batch, and fills and indexes the partitions handed to it,
# which the refresh then only attaches (the foreign key checked). Only their ratios matter.
COST_FILL_AND_ATTACH = 0.40
COST_HISTORY_BESIDE = 0.27
COST_FILL_BESIDE = 0.33
COST_ATTACH_BUILT = 0.07


def split_loads(loads: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """(the loads the refresh's connection builds, those the second connection builds), the larger catalogs
    placed first, each on the side that would finish it sooner (the COST_ figures), the history batch of
    every load being the second connection's from the start. Each list keeps the order of `loads`."""
    own_cost = 0.0
    beside_cost = COST_HISTORY_BESIDE * sum(load["rows"] for load in loads)
    beside: set[int] = set()
    for index in sorted(range(len(loads)), key=lambda i: -loads[i]["rows"]):
        rows = loads[index]["rows"]
        if beside_cost + COST_FILL_BESIDE * rows < own_cost + COST_FILL_AND_ATTACH * rows:
            beside.add(index)
            beside_cost += COST_FILL_BESIDE * rows
            own_cost += COST_ATTACH_BUILT * rows
        else:
            own_cost += COST_FILL_AND_ATTACH * rows
    return ([load for i, load in enumerate(loads) if i not in beside],
            [load for i, load in enumerate(loads) if i in beside])


def build_partitions(conn: psycopg.Connection, sql: dict[str, str], fresh: Sequence[tuple[int, str]], run_id: str) -> dict[str, int]:
    """Load each (provider id, slug) in `fresh`, a provider with no rows and no partition yet, into a new
    unindexed table, then attach it as the provider's partition (indexes built once, foreign key checked in
    one pass; readers are not blocked). Their 'added' history rows become one new partition of model_history
    for the whole write (migration 0010). When the write runs in one snapshot (a refresh; migration 0011) and
    that batch has HISTORY_BATCH_MIN_ROWS or more, a second connection builds it at the same time, and some of
    the partitions too (split_loads), which this one then attaches; else this one builds everything, the
    history rows after each fill, and fewer than HISTORY_BATCH_MIN_ROWS are moved into model_history_changes.
    Rows per provider."""
    if not fresh:
        return {}
    conn.execute(sql["tune_build"])
    loads = [{"provider_id": provider_id, "slug": slug, "run_id": run_id, "table": "models_building",
              "rows": conn.execute(sql["staged_row_count"], {"slug": slug}).fetchone()[0]}
             for provider_id, slug in fresh]
    total = sum(load["rows"] for load in loads)
    isolation, started_at = conn.execute(sql["isolation"]).fetchone()
    beside = None
    own = loads
    if total >= HISTORY_BATCH_MIN_ROWS and isolation in ("repeatable read", "serializable"):
        first_id, first_history_id = conn.execute(sql["reserve_ids"], {"count": total}).fetchone()
        for load in loads:
            load["first_id"], first_id = first_id, first_id + load["rows"]
            load["first_history_id"], first_history_id = first_history_id, first_history_id + load["rows"]
            load["changed_at"] = started_at
            load["in_place"] = conn.execute(sql["pending_count"], load).fetchone()[0] == 0
        own, theirs = split_loads(loads)
        beside = BesideBuilder(conn, sql, loads, theirs)
        conn.execute(sql["tune_beside"])
    else:
        batch = conn.execute(sql["create_history_building"]).fetchone()[0]
    counts = {}
    try:
        for load in own:
            slug = load["slug"]
            conn.execute(sql["create_building"], load)
            if beside is None:
                counts[slug] = conn.execute(sql["fill_building"], load).rowcount
                conn.execute(sql["log_building"], load)
            else:
                counts[slug] = conn.execute(numbered(sql, "fill_building_numbered", load), load).rowcount
                _check_count(slug, counts[slug], load["rows"])
            faults.point("refresh:before_attach")
            conn.execute(sql["attach_building"], load)
        if beside is not None:
            counts.update(beside.attach())
        elif total >= HISTORY_BATCH_MIN_ROWS:
            conn.execute(sql["attach_history_building"], {"batch": batch})
        else:
            conn.execute(sql["merge_history_building"])
            conn.execute(sql["drop_history_building"])
    finally:
        if beside is not None:
            beside.close()
    return {load["slug"]: counts[load["slug"]] for load in loads}


def _with_table(statement: str, table: str) -> psycopg.sql.Composed:
    return psycopg.sql.SQL(statement).format(psycopg.sql.Identifier(table))


def numbered(sql: dict[str, str], statement: str, load: dict) -> psycopg.sql.Composed:
    """`statement` (fill_building_numbered, history_batch_fill) for `load`: read in place and numbered in the
    order its rows sit when its catalog has no pending changes (numbered_in_place), else through staged_catalogs
    in model id order (numbered_by_id); into the load's table, where the statement names one."""
    in_place = load["in_place"]
    return psycopg.sql.SQL(sql[statement]).format(
        numbering=psycopg.sql.SQL(sql["numbered_in_place" if in_place else "numbered_by_id"]),
        source=psycopg.sql.Identifier("provider_catalogs" if in_place else "staged_catalogs"),
        table=psycopg.sql.Identifier(load["table"]))


def _check_count(slug: str, filled: int, rows: int) -> None:
    """A numbered fill (fill_building_numbered) of `filled` rows from a catalog whose version says `rows`: a
    difference would run its numbers into the next provider's reserved ids."""
    if filled != rows:
        raise RuntimeError(f"the staged catalog of {slug} has {filled} rows but its version says "
                           f"{rows}: staging is inconsistent; nothing was published")


# The second connection's application_name: a modelsync connection (locks.Session.is_modelsync).
BESIDE_APPLICATION = "modelsync beside"


def loading_table(provider_id: int) -> str:
    """The table the second connection builds a provider's partition in (create_building)."""
    return f"models_loading_{provider_id}"


class BesideBuilder:
    """A second connection working for a refresh's first loads (migration 0011) while the refresh's own
    connection fills and attaches partitions of models: it builds the 'added' history rows of every first
    load, and the partitions of the loads handed to it (split_loads), each into a table of its own, indexed.
    Both connections read staging through the refresh's snapshot and number each provider's rows alike, from
    the ids the refresh reserved.

    The second connection fills and indexes its tables, then waits; `attach` lets it commit and attaches them
    in the refresh's transaction. `close` (always called) stops it if the refresh failed first: it rolls back,
    and tables committed by a refresh that died before its COMMIT are dropped by the next write that builds
    partitions (drop_loading_tables)."""

    def __init__(self, conn: psycopg.Connection, sql: dict[str, str], loads: list[dict], partitions: list[dict]):
        self._owner, self._sql = conn, sql
        self._snapshot = conn.execute(sql["export_snapshot"]).fetchone()[0]
        self._conninfo = psycopg.conninfo.make_conninfo(conn.info.dsn, password=conn.info.password)
        self._loads = loads
        self._partitions = [{**load, "table": loading_table(load["provider_id"])} for load in partitions]
        self._counts: dict[str, int] = {}
        self._conn: psycopg.Connection | None = None
        self._built = threading.Event()
        self._commit = threading.Event()
        self._stop = False
        self._batch: int | None = None
        self._error: BaseException | None = None
        self._watch = locks.current()  # the write's lock watch, if any: it watches this connection too
        self._thread = threading.Thread(target=self._run, name="modelsync-beside", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sql = self._sql
        try:
            with psycopg.connect(self._conninfo, autocommit=True, application_name=BESIDE_APPLICATION) as conn, \
                    (self._watch.also(conn) if self._watch is not None else contextlib.nullcontext()):
                self._conn = conn
                with conn.transaction():
                    conn.execute(psycopg.sql.SQL(sql["history_batch_snapshot"]).format(psycopg.sql.Literal(self._snapshot)))
                    conn.execute(sql["history_batch_tune"])
                    for load in self._partitions:
                        self._build_partition(conn, load)
                    batch = conn.execute(sql["history_batch_create"]).fetchone()[0]
                    for load in self._loads:
                        conn.execute(numbered(sql, "history_batch_fill", load), load)
                    conn.execute(sql["history_batch_index"])
                    faults.point("refresh:history_batch_built")
                    self._batch = batch
                    self._built.set()
                    self._commit.wait()
                    if self._stop:
                        raise _Stopped()
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the refresh's thread by attach()
            self._error = exc
        finally:
            self._conn = None
            self._built.set()

    def _build_partition(self, conn: psycopg.Connection, load: dict) -> None:
        sql = self._sql
        conn.execute(sql["create_building"], load)
        filled = conn.execute(numbered(sql, "fill_building_numbered", load), load).rowcount
        _check_count(load["slug"], filled, load["rows"])
        # Its keys get the names attach gives a partition's, from the name attach gives the table.
        partition = conn.execute(sql["partition_name"], load).fetchone()[0]
        conn.execute(psycopg.sql.SQL(sql["index_loading"]).format(
            table=psycopg.sql.Identifier(load["table"]), pkey=psycopg.sql.Identifier(f"{partition}_pkey"),
            ukey=psycopg.sql.Identifier(f"{partition}_provider_id_model_id_key")))
        self._counts[load["slug"]] = filled

    def attach(self) -> dict[str, int]:
        """Wait for the second connection's tables, let it commit them, and attach them in the refresh's
        transaction; rows per provider of the partitions it built."""
        self._built.wait()
        if self._error is None:
            self._commit.set()
            self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"building the first loads' history rows and partitions beside the refresh failed: "
                               f"{self._error}") from self._error
        for load in self._partitions:
            faults.point("refresh:before_attach")
            self._owner.execute(self._sql["attach_building"], load)
        faults.point("refresh:before_attach_history")
        self._owner.execute(self._sql["attach_history_loading"], {"batch": self._batch})
        return dict(self._counts)

    def close(self) -> None:
        if self._thread.is_alive():
            self._stop = True
            conn = self._conn
            if conn is not None and not self._built.is_set():
                conn.cancel_safe()
            self._commit.set()
            self._thread.join()


class _Stopped(Exception):
    pass


def drop_loading_tables(conn: psycopg.Connection, sql: dict[str, str]) -> None:
    """Drop the tables a BesideBuilder committed for a write that died before its own COMMIT: a history batch
    and partitions never attached, which no reader ever saw; the next ones are built under their names. Run
    outside the write's transaction, under its session lock, by every write that may build partitions."""
    conn.execute(sql["drop_history_loading"])
    for (table,) in conn.execute(sql["models_loading_tables"]).fetchall():
        conn.execute(_with_table(sql["drop_table"], table))


def drop_orphan_partitions(conn: psycopg.Connection, sql: dict[str, str]) -> list[str]:
    """Drop the partitions of deleted providers, in a short transaction of its own (DROP locks readers out
    while it waits and runs); if readers hold models longer than the lock timeout, leave them for next time.
    What a refresh that died after its second connection committed left goes first (drop_loading_tables)."""
    drop_loading_tables(conn, sql)
    try:
        with conn.transaction():
            conn.execute(sql["orphans_lock_timeout"])
            return [r[0] for r in conn.execute(sql["drop_orphans"])]
    except psycopg.errors.LockNotAvailable:
        return []
