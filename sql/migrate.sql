-- The migration runner's own statements (modelsync_pipeline.db.apply_migrations); the migrations are in
-- sql/migrations/, applied in file order and recorded with a checksum.

-- name: try_lock
SELECT pg_try_advisory_lock(%(key)s);

-- name: lock_holder
-- Who holds the migration lock (an advisory lock on one bigint key: classid is its high half, objid its low).
-- (objsubid 1: a lock on one bigint, not on two ints with the same halves). The age is of its transaction, or,
-- idle between migrations, of its last state change.
SELECT pid, coalesce(application_name, ''), state, now() - coalesce(xact_start, state_change)
FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = %(key)s >> 32 AND l.objid::bigint = %(key)s & 4294967295
LIMIT 1;

-- name: lock_timeout
-- A migration waits at most this long for a table lock (a long transaction of a reader, or a killed migration's
-- session still waiting) and then fails, naming it.
SELECT set_config('lock_timeout', %(lock_timeout)s, false);

-- name: check_client
-- PostgreSQL 14+: a client that went away (a killed process) is noticed within seconds, even mid-statement.
SELECT set_config('client_connection_check_interval', '5s', false);

-- name: session
-- Who and where, for the runner's errors. current_schema() is where an unqualified CREATE goes: NULL when
-- search_path names no schema that exists (quote_ident, not format's %I: NULL then, not an error). The owners:
-- of the ledger (the role that migrates), else of the schema (who may grant CREATE on it: the database's owner
-- for a schema owned by pg_database_owner, as public is from PostgreSQL 15 on). Then search_path, and the
-- schemas that already hold a modelsync catalog: schema_migrations with its checksum column (another tool's
-- schema_migrations has none). Tables named providers and models alone do not count: another application's
-- schema may well have both, and a fresh catalog beside them was refused, told to put that schema first.
SELECT current_user, current_database(), current_schema(),
       (SELECT pg_get_userbyid(c.relowner) FROM pg_class c
        WHERE c.oid = to_regclass(quote_ident(current_schema()) || '.schema_migrations')),
       (SELECT CASE WHEN pg_get_userbyid(n.nspowner) = 'pg_database_owner'
                    THEN (SELECT pg_get_userbyid(d.datdba) FROM pg_database d WHERE d.datname = current_database())
                    ELSE pg_get_userbyid(n.nspowner) END
        FROM pg_namespace n WHERE n.nspname = current_schema()),
       current_setting('search_path'),
       ARRAY(SELECT n.nspname FROM pg_namespace n
             WHERE EXISTS (SELECT FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                           WHERE c.relnamespace = n.oid AND c.relname = 'schema_migrations' AND c.relkind IN ('r', 'p')
                             AND a.attname = 'checksum' AND NOT a.attisdropped)
             ORDER BY n.nspname);

-- name: ledger_exists
-- In the schema migrations create in, not wherever search_path finds one (another tool's, further along it).
SELECT to_regclass(quote_ident(current_schema()) || '.schema_migrations') IS NOT NULL;

-- name: orphaned_schema
-- modelsync's tables without schema_migrations: a database restored or copied without it.
SELECT to_regclass(quote_ident(current_schema()) || '.schema_migrations') IS NULL
   AND to_regclass(quote_ident(current_schema()) || '.providers') IS NOT NULL;

-- name: unlock
SELECT pg_advisory_unlock(%(key)s);

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: applied
SELECT version, checksum FROM schema_migrations;

-- name: record
INSERT INTO schema_migrations (version, checksum) VALUES (%(version)s, %(checksum)s);

-- name: database_exists
-- The embedded server's catalog database (modelsync_pipeline.services), asked on its `postgres` database.
SELECT 1 FROM pg_database WHERE datname = %(name)s;

-- name: create_database
-- The placeholder is the database name, composed as an identifier (psycopg.sql), never as text.
CREATE DATABASE {};
