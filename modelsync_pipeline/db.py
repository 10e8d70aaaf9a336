"""PostgreSQL side of modelsync: migrations, staging a provider catalog, refreshing `models`.

Every write that must be all-or-nothing is one transaction here. SQL lives in `sql/` as reviewed files;
this module only loads statements by name and binds parameters.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import psycopg
from psycopg.types.json import Jsonb

from . import faults
from .providers.registry import ProviderSpec

if TYPE_CHECKING:  # pandas is imported by the steps that stage, not by every load of the code location
    import pandas as pd

# sql/ is a top-level folder of reviewed files; a wheel carries it as modelsync_pipeline/sql (pyproject.toml),
# an editable install (`make run` / `make test`) reads it where it is.
_PACKAGED_SQL = Path(__file__).resolve().parent / "sql"
SQL_DIR = _PACKAGED_SQL if _PACKAGED_SQL.is_dir() else Path(__file__).resolve().parent.parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
_NAME = re.compile(r"^-- name: (\w+)\s*$", re.M)
_MIGRATION_LOCK = 0x6D6F64656C73  # "models" as a number: one advisory lock key for migrations


@cache
def statements(file: str) -> dict[str, str]:
    """Named statements of `sql/<file>.sql`, split on `-- name: <name>` lines."""
    text = (SQL_DIR / f"{file}.sql").read_text()
    parts = _NAME.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def connect(database_url: str, **kwargs) -> psycopg.Connection:
    """A connection in autocommit mode: every all-or-nothing write here is an explicit
    `conn.transaction()` block (a real BEGIN/COMMIT), and nothing else is left open by accident,
    so an audit row written after a failure is committed on its own."""
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(database_url, application_name="modelsync", **kwargs)


# -- migrations -----------------------------------------------------------------------------------

def apply_migrations(database_url: str) -> list[str]:
    """Apply `sql/migrations/*.sql` not yet recorded, in file order, each in its own transaction.

    Idempotent and safe to run from several processes at once (an advisory lock serialises them).
    A recorded migration whose file has since changed is an error: migrations are append-only.
    """
    applied_now = []
    sql = statements("migrate")
    with connect(database_url, autocommit=True) as conn:
        conn.execute(sql["lock"], {"key": _MIGRATION_LOCK})
        try:
            conn.execute(sql["create_schema_migrations"])
            done = dict(conn.execute(sql["applied"]).fetchall())
            for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
                migration = path.read_text()
                checksum = hashlib.sha256(migration.encode()).hexdigest()
                if path.stem in done:
                    if done[path.stem] != checksum:
                        raise RuntimeError(
                            f"migration {path.name} changed after it was applied; add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration)
                    conn.execute(sql["record"], {"version": path.stem, "checksum": checksum})
                applied_now.append(path.stem)
        finally:
            conn.execute(sql["unlock"], {"key": _MIGRATION_LOCK})
    return applied_now


# -- staging one provider's catalog ---------------------------------------------------------------

def catalog_checksum(frame: pd.DataFrame) -> str:
    """md5 over the catalog's (model_id, content_hash) pairs in id order: equal iff the catalogs are equal."""
    ordered = frame.sort_values("model_id", kind="stable")
    lines = (ordered["model_id"] + "\t" + ordered["content_hash"]).str.cat(sep="\n")
    return hashlib.md5(lines.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class StageResult:
    slug: str
    row_count: int
    changed: bool
    previous_row_count: int | None


def _nullable(values, cast) -> list:
    import pandas as pd

    return [None if pd.isna(v) else cast(v) for v in values]


def copy_rows(frame: pd.DataFrame, run_id: str) -> Iterable[tuple]:
    """The frame as COPY tuples in `provider_catalogs` column order (column-wise: ~4x faster than itertuples)."""
    n = len(frame)
    return zip(
        frame["provider_slug"].tolist(),
        frame["model_id"].tolist(),
        frame["model_name"].tolist(),
        _nullable(frame["context_length"], int),
        _nullable(frame["input_price_per_mtok"], float),
        _nullable(frame["output_price_per_mtok"], float),
        frame["modality"].tolist(),
        [bool(v) for v in frame["is_free"]],
        frame["quantization"].tolist(),
        frame["release_stage"].tolist(),
        # jsonb as JSON text: the server parses it; no per-row adapter object
        [json.dumps(v, ensure_ascii=False, allow_nan=False, default=str) for v in frame["metadata"]],
        frame["raw_name"].tolist(),
        frame["name_rule"].tolist(),
        [list(v) for v in frame["name_steps"]],
        [run_id] * n,
        frame["content_hash"].tolist(),
    )


def stage_provider_catalog(conn: psycopg.Connection, spec: ProviderSpec, frame: pd.DataFrame, run_id: str) -> StageResult:
    """Make `frame` (already validated) the provider's latest good catalog, in one transaction.

    A catalog identical to the staged one is not touched. Otherwise only the rows that differ are
    written: rows gone from the catalog or changed are deleted, changed and new rows copied in, so
    unchanged rows keep the run that wrote them and a 1%-changed catalog writes about 1% of its rows.
    """
    sql = statements("stage_catalog")
    checksum = catalog_checksum(frame)
    params = {"slug": spec.slug, "run_id": run_id, "row_count": len(frame), "checksum": checksum}
    with conn.transaction():
        conn.execute(sql["lock"], params)
        current = conn.execute(sql["current_checksum"], params).fetchone()
        previous_rows = current[1] if current else None
        changed = current is None or current[0] != checksum
        if changed:
            staged = dict(conn.execute(sql["staged_hashes"], params).fetchall())
            if staged:
                incoming = dict(zip(frame["model_id"], frame["content_hash"]))
                stale = [mid for mid, digest in staged.items() if incoming.get(mid) != digest]
                conn.execute(sql["delete_ids"], {**params, "model_ids": stale})
                frame = frame[[staged.get(mid) != digest for mid, digest in incoming.items()]]
            faults.point("stage:after_clear")
            with conn.cursor().copy(sql["copy"]) as copy:
                for values in copy_rows(frame, run_id):
                    copy.write_row(values)
            faults.point("stage:after_copy")
            conn.execute(sql["record_version"], params)
        conn.execute(
            sql["record_attempt"],
            {**params, "outcome": "staged" if changed else "unchanged", "step": "stage", "error": None},
        )
    return StageResult(spec.slug, params["row_count"], changed, previous_rows)


def last_good_row_count(conn: psycopg.Connection, slug: str) -> int | None:
    row = conn.execute(statements("stage_catalog")["last_good_row_count"], {"slug": slug}).fetchone()
    return row[0] if row else None


def last_good_facts(conn: psycopg.Connection, slug: str) -> dict[str, tuple]:
    """model_id -> (context_length, input price, output price) of the provider's last good catalog."""
    rows = conn.execute(statements("stage_catalog")["last_good_facts"], {"slug": slug}).fetchall()
    return {model_id: (context, input_price, output_price) for model_id, context, input_price, output_price in rows}


def record_failed_attempt(conn: psycopg.Connection, slug: str, run_id: str, outcome: str, step: str, error: str) -> None:
    with conn.transaction():
        conn.execute(
            statements("stage_catalog")["record_attempt"],
            {"slug": slug, "run_id": run_id, "outcome": outcome, "row_count": None, "step": step, "error": error[:4000]},
        )


# -- the models refresh ---------------------------------------------------------------------------

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


def staged_providers(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(statements("stage_catalog")["staged_providers"])]


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


def table_checksum(conn: psycopg.Connection) -> tuple[int, str]:
    """Row count and a checksum of what readers see (ids and content, in id order).

    The cache manifest records the same pair, so table and cache are compared with one definition.
    """
    row = conn.execute(statements("catalog_read")["table_checksum"]).fetchone()
    return int(row[0]), row[1]


# -- backups, destructive jobs, audit --------------------------------------------------------------

DEFAULT_BACKUP_RETENTION = 10


@dataclass(frozen=True)
class Backup:
    id: int
    provider_count: int
    model_count: int
    checksum: str


def counts(conn: psycopg.Connection) -> tuple[int, int]:
    """(providers, models) row counts."""
    providers, models = conn.execute(statements("admin")["counts"]).fetchone()
    return int(providers), int(models)


def take_backup(conn: psycopg.Connection, run_id: str, reason: str, keep: int = DEFAULT_BACKUP_RETENTION,
                protect: Sequence[int] = ()) -> Backup:
    """Copy providers and models into the backup tables (call inside the caller's transaction), then prune
    to the newest `keep`, never pruning the backups in `protect`."""
    sql = statements("admin")
    backup_id, providers, models, checksum = conn.execute(sql["create_backup"], {"run_id": run_id, "reason": reason}).fetchone()
    conn.execute(sql["backup_providers"], {"backup_id": backup_id})
    conn.execute(sql["backup_models"], {"backup_id": backup_id})
    faults.point("backup:after_copy")
    conn.execute(sql["prune_backups"], {"keep": max(keep, 1), "protect": list(protect)})
    return Backup(backup_id, providers, models, checksum)


@dataclass
class AdminResult:
    action: str
    backup: Backup | None
    before: tuple[int, int]
    after: tuple[int, int]
    details: dict = field(default_factory=dict)


def _flush(conn: psycopg.Connection, run_id: str, keep: int, action: str, deletes: tuple[str, ...]) -> AdminResult:
    """Back up, log every model as removed, then run the `deletes` statements: one transaction."""
    sql = statements("admin")
    with conn.transaction():
        conn.execute(statements("refresh_models")["lock"])
        before = counts(conn)
        backup = take_backup(conn, run_id, action, keep)
        faults.point(f"{action}:after_backup")
        conn.execute(sql["log_removed_all"], {"run_id": run_id})
        for name in deletes:
            conn.execute(sql[name])
        faults.point(f"{action}:after_delete")
        after = counts(conn)
    return AdminResult(action, backup, before, after)


def flush_models(conn: psycopg.Connection, run_id: str, keep: int = DEFAULT_BACKUP_RETENTION) -> AdminResult:
    """Delete every model after a backup. Staged catalogs stay, so the next refresh reloads them."""
    return _flush(conn, run_id, keep, "flush_models", ("delete_models", "forget_published"))


def flush_providers(conn: psycopg.Connection, run_id: str, keep: int = DEFAULT_BACKUP_RETENTION) -> AdminResult:
    """Delete every provider, cascading to its models, after a backup."""
    return _flush(conn, run_id, keep, "flush_providers", ("delete_providers",))


def reset_models_table(conn: psycopg.Connection, specs: Sequence[ProviderSpec], run_id: str,
                       keep: int = DEFAULT_BACKUP_RETENTION) -> tuple[AdminResult, RefreshResult]:
    """Flush providers and models and reload them from every staged catalog, in ONE transaction.

    Readers see the old catalog until COMMIT; any failure rolls back the flush with the reload.
    Unlike the refresh, every row gets a new id (that is what a reset is for).
    """
    sql = statements("admin")
    refresh = statements("refresh_models")
    by_slug = {spec.slug: spec for spec in specs}
    with conn.transaction():
        conn.execute(refresh["lock"])
        before = counts(conn)
        backup = take_backup(conn, run_id, "reset_and_resync", keep)
        faults.point("reset:after_backup")
        conn.execute(sql["log_removed_all"], {"run_id": run_id})
        conn.execute(sql["delete_models"])
        faults.point("reset:after_delete_models")
        conn.execute(sql["delete_providers"])
        faults.point("reset:after_delete_providers")
        slugs = [slug for slug in staged_providers(conn) if slug in by_slug]
        if not slugs:
            raise RuntimeError("reset refused: no provider has a good catalog to reload; nothing was changed")
        for slug in slugs:
            spec = by_slug[slug]
            conn.execute(refresh["upsert_provider"], {"name": spec.display_name, "slug": slug, "base_url": spec.resolved_base_url()})
        faults.point("reset:after_providers")
        conn.execute(refresh["tune"])
        conn.execute(refresh["analyze_providers"])
        params = {"slugs": slugs, "run_id": run_id}
        result = RefreshResult(run_id=run_id, providers=slugs)
        result.inserted = dict(conn.execute(refresh["insert_new"], params).fetchall())
        faults.point("reset:after_insert")
        conn.execute(refresh["mark_published"], params)
        conn.execute(refresh["mark_synced"], params)
        result.rows_per_provider = dict(conn.execute(refresh["rows_per_provider"]).fetchall())
        after = counts(conn)
        faults.point("reset:before_commit")
    return AdminResult("reset_and_resync", backup, before, after), result


def restore_backup(conn: psycopg.Connection, backup_id: int, run_id: str,
                   keep: int = DEFAULT_BACKUP_RETENTION) -> AdminResult:
    """Bring back backup `backup_id` exactly (same rows, same ids), verified by checksum, in one transaction.

    The current tables are backed up first, so a restore can itself be undone.
    """
    sql = statements("admin")
    with conn.transaction():
        conn.execute(statements("refresh_models")["lock"])
        chosen = conn.execute(sql["get_backup"], {"backup_id": backup_id}).fetchone()
        if chosen is None:
            known = [r[0] for r in conn.execute(sql["newest_backups"])]
            raise LookupError(f"backup {backup_id} does not exist; the newest backups are {known}")
        expected_checksum = chosen[6]
        before = counts(conn)
        # The pre-restore backup must not prune the one being restored, even the oldest one kept.
        backup = take_backup(conn, run_id, f"before restore of backup {backup_id}", keep, protect=[backup_id])
        faults.point("restore:after_backup")
        conn.execute(sql["log_removed_all"], {"run_id": run_id})
        conn.execute(sql["delete_models"])
        conn.execute(sql["delete_providers"])
        faults.point("restore:after_delete")
        conn.execute(sql["restore_providers"], {"backup_id": backup_id})
        conn.execute(sql["restore_models"], {"backup_id": backup_id})
        faults.point("restore:after_insert")
        conn.execute(sql["reset_sequences"])
        conn.execute(sql["log_added_all"], {"run_id": run_id})
        restored_checksum = conn.execute(sql["checksum"]).fetchone()[0]
        if restored_checksum != expected_checksum:
            raise RuntimeError(
                f"restore of backup {backup_id} does not reproduce its checksum "
                f"({restored_checksum} != {expected_checksum}); rolled back, nothing changed"
            )
        after = counts(conn)
        faults.point("restore:before_commit")
    return AdminResult("restore_backup", backup, before, after,
                       {"restored_backup_id": backup_id, "checksum": restored_checksum})


def use_approval(conn: psycopg.Connection, fingerprint: str, job: str, run_id: str) -> bool:
    """Record an approval code as used; False when it already was (a replay)."""
    row = conn.execute(statements("admin")["use_approval"],
                       {"fingerprint": fingerprint, "job": job, "run_id": run_id}).fetchone()
    return row is not None


def audit(conn: psycopg.Connection, *, run_id: str | None, launched_by: str, action: str, outcome: str,
          dry_run: bool = False, before: tuple[int, int] | None = None, after: tuple[int, int] | None = None,
          backup_id: int | None = None, details: dict | None = None, error: str | None = None) -> int:
    """Write one audit_log row in its own transaction (so a rolled-back job is still audited)."""
    with conn.transaction():
        return conn.execute(statements("admin")["audit"], {
            "run_id": run_id, "launched_by": launched_by, "action": action, "dry_run": dry_run,
            "outcome": outcome,
            "providers_before": before[0] if before else None, "models_before": before[1] if before else None,
            "providers_after": after[0] if after else None, "models_after": after[1] if after else None,
            "backup_id": backup_id, "details": Jsonb(details or {}), "error": error,
        }).fetchone()[0]


@dataclass
class Plan:
    per_provider: list[dict]
    samples: list[dict]

    def totals(self) -> dict[str, int]:
        keys = ("added", "removed", "changed", "unchanged")
        return {k: sum(row[k] for row in self.per_provider) for k in keys}


def plan_refresh(conn: psycopg.Connection, specs: Sequence[ProviderSpec], limit: int = 10) -> Plan:
    """What `refresh_models_table` would do now, read-only: counts per provider and samples."""
    sql = statements("admin")
    slugs = [s for s in staged_providers(conn) if s in {spec.slug for spec in specs}]
    params = {"slugs": slugs, "limit": limit}
    cols = ("provider", "added", "removed", "changed", "unchanged")
    per_provider = [dict(zip(cols, row)) for row in conn.execute(sql["plan"], params)]
    sample_cols = ("kind", "provider", "model_id", "old_name", "new_name")
    samples = [dict(zip(sample_cols, row)) for row in conn.execute(sql["plan_samples"], params)]
    return Plan(per_provider, samples)


def catalog_status(conn: psycopg.Connection) -> dict:
    """The status report (computed in SQL, no row caps)."""
    sql = statements("admin")
    cols = ("provider", "name", "is_active", "models", "last_synced_at", "last_sync_run_id",
            "last_good_catalog", "last_good_rows", "last_attempt", "last_good_attempt")
    providers = [dict(zip(cols, row)) for row in conn.execute(sql["status_providers"])]
    totals = dict(zip(("providers", "with_models", "without_models", "models", "active_models"),
                      conn.execute(sql["status_totals"]).fetchone()))
    modalities = dict(conn.execute(sql["status_modalities"]).fetchall())
    return {"totals": totals, "providers": providers, "modalities": modalities}
