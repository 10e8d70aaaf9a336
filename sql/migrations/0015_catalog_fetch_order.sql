-- When the catalog staged for each provider was fetched: the time its fetch began, on the database server's
-- clock (read by the fetching step, carried forward by its process's monotonic clock). Two runs that fetch the same provider at once (two sync_all launches, a backfill beside the
-- schedule) stage in whatever order their steps reach the stage; without this the run launched first could stage
-- its older fetch last, and the older catalog was published until the next sync. A stage now refuses a catalog
-- fetched before the staged one, recording the attempt as 'superseded'. NULL: staged before this migration, or
-- staged by a caller that gave no fetch time; either stage goes ahead.
ALTER TABLE provider_catalog_versions ADD COLUMN fetched_at timestamptz;

ALTER TABLE sync_attempts DROP CONSTRAINT sync_attempts_outcome_check;
ALTER TABLE sync_attempts ADD CONSTRAINT sync_attempts_outcome_check
    CHECK (outcome IN ('staged', 'unchanged', 'fetch_failed', 'check_failed', 'process_failed', 'superseded'));
