-- models becomes a table partitioned by provider, one partition per provider: models_p<providers.id>.
--
-- Why: a provider's first load (the first sync, a new provider, a reset) inserted every row into the
-- indexed table, maintaining both btrees and checking the foreign key row by row. At 1M models that was
-- 19 s of INSERT against 5.8 s into an unindexed table (bench/bench_refresh.py, README). Now such a load
-- fills a new unindexed table, builds its indexes once, and attaches it as the provider's partition in the
-- same transaction. ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on models, which does not conflict with
-- readers: they keep reading the previous catalog and see the new partition's rows from COMMIT on.
--
-- What changes for everything else: the primary key is (id, provider_id) (a key of a partitioned table
-- includes the partition key; ids still come from one sequence, so they stay unique); a provider's rows are
-- in its own partition, created before any row of it is written (ensure_models_partitions); a partition
-- whose provider is gone is dropped in a short transaction of its own (drop_orphan_models_partitions).
-- Columns, their order, names of constraints, the sequence and every row (ids included) stay as they were,
-- so backups taken before this migration restore, and their checksums still match.

DROP VIEW catalog_rows;
DROP FUNCTION model_snapshot(models);

ALTER SEQUENCE models_id_seq OWNED BY NONE;
ALTER TABLE models RENAME TO models_unpartitioned;
ALTER TABLE models_unpartitioned DROP CONSTRAINT models_pkey,
                                 DROP CONSTRAINT models_provider_id_model_id_key,
                                 DROP CONSTRAINT models_provider_id_fkey;

CREATE TABLE models (
    id                    bigint      NOT NULL DEFAULT nextval('models_id_seq'),
    provider_id           bigint      NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    model_id              text        NOT NULL,
    model_name            text        NOT NULL,
    context_length        integer     CHECK (context_length >= 0),
    input_price_per_mtok  numeric(20, 6) CHECK (input_price_per_mtok >= 0),
    output_price_per_mtok numeric(20, 6) CHECK (output_price_per_mtok >= 0),
    modality              text        NOT NULL,
    is_free               boolean     NOT NULL DEFAULT false,
    quantization          text,
    release_stage         text,
    metadata              jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- the raw upstream record
    raw_name              text,
    name_rule             text        NOT NULL,
    name_steps            text[]      NOT NULL DEFAULT '{}',
    sync_run_id           text        NOT NULL,
    content_hash          text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, provider_id),
    UNIQUE (provider_id, model_id)
) PARTITION BY LIST (provider_id);
ALTER SEQUENCE models_id_seq OWNED BY models.id;

-- The partition that holds a provider's rows.
CREATE FUNCTION models_partition(p_provider_id bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'models_p' || p_provider_id $$;

-- Attach p_table (same columns as models, filled with rows of p_provider_id only) as that provider's
-- partition. Indexes it lacks are built here, once, and the foreign key is checked in one pass.
CREATE FUNCTION attach_models_partition(p_table text, p_provider_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_table <> models_partition(p_provider_id) THEN
        EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, models_partition(p_provider_id));
    END IF;
    EXECUTE format('ALTER TABLE models ATTACH PARTITION %I FOR VALUES IN (%s)',
                   models_partition(p_provider_id), p_provider_id);
END $$;

-- An empty partition for every provider that has none (before rows of it are written another way than a
-- first load, e.g. a restore); how many were created.
CREATE FUNCTION ensure_models_partitions() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    provider bigint;
    created integer := 0;
BEGIN
    FOR provider IN SELECT id FROM providers WHERE to_regclass(models_partition(id)) IS NULL ORDER BY id LOOP
        EXECUTE format('CREATE TABLE %I (LIKE models INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = 90)',
                       models_partition(provider));
        PERFORM attach_models_partition(models_partition(provider), provider);
        created := created + 1;
    END LOOP;
    RETURN created;
END $$;

-- Drop the partitions of providers that no longer exist (their rows went with them: ON DELETE CASCADE);
-- which were dropped. DROP takes ACCESS EXCLUSIVE on models, so callers run this in a transaction of its
-- own with a short lock_timeout, never inside a long write.
CREATE FUNCTION drop_orphan_models_partitions() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'models'::regclass
          AND NOT EXISTS (SELECT 1 FROM providers p WHERE models_partition(p.id) = c.relname)
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END $$;

SELECT ensure_models_partitions();
INSERT INTO models SELECT * FROM models_unpartitioned;
DROP TABLE models_unpartitioned;

CREATE FUNCTION model_snapshot(m models) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'model_name', m.model_name, 'context_length', m.context_length,
        'input_price_per_mtok', m.input_price_per_mtok, 'output_price_per_mtok', m.output_price_per_mtok,
        'modality', m.modality, 'is_free', m.is_free, 'quantization', m.quantization,
        'release_stage', m.release_stage, 'raw_name', m.raw_name, 'name_rule', m.name_rule,
        'name_steps', to_jsonb(m.name_steps), 'content_hash', m.content_hash, 'sync_run_id', m.sync_run_id,
        'id', m.id, 'created_at', m.created_at, 'updated_at', m.updated_at)
$$;

CREATE VIEW catalog_rows AS
SELECT m.id,
       p.slug AS provider,
       m.model_id,
       m.model_name,
       m.context_length,
       m.input_price_per_mtok,
       m.output_price_per_mtok,
       m.modality,
       m.is_free,
       m.quantization,
       m.release_stage,
       m.raw_name,
       m.name_rule,
       m.name_steps,
       m.sync_run_id,
       m.content_hash,
       m.updated_at
FROM models m
JOIN providers p ON p.id = m.provider_id;
