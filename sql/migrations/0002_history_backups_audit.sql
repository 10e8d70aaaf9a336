-- What changed, when, and how to undo it: model_history (every change per run), backups of providers and
-- models taken before anything destructive, and the audit_log of every flush, reset, restore and refresh.

-- The content of a models row a reader can see, as one JSON value (history and backups compare these).
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

-- One row per model per run that changed it. `changes` says what: added, removed, renamed,
-- context_changed, price_changed, updated (any other field, e.g. modality or the raw record).
-- old_values is the row before the change (NULL for added); new_values the row after (NULL for removed,
-- and for added: the row itself, or the old_values of its next change, holds it).
CREATE TABLE model_history (
    id            bigserial   PRIMARY KEY,
    run_id        text        NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    provider_slug text        NOT NULL,
    model_id      text        NOT NULL,
    model_row_id  bigint,                -- models.id at the time (no FK: history outlives the row)
    changes       text[]      NOT NULL,
    old_values    jsonb,
    new_values    jsonb
);
CREATE INDEX model_history_model_idx ON model_history (provider_slug, model_id, changed_at);
CREATE INDEX model_history_run_idx ON model_history (run_id);

-- "What did model X look like at time T": the state just before the first change after T, else the
-- current row if it existed at T. NULL: the model did not exist (at that provider) at T.
CREATE FUNCTION model_as_of(p_provider text, p_model_id text, p_at timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN h.id IS NOT NULL THEN h.old_values
        ELSE (SELECT model_snapshot(m) FROM models m JOIN providers p ON p.id = m.provider_id
              WHERE p.slug = p_provider AND m.model_id = p_model_id AND m.created_at <= p_at)
    END
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT id, old_values FROM model_history
        WHERE provider_slug = p_provider AND model_id = p_model_id AND changed_at > p_at
        ORDER BY changed_at, id LIMIT 1
    ) h ON true
$$;

-- Exact copies of providers and models, taken before every flush, reset and restore.
CREATE TABLE backups (
    id             bigserial   PRIMARY KEY,
    created_at     timestamptz NOT NULL DEFAULT now(),
    run_id         text        NOT NULL,
    reason         text        NOT NULL,
    provider_count integer     NOT NULL,
    model_count    integer     NOT NULL,
    checksum       text        NOT NULL
);
-- Column lists mirror providers and models; a migration that adds a column there adds it here too.
CREATE TABLE backup_providers (backup_id bigint NOT NULL REFERENCES backups (id) ON DELETE CASCADE, LIKE providers);
CREATE TABLE backup_models (backup_id bigint NOT NULL REFERENCES backups (id) ON DELETE CASCADE, LIKE models);
CREATE INDEX backup_providers_backup_idx ON backup_providers (backup_id);
CREATE INDEX backup_models_backup_idx ON backup_models (backup_id);

-- md5 over every column of every row of providers and models, in id order: equal iff the tables are.
CREATE FUNCTION catalog_tables_checksum() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT md5(
        coalesce((SELECT string_agg(t::text, E'\n' ORDER BY t.id) FROM providers t), '') || E'\n--\n' ||
        coalesce((SELECT string_agg(t::text, E'\n' ORDER BY t.id) FROM models t), ''))
$$;

CREATE TABLE audit_log (
    id              bigserial   PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    run_id          text,
    launched_by     text        NOT NULL,
    action          text        NOT NULL,
    dry_run         boolean     NOT NULL DEFAULT false,
    outcome         text        NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'refused', 'planned')),
    providers_before integer,
    models_before    integer,
    providers_after  integer,
    models_after     integer,
    backup_id       bigint,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error           text
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
