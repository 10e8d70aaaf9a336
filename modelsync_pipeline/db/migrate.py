"""`sql/migrations/` applied in order, once (`sql/migrate.sql`)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .statements import MIGRATIONS_DIR, connect, first_line, statements

_MIGRATION_LOCK = 0x6D6F64656C73  # "models" as a number: one advisory lock key for migrations
# How long a migration waits for a table lock, and how long a process waits for another one's migrations.
LOCK_TIMEOUT = "60s"
LOCK_WAIT_SECONDS = 900.0


class MigrationError(RuntimeError):
    """The schema cannot be brought to this code's migrations: what is wrong and what to do; nothing changed."""


@dataclass(frozen=True)
class Session:
    """Who migrates, where, and where modelsync's catalog already is (`session` in sql/migrate.sql)."""

    role: str
    database: str
    schema: str | None  # current_schema(): where an unqualified CREATE goes; None when search_path names none
    ledger_owner: str | None
    schema_owner: str | None
    search_path: str
    catalog_schemas: list[str]  # schemas already holding a modelsync catalog


def apply_migrations(database_url: str) -> list[str]:
    """Apply `sql/migrations/*.sql` not yet recorded, in file order, each in its own transaction.

    Idempotent and safe to run from several processes at once (an advisory lock serialises them). A database
    with nothing pending is only read (no lock, no CREATE), so readers work on a hot standby, a database set
    read-only, or as a role that may only read.
    Refused, changing nothing (MigrationError): a recorded migration whose file has since changed
    (migrations are append-only), a database at a migration this code does not have (a downgrade),
    modelsync's tables without `schema_migrations`, and a search_path whose first schema is not the catalog's
    (`_check_schema`). A migration that cannot lock a table within LOCK_TIMEOUT, that the session may not apply
    (read-only, or a role without the privilege), or that is cancelled (a statement_timeout) fails (rolled back)
    naming its file, the role and the database.
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
        session = current_session(conn)
        _check_schema(session)
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
                except psycopg.errors.QueryCanceled as exc:
                    # A statement_timeout set for the role or the database is meant for queries; a migration
                    # copying a table (0008) outlasts it, and PostgreSQL's words name neither.
                    raise MigrationError(
                        f"migration {path.name} was cancelled on database {session.database} (role {session.role}): "
                        f"{first_line(exc)}; it was rolled back. A statement_timeout set for the "
                        "role or the database cuts it short: apply it once without one (options=-cstatement_timeout=0 "
                        "in DATABASE_URL), or end whatever cancelled it (pg_cancel_backend)") from exc
                applied_now.append(path.stem)
        finally:
            conn.execute(sql["unlock"], {"key": _MIGRATION_LOCK})
    return applied_now


def _applied(conn: psycopg.Connection, sql: dict[str, str], session: Session) -> dict[str, str]:
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


def _check_schema(session: Session) -> None:
    """Refuse a search_path that would make a second catalog.

    Every statement of modelsync names its tables unqualified: they are found along search_path and created (the
    schema, and later each provider's partition) in its first existing schema, current_schema(). With the
    catalog in `public` and a search_path of `other` (`ALTER ROLE ... SET search_path`, `options=-csearch_path`
    in the URL), migrating made a second, empty catalog in `other`, and every reader read that: "0 providers".
    So the catalog's schema must be the first schema of search_path. A database holding catalogs in two schemas
    on purpose still works: each is used by the sessions whose search_path starts with it.
    """
    where = f"database {session.database}"
    fix = (f"reset search_path where it was set (DATABASE_URL's options, `ALTER ROLE {session.role} RESET "
           f"search_path`, `ALTER DATABASE {session.database} RESET search_path`), or set it to a path starting "
           "with {schema}")
    if session.schema is None:
        found = (f"; modelsync's catalog is in schema {', '.join(session.catalog_schemas)}" if session.catalog_schemas
                 else "")
        raise MigrationError(
            f"this session's search_path {session.search_path} names no schema of {where} that exists, so there is "
            f"nowhere to read the catalog from or create it in{found}: "
            + fix.format(schema=session.catalog_schemas[0] if session.catalog_schemas else "public")
            + "; nothing was changed")
    if session.catalog_schemas and session.schema not in session.catalog_schemas:
        catalog = " and ".join(f"schema {name}" for name in session.catalog_schemas)
        raise MigrationError(
            f"modelsync's catalog is in {catalog} of {where}, but this session's search_path "
            f"({session.search_path}) puts schema {session.schema} first: its tables would be created again there, "
            f"empty, and read from there. Put the catalog's schema first: "
            + fix.format(schema=session.catalog_schemas[0]) + "; nothing was changed")


def current_session(conn: psycopg.Connection) -> Session:
    """Who this connection's session is and where (`session` in sql/migrate.sql)."""
    return Session(*conn.execute(statements("migrate")["session"]).fetchone())


def _may_not_apply(what: str, session: Session, exc: psycopg.Error) -> str:
    """Why `what` cannot be applied by this session, and who can apply it: PostgreSQL's own words name neither."""
    said = first_line(exc)
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
