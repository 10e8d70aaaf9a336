-- provider_catalogs (staging) partitioned by provider_slug, one partition per provider.
--
-- Why: a provider's first stage copied its catalog into the one staging table, maintaining the row-key btree
-- (migration 0007) row by row: at 1M staged rows the server spent about as long on that index as on the rows.
-- Now the first stage of a provider creates its partition as a new table, copies the catalog into it with no
-- index, builds the row-key index once and attaches the table (modelsync_pipeline.db.stage_catalog). Later
-- stages of the provider write its changed rows into the partition, through the index, as before.
--
-- ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on provider_catalogs: readers (a refresh, the truth check) and
-- other providers' stages go on; two first stages attach one after the other. The table being attached has
-- the partition bound as a CHECK, so the attach does not scan it.
--
-- The block-range index on provider_slug (migrations 0006, 0009) is gone: a refresh reads one provider's staged
-- rows as its partition, pruned by the planner, so no index (and no summarizing of new ranges) is needed.
-- A partition is kept once made (its rows are replaced in place by later stages); nothing removes a staged
-- catalog.

DROP INDEX provider_catalogs_provider_brin;
ALTER TABLE provider_catalogs RENAME TO provider_catalogs_unpartitioned;
ALTER INDEX provider_catalogs_row_key_idx RENAME TO provider_catalogs_unpartitioned_row_key_idx;

CREATE TABLE provider_catalogs (LIKE provider_catalogs_unpartitioned) PARTITION BY LIST (provider_slug);
CREATE INDEX provider_catalogs_row_key_idx ON provider_catalogs ((('x' || left(content_hash, 16))::bit(64)::bigint));

-- The partition that holds a provider's staged catalog: readable, and distinct for distinct slugs (the
-- md5 prefix tells apart slugs that read alike once reduced to [a-z0-9_]).
CREATE FUNCTION staging_partition(p_slug text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'provider_catalogs_' || left(regexp_replace(lower(p_slug), '[^a-z0-9]+', '_', 'g'), 24) || '_'
           || left(md5(p_slug), 8)
$$;

-- The new table a provider's first catalog is copied into: staging's columns, no index, and the partition's
-- bound as a CHECK (dropped once attached, when the partition constraint holds it).
CREATE FUNCTION create_staging_partition(p_slug text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE provider_catalogs, CONSTRAINT staging_partition_slug CHECK (provider_slug = %L))',
                   staging_partition(p_slug), p_slug);
    RETURN staging_partition(p_slug);
END $$;

-- Attaches the table as the provider's partition; the attach builds the parent's row-key index on it, once,
-- over every row already copied in.
CREATE FUNCTION attach_staging_partition(p_slug text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE provider_catalogs ATTACH PARTITION %I FOR VALUES IN (%L)', staging_partition(p_slug), p_slug);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT staging_partition_slug', staging_partition(p_slug));
END $$;

-- Every staged row moves to its provider's partition, in model_id order (the order a first stage writes).
DO $$
DECLARE
    slug text;
BEGIN
    FOR slug IN SELECT DISTINCT provider_slug FROM provider_catalogs_unpartitioned ORDER BY 1 LOOP
        PERFORM create_staging_partition(slug);
        EXECUTE format('INSERT INTO %I SELECT * FROM provider_catalogs_unpartitioned WHERE provider_slug = %L ORDER BY model_id',
                       staging_partition(slug), slug);
        PERFORM attach_staging_partition(slug);
    END LOOP;
END $$;
DROP TABLE provider_catalogs_unpartitioned;
