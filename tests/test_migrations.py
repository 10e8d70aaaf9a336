"""The migration runner refuses what it cannot bring to this code's schema, naming it, and changes nothing:
a database ahead of the code, tables without their schema_migrations, a table a long transaction holds, a
session that may not apply a pending migration (read-only, a role without the privilege), a search_path that
would make a second catalog. An up-to-date database is only read, so readers work on a read-only one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import psycopg
import pytest

from modelsync_pipeline import db
from modelsync_pipeline.db import migrate

from .pipeline import step_failures, sync
from .test_cli import REPO_ROOT
from .test_pipeline import table_rows


def tables(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_a_database_ahead_of_the_code_is_refused(database_url):
    db.apply_migrations(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, checksum) VALUES ('9999_from_a_newer_release', 'x')")
    with pytest.raises(migrate.MigrationError, match="at migration 9999_from_a_newer_release, newer than this code's latest"):
        db.apply_migrations(database_url)

    # and the read-only commands say so in one line, not a traceback
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "status"], cwd=REPO_ROOT,
                          env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "newer than this code's latest" in proc.stderr


def test_tables_without_schema_migrations_are_refused_and_left_as_they_were(database_url):
    db.apply_migrations(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE schema_migrations")
    before = tables(database_url)
    with pytest.raises(migrate.MigrationError, match="schema_migrations does not"):
        db.apply_migrations(database_url)
    assert tables(database_url) == before  # no empty schema_migrations left behind


def test_a_migration_blocked_by_a_long_transaction_fails_naming_itself(database_url, tmp_path, monkeypatch):
    (tmp_path / "0001_table.sql").write_text("CREATE TABLE t (a int);")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    monkeypatch.setattr(migrate, "LOCK_TIMEOUT", "500ms")
    assert db.apply_migrations(database_url) == ["0001_table"]
    (tmp_path / "0002_column.sql").write_text("ALTER TABLE t ADD COLUMN b int;")
    with psycopg.connect(database_url) as reader:
        reader.execute("LOCK TABLE t IN ACCESS SHARE MODE")  # a reader's transaction, left open
        started = time.monotonic()
        with pytest.raises(migrate.MigrationError, match="0002_column.sql could not lock a table within 500ms"):
            db.apply_migrations(database_url)
        assert time.monotonic() - started < 30
    assert db.apply_migrations(database_url) == ["0002_column"]  # retried once the reader is gone


def test_a_migration_lock_held_too_long_names_its_holder(database_url, tmp_path, monkeypatch):
    # a migration pending: an up-to-date database is only read, without the lock
    (tmp_path / "0001_table.sql").write_text("CREATE TABLE t (a int);")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    monkeypatch.setattr(migrate, "LOCK_WAIT_SECONDS", 0.5)
    with psycopg.connect(database_url, autocommit=True, application_name="stuck migrator") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate._MIGRATION_LOCK,))
        pid = holder.info.backend_pid
        with pytest.raises(migrate.MigrationError, match=f"server process {pid} \\(stuck migrator, idle for "):
            db.apply_migrations(database_url)
        # two ints that read like the key's halves are another lock: not named as the migration lock's holder
        holder.execute("SELECT pg_advisory_unlock(%s)", (migrate._MIGRATION_LOCK,))
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (migrate._MIGRATION_LOCK >> 32, migrate._MIGRATION_LOCK & 0xFFFFFFFF))
        assert db.apply_migrations(database_url) == ["0001_table"]
        # up to date: read without the lock, never waiting for its holder
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate._MIGRATION_LOCK,))
        assert db.apply_migrations(database_url) == []


def test_released_migrations_are_never_edited():
    """A migration is applied once and recorded with its checksum: editing it after a release strands every
    database that applied the old text (apply_migrations refuses them). sql/migrations.sha256 is the
    released text of each; a change to the schema is a new migration, and a line added to that list."""
    listed = {}
    for line in (migrate.MIGRATIONS_DIR.parent / "migrations.sha256").read_text().splitlines():
        checksum, name = line.split()
        listed[name] = checksum
    import hashlib

    files = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in migrate.MIGRATIONS_DIR.glob("*.sql")}
    edited = sorted(name for name in listed if name in files and files[name] != listed[name])
    assert not edited, f"released migrations edited: {edited}; add a new migration instead"
    assert sorted(files) == sorted(listed), "a new migration: add its line to sql/migrations.sha256"


def status(database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "status"], cwd=REPO_ROOT, timeout=120,
                          env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True)


def as_role(database_url: str, role: str) -> str:
    """The same database, logged in as `role` (the test server trusts local connections)."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))


@pytest.fixture
def role(request):
    """A login role made for one test (roles are the server's, not a database's): it may connect and use schema
    public, nothing more until the test grants it. Dropped afterwards, with what it owns or was granted in the
    test's database (`synced` when the test has it, else `database_url`), before that database is."""
    database_url = request.getfixturevalue("synced" if "synced" in request.fixturenames else "database_url")
    name = f"modelsync_r_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE {name}")


def catalog_tables(database_url: str) -> dict[str, int]:
    """Tables per schema, of the schemas other than PostgreSQL's own."""
    with psycopg.connect(database_url) as conn:
        return dict(conn.execute("SELECT schemaname, count(*) FROM pg_tables WHERE schemaname NOT IN "
                                 "('pg_catalog', 'information_schema') GROUP BY 1").fetchall())


def test_an_up_to_date_read_only_database_is_only_read_and_its_readers_work(synced, redis_url):
    """A hot standby, or a database set read-only: status and the cache step failed, the migration check trying
    `CREATE TABLE IF NOT EXISTS schema_migrations` even with nothing to apply."""
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{urlsplit(synced).path.lstrip("/")}" SET default_transaction_read_only = on')
    assert db.apply_migrations(synced) == []
    proc = status(synced)
    assert proc.returncode == 0 and "providers 0" not in proc.stdout, proc.stderr
    result = sync(synced, redis_url, selection=[dg.AssetKey("models_cache")], rewrite_cache=True)
    assert result.success, step_failures(result)


def test_an_up_to_date_database_is_read_by_a_role_that_may_only_read(synced, redis_url, role):
    """A reader's role: SELECT on the tables, no CREATE on the schema (PostgreSQL 15's default for schema public)."""
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
    reader = as_role(synced, role)
    assert db.apply_migrations(reader) == []
    proc = status(reader)
    assert proc.returncode == 0 and "providers 0" not in proc.stdout, proc.stderr
    result = sync(reader, redis_url, selection=[dg.AssetKey("models_cache")], rewrite_cache=True)
    assert result.success, step_failures(result)


def test_a_role_granted_nothing_is_told_what_to_grant(synced, role):
    database = urlsplit(synced).path.lstrip("/")
    proc = status(as_role(synced, role))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    for words in (f"role {role} may not read schema_migrations", f"database {database}",
                  f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"):
        assert words in proc.stderr, proc.stderr


def test_a_migration_the_role_may_not_apply_names_itself_the_role_the_database_and_the_grant(
        database_url, role, tmp_path, monkeypatch):
    """PostgreSQL says only "permission denied for schema public" or "must be owner of table t"."""
    database = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
    # a fresh database: the ledger itself cannot be created
    with pytest.raises(migrate.MigrationError) as refused:
        db.apply_migrations(as_role(database_url, role))
    message = str(refused.value)
    for words in ("schema_migrations", f"role {role}", f"database {database}", "GRANT CREATE ON SCHEMA public"):
        assert words in message, message
    assert catalog_tables(database_url) == {}

    # a pending migration of tables another role owns
    (tmp_path / "0001_table.sql").write_text("CREATE TABLE t (a int);")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    assert db.apply_migrations(database_url) == ["0001_table"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    (tmp_path / "0002_column.sql").write_text("ALTER TABLE t ADD COLUMN b int;")
    with pytest.raises(migrate.MigrationError) as refused:
        db.apply_migrations(as_role(database_url, role))
    message = str(refused.value)
    with psycopg.connect(database_url) as conn:
        owner = conn.execute("SELECT current_user").fetchone()[0]  # made t: the role to apply it as
    for words in ("0002_column.sql", f"role {role}", f"database {database}", f"({owner})", "rolled back"):
        assert words in message, message
    assert db.apply_migrations(database_url) == ["0002_column"]  # its owner applies it


def test_a_pending_migration_on_a_read_only_database_says_where_to_run_it(database_url, tmp_path, monkeypatch):
    (tmp_path / "0001_table.sql").write_text("CREATE TABLE t (a int);")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    assert db.apply_migrations(database_url) == ["0001_table"]
    database = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    (tmp_path / "0002_column.sql").write_text("ALTER TABLE t ADD COLUMN b int;")
    with pytest.raises(migrate.MigrationError, match=f"0002_column.sql .*database {database}: .*read-only.*primary"):
        db.apply_migrations(database_url)


def test_a_write_on_a_read_only_database_names_the_role_the_database_and_where_to_write(synced, redis_url):
    """Migrated and read-only (a hot standby, default_transaction_read_only): the models_table step failed with
    PostgreSQL's words alone, "cannot execute ... in a read-only transaction", naming neither."""
    database = urlsplit(synced).path.lstrip("/")
    with psycopg.connect(synced, autocommit=True) as conn:
        user = conn.execute("SELECT current_user").fetchone()[0]
        conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    before = table_rows(synced)
    result = sync(synced, redis_url, selection=[dg.AssetKey("models_table")])
    failure = step_failures(result)["models_table"]
    for words in ("refresh failed and was rolled back", "read-only transaction",
                  f"role {user} on database {database} is read-only", "point DATABASE_URL at the primary"):
        assert words in failure, failure
    assert table_rows(synced) == before


def test_a_write_by_a_role_that_may_only_read_names_the_role_to_write_as(synced, redis_url, role):
    """A reader's role in a writer's DATABASE_URL: the step said only "permission denied for table providers"."""
    database = urlsplit(synced).path.lstrip("/")
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'models'").fetchone()[0]
    before = table_rows(synced)
    result = sync(as_role(synced, role), redis_url, selection=[dg.AssetKey("models_table")])
    failure = step_failures(result)["models_table"]
    for words in ("refresh failed and was rolled back", "permission denied",
                  f"Role {role} may not write modelsync's tables on database {database}", f"({owner}) in DATABASE_URL"):
        assert words in failure, failure
    assert table_rows(synced) == before


@pytest.mark.parametrize("how", ["url options", "alter role", "path with the catalog second"])
def test_a_search_path_missing_the_catalogs_schema_is_refused_naming_both_schemas(synced, redis_url, role, how):
    """Tables in public, a search_path of `other`: migrating made a second, empty catalog in `other`, and status
    said "providers 0" and exited 0."""
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA other")
        conn.execute(f"GRANT ALL ON SCHEMA other, public TO {role}")
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        if how == "alter role":
            conn.execute(f"ALTER ROLE {role} SET search_path = other")
    url = {"url options": synced + "?options=-csearch_path%3Dother",
           "alter role": as_role(synced, role),
           "path with the catalog second": synced + "?options=-csearch_path%3Dother,public"}[how]
    before = catalog_tables(synced)
    with pytest.raises(migrate.MigrationError) as refused:
        db.apply_migrations(url)
    message = str(refused.value)
    assert "schema public" in message and "schema other" in message and "search_path" in message, message
    proc = status(url)
    assert proc.returncode == 2 and "schema public" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    failure = step_failures(sync(url, redis_url, selection=[dg.AssetKey("models_cache")]))["models_cache"]
    assert "schema public" in failure and "schema other" in failure, failure  # not "a newer catalog"
    assert catalog_tables(synced) == before  # nothing made in `other`


def test_a_search_path_naming_no_schema_is_refused_before_anything_is_made(database_url):
    url = database_url + "?options=-csearch_path%3Dnosuch"
    with pytest.raises(migrate.MigrationError, match="search_path nosuch names no schema"):
        db.apply_migrations(url)
    assert catalog_tables(database_url) == {}
    assert db.apply_migrations(database_url)  # the default search_path: made in public, as ever
    assert set(catalog_tables(database_url)) == {"public"}


def test_another_applications_providers_and_models_do_not_stop_a_fresh_catalog(database_url):
    """Only a modelsync ledger marks a catalog: tables of those common names in another schema are not one."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA shop")
        conn.execute("CREATE TABLE shop.providers (id int)")
        conn.execute("CREATE TABLE shop.models (id int)")
    assert db.apply_migrations(database_url)
    assert catalog_tables(database_url)["shop"] == 2
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('public.models') IS NOT NULL").fetchone()[0]


def test_a_migration_cut_short_by_a_statement_timeout_names_itself_and_the_setting(database_url, tmp_path, monkeypatch):
    """PostgreSQL says only "canceling statement due to statement timeout"."""
    (tmp_path / "0001_slow.sql").write_text("CREATE TABLE t (a int);\nSELECT pg_sleep(2);")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    database = urlsplit(database_url).path.lstrip("/")
    with pytest.raises(migrate.MigrationError, match=f"0001_slow.sql was cancelled on database {database} .*"
                                                     "statement_timeout=0"):
        db.apply_migrations(database_url + "?options=-cstatement_timeout%3D300")
    assert catalog_tables(database_url) == {"public": 1}  # schema_migrations alone: t was rolled back
    assert db.apply_migrations(database_url) == ["0001_slow"]
