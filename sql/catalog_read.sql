-- Reading the published catalog: the cache fan-out (modelsync_pipeline.cache) and the database fallback of
-- CatalogReader (modelsync_pipeline.reader). Both read catalog_rows in one order, bytewise, the order of
-- the cache's `all` sorted set, so either path answers in the same order. row_to_json(r)::text is the one
-- JSON form of a catalog row on both paths: the same object as to_jsonb (tests compare them) at twice the speed.

-- name: cache_lock
-- One publish at a time (a session lock, released on disconnect too). Behind another publish: never cut short by a
-- lock_timeout set for the role or the database (as refresh_models.sql lock).
SELECT modelsync_wait_lock(hashtext('modelsync.cache'), false);

-- name: cache_unlock
SELECT pg_advisory_unlock(hashtext('modelsync.cache'));

-- name: utc_session
-- Timestamps as row_to_json writes them, in UTC on every path: the publisher's rows in Redis and a reader's from the
-- database are the same text whatever TimeZone the role, the database or PGTZ gives a session.
SET TIME ZONE 'UTC';

-- name: snapshot_read_only
-- One snapshot for the rows and the checksum: the manifest describes exactly what was written.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY;

-- name: table_checksum
-- Row count and checksum of what readers see (ids and content, in id order); the cache manifest holds the same.
SELECT count(*), coalesce(md5(string_agg(id::text || ':' || content_hash, ',' ORDER BY id)), '')
FROM models;

-- name: catalog_version
-- The number every write to providers or models bumps in its own transaction (migration 0016): read in the
-- snapshot of the rows, it orders two publishes by the table they read, whatever order they switch in.
SELECT version FROM catalog_version;

-- name: catalog_identity
-- Which catalog this database holds (migration 0020), and its name, for the cache's manifest and its messages.
SELECT catalog_id::text, current_database() FROM catalog_version;

-- name: cache_rows
SELECT provider, model_id, modality, row_to_json(r)::text
FROM catalog_rows r
ORDER BY provider COLLATE "C", model_id COLLATE "C";

-- name: reader_models
SELECT row_to_json(r)::text
FROM catalog_rows r
WHERE (%(provider)s::text IS NULL OR provider = %(provider)s)
  AND (%(modality)s::text IS NULL OR modality = %(modality)s)
ORDER BY provider COLLATE "C", model_id COLLATE "C";

-- name: reader_model
SELECT row_to_json(r)::text
FROM catalog_rows r
WHERE provider = %(provider)s AND model_id = %(model_id)s;
