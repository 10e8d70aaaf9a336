-- Where each provider's latest good catalog came from: 'live' (the provider's API), 'replay' (a recorded
-- payload, MODELSYNC_SOURCE=replay, the default of `make run`) or 'static' (a provider without a list API, its
-- file in modelsync_pipeline/static). A live run keeps the last good catalog of a provider that fails; when
-- that catalog was replayed, the table went on serving recorded data beside live data, and nothing said so.
-- NULL: staged before this migration (unknown) until its provider's next stage.
ALTER TABLE provider_catalog_versions ADD COLUMN source text CHECK (source IN ('live', 'replay', 'static'));
