-- Statements that replace one provider's latest good catalog in provider_catalogs, in ONE transaction
-- (modelsync_pipeline.db.stage_provider_catalog). Run only after the catalog passed its checks.

-- name: lock
SELECT pg_advisory_xact_lock(hashtext('modelsync.catalog:' || %(slug)s));

-- name: current_checksum
SELECT checksum, row_count FROM provider_catalog_versions WHERE provider_slug = %(slug)s;

-- name: staged_keys
-- The staged catalog's row keys (migration 0007), and whether one is staged at all (a version and its
-- rows are written in one transaction, and an empty catalog is never staged).
SELECT row_keys, v.provider_slug IS NOT NULL
FROM (SELECT %(slug)s AS slug) s LEFT JOIN provider_catalog_versions v ON v.provider_slug = s.slug;

-- name: delete_keys
-- Rows that left the catalog or whose content changed (the changed ones are copied back below), by key:
-- the first 16 hex digits of content_hash as a bigint (indexed, migration 0007).
DELETE FROM provider_catalogs
WHERE (('x' || left(content_hash, 16))::bit(64)::bigint) = ANY(%(keys)s::bigint[]) AND provider_slug = %(slug)s
RETURNING model_id;

-- name: delete_all
-- A staged catalog without keys (staged before migration 0007) is replaced whole, and its refresh takes
-- the full path: the changes of this stage are not listed.
DELETE FROM provider_catalogs WHERE provider_slug = %(slug)s;

-- name: forget_delta
DELETE FROM provider_catalog_delta WHERE provider_slug = %(slug)s;

-- name: has_partition
-- Whether the provider has its partition of staging yet (migration 0012).
SELECT to_regclass(staging_partition(%(slug)s)) IS NOT NULL;

-- name: create_partition
-- A provider's first stage: a new unindexed table to copy the catalog into (copy), attached once full.
SELECT create_staging_partition(%(slug)s);

-- name: attach_partition
-- Builds the row-key index once, over the whole catalog, and makes the table the provider's partition.
SELECT attach_staging_partition(%(slug)s);

-- name: copy
-- The placeholder is the table copied into: provider_catalogs, or a first stage's new table (create_partition).
COPY {} (provider_slug, model_id, model_name, context_length, input_price_per_mtok,
                       output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                       raw_name, name_rule, name_steps, sync_run_id, content_hash)
FROM STDIN;

-- name: last_change
-- Where this stage's changes begin: every change of the provider listed after it is this stage's (the
-- stage holds the provider's lock).
SELECT coalesce(max(seq), 0) FROM provider_catalog_changes WHERE provider_slug = %(slug)s;

-- name: copy_removed
-- The ids this stage removed, for a refresh that applies only what changed.
COPY provider_catalog_changes (provider_slug, model_id, removed) FROM STDIN;

-- name: copy_changed
-- The rows this stage added or changed, as staged, for the same refresh.
COPY provider_catalog_changes (provider_slug, model_id, model_name, context_length, input_price_per_mtok,
                               output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                               raw_name, name_rule, name_steps, sync_run_id, content_hash)
FROM STDIN;

-- name: stage_changes
-- The rows this stage added or changed, staged from the changes just listed (not encoded and sent twice).
INSERT INTO provider_catalogs (provider_slug, model_id, model_name, context_length, input_price_per_mtok,
                               output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                               raw_name, name_rule, name_steps, sync_run_id, content_hash)
SELECT provider_slug, model_id, model_name, context_length, input_price_per_mtok, output_price_per_mtok,
       modality, is_free, quantization, release_stage, metadata, raw_name, name_rule, name_steps, sync_run_id,
       content_hash
FROM provider_catalog_changes
WHERE provider_slug = %(slug)s AND seq > %(after_seq)s AND NOT removed
ORDER BY seq;

-- name: prune_changes
-- Ids a refresh has already applied are not needed again.
DELETE FROM provider_catalog_changes c
USING provider_catalog_delta d
WHERE c.provider_slug = %(slug)s AND d.provider_slug = c.provider_slug AND c.seq <= d.applied_seq;

-- name: record_version
INSERT INTO provider_catalog_versions (provider_slug, run_id, validated_at, row_count, checksum, row_keys)
VALUES (%(slug)s, %(run_id)s, now(), %(row_count)s, %(checksum)s, %(row_keys)s)
ON CONFLICT (provider_slug) DO UPDATE
SET run_id = EXCLUDED.run_id, validated_at = EXCLUDED.validated_at, row_count = EXCLUDED.row_count,
    checksum = EXCLUDED.checksum, row_keys = EXCLUDED.row_keys;

-- name: record_attempt
INSERT INTO sync_attempts (provider_slug, run_id, outcome, row_count, step, error)
VALUES (%(slug)s, %(run_id)s, %(outcome)s, %(row_count)s, %(step)s, %(error)s);

-- name: last_good_facts
-- What the catalog-truth check compares a new catalog with: the provider's last good catalog.
SELECT model_id, context_length, input_price_per_mtok::float8, output_price_per_mtok::float8
FROM provider_catalogs WHERE provider_slug = %(slug)s;

-- name: last_good_row_count
SELECT row_count FROM provider_catalog_versions WHERE provider_slug = %(slug)s;

-- name: staged_providers
SELECT provider_slug FROM provider_catalog_versions ORDER BY 1;

-- name: stale_providers
-- Providers whose latest attempt failed (the table keeps their last good catalog), with when that was.
SELECT DISTINCT ON (a.provider_slug) a.provider_slug, a.outcome, a.step, a.error, a.run_id, v.validated_at
FROM sync_attempts a LEFT JOIN provider_catalog_versions v USING (provider_slug)
ORDER BY a.provider_slug, a.attempted_at DESC, a.id DESC;
