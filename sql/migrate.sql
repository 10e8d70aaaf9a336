-- The migration runner's own statements (modelsync_pipeline.db.apply_migrations); the migrations are in
-- sql/migrations/, applied in file order and recorded with a checksum.

-- name: lock
SELECT pg_advisory_lock(%(key)s);

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
