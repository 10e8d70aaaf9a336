-- model_history becomes a table partitioned by `batch`: the 'added' rows of the providers a refresh loads
-- whole into new partitions of models (a first sync, a new provider, a reset) are written into a new
-- unindexed table of their own, whose indexes are built once when it is attached as model_history_b<batch>
-- (when there are enough of them: refresh_models.HISTORY_BATCH_MIN_ROWS; fewer join batch 0).
-- Every other change (updates, removals, additions to a provider's existing rows, restores) goes on into
-- model_history_changes (batch 0), as before.
--
-- Why: a first load writes one 'added' row per model, and maintaining model_history's btrees row by row
-- was the largest part of loading a catalog (1M models: ~5.5 s of an ~11 s refresh, of which ~2.5 s the
-- (provider_slug, model_id, changed_at) index alone, against ~1 s to build it). And the few thousand
-- history rows of a later re-sync landed on leaves all over an index that held the whole first load: after
-- a checkpoint each was logged whole (~76 MB of WAL per 10,000 changed models). Readers see one table as
-- before: same columns, one row per model per change, model_as_of and every query unchanged.
--
-- Rows, ids, their sequence and the index names of the old table stay (it becomes the batch 0 partition;
-- its indexes become the partitions of the parent's). The parent has no primary key of its own (one would
-- have to include `batch`); each partition's is id, and ids come from the one sequence.
ALTER TABLE model_history RENAME TO model_history_changes;
ALTER INDEX model_history_pkey RENAME TO model_history_changes_pkey;
ALTER INDEX model_history_model_idx RENAME TO model_history_changes_model_idx;
ALTER INDEX model_history_run_idx RENAME TO model_history_changes_run_idx;
ALTER TABLE model_history_changes ADD COLUMN batch bigint NOT NULL DEFAULT 0 CHECK (batch = 0);

CREATE TABLE model_history (
    id            bigint      NOT NULL DEFAULT nextval('model_history_id_seq'),
    run_id        text        NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    provider_slug text        NOT NULL,
    model_id      text        NOT NULL,
    model_row_id  bigint,
    changes       text[]      NOT NULL,
    old_values    jsonb,
    new_values    jsonb,
    batch         bigint      NOT NULL DEFAULT 0  -- 0: changes; n > 0: the 'added' rows of one refresh's first loads
) PARTITION BY LIST (batch);
ALTER SEQUENCE model_history_id_seq OWNED BY model_history.id;
CREATE INDEX model_history_model_idx ON model_history (provider_slug, model_id, changed_at);
CREATE INDEX model_history_run_idx ON model_history (run_id);
-- The old table's indexes are equivalent, so they are attached, not rebuilt; its CHECK spares the scan.
ALTER TABLE model_history ATTACH PARTITION model_history_changes FOR VALUES IN (0);

CREATE SEQUENCE model_history_batch_seq;

-- A new table for the 'added' rows of one batch (model_history's columns and defaults; `batch` defaults to
-- the new batch number, which a CHECK holds it to, so attaching needs no scan); the batch number.
CREATE FUNCTION create_history_batch(p_table text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_batch bigint := nextval('model_history_batch_seq');
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE model_history INCLUDING DEFAULTS, CHECK (batch = %s))', p_table, v_batch);
    EXECUTE format('ALTER TABLE %I ALTER COLUMN batch SET DEFAULT %s', p_table, v_batch);
    RETURN v_batch;
END $$;

-- Attach p_table, filled since create_history_batch, as model_history_b<p_batch>: its primary key and the
-- parent's two indexes are built here, once. Takes SHARE UPDATE EXCLUSIVE on model_history, which neither
-- readers nor writers of other rows wait for.
CREATE FUNCTION attach_history_batch(p_table text, p_batch bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', p_table);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, 'model_history_b' || p_batch);
    EXECUTE format('ALTER TABLE model_history ATTACH PARTITION %I FOR VALUES IN (%s)',
                   'model_history_b' || p_batch, p_batch);
END $$;
