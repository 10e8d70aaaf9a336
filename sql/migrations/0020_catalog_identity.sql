-- Which catalog a cache version was published from (modelsync_pipeline/cache.py). Two deployments whose
-- REDIS_URL name the same Redis database share the cache's keys: a publish of one switched the other's readers
-- to its own catalog whenever its catalog_version counter was the higher (the switch's fence compares only
-- that), silently. Each catalog database gets an identity here, once; a publish writes it into its version's
-- manifest and refuses to replace a live version published from another.
ALTER TABLE catalog_version ADD COLUMN catalog_id uuid NOT NULL DEFAULT gen_random_uuid();
