"""The atomic refresh of `providers` and `models` from the staged catalogs (`sql/refresh_models.sql`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import psycopg
import psycopg.sql

from .. import faults
from ..providers.registry import ProviderSpec
from .stage_catalog import staged_providers
from .statements import statements

@dataclass
class RefreshResult:
    run_id: str
    providers: list[str]
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    rows_per_provider: dict[str, int] = field(default_factory=dict)
    delta_providers: list[str] = field(default_factory=list)  # applied from their staged changes only

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
    conn.execute(sql["session_lock"])
    try:
        drop_orphan_partitions(conn, sql)
        return _refresh_locked(conn, sql, specs, run_id)
    finally:
        if not conn.closed:
            conn.execute(sql["session_unlock"])


def _refresh_locked(conn: psycopg.Connection, sql: dict[str, str], specs: Sequence[ProviderSpec], run_id: str) -> RefreshResult:
    by_slug = {spec.slug: spec for spec in specs}
    with conn.transaction():
        conn.execute(sql["snapshot"])
        conn.execute(sql["tune"])
        slugs = [slug for slug in staged_providers(conn) if slug in by_slug]
        result = RefreshResult(run_id=run_id, providers=slugs)
        for slug in slugs:
            spec = by_slug[slug]
            conn.execute(sql["upsert_provider"], {"name": spec.display_name, "slug": slug, "base_url": spec.resolved_base_url()})
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
        if delta:
            conn.execute(sql["tune_delta"])
            conn.execute(sql["delta_rows"], {"slugs": delta})
        faults.point("refresh:before_delete")
        result.deleted = _apply(conn, sql, "delete_removed", full, delta)
        faults.point("refresh:after_delete")
        conn.execute(sql["changed_rows"])
        if full["slugs"]:
            whole_catalogs(conn, sql, "collect_changed", full)
        if delta:
            conn.execute(sql["delta_collect_changed"])
        conn.execute(sql["analyze_changed"])
        for (provider_id,) in conn.execute(sql["changed_providers"]).fetchall():
            result.updated.update(conn.execute(sql["update_changed"], {**full, "provider_id": provider_id}).fetchall())
        faults.point("refresh:after_update")
        result.inserted = _apply(conn, sql, "insert_new", full, delta)
        result.inserted.update(build_partitions(conn, sql, fresh, run_id))
        faults.point("refresh:after_insert")
        params = {"slugs": changed, "run_id": run_id}
        conn.execute(sql["mark_published"], params)
        conn.execute(sql["rebase"], params)
        conn.execute(sql["mark_synced"], {"slugs": slugs, "run_id": run_id})
        result.rows_per_provider = dict(conn.execute(sql["rows_per_provider"]).fetchall())
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


def build_partitions(conn: psycopg.Connection, sql: dict[str, str], fresh: Sequence[tuple[int, str]], run_id: str) -> dict[str, int]:
    """Load each (provider id, slug) in `fresh`, a provider with no rows and no partition yet, into a new
    unindexed table, then attach it as the provider's partition (indexes built once, foreign key checked in
    one pass; readers are not blocked). Their 'added' history rows are built the same way, into one new
    partition of model_history for the whole refresh (migration 0010), or moved into model_history_changes
    when there are fewer than HISTORY_BATCH_MIN_ROWS. Rows per provider."""
    if not fresh:
        return {}
    conn.execute(sql["tune_build"])
    conn.execute(sql["summarize_staging"])
    batch = conn.execute(sql["create_history_building"]).fetchone()[0]
    counts = {}
    for provider_id, slug in fresh:
        conn.execute(psycopg.sql.SQL(sql["create_building"]).format(psycopg.sql.Literal(provider_id)))
        params = {"provider_id": provider_id, "slug": slug, "run_id": run_id}
        conn.execute(sql["bitmap_scans_only"])
        counts[slug] = conn.execute(sql["fill_building"], params).rowcount
        conn.execute(sql["any_scans"])
        conn.execute(sql["log_building"], params)
        faults.point("refresh:before_attach")
        partition = conn.execute(sql["attach_building"], params).fetchone()[1]
        conn.execute(psycopg.sql.SQL(sql["drop_building_check"]).format(psycopg.sql.Identifier(partition)))
    if sum(counts.values()) >= HISTORY_BATCH_MIN_ROWS:
        conn.execute(sql["attach_history_building"], {"batch": batch})
    else:
        conn.execute(sql["merge_history_building"])
        conn.execute(sql["drop_history_building"])
    return counts


def drop_orphan_partitions(conn: psycopg.Connection, sql: dict[str, str]) -> list[str]:
    """Drop the partitions of deleted providers, in a short transaction of its own (DROP locks readers out
    while it waits and runs); if readers hold models longer than the lock timeout, leave them for next time."""
    try:
        with conn.transaction():
            conn.execute(sql["orphans_lock_timeout"])
            return [r[0] for r in conn.execute(sql["drop_orphans"])]
    except psycopg.errors.LockNotAvailable:
        return []
