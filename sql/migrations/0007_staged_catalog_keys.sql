-- The stage compares a new catalog with the staged one without reading the staged rows: each version keeps
-- one 64-bit key per row (the first 8 bytes of the row's content_hash, an md5 over every column including
-- model_id). A 1%-changed catalog reads one value, not its whole catalog (bench/bench_refresh.py (c)).
-- Stored uncompressed: hashes do not compress. NULL: staged before this migration; the next stage replaces
-- the provider's rows whole and records them.
ALTER TABLE provider_catalog_versions ADD COLUMN row_keys bytea;
ALTER TABLE provider_catalog_versions ALTER COLUMN row_keys SET STORAGE EXTERNAL;

-- Each listed change carries the staged row it led to (NULLs and removed = true: the id left the catalog),
-- so a refresh on the delta path reads the changes alone, never a scan of the staged catalogs. The latest
-- entry of an id (highest seq) is its staged state.
ALTER TABLE provider_catalog_changes
    ADD COLUMN removed               boolean NOT NULL DEFAULT false,
    ADD COLUMN model_name            text,
    ADD COLUMN context_length        integer,
    ADD COLUMN input_price_per_mtok  numeric(20, 6),
    ADD COLUMN output_price_per_mtok numeric(20, 6),
    ADD COLUMN modality              text,
    ADD COLUMN is_free               boolean,
    ADD COLUMN quantization          text,
    ADD COLUMN release_stage         text,
    ADD COLUMN metadata              jsonb,
    ADD COLUMN raw_name              text,
    ADD COLUMN name_rule             text,
    ADD COLUMN name_steps            text[],
    ADD COLUMN sync_run_id           text,
    ADD COLUMN content_hash          text;

-- A re-sync updates a few rows of models in place. Room on every page lets PostgreSQL keep the new row
-- version on its page without new index entries (a HOT update: no indexed column changes), which halves
-- the WAL of a 1% re-sync (EXPLAIN (ANALYZE, WAL): 40,000 records / 151 MB -> 10,000 / 72 MB per 10,000
-- rows). Costs 10% more pages.
ALTER TABLE models SET (fillfactor = 90);

-- The stage deletes the staged rows that left or changed by their key: a compact index on the key (a
-- bigint from the first 16 hex digits of content_hash) finds them without reading the provider's staged
-- rows (0.5 s of a 1% re-sync of 1M models).
CREATE INDEX provider_catalogs_row_key_idx ON provider_catalogs ((('x' || left(content_hash, 16))::bit(64)::bigint));
