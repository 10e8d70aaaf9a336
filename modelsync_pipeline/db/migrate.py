"""`sql/migrations/` applied in order, once (`sql/migrate.sql`)."""

from __future__ import annotations

import hashlib

from .statements import MIGRATIONS_DIR, connect, statements

_MIGRATION_LOCK = 0x6D6F64656C73  # "models" as a number: one advisory lock key for migrations

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
