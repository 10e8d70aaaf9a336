"""`sql/migrations/` applied in order, once (`sql/migrate.sql`)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .statements import MIGRATIONS_DIR, connect, statements

_MIGRATION_LOCK = 0x6D6F64656C73  # "models" as a number: one advisory lock key for migrations
# How long a migration waits for a table lock, and how long a process waits for another one's migrations.
LOCK_TIMEOUT = "60s"
LOCK_WAIT_SECONDS = 900.0


class MigrationError(RuntimeError):
    """The schema cannot be brought to this code's migrations: what is wrong and what to do; nothing changed."""


@dataclass(frozen=True)
class _Session:
    """Who migrates, and where (`session` in sql/migrate.sql)."""

    role: str
    database: str
    schema: str | None  # current_schema(): where an unqualified CREATE goes; None when search_path names none
    ledger_owner: str | None
    schema_owner: str | None


def apply_migrations(database_url: str) -> list[str]:
    """Apply `sql/migrations/*.sql` not yet recorded, in file order, each in its own transaction.

    Idempotent and safe to run from several processes at once (an advisory lock serialises them). A database
    with nothing pending is only read (no lock, no CREATE), so readers work on a hot standby, a database set
    read-only, or as a role that may only read.
    Refused, changing nothing (MigrationError): a recorded migration whose file has since changed
    (migrations are append-only), a database at a migration this code does not have (a downgrade),
    and modelsync's tables without `schema_migrations`. A migration that cannot lock a table within
    LOCK_TIMEOUT, or that the session may not apply (read-only, or a role without the privilege), fails (rolled
    back) naming its file, the role and the database.
    """
    applied_now = []
    sql = statements("migrate")
    paths = sorted(MIGRATIONS_DIR.glob("*.sql"))
    with connect(database_url, autocommit=True) as conn:
        conn.execute(sql["lock_timeout"], {"lock_timeout": LOCK_TIMEOUT})
        if conn.info.server_version >= 140000:
            try:
                conn.execute(sql["check_client"])
            except psycopg.errors.InvalidParameterValue:
                pass  # a server that cannot tell a closed socket (not Linux): a killed client is noticed later
        session = _Session(*conn.execute(sql["session"]).fetchone())
        # Each migration commits with its ledger row, so the ledger read without the lock is a whole prefix of
        # the migrations: up to date here is up to date, and anything else is decided again under the lock.
        if conn.execute(sql["ledger_exists"]).fetchone()[0] and not _pending(_applied(conn, sql, session), paths):
            return []
        _lock(conn, sql)
        try:
            if conn.execute(sql["orphaned_schema"]).fetchone()[0]:
                raise MigrationError(
                    "modelsync's tables exist but schema_migrations does not (a database restored or copied without "
                    "it?): restore schema_migrations from the same backup, or record the applied versions by hand; "
                    "nothing was changed")
            if conn.execute(sql["ledger_exists"]).fetchone()[0]:
                done = _applied(conn, sql, session)
            else:
                try:
                    conn.execute(sql["create_schema_migrations"])
                except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction) as exc:
                    raise MigrationError(_may_not_apply(
                        "schema_migrations (the ledger of applied migrations, made before the first)", session, exc
                    )) from exc
                done = {}
            for path, checksum in _pending(done, paths):
                try:
                    with conn.transaction():
                        conn.execute(path.read_text())
                        conn.execute(sql["record"], {"version": path.stem, "checksum": checksum})
                except psycopg.errors.LockNotAvailable as exc:
                    raise MigrationError(
                        f"migration {path.name} could not lock a table within {LOCK_TIMEOUT} (a long transaction "
                        "holds it: see pg_stat_activity); it was rolled back, retry when it ends") from exc
                except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction) as exc:
                    raise MigrationError(_may_not_apply(f"migration {path.name}", session, exc)) from exc
                applied_now.append(path.stem)
        finally:
            conn.execute(sql["unlock"], {"key": _MIGRATION_LOCK})
    return applied_now


def _applied(conn: psycopg.Connection, sql: dict[str, str], session: _Session) -> dict[str, str]:
    """{version: checksum} of the ledger."""
    try:
        return dict(conn.execute(sql["applied"]).fetchall())
    except psycopg.errors.LockNotAvailable as exc:
        raise MigrationError(f"schema_migrations could not be locked within {LOCK_TIMEOUT} (a long "
                             "transaction holds it: see pg_stat_activity); nothing was changed") from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        # Every reader reads the ledger first: a role granted nothing yet fails here, not at the catalog.
        raise MigrationError(
            f"role {session.role} may not read schema_migrations in schema {session.schema} of database "
            f"{session.database}, so whether the schema is up to date cannot be told: grant it what modelsync reads "
            f"(`GRANT SELECT ON ALL TABLES IN SCHEMA {session.schema} TO {session.role}`, as the tables' owner "
            f"{session.ledger_owner}) or use a role that may; nothing was changed") from exc


def _pending(done: dict[str, str], paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, checksum) of the migrations not in the ledger `done`; a MigrationError for a ledger this code
    cannot continue: a version it does not have (a newer release's), or an applied file since edited."""
    unknown = sorted(set(done) - {path.stem for path in paths})
    if unknown:
        latest = paths[-1].stem if paths else "none"
        raise MigrationError(
            f"the database is at migration {unknown[-1]}, newer than this code's latest ({latest}): run code "
            "that includes it (downgrades are not supported); nothing was changed")
    pending = []
    for path in paths:
        checksum = hashlib.sha256(path.read_text().encode()).hexdigest()
        if path.stem not in done:
            pending.append((path, checksum))
        elif done[path.stem] != checksum:
            raise MigrationError(f"migration {path.name} changed after it was applied; add a new migration instead")
    return pending


def _may_not_apply(what: str, session: _Session, exc: psycopg.Error) -> str:
    """Why `what` cannot be applied by this session, and who can apply it: PostgreSQL's own words name neither."""
    said = str(exc).strip().splitlines()[0]
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return (f"{what} cannot be applied to database {session.database}: the session of role {session.role} is "
                f"read-only (a hot standby, or default_transaction_read_only set for the role or database): "
                f"{said}. Run modelsync once against the primary with a role that may write: it applies the "
                f"migration, and readers here work from then on; it was rolled back, nothing was changed")
    schema = session.schema or "public"
    owner = (f"the role that owns modelsync's tables ({session.ledger_owner})" if session.ledger_owner
             else f"a role that may create in schema {schema} (its owner is {session.schema_owner})")
    grant = ("" if session.ledger_owner else
             f", or `GRANT CREATE ON SCHEMA {schema} TO {session.role}` as {session.schema_owner}")
    return (f"role {session.role} may not apply {what} to database {session.database}: {said}. Apply it as "
            f"{owner}: run modelsync once (`modelsync status` will do) with that role in DATABASE_URL{grant}; "
            f"it was rolled back, nothing was changed")


def _lock(conn: psycopg.Connection, sql: dict[str, str]) -> None:
    """The migration lock, waited for up to LOCK_WAIT_SECONDS, then a MigrationError naming its holder."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not conn.execute(sql["try_lock"], {"key": _MIGRATION_LOCK}).fetchone()[0]:
        if time.monotonic() > deadline:
            holder = conn.execute(sql["lock_holder"], {"key": _MIGRATION_LOCK}).fetchone()
            who = (f"server process {holder[0]} ({holder[1] or 'no application name'}, {holder[2]} for {holder[3]})"
                   if holder else "another session")
            raise MigrationError(f"{who} has held the migration lock for over {LOCK_WAIT_SECONDS:g} s; "
                                 "if it belongs to a process that was killed, end it with pg_terminate_backend")
        time.sleep(0.2)
