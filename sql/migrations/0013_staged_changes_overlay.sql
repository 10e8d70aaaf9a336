-- A re-stage lists what changed and no longer rewrites the staged rows it changed.
--
-- Why: a 1% re-sync deleted and re-inserted its changed rows in staging, one row on each of ~10,000 pages of
-- 1M staged rows; after a checkpoint every such page is written to the WAL whole (a full-page image). That was
-- half the WAL of the re-sync (218 MB -> 114 MB without it) and 0.45 s of its stage (bench/bench_refresh.py (c)),
-- to write rows the stage had already listed in provider_catalog_changes, every column, for the refresh's delta
-- path (migration 0007).
--
-- Now a provider's staged catalog is its rows in provider_catalogs with the changes listed after
-- provider_catalog_versions.folded_seq laid over them: for each model id the latest such change replaces its
-- staged row (removed: the id left the catalog). The view staged_catalogs reads the two merged; every reader of
-- a staged catalog reads it. A stage folds a provider's pending changes into its rows once they outnumber a
-- tenth of its catalog (modelsync_pipeline.db.stage_catalog.FOLD_FRACTION), in the stage's transaction: the
-- rows of ten 1% re-syncs are then written once, spread over the same pages, instead of ten times.
-- A whole catalog staged (a provider's first, or one replaced whole) folds every change listed before it.

-- Changes of the provider up to here are in its rows of provider_catalogs. Everything staged so far was
-- written into the rows by the stage that listed it.
ALTER TABLE provider_catalog_versions ADD COLUMN folded_seq bigint NOT NULL DEFAULT 0;
UPDATE provider_catalog_versions v
SET folded_seq = coalesce((SELECT max(c.seq) FROM provider_catalog_changes c WHERE c.provider_slug = v.provider_slug), 0);

-- The changes not yet folded into the staged rows.
CREATE VIEW pending_catalog_changes AS
SELECT c.*
FROM provider_catalog_changes c
JOIN provider_catalog_versions v ON v.provider_slug = c.provider_slug
WHERE c.seq > v.folded_seq;

-- The latest pending change of each id: its staged state (removed: it left the catalog).
CREATE VIEW latest_pending_changes AS
SELECT DISTINCT ON (provider_slug, model_id) *
FROM pending_catalog_changes
ORDER BY provider_slug, model_id, seq DESC;

-- Each provider's staged catalog as it reads: its staged rows not overridden by a pending change, and the
-- latest pending change of each id that did not remove it. A query on provider_slug reads the provider's
-- partition of provider_catalogs and its pending changes (the filter reaches both branches).
CREATE VIEW staged_catalogs AS
SELECT c.provider_slug, c.model_id, c.model_name, c.context_length, c.input_price_per_mtok,
       c.output_price_per_mtok, c.modality, c.is_free, c.quantization, c.release_stage, c.metadata, c.raw_name,
       c.name_rule, c.name_steps, c.sync_run_id, c.content_hash
FROM provider_catalogs c
WHERE NOT EXISTS (SELECT 1 FROM pending_catalog_changes x
                  WHERE x.provider_slug = c.provider_slug AND x.model_id = c.model_id)
UNION ALL
SELECT x.provider_slug, x.model_id, x.model_name, x.context_length, x.input_price_per_mtok,
       x.output_price_per_mtok, x.modality, x.is_free, x.quantization, x.release_stage, x.metadata, x.raw_name,
       x.name_rule, x.name_steps, x.sync_run_id, x.content_hash
FROM latest_pending_changes x
WHERE NOT x.removed;
