"""`sql/migrations/` applied in order, once (`sql/migrate.sql`)."""

from __future__ import annotations

import hashlib
import time

import psycopg

from .statements import MIGRATIONS_DIR, connect, statements

_MIGRATION_LOCK = 0x6D6F64656C73  # "models" as a number: one advisory lock key for migrations
# How long a migration waits for a table lock, and how long a process waits for another one's migrations.
LOCK_TIMEOUT = "60s"
LOCK_WAIT_SECONDS = 900.0


class MigrationError(RuntimeError):
    """The schema cannot be brought to this code's migrations: what is wrong and what to do; nothing changed."""


def apply_migrations(database_url: str) -> list[str]:
    """Apply `sql/migrations/*.sql` not yet recorded, in file order, each in its own transaction.

    Idempotent and safe to run from several processes at once (an advisory lock serialises them).
    Refused, changing nothing (MigrationError): a recorded migration whose file has since changed
    (migrations are append-only), a database at a migration this code does not have (a downgrade), and
    modelsync's tables without `schema_migrations`. A migration that cannot lock a table within LOCK_TIMEOUT
    fails (rolled back) naming its file.
    """
    applied_now = []
    sql = statements("migrate")
    with connect(database_url, autocommit=True) as conn:
        conn.execute(sql["lock_timeout"], {"lock_timeout": LOCK_TIMEOUT})
        if conn.info.server_version >= 140000:
            try:
                conn.execute(sql["check_client"])
            except psycopg.errors.InvalidParameterValue:
                pass  # a server that cannot tell a closed socket (not Linux): a killed client is noticed later
        _lock(conn, sql)
        try:
            if conn.execute(sql["orphaned_schema"]).fetchone()[0]:
                raise MigrationError(
                    "modelsync's tables exist but schema_migrations does not (a database restored or copied without "
                    "it?): restore schema_migrations from the same backup, or record the applied versions by hand; "
                    "nothing was changed")
            try:
                conn.execute(sql["create_schema_migrations"])
                done = dict(conn.execute(sql["applied"]).fetchall())
            except psycopg.errors.LockNotAvailable as exc:
                raise MigrationError(f"schema_migrations could not be locked within {LOCK_TIMEOUT} (a long "
                                     "transaction holds it: see pg_stat_activity); nothing was changed") from exc
            paths = sorted(MIGRATIONS_DIR.glob("*.sql"))
            unknown = sorted(set(done) - {path.stem for path in paths})
            if unknown:
                latest = paths[-1].stem if paths else "none"
                raise MigrationError(
                    f"the database is at migration {unknown[-1]}, newer than this code's latest ({latest}): run code "
                    "that includes it (downgrades are not supported); nothing was changed")
            for path in paths:
                migration = path.read_text()
                checksum = hashlib.sha256(migration.encode()).hexdigest()
                if path.stem in done:
                    if done[path.stem] != checksum:
                        raise MigrationError(
                            f"migration {path.name} changed after it was applied; add a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration)
                        conn.execute(sql["record"], {"version": path.stem, "checksum": checksum})
                except psycopg.errors.LockNotAvailable as exc:
                    raise MigrationError(
                        f"migration {path.name} could not lock a table within {LOCK_TIMEOUT} (a long transaction "
                        "holds it: see pg_stat_activity); it was rolled back, retry when it ends") from exc
                applied_now.append(path.stem)
        finally:
            conn.execute(sql["unlock"], {"key": _MIGRATION_LOCK})
    return applied_now


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
