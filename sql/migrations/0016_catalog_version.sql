-- A number that only grows with the content of providers and models, for the cache's switch
-- (modelsync_pipeline.cache): a publish reads it in the snapshot it reads the rows from, stores it in its
-- version's manifest, and the switch refuses to replace a live version whose number is higher. Publishes are
-- serialised by a session advisory lock, but a publish whose connection was lost after its snapshot went on
-- in Redis without it: a later publish of a newer table could switch readers, then the older one switched them
-- back. Every statement that writes providers or models (modelsync's writes, and anyone's by hand) bumps it in
-- its own transaction, so a snapshot that sees a write also sees its bump. Statement triggers: a refresh of 1M
-- rows bumps once per statement, not per row. A write to a partition of models directly (models_p_...) is not
-- seen; a refresh always writes providers in the same transaction (upsert_provider, mark_synced).
-- Concurrent writers queue on the one row until the first commits; modelsync's writes are serialised anyway.
CREATE TABLE catalog_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint  NOT NULL
);
INSERT INTO catalog_version (version) VALUES (1);

CREATE FUNCTION bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER providers_bump_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON providers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER models_bump_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
