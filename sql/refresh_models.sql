-- Statements of the models refresh, run in this order inside ONE transaction by
-- modelsync_pipeline.db.refresh_models_table. Readers keep seeing the previous catalog until COMMIT;
-- a failure anywhere rolls all of it back. Rows whose content_hash did not change are not touched,
-- so their ids survive and an unchanged re-sync writes nothing. Every change is logged to
-- model_history in the same statement that makes it.

-- name: lock
-- Serialises refreshes, resets, flushes and restores; readers take no conflicting lock and are never blocked.
-- A wait here is behind another modelsync write: never cut short, not even by a lock_timeout set for the role or
-- the database (migration 0017; the lock watch, db/locks.py, reports it).
SELECT modelsync_wait_lock(hashtext('modelsync.models'), true);

-- name: session_lock
-- The refresh takes the same lock for its session BEFORE it begins, so that its REPEATABLE READ
-- snapshot is taken after the previous writer committed. Never cut short by a lock_timeout (as lock).
SELECT modelsync_wait_lock(hashtext('modelsync.models'), false);

-- name: session_unlock
SELECT pg_advisory_unlock(hashtext('modelsync.models'));

-- name: snapshot
-- One snapshot for every statement of the refresh: a provider catalog staged while the refresh runs
-- is either wholly in it or wholly left for the next one (and its checksum is not marked published).
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;

-- name: provider_count
SELECT count(*) FROM providers;

-- name: upsert_provider
INSERT INTO providers (name, slug, base_url, is_active)
VALUES (%(name)s, %(slug)s, %(base_url)s, true)
ON CONFLICT (slug) DO UPDATE
SET name = EXCLUDED.name, base_url = EXCLUDED.base_url, is_active = true, updated_at = now()
WHERE (providers.name, providers.base_url, providers.is_active)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.base_url, true);

-- name: tune
-- The refresh hashes whole catalogs: give it memory so the joins do not spill, and fresh statistics
-- on the (tiny, rarely auto-analysed) providers table so the planner does not pick a nested loop.
-- No JIT: over the partitions of models the planner's cost estimates passed the JIT thresholds, and
-- compiling took 0.25 s per statement (rows_per_provider of a 1% re-sync at 1M) to save nothing here.
SET LOCAL work_mem = '64MB';
SET LOCAL jit = off;
-- Not ended by an idle_in_transaction_session_timeout the role or the database sets: this transaction is idle while
-- its second connection builds a first load's partitions and history (seconds for 100,000s of rows), and
-- that one while this one attaches them; with the timeout at 1 s a first load of 300,000 rows failed every time,
-- "connection lost". Only this transaction is exempt; one whose process was killed still ends at once (the idle
-- server process reads the closed socket).
SET LOCAL idle_in_transaction_session_timeout = 0;

-- name: analyze_providers
ANALYZE providers;

-- name: hash_joins_only
-- For the statements over whole catalogs (every staged row of a provider against its models rows). After a
-- flush, autovacuum leaves statistics that say models is empty, and the planner then checked "is this model
-- new" with a scan of models per staged row, rereading the table the statement was filling: quadratic, hours
-- at a million models (tests/test_bulk_path.py). Hash joins read each side once, whatever the statistics. The
-- same holds inside staged_catalogs (migration 0013): a staged catalog is its rows less those its pending
-- changes override, an anti-join every reader of a whole staged catalog runs with this setting.
SET LOCAL enable_nestloop = off;

-- name: any_joins
-- Back to the session's setting: the delta path looks a few ids up through the models index.
SET LOCAL enable_nestloop TO DEFAULT;

-- name: unpublished
-- Staged providers whose catalog differs from the one their models rows were last refreshed from.
SELECT v.provider_slug
FROM provider_catalog_versions v LEFT JOIN providers p ON p.slug = v.provider_slug
WHERE v.provider_slug = ANY(%(slugs)s)
  AND p.published_checksum IS DISTINCT FROM v.checksum
ORDER BY 1;

-- name: mark_published
UPDATE providers p SET published_checksum = v.checksum
FROM provider_catalog_versions v
WHERE v.provider_slug = p.slug AND p.slug = ANY(%(slugs)s);

-- name: delete_removed
WITH gone AS (
    DELETE FROM models m
    USING providers p
    WHERE m.provider_id = p.id
      AND p.slug = ANY(%(slugs)s)
      AND NOT EXISTS (SELECT 1 FROM staged_catalogs c
                      WHERE c.provider_slug = p.slug AND c.model_id = m.model_id)
    RETURNING p.slug, m.model_id, m.id, model_snapshot(m) AS old_values
), logged AS (
    INSERT INTO model_history (run_id, provider_slug, model_id, model_row_id, changes, old_values)
    SELECT %(run_id)s, slug, model_id, id, ARRAY['removed'], old_values FROM gone
)
SELECT slug, count(*) FROM gone GROUP BY slug;

-- name: changed_rows
-- The staged rows that may change a models row of their provider: filled from the whole catalogs
-- (collect_changed: the rows whose content differs) and from the listed changes (delta_rows: the latest change of
-- every id listed, new ones included), and applied by one statement per provider (apply_changed).
CREATE TEMP TABLE refresh_changed (provider_id bigint NOT NULL, LIKE provider_catalogs)
ON COMMIT DROP;
-- The ids the listed changes removed (delta_rows), for delta_delete_removed.
CREATE TEMP TABLE refresh_removed (provider_id bigint NOT NULL, provider_slug text NOT NULL, model_id text NOT NULL)
ON COMMIT DROP;

-- name: collect_changed
INSERT INTO refresh_changed
SELECT m.provider_id, c.*
FROM models m
JOIN providers p ON p.id = m.provider_id
JOIN staged_catalogs c ON c.provider_slug = p.slug AND c.model_id = m.model_id
WHERE p.slug = ANY(%(slugs)s)
  AND m.content_hash <> c.content_hash;

-- name: analyze_changed
-- The statistics apply_changed is planned from: how many rows, of which providers and ids. Sampling every
-- column (each row's metadata document among them) took 0.13-0.2 s of a 1% re-sync of 1M models.
ANALYZE refresh_changed (provider_id, model_id);

-- name: changed_providers
-- apply_changed runs once per provider: with the provider a constant, the planner reads one partition and
-- picks an index lookup per changed row for a few changes. Over all partitions at once it costed each lookup
-- as a probe of every partition and scanned all of models instead (1.4 s for 10,000 changes of 1M).
SELECT DISTINCT provider_id FROM refresh_changed ORDER BY 1;

-- name: apply_changed
-- One provider's collected rows against its models rows, each looked up once (by provider and model id): a row
-- whose content differs is updated, in place (o is the provider's partition, provider_id a constant, so the row's
-- tid names it: no second lookup by id), an id without a row is inserted (only the delta path collects new ids;
-- the whole-catalog path inserted its new ids before, insert_new), an equal one is skipped (a change reverted
-- before the refresh). Each change is logged to model_history in the same statement. Rows per kind and provider.
-- Inserting the delta path's new ids here rather than in a statement of their own saved their second lookup:
-- 0.40 against 0.47 s for the 10,000 changes of bench_refresh.py (c) at 1M (three alternating runs each).
WITH listed AS (
    SELECT ch.*, o.ctid AS row_tid, o AS published  -- o: the row as it was
    FROM refresh_changed ch
    LEFT JOIN models o ON o.provider_id = %(provider_id)s AND o.model_id = ch.model_id
    WHERE ch.provider_id = %(provider_id)s AND (o.ctid IS NULL OR o.content_hash <> ch.content_hash)
), updated AS (
    UPDATE models m
    SET model_name = ch.model_name,
        context_length = ch.context_length,
        input_price_per_mtok = ch.input_price_per_mtok,
        output_price_per_mtok = ch.output_price_per_mtok,
        modality = ch.modality,
        is_free = ch.is_free,
        quantization = ch.quantization,
        release_stage = ch.release_stage,
        metadata = ch.metadata,
        raw_name = ch.raw_name,
        name_rule = ch.name_rule,
        name_steps = ch.name_steps,
        sync_run_id = ch.sync_run_id,
        content_hash = ch.content_hash,
        updated_at = now()
    FROM listed ch
    WHERE m.provider_id = %(provider_id)s AND m.ctid = ch.row_tid
    RETURNING ch.provider_slug, ch.model_id, m.id, model_snapshot(ch.published) AS old_values, model_snapshot(m) AS new_values
), added AS (
    INSERT INTO models (provider_id, model_id, model_name, context_length, input_price_per_mtok,
                        output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                        raw_name, name_rule, name_steps, sync_run_id, content_hash)
    SELECT %(provider_id)s, c.model_id, c.model_name, c.context_length, c.input_price_per_mtok,
           c.output_price_per_mtok, c.modality, c.is_free, c.quantization, c.release_stage, c.metadata,
           c.raw_name, c.name_rule, c.name_steps, c.sync_run_id, c.content_hash
    FROM listed c
    WHERE c.row_tid IS NULL
    RETURNING models.id, models.model_id
), logged AS (
    INSERT INTO model_history (run_id, provider_slug, model_id, model_row_id, changes, old_values, new_values)
    SELECT %(run_id)s, u.provider_slug, u.model_id, u.id,
           coalesce(nullif(array_remove(ARRAY[
               CASE WHEN u.old_values -> 'model_name' IS DISTINCT FROM u.new_values -> 'model_name' THEN 'renamed' END,
               CASE WHEN u.old_values -> 'context_length' IS DISTINCT FROM u.new_values -> 'context_length'
                    THEN 'context_changed' END,
               CASE WHEN (u.old_values -> 'input_price_per_mtok', u.old_values -> 'output_price_per_mtok')
                         IS DISTINCT FROM (u.new_values -> 'input_price_per_mtok', u.new_values -> 'output_price_per_mtok')
                    THEN 'price_changed' END
           ], NULL), '{}'), ARRAY['updated']),
           u.old_values, u.new_values
    FROM updated u
    UNION ALL
    SELECT %(run_id)s, p.slug, a.model_id, a.id, ARRAY['added'], NULL, NULL
    FROM added a, providers p WHERE p.id = %(provider_id)s
)
SELECT 'updated', provider_slug, count(*) FROM updated GROUP BY provider_slug
UNION ALL
SELECT 'added', p.slug, count(*) FROM added a, providers p WHERE p.id = %(provider_id)s GROUP BY p.slug;

-- name: insert_new
WITH added AS (
    INSERT INTO models (provider_id, model_id, model_name, context_length, input_price_per_mtok,
                        output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                        raw_name, name_rule, name_steps, sync_run_id, content_hash)
    SELECT p.id, c.model_id, c.model_name, c.context_length, c.input_price_per_mtok,
           c.output_price_per_mtok, c.modality, c.is_free, c.quantization, c.release_stage, c.metadata,
           c.raw_name, c.name_rule, c.name_steps, c.sync_run_id, c.content_hash
    FROM staged_catalogs c
    JOIN providers p ON p.slug = c.provider_slug
    WHERE c.provider_slug = ANY(%(slugs)s)
      AND NOT EXISTS (SELECT 1 FROM models m WHERE m.provider_id = p.id AND m.model_id = c.model_id)
    RETURNING models.id, models.provider_id, models.model_id
), logged AS (
    -- new_values stays NULL for 'added': the row itself, or the old_values of its next change, holds it
    INSERT INTO model_history (run_id, provider_slug, model_id, model_row_id, changes)
    SELECT %(run_id)s, p.slug, a.model_id, a.id, ARRAY['added']
    FROM added a JOIN providers p ON p.id = a.provider_id
)
SELECT p.slug, count(*) FROM added a JOIN providers p ON p.id = a.provider_id GROUP BY p.slug;

-- A provider's first load (migration 0008): its rows go into a new unindexed table, which then gets its
-- indexes built once and is attached as the provider's partition of models. Readers are not blocked
-- (ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on models) and see the rows from COMMIT on.

-- name: orphans_lock_timeout
-- Partitions of providers that were deleted (a reset, flush_providers) are dropped in a transaction of
-- their own, before the refresh's: DROP waits for readers, at most this long, else it is left for the next.
SET LOCAL lock_timeout = '1s';

-- name: drop_orphans
SELECT drop_orphan_models_partitions();

-- name: fresh_providers
-- Staged providers that have no partition yet, hence no rows: their catalog is loaded by build_partitions.
SELECT p.id, p.slug FROM providers p
WHERE p.slug = ANY(%(slugs)s) AND to_regclass(models_partition(p.id)) IS NULL
ORDER BY p.id;

-- name: tune_build
-- Each partition's two btrees are built in memory, not by an external sort on disk, and so is the numbering's
-- sort of a provider's staged rows (fill_building_numbered; it spilled 27 MB to disk per 100,000 rows at
-- 4 MB). Each build reads one provider's staged catalog: its partition of staging (migration 0012), chosen by
-- the planner from the slug, with its pending changes laid over it (migration 0013) by a hash join, as every
-- read of whole catalogs (hash_joins_only): fresh partitions have no statistics yet, and the planner then
-- checked each staged row against the pending changes by rescanning them.
SET LOCAL maintenance_work_mem = '256MB';
SET LOCAL work_mem = '256MB';
SET LOCAL enable_nestloop = off;
SET LOCAL synchronize_seqscans = off;
SET LOCAL max_parallel_workers_per_gather = 0;

-- name: create_history_building
-- The 'added' rows of every provider built in this refresh go into one new table, attached to model_history
-- as a partition once they are all in (migration 0010); the batch number.
SELECT create_history_batch('model_history_building');

-- name: reserve_ids
-- The ids of a refresh's first loads, reserved up front (migration 0011), and of their 'added' history rows
-- (migration 0019): the first of each.
SELECT reserve_ids('models_id_seq', %(count)s), reserve_ids('model_history_id_seq', %(count)s);

-- name: create_building
-- The table a provider's partition is built in: models_building on this connection (fill_building reads it by
-- that name), models_loading_<provider id> on the second (BesideBuilder).
SELECT create_models_building(%(table)s, %(provider_id)s);

-- name: fill_building
-- In model id order (bytewise), as fill_building_numbered numbers them: ids follow model ids on a first load.
INSERT INTO models_building (provider_id, model_id, model_name, context_length, input_price_per_mtok,
                             output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                             raw_name, name_rule, name_steps, sync_run_id, content_hash)
SELECT %(provider_id)s, c.model_id, c.model_name, c.context_length, c.input_price_per_mtok,
       c.output_price_per_mtok, c.modality, c.is_free, c.quantization, c.release_stage, c.metadata,
       c.raw_name, c.name_rule, c.name_steps, c.sync_run_id, c.content_hash
FROM staged_catalogs c
WHERE c.provider_slug = %(slug)s
ORDER BY c.model_id COLLATE "C";

-- name: tune_beside
-- With the second connection at work beside it, no index build adds workers of its own.
SET LOCAL max_parallel_maintenance_workers = 0;

-- name: fill_building_numbered
-- The same, when a second connection builds the 'added' history rows (BesideBuilder): the provider's rows
-- are numbered from its first reserved id as history_batch_fill numbers them, from the same snapshot. The
-- placeholders: the table filled (the load's: models_building, or a partition the second connection builds),
-- and where the rows are read and in what order they are numbered (numbered_by_id or
-- numbered_in_place; on a line of its own, as a fragment may end in a comment). created_at and updated_at
-- are the refresh's now(), as its own statements' defaults and the 'added' rows' changed_at, whichever
-- connection writes them.
INSERT INTO {table} (id, provider_id, model_id, model_name, context_length, input_price_per_mtok,
                     output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                     raw_name, name_rule, name_steps, sync_run_id, content_hash, created_at, updated_at)
SELECT %(first_id)s + row_number() OVER (
           {numbering}
       ) - 1, %(provider_id)s, c.model_id, c.model_name,
       c.context_length, c.input_price_per_mtok, c.output_price_per_mtok, c.modality, c.is_free, c.quantization,
       c.release_stage, c.metadata, c.raw_name, c.name_rule, c.name_steps, c.sync_run_id, c.content_hash,
       %(changed_at)s, %(changed_at)s
FROM {source} c
WHERE c.provider_slug = %(slug)s;

-- name: numbered_by_id
-- A catalog with pending changes laid over its rows (migration 0013) is read through staged_catalogs and has no
-- single place order: its rows are numbered in model id order (bytewise; ids are unique in a staged catalog).
ORDER BY c.model_id COLLATE "C"

-- name: numbered_in_place
-- A catalog with no pending changes is its partition of provider_catalogs, read in place, and numbered in the
-- order its rows sit there: the two connections scan it through the same snapshot, each from its first block
-- (no synchronized scans, no parallel workers: tune_build, history_batch_tune), so both see the same rows in
-- the same order. Model id order, for a catalog staged whole, which the btrees are built faster from; the sort
-- and the view it spares were 0.07 s per 100,000 rows of each connection's fill.

-- name: pending_count
-- The provider's changes pending over its staged rows (migration 0013), in the refresh's snapshot.
SELECT count(*) FROM pending_catalog_changes WHERE provider_slug = %(slug)s;

-- name: log_building
-- The 'added' row of every model just built, when this connection writes them (too few to be built on the
-- side, or a write that does not run in one snapshot), read back from the new table: taking them from the
-- fill's RETURNING held every returned row in a tuplestore first, 1.8 s more at 1M here.
INSERT INTO model_history_building (run_id, provider_slug, model_id, model_row_id, changes)
SELECT %(run_id)s, %(slug)s, b.model_id, b.id, ARRAY['added'] FROM models_building b;

-- name: attach_building
-- Renames the table to models_p<provider id>, builds the primary key and the (provider_id, model_id) unique
-- index (a duplicate id fails the refresh here) unless the second connection built them (index_loading), and
-- checks the foreign key, then makes the rows part of models.
SELECT attach_models_partition(%(table)s, %(provider_id)s);

-- name: partition_name
SELECT models_partition(%(provider_id)s);

-- name: staged_row_count
-- How many rows the provider's staged catalog holds, as its version recorded in the same transaction.
SELECT row_count FROM provider_catalog_versions WHERE provider_slug = %(slug)s;

-- name: isolation
SELECT current_setting('transaction_isolation'), now();

-- name: export_snapshot
SELECT pg_export_snapshot();

-- name: attach_history_building
-- Builds the batch's primary key and model_history's two indexes on it, then makes its rows part of
-- model_history.
SELECT attach_history_batch('model_history_building', %(batch)s);

-- The second connection (BesideBuilder): the 'added' rows of a refresh's first loads, built in a table of its
-- own from the refresh's snapshot while the refresh fills models (migration 0011), and the partitions of models
-- of some of those first loads, each in a table of its own, indexed, which the refresh attaches.

-- name: history_batch_snapshot
-- The placeholder is the snapshot the refresh exported, composed as a literal (SET takes no parameters).
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SET TRANSACTION SNAPSHOT {};

-- name: history_batch_create
SELECT create_history_batch('model_history_loading');

-- name: history_batch_tune
-- As tune, tune_build and tune_beside. No JIT: with nested loops off, the one the view staged_catalogs cannot
-- do without (a provider's pending changes are those past its version's folded_seq) is costed as disabled,
-- which passed the JIT thresholds: compiling took 0.5 s per statement, 10 x 10,000 rows took 3.8 s instead of
-- 0.4 s.
SET LOCAL work_mem = '256MB';
SET LOCAL maintenance_work_mem = '256MB';
SET LOCAL max_parallel_maintenance_workers = 0;
SET LOCAL enable_nestloop = off;
SET LOCAL idle_in_transaction_session_timeout = 0;
SET LOCAL jit = off;
SET LOCAL synchronize_seqscans = off;
SET LOCAL max_parallel_workers_per_gather = 0;

-- name: index_loading
-- Its primary key and unique key, as models declares them (migration 0008) and under the names its attach
-- would give them once the table is renamed to models_p<provider id>: attaching it then only takes them as
-- the partition's (and checks the foreign key). A duplicate id fails here, and with it the refresh.
ALTER TABLE {table} ADD CONSTRAINT {pkey} PRIMARY KEY (id, provider_id),
                    ADD CONSTRAINT {ukey} UNIQUE (provider_id, model_id);

-- name: history_batch_fill
-- Numbered as fill_building_numbered numbers the models rows: same snapshot, same placeholders, same first id;
-- each row's own id from the history ids reserved for the load.
INSERT INTO model_history_loading (id, run_id, changed_at, provider_slug, model_id, model_row_id, changes)
SELECT %(first_history_id)s + n - 1, %(run_id)s, %(changed_at)s, %(slug)s, model_id, %(first_id)s + n - 1,
       ARRAY['added']
FROM (SELECT c.model_id, row_number() OVER (
          {numbering}
      ) AS n
      FROM {source} c
      WHERE c.provider_slug = %(slug)s) numbered;

-- name: history_batch_index
-- model_history's two indexes (migration 0010) and the partition's primary key, so the refresh only attaches.
ALTER TABLE model_history_loading ADD PRIMARY KEY (id);
CREATE INDEX ON model_history_loading (provider_slug, model_id, changed_at);
CREATE INDEX ON model_history_loading (run_id);

-- name: attach_history_loading
SELECT attach_history_batch('model_history_loading', %(batch)s);

-- name: drop_history_loading
-- A batch built for a refresh that then failed or was killed: never attached, never seen by readers.
DROP TABLE IF EXISTS model_history_loading;

-- name: models_loading_tables
-- Partitions the second connection built for a write that then failed or was killed (create_building): never
-- attached, never seen by readers. In the schema the catalog's tables are made in, the first of search_path.
SELECT c.relname FROM pg_class c
WHERE c.relname LIKE 'models\_loading\_%' AND c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
ORDER BY 1;

-- name: drop_table
DROP TABLE IF EXISTS {};

-- name: merge_history_building
-- A batch too small for a partition of its own (HISTORY_BATCH_MIN_ROWS): its rows, ids kept, join the changes.
INSERT INTO model_history (id, run_id, changed_at, provider_slug, model_id, model_row_id, changes, old_values, new_values)
SELECT id, run_id, changed_at, provider_slug, model_id, model_row_id, changes, old_values, new_values
FROM model_history_building ORDER BY id;

-- name: drop_history_building
DROP TABLE model_history_building;

-- name: mark_synced
-- "Last synced" (the status report's) is when the provider last answered with the catalog the table now
-- holds: the time and run of its latest attempt, when that attempt was good and is newer than the one
-- recorded. A provider whose latest attempt failed keeps its last good catalog and its last_synced_at; one
-- not fetched in this run (`--providers`, publish_catalog) keeps its own, not this refresh's time.
UPDATE providers p
SET last_synced_at = a.attempted_at, last_sync_run_id = a.run_id
FROM (SELECT DISTINCT ON (provider_slug) provider_slug, outcome, attempted_at, run_id
      FROM sync_attempts
      WHERE provider_slug = ANY(%(slugs)s)
      ORDER BY provider_slug, attempted_at DESC, id DESC) a
WHERE p.slug = a.provider_slug
  AND a.outcome <> ALL(%(failed_outcomes)s)
  AND (p.last_synced_at IS NULL OR a.attempted_at > p.last_synced_at);

-- name: rows_per_provider
-- A provider whose rows were refreshed to its staged catalog has exactly that catalog's row count; only
-- the others (not staged, or not yet published) are counted, through the (provider_id, model_id) index.
-- The refresh's (providers, models) before and after it wrote are computed from these counts and its own: a
-- count(*) of models reads every row, 0.25 s of a 1.1 s refresh of a 1% re-sync at 1M models (bench_refresh.py
-- (c)) when it counted both.
SELECT p.slug, CASE WHEN p.published_checksum = v.checksum THEN v.row_count
                    ELSE (SELECT count(*) FROM models m WHERE m.provider_id = p.id) END
FROM providers p LEFT JOIN provider_catalog_versions v ON v.provider_slug = p.slug
ORDER BY p.slug;

-- The delta path (migration 0006): providers whose models rows are exactly the catalog they were last
-- refreshed to get only the ids staged since, instead of a join of their whole catalog.

-- name: delta_ready
-- Not a provider with a change listed since that lacks its row: listed before migration 0007 (only the id; the
-- migration left its columns NULL and removed false) by a stage whose catalog was never refreshed. Its latest
-- change would write NULLs into models (the refresh failed, every provider's, until the provider was staged
-- again); its staged rows are the catalog whole, so the full path applies it. The range is the one delta_rows reads.
SELECT p.slug
FROM providers p JOIN provider_catalog_delta d ON d.provider_slug = p.slug
WHERE p.slug = ANY(%(slugs)s) AND p.published_checksum = d.base_checksum
  AND NOT EXISTS (SELECT 1 FROM provider_catalog_changes c
                  WHERE c.provider_slug = p.slug AND c.seq > d.applied_seq AND NOT c.removed
                    AND c.content_hash IS NULL);

-- name: delta_rows
-- Each id staged since the last refresh, as its latest listed change carries it: the ids that left the catalog
-- into refresh_removed, the others (new or changed) straight into refresh_changed, where apply_changed finds them
-- (copying them there from a table of every listed change took 8-17 ms of bench_refresh.py (c) at 1M models).
-- models is not read here: each statement after looks up only the rows it needs, apply_changed one provider's
-- partition at a time (reading every listed id's models row here, through all partitions, and keeping its
-- content for the update took 0.46 s of (c); the update reading it itself, 0.13 s more).
WITH latest AS (
    SELECT DISTINCT ON (c.provider_slug, c.model_id) p.id AS provider_id, c.*
    FROM provider_catalog_changes c
    JOIN provider_catalog_delta d ON d.provider_slug = c.provider_slug
    JOIN providers p ON p.slug = c.provider_slug
    WHERE c.provider_slug = ANY(%(slugs)s) AND c.seq > d.applied_seq
    ORDER BY c.provider_slug, c.model_id, c.seq DESC
), removed AS (
    INSERT INTO refresh_removed SELECT provider_id, provider_slug, model_id FROM latest WHERE removed
)
INSERT INTO refresh_changed
SELECT c.provider_id, c.provider_slug, c.model_id, c.model_name, c.context_length, c.input_price_per_mtok,
       c.output_price_per_mtok, c.modality, c.is_free, c.quantization, c.release_stage, c.metadata, c.raw_name,
       c.name_rule, c.name_steps, c.sync_run_id, c.content_hash
FROM latest c
WHERE NOT c.removed;

-- name: tune_delta
-- A few thousand ids are looked up through the models unique index, not by a scan of every model; the
-- default random_page_cost (spinning disks) made the planner pick the scan.
SET LOCAL random_page_cost = 1.1;

-- name: delta_delete_removed
WITH gone AS (
    DELETE FROM models m
    USING refresh_removed r
    WHERE m.provider_id = r.provider_id AND m.model_id = r.model_id
    RETURNING r.provider_slug AS slug, m.model_id, m.id, model_snapshot(m) AS old_values
), logged AS (
    INSERT INTO model_history (run_id, provider_slug, model_id, model_row_id, changes, old_values)
    SELECT %(run_id)s, slug, model_id, id, ARRAY['removed'], old_values FROM gone
)
SELECT slug, count(*) FROM gone GROUP BY slug;

-- name: rebase
-- The published providers' rows are now exactly their staged catalog, with every change staged so far
-- (in this snapshot) applied: the next refresh may take the delta path from here.
INSERT INTO provider_catalog_delta (provider_slug, base_checksum, applied_seq)
SELECT v.provider_slug, v.checksum,
       coalesce((SELECT max(c.seq) FROM provider_catalog_changes c WHERE c.provider_slug = v.provider_slug), 0)
FROM provider_catalog_versions v
WHERE v.provider_slug = ANY(%(slugs)s)
ON CONFLICT (provider_slug) DO UPDATE
SET base_checksum = EXCLUDED.base_checksum, applied_seq = EXCLUDED.applied_seq;
