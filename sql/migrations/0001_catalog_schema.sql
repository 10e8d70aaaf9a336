-- The catalog as readers see it (providers, models), the latest good catalog of each provider
-- (provider_catalogs, the staging the refresh reads from), and the record of every sync attempt.
--
-- Units: prices are USD per 1M tokens (numeric, 6 decimals); context_length is tokens; NULL means the
-- provider does not say, never 0.

CREATE TABLE providers (
    id               bigserial PRIMARY KEY,
    name             text        NOT NULL,
    slug             text        NOT NULL UNIQUE,
    base_url         text        NOT NULL,
    is_active        boolean     NOT NULL DEFAULT true,
    metadata         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    last_synced_at   timestamptz,
    last_sync_run_id text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
    id                    bigserial PRIMARY KEY,
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
    -- lineage: where model_name came from and which sync run wrote this row's current content
    raw_name              text,
    name_rule             text        NOT NULL,
    name_steps            text[]      NOT NULL DEFAULT '{}',
    sync_run_id           text        NOT NULL,
    content_hash          text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider_id, model_id)
);

-- The latest catalog of each provider that passed its checks. A provider asset replaces its own rows
-- here in one transaction; the models refresh reads every provider's rows, so a run that re-syncs
-- only some providers still publishes everyone else's last good catalog.
CREATE TABLE provider_catalogs (
    provider_slug         text        NOT NULL,
    model_id              text        NOT NULL,
    model_name            text        NOT NULL,
    context_length        integer,
    input_price_per_mtok  numeric(20, 6),
    output_price_per_mtok numeric(20, 6),
    modality              text        NOT NULL,
    is_free               boolean     NOT NULL,
    quantization          text,
    release_stage         text,
    metadata              jsonb       NOT NULL,
    raw_name              text,
    name_rule             text        NOT NULL,
    name_steps            text[]      NOT NULL,
    sync_run_id           text        NOT NULL,
    content_hash          text        NOT NULL
);
-- No index: (provider_slug, model_id) is unique by the pandera check that gates every write here, and
-- models' UNIQUE(provider_id, model_id) refuses a duplicate at refresh; the refresh reads all of it with
-- hash joins. A unique btree made loading staging 1.7x slower (bench/bench_models_table.py).

CREATE TABLE provider_catalog_versions (
    provider_slug text        PRIMARY KEY,
    run_id        text        NOT NULL,
    validated_at  timestamptz NOT NULL DEFAULT now(),
    row_count     integer     NOT NULL,
    checksum      text        NOT NULL
);

-- Every attempt to sync a provider, good or bad: what the status report and the run summary read.
CREATE TABLE sync_attempts (
    id            bigserial   PRIMARY KEY,
    provider_slug text        NOT NULL,
    run_id        text        NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    outcome       text        NOT NULL CHECK (outcome IN ('staged', 'unchanged', 'fetch_failed', 'check_failed')),
    row_count     integer,
    step          text,
    error         text
);
CREATE INDEX sync_attempts_provider_idx ON sync_attempts (provider_slug, attempted_at DESC);

-- One schema for the database and the cache: the cache stores each row of this view as JSON, so a
-- reader of Redis sees exactly the columns (and values) a reader of the table sees.
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
