"""The one write path to the catalog tables (`providers`, `models`).

Every change to them, whether a scheduled refresh or an operator's flush, goes through `write_catalog`,
which owns its lifecycle:

    guard   destructive modes never from a schedule or sensor; the typed confirmation; a one-time approval
            code made with the admin secret (approval.py); mode preconditions (a reset whose providers did
            not all succeed in this run, a backup that does not exist). A refusal changes nothing.
    backup  inside the write's own transaction (db.admin), so a rolled-back write leaves no half backup
    write   one transaction (db.refresh_models / db.admin)
    audit   one audit_log row whatever the outcome: refused, planned (dry run), failed or succeeded. A write
            that passed its guard has its row written first, as 'started', and given its outcome after; a
            writer killed outright (SIGKILL, out of memory) leaves it started, and the next write gives it
            an outcome once its session is gone (db.audit_started): committed or not, as the write's own
            transaction marked it
    counts  (providers, models) before and after, in the audit row and the outcome

Plain Python: no Dagster. The `models_table` asset calls it for every mode, so the asset's history shows
every change to the tables, and only `models_cache` publishes the cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import psycopg

from . import approval, db, faults
from .providers.registry import ProviderSpec

MODES = ("refresh", "reset", "flush_models", "flush_providers", "restore", "providers_only")
# The audit action of each mode: the name of the job (and admin endpoint) an operator knows it by.
ACTIONS = {"refresh": "refresh", "reset": "reset_and_resync", "flush_models": "flush_models",
           "flush_providers": "flush_providers", "restore": "restore_backup", "providers_only": "sync_providers"}
DESTRUCTIVE = frozenset({"reset", "flush_models", "flush_providers", "restore"})
PHRASES = {"flush_models": "DELETE_ALL_MODELS", "flush_providers": "DELETE_EVERYTHING", "restore": "RESTORE"}


@dataclass(frozen=True)
class WriteRequest:
    mode: str
    run_id: str
    launched_by: str
    automated: bool = False  # launched by a schedule or a sensor
    dry_run: bool = False
    confirm: str = ""
    approval: str = ""
    provider_count: int = -1  # flush_providers: must equal the current count
    backup_id: int = -1  # restore: the backup to bring back
    # reset: why a provider's catalog is not from this run ("<slug> failed at <step>: <error>", "<slug> was not
    # fetched in this run")
    failed_providers: Sequence[str] = ()
    backup_retention: int = db.DEFAULT_BACKUP_RETENTION

    @property
    def action(self) -> str:
        return ACTIONS[self.mode]


class WriteRefused(Exception):
    """The guard said no: nothing was changed (audited as refused)."""


class WriteFailed(Exception):
    """The write started and rolled back: nothing was changed (audited as failed)."""


@dataclass
class WriteOutcome:
    action: str
    before: tuple[int, int] | None  # None: not known (a refresh whose connection was lost in its COMMIT)
    after: tuple[int, int]
    audit_id: int | None  # None: a write that committed but whose audit row could not be written (details)
    dry_run: bool = False
    backup_id: int | None = None
    refresh: db.RefreshResult | None = None
    plan: db.Plan | None = None
    details: dict = field(default_factory=dict)


def write_catalog(conn: psycopg.Connection, request: WriteRequest, specs: Sequence[ProviderSpec],
                  reconnect: Callable[[], psycopg.Connection] | None = None,
                  log: Callable[[str], None] | None = None) -> WriteOutcome:
    """Guard, back up, write, audit and count one change to `providers` / `models` (see the module doc).
    `reconnect` opens a new connection to the same database: the audit row of a write whose connection was
    lost is written through it, and the lock watch (db.locks) reads through it what the write waits for,
    reporting to `log`; a wait for a holder outside modelsync ends after MODELSYNC_LOCK_WAIT_SECONDS."""
    if request.mode not in MODES:
        raise WriteRefused(f"mode must be one of {', '.join(MODES)}, not {request.mode!r}")
    with db.watch_locks(conn, reconnect, request.action, log) as watch:
        before = None
        try:
            if request.mode in DESTRUCTIVE or request.dry_run:  # their guard and plan read the counts first
                before = db.counts(conn)  # a lock or statement timeout here is a failed write too
            fingerprint = _guard(conn, request, before)
            if request.dry_run:
                return _plan(conn, request, specs, before)
        except psycopg.Error as exc:  # a statement of the guard or the plan: nothing was written, audit why
            _failed(conn, request, before, exc, reconnect, watch=watch)
        except BaseException as exc:  # stopped in the guard (its count waits for the same locks): as below
            if isinstance(exc, Exception):
                raise
            _stopped(conn, request, before, exc, reconnect)
            raise
        started = None
        try:
            started, swept = db.audit_started(conn, run_id=request.run_id, launched_by=request.launched_by,
                                              action=request.action, before=before)
            for audit_id, action, run_id, said in swept if log is not None else ():
                log(f"audit {audit_id}: an earlier {action} (run {run_id}) ended without an outcome: {said}")
            written = _WRITERS[request.mode](conn, request, specs)
            if written.refresh is not None and not written.refresh.providers:
                raise WriteFailed("no provider has a good catalog yet: nothing to publish")
        except Exception as exc:  # the write's own transaction has rolled back (or, its connection lost, may not
            # have: a lost COMMIT that went through is returned as the write that it was); record why
            return _failed(conn, request, before, exc, reconnect, fingerprint, watch, started)
        except BaseException as exc:  # stopped: the run terminated, Ctrl-C (no Exception). Audited, then it goes on
            _stopped(conn, request, before, exc, reconnect, started)
            raise
    before = written.before or before
    try:
        # Counted in the write's own transaction: a count after COMMIT could wait on whoever locked the table
        # since. Each writer counts both under its lock, so a refresh is not counted first as well: a count of
        # models reads every row, 0.05-0.12 s at 1M models here, a tenth of a 1% re-sync's refresh (bench (c)).
        after = written.after if written.after is not None else db.counts(conn)
        faults.point("write:after_commit")
        audit = dict(after=after, backup_id=written.backup_id, details=written.details, audit_id=started)
        try:
            audit_id = _audit(conn, request, "succeeded", before, **audit)
        except psycopg.Error as exc:  # the write has committed: it stands, and says so, whatever its audit row
            audit_id = _audit_committed(request, before, audit, exc, reconnect)
    except BaseException as exc:
        if isinstance(exc, Exception):
            raise
        # Stopped after the COMMIT (Ctrl-C, the run terminated): the write stands, so its audit row is written all
        # the same, through a new connection (a statement the stop cut is cancelled), and the stop goes on. A
        # stop here left the change unaudited: the next row's counts before did not follow this one's after.
        db.abandon_if_busy(conn)
        audit = dict(after=written.after, backup_id=written.backup_id, audit_id=started,
                     details={**written.details, "stopped": f"after its commit ({type(exc).__name__})"})
        _audit_committed(request, before, audit, exc, reconnect)
        raise
    return WriteOutcome(request.action, before, after, audit_id, backup_id=written.backup_id,
                        refresh=written.refresh, details=written.details)


def _audit_committed(request: WriteRequest, before, audit: dict, exc: BaseException, reconnect) -> int | None:
    """The audit row of a write that committed, after its connection failed (lost after the COMMIT: a
    failover, pg_terminate_backend) or its process was stopped: written through a new connection, with the counts
    read there when the write left none. Failing the write here would fail its step although the tables changed,
    and the cache would never be published from them. None when it cannot be written; the write's
    `details["audit"]` then says why."""
    cause = f"{type(exc).__name__}: {exc}".strip()
    if reconnect is not None:
        try:
            with reconnect() as fresh:
                if audit["after"] is None:
                    audit = {**audit, "after": db.counts_unless_locked(fresh)}
                return _audit(fresh, request, "succeeded", before, **audit)
        except psycopg.Error as again:
            cause += f"; through a new connection: {type(again).__name__}: {again}".strip()
    audit["details"]["audit"] = f"{request.action} committed, but its audit row could not be written ({cause})"
    return None


def _would_leave(providers: int, models: int) -> dict:
    """A dry run's counts after the write, each named (the UI showed a bare [37, 0])."""
    return {"would_leave_providers": providers, "would_leave_models": models}


def _failed(conn: psycopg.Connection, request: WriteRequest, before, exc: Exception, reconnect,
            fingerprint: str | None = None, watch: db.LockWatch | None = None,
            started: int | None = None) -> WriteOutcome:
    """Audit a write that failed, and raise WriteFailed saying why (or return the write, one whose connection was
    lost in a COMMIT that went through: below): for a statement the lock `watch`
    cancelled, the wait it ended. The approval code of a write that rolled back is released (it changed nothing).

    A write whose connection was lost is audited through a new one (the lost one would raise instead, and hide
    the cause), with the counts read there. A transaction whose connection is lost before its COMMIT is rolled
    back, but a connection lost while the client waited for the COMMIT's reply (a failover, a network cut) may
    leave it committed: once the writer's session is gone, its started row's mark says which (as for a stop,
    db.stopped_outcome). One that committed is returned as the write it was, audited `succeeded`, with what
    its writer would have counted left out (`details["connection_lost"]` says so): failing it would leave a
    changed table without a materialization, and the cache never published from it. One whose session still
    runs is left `started`, for the next write's sweep: whether it will commit is not known yet."""
    waited = watch.cancelled(exc) if watch is not None else None
    error = waited or (str(exc) if isinstance(exc, WriteFailed) else f"{type(exc).__name__}: {exc}".strip())
    message = error if isinstance(exc, WriteFailed) and waited is None else (
        f"{request.action} failed and was rolled back, nothing was changed: {error}")
    if conn.broken or conn.closed:
        message = f"{request.action} failed: the connection to PostgreSQL was lost ({error})"
    else:
        message += _not_permitted(conn, exc)
    try:
        if not (conn.broken or conn.closed):
            if before is None:  # not counted first (a refresh), or that count failed: the write rolled back, so the
                # tables are as it found them
                before = db.counts_unless_locked(conn)
            _audit(conn, request, "failed", before, error=error, audit_id=started)
            if fingerprint is not None:
                db.release_approval(conn, fingerprint, request.run_id)
                message += "; its approval code was not used up: launch it again once the cause is fixed"
        elif reconnect is None:
            message += "; its audit row could not be written (no connection to write it with)"
        else:
            with reconnect() as fresh:
                judged = db.stopped_outcome(fresh, started)
                if judged is not None and judged[0] == "succeeded":
                    return _committed_though_lost(fresh, request, before, db.counts(fresh), error, started)
                # Not waited for: a session that still runs holds the write's locks until it ends, and a session
                # cut off by the network may run until TCP keepalive ends it (two hours by default).
                now = db.counts_unless_locked(fresh)
                if judged is not None:
                    _audit(fresh, request, "failed", before or now, after=now, error=f"connection lost: {error}",
                           audit_id=started)
            counted = f"providers/models now {now}" if now is not None else "the tables are locked, not counted"
            if judged is None:
                message += (f"; its server session still runs, holding the write's locks, so whether it commits is "
                            f"not known yet: its audit row {started} stays 'started' until the next write gives it an "
                            f"outcome (`make status` lists it); {counted}")
            else:
                message += (f"; {judged[1]}: {counted}"  # rolled back, nothing changed (or its row was gone)
                            + (f", before {before}" if before is not None else ""))
            if fingerprint is not None:
                message += "; its approval code stays used (a COMMIT may have been lost with it): approve anew"
    except psycopg.Error as audit_error:
        message += f"; its audit row could not be written either ({type(audit_error).__name__}: {audit_error})"
    raise WriteFailed(message) from exc


def _committed_though_lost(fresh: psycopg.Connection, request: WriteRequest, before, now: tuple[int, int],
                           error: str, started: int) -> WriteOutcome:
    """The outcome of a write whose connection was lost in its COMMIT, which went through (see _failed), audited
    `succeeded` over its started row through `fresh`. What the writer counted was lost with its connection: the
    counts after are read now, and a refresh's rows written per provider are not known (model_history has them)."""
    said = (f"its connection was lost while it waited for its COMMIT's reply ({error}), and the COMMIT went "
            f"through: the change stands; its counts after were read through a new connection, and what it wrote "
            f"per provider is in model_history")
    audit_id = _audit(fresh, request, "succeeded", before, after=now, details={"connection_lost": said},
                      audit_id=started)
    return WriteOutcome(request.action, before, now, audit_id, details={"connection_lost": said})


def _stopped(conn: psycopg.Connection, request: WriteRequest, before, exc: BaseException, reconnect,
             started: int | None = None) -> None:
    """The audit row of a write stopped by an interrupt (the run terminated from the UI, Ctrl-C), which is not
    an Exception and reached no handler: a statement it was inside is cancelled on the server and its session
    ended (db.abandon_if_busy), and the row is written through a new connection, or through this one when it was
    between statements (its transaction rolled back on the way out). Best effort: the interrupt goes on whatever
    happens here, and an approval code it used stays used."""
    abandoned = db.abandon_if_busy(conn) or conn.closed  # or already, by the writer's own `finally`
    error = (f"stopped ({type(exc).__name__}" + (f": {exc}" if str(exc) else "") + "): the run was interrupted"
             + (" inside a statement, which was cancelled on the server" if abandoned else "") + "; ")

    def audit_through(link: psycopg.Connection) -> None:
        # Not "nothing was changed" on faith: an interrupt that lands in the COMMIT leaves the write committed (the
        # row said it was rolled back of a refresh whose every row was in the table). Its row's mark tells.
        judged = db.stopped_outcome(link, started)
        if judged is not None:  # else its session still runs: the row stays started, for the next write's sweep
            outcome, said = judged
            _audit(link, request, outcome, before or db.counts_unless_locked(link), error=error + said,
                   audit_id=started)

    try:
        if not (conn.closed or conn.broken):
            audit_through(conn)
        elif reconnect is not None:
            with reconnect() as fresh:
                audit_through(fresh)
    except psycopg.Error:  # nowhere to say it but the interrupted run itself, which is ending
        pass


# Why a session may not write though the role may, and what to do: said by a write, and by `modelsync run` when
# Dagster's run storage is the first to find it out.
READ_ONLY_REMEDY = ("(a hot standby, or default_transaction_read_only set for the role or the database): point "
                    "DATABASE_URL at the primary, with a role that may write")


def _not_permitted(conn: psycopg.Connection, exc: BaseException) -> str:
    """What PostgreSQL's refusal of a write leaves out: which role, on which database, and what to do. Empty for
    any other error, or when the session cannot be read either."""
    exc = db.raised(exc, (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege))
    if exc is None:
        return ""
    try:
        session = db.current_session(conn)
    except psycopg.Error:
        return ""
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return f". The session of role {session.role} on database {session.database} is read-only {READ_ONLY_REMEDY}"
    owner = session.ledger_owner or "the role that applied modelsync's migrations"
    return (f". Role {session.role} may not write modelsync's tables on database {session.database}: put the role "
            f"that owns them ({owner}) in DATABASE_URL; a refresh creates and attaches partitions, which only the "
            "owner may")


def _audit(conn, request: WriteRequest, outcome: str, before, **fields) -> int:
    return db.audit(conn, run_id=request.run_id, launched_by=request.launched_by, action=request.action,
                    outcome=outcome, dry_run=request.dry_run, before=before, **fields)


def _refuse(conn, request: WriteRequest, before, reason: str):
    _audit(conn, request, "refused", before, error=reason)
    raise WriteRefused(f"{request.action} refused, nothing was changed: {reason}")


def preflight(conn: psycopg.Connection, request: WriteRequest,
              reconnect: Callable[[], psycopg.Connection] | None = None,
              log: Callable[[str], None] | None = None) -> None:
    """The guard of a destructive write, run before its job fetches anything: a launch its table step would
    refuse (from a schedule or a sensor, without the confirmation or a valid code, with a code already used)
    is refused now, audited, before it fetches every provider. Uses nothing up: the code is used, and every
    check made again, at the table step. Its statements are watched like a write's (db.locks)."""
    if request.mode not in DESTRUCTIVE or request.dry_run:
        return
    with db.watch_locks(conn, reconnect, f"{request.action} (before fetching)", log) as watch:
        try:
            before = db.counts(conn)
            fingerprint = _checked(conn, request, before)
            used = fingerprint is not None and db.approval_used(conn, fingerprint)
        except psycopg.Error as exc:
            _failed(conn, request, None, exc, reconnect, watch=watch)
    if used:
        _refuse(conn, request, before, "the approval code was already used; approve this run anew")


def _guard(conn, request: WriteRequest, before: tuple[int, int]) -> str | None:
    """Refuses (audited) or returns the fingerprint of the approval code it used (None: no code needed)."""
    fingerprint = _checked(conn, request, before)
    if fingerprint is None:
        return None
    if request.mode == "reset" and request.failed_providers:
        # A reset reloads everything from this run's catalogs; one that is missing would leave that provider
        # on an old catalog under new ids. It fails whole, and never becomes a refresh. Checked before the code
        # is used: a reset that wrote nothing leaves its code for the launch after the outage.
        reason = "; ".join(request.failed_providers)
        _audit(conn, request, "failed", before,
               error=f"not every provider was fetched and checked in this run: {reason}")
        raise WriteFailed(f"reset_and_resync failed whole, nothing was flushed: not every provider was fetched "
                          f"and checked in this run ({reason})")
    if not db.use_approval(conn, fingerprint, request.action, request.run_id):
        _refuse(conn, request, before, "the approval code was already used; approve this run anew")
    return fingerprint


def _checked(conn, request: WriteRequest, before: tuple[int, int]) -> str | None:
    """The guard's checks that use nothing up: refuses (audited), or returns the fingerprint of the valid
    approval code (None: no code needed, or a dry run)."""
    if request.mode not in DESTRUCTIVE:
        return None
    if request.automated:
        _refuse(conn, request, before, "destructive jobs never run from a schedule or a sensor")
    if request.mode == "restore" and conn.execute(db.statements("admin")["backup_counts"],
                                                   {"backup_id": request.backup_id}).fetchone() is None:
        _refuse(conn, request, before, f"backup {request.backup_id} does not exist")
    if request.dry_run:
        return None  # a dry run changes nothing: it needs neither the phrase nor a code
    missing = []
    if request.mode in PHRASES and request.confirm != PHRASES[request.mode]:
        missing.append(f"config confirm must be {PHRASES[request.mode]!r} (got {request.confirm!r})")
    if request.mode == "flush_providers" and request.provider_count != before[0]:
        missing.append(f"config provider_count must be the current provider count {before[0]} "
                       f"(got {request.provider_count})")
    # The code is checked against the arguments the write will run with (the current provider count: one that
    # differs is refused above), and what is wrong with it is said with the rest, not after they are mended.
    args = {"flush_providers": {"provider_count": before[0]},
            "restore": {"backup_id": request.backup_id}}.get(request.mode, {})
    fingerprint = None
    try:
        fingerprint = approval.verify(os.environ.get(approval.SECRET_ENV), request.approval, request.action, args)
    except approval.ApprovalRefused as refused:
        missing.append(str(refused))
    if missing:
        _refuse(conn, request, before, "; ".join(missing))
    return fingerprint


def _plan(conn, request: WriteRequest, specs, before) -> WriteOutcome:
    plan = None
    if request.mode in ("refresh", "reset"):
        plan = db.plan_refresh(conn, specs)
        details = plan.totals()
        if request.mode == "reset":
            details = {"deleted_then_reinserted": before[1], **details}
    elif request.mode == "flush_models":
        details = {"would_delete_models": before[1], **_would_leave(before[0], 0)}
    elif request.mode == "flush_providers":
        details = {"would_delete_providers": before[0], "would_delete_models": before[1], **_would_leave(0, 0)}
    elif request.mode == "restore":
        details = {"backup_id": request.backup_id, **_would_leave(
            *conn.execute(db.statements("admin")["backup_counts"], {"backup_id": request.backup_id}).fetchone())}
    else:
        known = {row[0] for row in conn.execute(db.statements("admin")["provider_slugs"])}
        details = {"would_add_providers": sorted(s.slug for s in specs if s.slug not in known)}
    audit_id = _audit(conn, request, "planned", before, details=details)
    return WriteOutcome(request.action, before, before, audit_id, dry_run=True, plan=plan, details=details)


@dataclass(frozen=True)
class _Written:
    """What a writer reports; write_catalog adds the counts and the audit row."""
    backup_id: int | None
    refresh: db.RefreshResult | None
    details: dict
    # (providers, models) as the write found them, counted under its lock: the counts write_catalog took
    # before waiting for the lock can be another writer's "before" (a refresh queued behind a restore).
    before: tuple[int, int] | None = None
    after: tuple[int, int] | None = None  # and as it left them, counted before its COMMIT


def _refresh(conn, request: WriteRequest, specs) -> _Written:
    result = db.refresh_models_table(conn, specs, request.run_id)
    return _Written(None, result, _changes(result), result.before, result.after)


def _reset(conn, request: WriteRequest, specs) -> _Written:
    admin, result = db.reset_models_table(conn, specs, request.run_id, request.backup_retention)
    return _Written(admin.backup.id, result, _changes(result), admin.before, admin.after)


def _admin(write):
    def run(conn, request: WriteRequest, specs) -> _Written:
        result = write(conn, request, specs)
        return _Written(result.backup.id if result.backup else None, None, result.details, result.before,
                        result.after)
    return run


def _changes(result: db.RefreshResult) -> dict:
    return {"inserted": result.inserted, "updated": result.updated, "deleted": result.deleted}


_WRITERS = {
    "refresh": _refresh,
    "reset": _reset,
    "flush_models": _admin(lambda conn, r, specs: db.flush_models(conn, r.run_id, r.backup_retention)),
    "flush_providers": _admin(lambda conn, r, specs: db.flush_providers(conn, r.run_id, r.backup_retention)),
    "restore": _admin(lambda conn, r, specs: db.restore_backup(conn, r.backup_id, r.run_id, r.backup_retention)),
    "providers_only": _admin(lambda conn, r, specs: db.sync_providers(conn, specs)),
}
