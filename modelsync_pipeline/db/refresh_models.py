"""The atomic refresh of `providers` and `models` from the staged catalogs (`sql/refresh_models.sql`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import psycopg

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
        # Only providers whose staged catalog changed since their rows were last refreshed are joined.
        changed = [r[0] for r in conn.execute(sql["unpublished"], {"slugs": slugs})]
        params = {"slugs": changed, "run_id": run_id}
        faults.point("refresh:before_delete")
        result.deleted = dict(conn.execute(sql["delete_removed"], params).fetchall())
        faults.point("refresh:after_delete")
        result.updated = dict(conn.execute(sql["update_changed"], params).fetchall())
        faults.point("refresh:after_update")
        result.inserted = dict(conn.execute(sql["insert_new"], params).fetchall())
        faults.point("refresh:after_insert")
        conn.execute(sql["mark_published"], params)
        conn.execute(sql["mark_synced"], {"slugs": slugs, "run_id": run_id})
        result.rows_per_provider = dict(conn.execute(sql["rows_per_provider"]).fetchall())
        faults.point("refresh:before_commit")
    return result

