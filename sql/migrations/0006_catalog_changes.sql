-- The bulk path applies what changed, not whole catalogs (bench/bench_refresh.py (c), (e)).
--
-- A stage that replaces a provider's catalog appends the model ids it changed (added, changed, removed) to
-- provider_catalog_changes. A refresh whose provider's models rows are exactly the catalog it last applied
-- (providers.published_checksum = provider_catalog_delta.base_checksum) applies only the ids appended since
-- (seq > applied_seq), through the models unique index, instead of joining the whole catalog. Anything else
-- (first load, after a flush, a restore of another catalog, a reset) takes the full path, which re-bases.
-- Rows are append-only for the stage and read-only for the refresh, so neither blocks nor conflicts with
-- the other; the stage prunes ids the refresh has applied.
CREATE TABLE provider_catalog_changes (
    seq           bigserial PRIMARY KEY,
    provider_slug text      NOT NULL,
    model_id      text      NOT NULL
);
CREATE INDEX provider_catalog_changes_provider_idx ON provider_catalog_changes (provider_slug, seq);

CREATE TABLE provider_catalog_delta (
    provider_slug text   PRIMARY KEY,
    base_checksum text   NOT NULL,   -- the staged catalog the provider's models rows were refreshed to
    applied_seq   bigint NOT NULL    -- every change up to here is in those rows
);

-- One provider's staged rows without a btree's load cost: a catalog is copied in one piece, so its rows
-- sit in neighbouring blocks and a block-range index finds them (a btree made loading 1.7x slower).
CREATE INDEX provider_catalogs_provider_brin ON provider_catalogs USING brin (provider_slug)
    WITH (pages_per_range = 8, autosummarize = on);
