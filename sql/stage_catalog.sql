-- Statements that replace one provider's latest good catalog in provider_catalogs, in ONE transaction
-- (modelsync_pipeline.db.stage_provider_catalog). Run only after the catalog passed its checks.

-- name: lock
-- One stage of a provider at a time. Behind another run's stage of it: never cut short by a lock_timeout set for
-- the role or the database (as refresh_models.sql lock).
SELECT modelsync_wait_lock(hashtext('modelsync.catalog:' || %(slug)s), true);

-- name: current_checksum
SELECT checksum, row_count, fetched_at, run_id FROM provider_catalog_versions WHERE provider_slug = %(slug)s;

-- name: staged_keys
-- The staged catalog's row keys (migration 0007), and whether one is staged at all (a version and its
-- rows are written in one transaction, and an empty catalog is never staged).
SELECT row_keys, v.provider_slug IS NOT NULL
FROM (SELECT %(slug)s AS slug) s LEFT JOIN provider_catalog_versions v ON v.provider_slug = s.slug;

-- name: stale_ids
-- The ids of the staged rows that left the catalog or whose content changed, by key: the first 16 hex digits
-- of content_hash as a bigint, looked up among the staged rows (indexed, migration 0007) and the provider's
-- pending changes (migration 0013). A key stands for an id and its content together, so a key found among
-- rows a pending change overrides still names the right id. Read only: the staged rows are not rewritten.
SELECT model_id FROM provider_catalogs
WHERE (('x' || left(content_hash, 16))::bit(64)::bigint) = ANY(%(keys)s::bigint[]) AND provider_slug = %(slug)s
UNION
SELECT model_id FROM pending_catalog_changes
WHERE (('x' || left(content_hash, 16))::bit(64)::bigint) = ANY(%(keys)s::bigint[]) AND provider_slug = %(slug)s;

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
-- A provider's first stage: a new table to copy the catalog into (copy), attached once full; its one index, on
-- the row keys, is kept as the rows arrive (migration 0018).
SELECT create_staging_partition(%(slug)s);

-- name: attach_partition
-- Makes the table the provider's partition, its row-key index the partition's.
SELECT attach_staging_partition(%(slug)s);

-- name: copy
-- The placeholder is the table copied into: provider_catalogs, or a first stage's new table (create_partition).
COPY {} (provider_slug, model_id, model_name, context_length, input_price_per_mtok,
                       output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                       raw_name, name_rule, name_steps, sync_run_id, content_hash)
FROM STDIN;

-- name: copy_removed
-- The ids this stage removed, for a refresh that applies only what changed.
COPY provider_catalog_changes (provider_slug, model_id, removed) FROM STDIN;

-- name: copy_changed
-- The rows this stage added or changed, as staged: for the same refresh, and laid over the staged rows until
-- they are folded into them (migration 0013).
COPY provider_catalog_changes (provider_slug, model_id, model_name, context_length, input_price_per_mtok,
                               output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                               raw_name, name_rule, name_steps, sync_run_id, content_hash)
FROM STDIN;

-- name: pending_changes
-- How many changes of the provider are not folded into its staged rows yet (migration 0013).
SELECT count(*) FROM pending_catalog_changes WHERE provider_slug = %(slug)s;

-- name: fold_delete
-- Folding the pending changes into the staged rows: the rows they override go ...
DELETE FROM provider_catalogs c
USING (SELECT DISTINCT model_id FROM pending_catalog_changes WHERE provider_slug = %(slug)s) x
WHERE c.provider_slug = %(slug)s AND c.model_id = x.model_id;

-- name: fold_insert
-- ... and the latest pending change of each id that is still listed takes their place (fold_mark: then none is
-- pending).
INSERT INTO provider_catalogs (provider_slug, model_id, model_name, context_length, input_price_per_mtok,
                               output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                               raw_name, name_rule, name_steps, sync_run_id, content_hash)
SELECT provider_slug, model_id, model_name, context_length, input_price_per_mtok, output_price_per_mtok,
       modality, is_free, quantization, release_stage, metadata, raw_name, name_rule, name_steps, sync_run_id,
       content_hash
FROM latest_pending_changes
WHERE provider_slug = %(slug)s AND NOT removed;

-- name: fold_mark
UPDATE provider_catalog_versions
SET folded_seq = (SELECT coalesce(max(seq), 0) FROM provider_catalog_changes WHERE provider_slug = %(slug)s)
WHERE provider_slug = %(slug)s;

-- name: prune_changes
-- Changes a refresh has already applied and that are folded into the staged rows are not needed again.
DELETE FROM provider_catalog_changes c
USING provider_catalog_delta d, provider_catalog_versions v
WHERE c.provider_slug = %(slug)s AND d.provider_slug = c.provider_slug AND v.provider_slug = c.provider_slug
  AND c.seq <= least(d.applied_seq, v.folded_seq);

-- name: record_version
-- A whole catalog (whole: true) replaced the staged rows: every change listed before it is folded (superseded).
-- Changes listed by this stage (whole: false) stay pending, laid over the staged rows (migration 0013).
INSERT INTO provider_catalog_versions (provider_slug, run_id, validated_at, row_count, checksum, row_keys, folded_seq,
                                       source, fetched_at)
VALUES (%(slug)s, %(run_id)s, now(), %(row_count)s, %(checksum)s, %(row_keys)s,
        (SELECT coalesce(max(seq), 0) FROM provider_catalog_changes WHERE provider_slug = %(slug)s), %(source)s,
        %(fetched_at)s)
ON CONFLICT (provider_slug) DO UPDATE
SET run_id = EXCLUDED.run_id, validated_at = EXCLUDED.validated_at, row_count = EXCLUDED.row_count,
    checksum = EXCLUDED.checksum, row_keys = EXCLUDED.row_keys, source = EXCLUDED.source,
    fetched_at = EXCLUDED.fetched_at,
    folded_seq = CASE WHEN %(whole)s THEN EXCLUDED.folded_seq ELSE provider_catalog_versions.folded_seq END;

-- name: record_unchanged
-- The same catalog fetched again: the rows stay. Where it came from may change (live, after replay runs), and
-- the fetch it now stands for is this later one (migration 0015). Each is kept when this stage does not know it.
UPDATE provider_catalog_versions
SET source = coalesce(%(source)s, source), fetched_at = coalesce(%(fetched_at)s, fetched_at)
WHERE provider_slug = %(slug)s
  AND (source IS DISTINCT FROM coalesce(%(source)s, source) OR fetched_at IS DISTINCT FROM coalesce(%(fetched_at)s, fetched_at));

-- name: record_attempt
INSERT INTO sync_attempts (provider_slug, run_id, outcome, row_count, step, error)
VALUES (%(slug)s, %(run_id)s, %(outcome)s, %(row_count)s, %(step)s, %(error)s);

-- name: whole_catalog_plans
-- For a statement that reads a whole staged catalog (migration 0013): its staged rows less those its pending
-- changes override, by a hash join whatever the statistics say (see refresh_models.sql hash_joins_only), and no
-- JIT (history_batch_tune). Both last until the end of the transaction.
SET LOCAL enable_nestloop = off;
SET LOCAL jit = off;

-- name: last_good_facts
-- What the catalog-truth check compares a new catalog with: the provider's last good catalog (whole_catalog_plans).
SELECT model_id, context_length, input_price_per_mtok::float8, output_price_per_mtok::float8
FROM staged_catalogs WHERE provider_slug = %(slug)s;

-- name: last_good_row_count
SELECT row_count FROM provider_catalog_versions WHERE provider_slug = %(slug)s;

-- name: server_time
-- The clock fetch times are read from (migration 0015): one for every worker, unlike the workers' own.
SELECT clock_timestamp();

-- name: staged_providers
SELECT provider_slug FROM provider_catalog_versions ORDER BY 1;

-- name: catalog_sources
-- Where the latest good catalog of each provider came from (migration 0014; NULL: staged before it).
SELECT provider_slug, source FROM provider_catalog_versions ORDER BY 1;

-- name: stale_providers
-- Providers whose latest attempt failed (the table keeps their last good catalog), with when that was. An attempt
-- superseded by a later fetch (migration 0015) changed nothing staged: the attempt before it tells the state.
SELECT DISTINCT ON (a.provider_slug) a.provider_slug, a.outcome, a.step, a.error, a.run_id, v.validated_at
FROM sync_attempts a LEFT JOIN provider_catalog_versions v USING (provider_slug)
WHERE a.outcome <> 'superseded'
ORDER BY a.provider_slug, a.attempted_at DESC, a.id DESC;

-- name: run_attempts
-- Each provider's latest attempt in one run.
SELECT DISTINCT ON (provider_slug) provider_slug, outcome, step, error
FROM sync_attempts WHERE run_id = %(run_id)s
ORDER BY provider_slug, attempted_at DESC, id DESC;
