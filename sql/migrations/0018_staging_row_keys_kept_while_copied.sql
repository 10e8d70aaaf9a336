-- A provider's first stage copies its catalog into a new table with no index, and attaching the table as the
-- provider's partition of staging then built the row-key index over it (migration 0012). That COPY is bound by
-- the client, which encodes the rows, and the server, half idle meanwhile, keeps the index as the rows arrive
-- for less than building it afterwards: 0.41 s against 0.46 s per 100,000 rows here (PostgreSQL 15, four
-- alternating runs each), 0.5 s of a first load of 1M models (bench/bench_refresh.py (a)). The table is now
-- made with the index, under the name the attach gave it; the attach takes it as the partition's.
CREATE OR REPLACE FUNCTION create_staging_partition(p_slug text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE provider_catalogs, CONSTRAINT staging_partition_slug CHECK (provider_slug = %L))',
                   staging_partition(p_slug), p_slug);
    EXECUTE format('CREATE INDEX %I ON %I (((''x'' || left(content_hash, 16))::bit(64)::bigint))',
                   staging_partition(p_slug) || '_int8_idx', staging_partition(p_slug));
    RETURN staging_partition(p_slug);
END $$;
