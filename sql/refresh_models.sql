-- Statements of the models refresh, run in this order inside ONE transaction by
-- modelsync_pipeline.db.refresh_models_table. Readers keep seeing the previous catalog until COMMIT;
-- a failure anywhere rolls all of it back. Rows whose content_hash did not change are not touched,
-- so their ids survive and an unchanged re-sync writes nothing.

-- name: lock
-- Serialises refreshes (and flushes); readers take no conflicting lock and are never blocked.
SELECT pg_advisory_xact_lock(hashtext('modelsync.models'));

-- name: upsert_provider
INSERT INTO providers (name, slug, base_url, is_active)
VALUES (%(name)s, %(slug)s, %(base_url)s, true)
ON CONFLICT (slug) DO UPDATE
SET name = EXCLUDED.name, base_url = EXCLUDED.base_url, is_active = true, updated_at = now()
WHERE (providers.name, providers.base_url, providers.is_active)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.base_url, true);

-- name: delete_removed
WITH gone AS (
    DELETE FROM models m
    USING providers p
    WHERE m.provider_id = p.id
      AND p.slug = ANY(%(slugs)s)
      AND NOT EXISTS (SELECT 1 FROM provider_catalogs c
                      WHERE c.provider_slug = p.slug AND c.model_id = m.model_id)
    RETURNING p.slug
)
SELECT slug, count(*) FROM gone GROUP BY slug;

-- name: update_changed
WITH changed AS (
    UPDATE models m
    SET model_name = c.model_name,
        context_length = c.context_length,
        input_price_per_mtok = c.input_price_per_mtok,
        output_price_per_mtok = c.output_price_per_mtok,
        modality = c.modality,
        is_free = c.is_free,
        quantization = c.quantization,
        release_stage = c.release_stage,
        metadata = c.metadata,
        raw_name = c.raw_name,
        name_rule = c.name_rule,
        name_steps = c.name_steps,
        sync_run_id = c.sync_run_id,
        content_hash = c.content_hash,
        updated_at = now()
    FROM provider_catalogs c
    JOIN providers p ON p.slug = c.provider_slug
    WHERE m.provider_id = p.id
      AND m.model_id = c.model_id
      AND c.provider_slug = ANY(%(slugs)s)
      AND m.content_hash <> c.content_hash
    RETURNING c.provider_slug
)
SELECT provider_slug, count(*) FROM changed GROUP BY provider_slug;

-- name: insert_new
WITH added AS (
    INSERT INTO models (provider_id, model_id, model_name, context_length, input_price_per_mtok,
                        output_price_per_mtok, modality, is_free, quantization, release_stage, metadata,
                        raw_name, name_rule, name_steps, sync_run_id, content_hash)
    SELECT p.id, c.model_id, c.model_name, c.context_length, c.input_price_per_mtok,
           c.output_price_per_mtok, c.modality, c.is_free, c.quantization, c.release_stage, c.metadata,
           c.raw_name, c.name_rule, c.name_steps, c.sync_run_id, c.content_hash
    FROM provider_catalogs c
    JOIN providers p ON p.slug = c.provider_slug
    WHERE c.provider_slug = ANY(%(slugs)s)
      AND NOT EXISTS (SELECT 1 FROM models m WHERE m.provider_id = p.id AND m.model_id = c.model_id)
    RETURNING provider_id
)
SELECT p.slug, count(*) FROM added a JOIN providers p ON p.id = a.provider_id GROUP BY p.slug;

-- name: mark_synced
UPDATE providers
SET last_synced_at = now(), last_sync_run_id = %(run_id)s
WHERE slug = ANY(%(slugs)s);

-- name: rows_per_provider
SELECT p.slug, count(m.id)
FROM providers p LEFT JOIN models m ON m.provider_id = p.id
GROUP BY p.slug ORDER BY p.slug;
