-- The stage compares a new catalog with the staged one without reading the staged rows: each version keeps
-- its model ids (UTF-8, NUL-separated: text never holds NUL) and one 64-bit key per row (the first 8 bytes
-- of the row's content_hash, an md5 over every column including model_id), in the same order. A 1%-changed
-- catalog reads two values, not its whole catalog (bench/bench_refresh.py (c)). Stored uncompressed: they
-- are hashes and ids, written and read whole. NULL: staged before this migration; the next stage replaces
-- the provider's rows whole and records them.
ALTER TABLE provider_catalog_versions ADD COLUMN model_ids bytea;
ALTER TABLE provider_catalog_versions ADD COLUMN row_keys bytea;
ALTER TABLE provider_catalog_versions ALTER COLUMN model_ids SET STORAGE EXTERNAL;
ALTER TABLE provider_catalog_versions ALTER COLUMN row_keys SET STORAGE EXTERNAL;

