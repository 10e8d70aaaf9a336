-- A refresh's first loads (migration 0008) have their 'added' history rows (migration 0010) built by a second
-- connection while the first fills the new partitions of models: the refresh's two largest pieces of work run
-- on two server processes instead of one after the other (modelsync_pipeline.db.refresh_models).
--
-- What makes it possible: the second connection reads staging through the refresh's own snapshot
-- (pg_export_snapshot), and both number a provider's staged rows the same way (by their place in the table),
-- so each 'added' row gets the id of its models row without reading it. The ids a first load gives its rows
-- are therefore reserved up front, one contiguous range per refresh (reserve_model_ids). The history rows are
-- committed into model_history_loading just before the refresh attaches them; if the refresh then dies, the
-- table is left unattached (readers never see it) and the next refresh drops it.
--
-- Why: at 1M models the fill of models took ~5 s and the 'added' rows with their indexes ~7.5 s, one after the
-- other; side by side on this 2-core machine the pair took ~11.5 s instead of ~16 s.

-- `p_count` new ids of models_id_seq, contiguous: the first of them. ALTER SEQUENCE takes a lock that every
-- other session's nextval waits for until this transaction ends, so no id inside the range goes elsewhere
-- (modelsync's own writers already wait for the refresh's advisory lock).
CREATE FUNCTION reserve_model_ids(p_count bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_first bigint;
BEGIN
    ALTER SEQUENCE models_id_seq NO CYCLE;  -- unchanged; taken for its lock
    v_first := nextval('models_id_seq');
    IF p_count > 1 THEN
        PERFORM setval('models_id_seq', v_first + p_count - 1);
    END IF;
    RETURN v_first;
END $$;

-- The table a provider's first load is built into: models' columns, defaults and checks, plus the partition's
-- own constraint as a CHECK, so that ATTACH PARTITION knows every row belongs and skips its scan of them.
CREATE FUNCTION create_models_building(p_table text, p_provider_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE models INCLUDING DEFAULTS INCLUDING CONSTRAINTS, '
                   'CONSTRAINT models_building_provider CHECK (provider_id = %s)) WITH (fillfactor = 90)',
                   p_table, p_provider_id);
END $$;

-- As in 0008, and the building CHECK is dropped once attached: the partition constraint holds it from then on.
CREATE OR REPLACE FUNCTION attach_models_partition(p_table text, p_provider_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_table <> models_partition(p_provider_id) THEN
        EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, models_partition(p_provider_id));
    END IF;
    EXECUTE format('ALTER TABLE models ATTACH PARTITION %I FOR VALUES IN (%s)',
                   models_partition(p_provider_id), p_provider_id);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS models_building_provider',
                   models_partition(p_provider_id));
END $$;

-- As in 0010, for a table whose primary key may already be built (by the connection that filled it); indexes
-- of the parent it already has are attached, not built again. Whether it has one is not asked of pg_index: a
-- query sees the catalog as of the refresh's snapshot, older than the other connection's commit; DDL sees it
-- as it is.
CREATE OR REPLACE FUNCTION attach_history_batch(p_table text, p_batch bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', p_table);
    EXCEPTION WHEN invalid_table_definition THEN  -- "multiple primary keys": built already
        NULL;
    END;
    EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, 'model_history_b' || p_batch);
    EXECUTE format('ALTER TABLE model_history ATTACH PARTITION %I FOR VALUES IN (%s)',
                   'model_history_b' || p_batch, p_batch);
END $$;
