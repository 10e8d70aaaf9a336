"""Backups, the destructive writes (flush, reset, restore), approvals, audit, plans and status (`sql/admin.sql`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import psycopg
from psycopg.types.json import Jsonb

from .. import faults
from ..providers.registry import ProviderSpec
from .locks import read_committed, wait_behind_writes
from .refresh_models import RefreshResult, build_partitions, drop_loading_tables, split_fresh, whole_catalogs
from .stage_catalog import FAILED_OUTCOMES, staged_providers
from .statements import abandon_if_busy, statements

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


def counts_unless_locked(conn: psycopg.Connection) -> tuple[int, int] | None:
    """counts, or None when they cannot be read within a second (a lock held on the tables, a statement
    timeout): for the audit row of a write that failed, which must not wait behind what failed it."""
    try:
        with conn.transaction():
            conn.execute(statements("admin")["counts_lock_timeout"])
            return counts(conn)
    except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
        return None


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
        read_committed(conn)
        wait_behind_writes(conn, statements("refresh_models")["lock"])
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

    Like the refresh, it reads staging through ONE snapshot (REPEATABLE READ, taken after the models lock):
    a catalog staged while the reset runs is either wholly loaded and marked published, or wholly left for
    the next refresh. Read committed, the rows came from one moment and the published checksums from a later
    one, so a provider staged in between was marked published with its old rows, and no refresh applied it.
    """
    refresh = statements("refresh_models")
    wait_behind_writes(conn, refresh["session_lock"])
    try:
        drop_loading_tables(conn, refresh)  # left by a refresh that died: its batch would block this one's
        return _reset_locked(conn, specs, run_id, keep)
    finally:  # stopped inside a statement, the session is ended instead, its lock with it
        if not conn.closed and not abandon_if_busy(conn):
            conn.execute(refresh["session_unlock"])


def _reset_locked(conn: psycopg.Connection, specs: Sequence[ProviderSpec], run_id: str,
                  keep: int) -> tuple[AdminResult, RefreshResult]:
    sql = statements("admin")
    refresh = statements("refresh_models")
    by_slug = {spec.slug: spec for spec in specs}
    with conn.transaction():
        conn.execute(refresh["snapshot"])
        wait_behind_writes(conn, refresh["lock"])
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
            conn.execute(refresh["upsert_provider"], {"name": spec.display_name, "slug": slug, "base_url": spec.public_base_url()})
        faults.point("reset:after_providers")
        conn.execute(refresh["tune"])
        conn.execute(refresh["analyze_providers"])
        params = {"slugs": slugs, "run_id": run_id}
        result = RefreshResult(run_id=run_id, providers=slugs)
        # The providers were deleted and inserted again with new ids: each one's catalog is built into a new
        # partition (one that still exists, e.g. after the providers' sequence was set back, is filled).
        fresh, others = split_fresh(conn, refresh, slugs)
        result.inserted = dict(whole_catalogs(conn, refresh, "insert_new", {"slugs": others, "run_id": run_id})) if others else {}
        result.inserted.update(build_partitions(conn, refresh, fresh, run_id))
        faults.point("reset:after_insert")
        conn.execute(refresh["mark_published"], params)
        conn.execute(refresh["rebase"], params)
        conn.execute(refresh["mark_synced"], {**params, "failed_outcomes": list(FAILED_OUTCOMES)})
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
        read_committed(conn)
        wait_behind_writes(conn, statements("refresh_models")["lock"])
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
        conn.execute(sql["ensure_partitions"])  # the partitions of providers gone since the backup
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
    # backup_checksum: the tables as backups hash them (catalog_tables_checksum), not the table checksum the cache's
    # manifest carries; under "checksum" it overwrote models_table's, and the two never matched after a restore.
    return AdminResult("restore_backup", backup, before, after,
                       {"restored_backup_id": backup_id, "backup_checksum": restored_checksum})


def use_approval(conn: psycopg.Connection, fingerprint: str, job: str, run_id: str) -> bool:
    """Record an approval code as used; False when it already was (a replay)."""
    row = conn.execute(statements("admin")["use_approval"],
                       {"fingerprint": fingerprint, "job": job, "run_id": run_id}).fetchone()
    return row is not None


def approval_used(conn: psycopg.Connection, fingerprint: str) -> bool:
    """Whether the code of this fingerprint was used already (nothing is recorded)."""
    return bool(conn.execute(statements("admin")["approval_used"], {"fingerprint": fingerprint}).fetchone()[0])


def release_approval(conn: psycopg.Connection, fingerprint: str, run_id: str) -> None:
    """Make a code this run used usable again: its write rolled back."""
    conn.execute(statements("admin")["release_approval"], {"fingerprint": fingerprint, "run_id": run_id})


def audit(conn: psycopg.Connection, *, run_id: str | None, launched_by: str, action: str, outcome: str,
          dry_run: bool = False, before: tuple[int, int] | None = None, after: tuple[int, int] | None = None,
          backup_id: int | None = None, details: dict | None = None, error: str | None = None,
          audit_id: int | None = None) -> int:
    """Write one audit_log row in its own transaction (so a rolled-back job is still audited); with `audit_id`, the
    outcome of the write `audit_started` recorded, over its row."""
    values = {
        "run_id": run_id, "launched_by": launched_by, "action": action, "dry_run": dry_run,
        "outcome": outcome,
        "providers_before": before[0] if before else None, "models_before": before[1] if before else None,
        "providers_after": after[0] if after else None, "models_after": after[1] if after else None,
        "backup_id": backup_id, "details": Jsonb(details or {}), "error": error, "audit_id": audit_id,
    }
    with conn.transaction():
        if audit_id is not None:
            row = conn.execute(statements("admin")["audit_outcome"], values).fetchone()
            if row is not None:
                return row[0]
            # deleted meanwhile (an operator pruning the log): written whole, as without a started row
        return conn.execute(statements("admin")["audit"], values).fetchone()[0]


def audit_started(conn: psycopg.Connection, *, run_id: str | None, launched_by: str, action: str,
                  before: tuple[int, int] | None = None) -> tuple[int, list[tuple[int, str, str | None, str]]]:
    """The audit row of a write about to begin (outcome 'started'), committed now: a write whose process is killed
    leaves it, and the write's own transaction marks it if it changes the catalog (audit_writing; migration 0021).
    Its outcome is written over it by `audit(..., audit_id=...)`. In the same transaction (one commit more per
    write, not two), the started writes whose session is gone get an outcome (audit_sweep): returned as (id,
    action, run id, what their row now says), beside the new row's id."""
    with conn.transaction():
        swept = conn.execute(statements("admin")["audit_sweep"]).fetchall()
        started = conn.execute(statements("admin")["audit_started"], {
            "run_id": run_id, "launched_by": launched_by, "action": action,
            "providers_before": before[0] if before else None, "models_before": before[1] if before else None,
        }).fetchone()[0]
        conn.execute(statements("admin")["audit_writing"], {"audit_id": started})
    return started, swept


ROLLED_BACK = "its transaction was rolled back, nothing was changed"


def stopped_outcome(conn: psycopg.Connection, audit_id: int | None, wait: float = 5.0) -> tuple[str, str] | None:
    """(outcome, what to say) for a write stopped by an interrupt after its started row `audit_id` was written. The
    interrupt can land in the COMMIT: psycopg waits for its result after a KeyboardInterrupt, and a statement
    abandoned (db.abandon_if_busy) may still complete on the server. So once the writer's session is gone (waited
    for up to `wait` s), its row's mark (catalog_changed, set in the write's transaction) says whether it committed.
    None while the session still runs after that: the row stays 'started', for the next write's sweep to settle."""
    if audit_id is None:  # stopped before its started row: its write had not begun
        return "failed", ROLLED_BACK
    deadline = time.monotonic() + wait
    while True:
        row = conn.execute(statements("admin")["audit_stopped"], {"audit_id": audit_id}).fetchone()
        if row is None:  # deleted meanwhile (an operator pruning the log)
            return "failed", "whether it committed is not known: its started audit row was gone"
        running, changed = row
        if not running:
            break
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
    if changed:
        return "succeeded", ("its COMMIT went through all the same: its change to the catalog stands (its counts "
                             "after were not read)")
    return "failed", ROLLED_BACK


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
    sample_cols = ("kind", "provider", "model_id", "old_name", "new_name")
    with conn.transaction():
        conn.execute(statements("stage_catalog")["whole_catalog_plans"])  # whole staged catalogs (migration 0013)
        per_provider = [dict(zip(cols, row)) for row in conn.execute(sql["plan"], params)]
        samples = [dict(zip(sample_cols, row)) for row in conn.execute(sql["plan_samples"], params)]
    return Plan(per_provider, samples)


def catalog_status(conn: psycopg.Connection) -> dict:
    """The status report (computed in SQL, no row caps)."""
    sql = statements("admin")
    cols = ("provider", "name", "is_active", "models", "last_synced_at", "last_sync_run_id", "last_good_catalog",
            "last_good_rows", "source", "last_good_fetched_at", "last_attempt", "last_good_attempt", "holds_staged")
    providers = [dict(zip(cols, row)) for row in conn.execute(sql["status_providers"])]
    totals = dict(zip(("providers", "with_models", "without_models", "models", "active_models"),
                      conn.execute(sql["status_totals"]).fetchone()))
    modalities = dict(conn.execute(sql["status_modalities"]).fetchall())
    started = [dict(zip(("audit_id", "action", "run_id", "began", "running", "committed"), row))
               for row in conn.execute(sql["status_started"])]
    return {"totals": totals, "providers": providers, "modalities": modalities, "writes_without_outcome": started}


def unregistered_providers(conn: psycopg.Connection, registry: Sequence[str]) -> dict[str, int]:
    """{slug: models} of the providers in the table that `registry` (the registry's slugs) no longer lists."""
    return dict(conn.execute(statements("admin")["unregistered_providers"], {"registry": list(registry)}).fetchall())


def sync_providers(conn: psycopg.Connection, specs: Sequence[ProviderSpec]) -> AdminResult:
    """Upsert every registry provider into `providers`, in one transaction; models are not touched."""
    refresh = statements("refresh_models")
    with conn.transaction():
        read_committed(conn)
        wait_behind_writes(conn, refresh["lock"])
        before = counts(conn)
        for spec in specs:
            conn.execute(refresh["upsert_provider"],
                         {"name": spec.display_name, "slug": spec.slug, "base_url": spec.public_base_url()})
        after = counts(conn)
    return AdminResult("sync_providers", None, before, after, {"providers_added": after[0] - before[0]})
