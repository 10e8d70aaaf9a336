-- Statements of the destructive jobs (flush, reset, restore) and of backups, each run inside ONE
-- transaction by modelsync_pipeline.db. Every destructive job takes a backup first, in the same
-- transaction, so a rolled-back job leaves no half-made backup either.

-- name: counts
SELECT (SELECT count(*) FROM providers), (SELECT count(*) FROM models);

-- name: counts_lock_timeout
-- The counts of a write that failed and was not counted before it (a refresh): read within a second, as the lock
-- that failed the write may still be held.
SET LOCAL lock_timeout = '1s';

-- name: create_backup
INSERT INTO backups (run_id, reason, provider_count, model_count, checksum)
SELECT %(run_id)s, %(reason)s, (SELECT count(*) FROM providers), (SELECT count(*) FROM models),
       catalog_tables_checksum()
RETURNING id, provider_count, model_count, checksum;

-- name: backup_providers
INSERT INTO backup_providers (backup_id, id, name, slug, base_url, is_active, metadata, last_synced_at,
                              last_sync_run_id, created_at, updated_at, published_checksum)
SELECT %(backup_id)s, id, name, slug, base_url, is_active, metadata, last_synced_at, last_sync_run_id,
       created_at, updated_at, published_checksum
FROM providers;

-- name: backup_models
INSERT INTO backup_models SELECT %(backup_id)s, m.* FROM models m;

-- name: prune_backups
-- Retention: keep the newest %(keep)s backups (rows cascade to backup_providers / backup_models), and
-- never the ones in %(protect)s (the backup a restore is bringing back, whatever its age).
DELETE FROM backups
WHERE id NOT IN (SELECT id FROM backups ORDER BY created_at DESC, id DESC LIMIT %(keep)s)
  AND id <> ALL(%(protect)s::bigint[])
RETURNING id;

-- name: delete_models
DELETE FROM models;

-- name: forget_published
-- After a flush the models are gone: the next refresh must reload every staged catalog.
UPDATE providers SET published_checksum = NULL WHERE published_checksum IS NOT NULL;

-- name: delete_providers
DELETE FROM providers;

-- name: get_backup
SELECT id, created_at, run_id, reason, provider_count, model_count, checksum FROM backups WHERE id = %(backup_id)s;

-- name: restore_providers
INSERT INTO providers
SELECT id, name, slug, base_url, is_active, metadata, last_synced_at, last_sync_run_id, created_at, updated_at,
       published_checksum
FROM backup_providers WHERE backup_id = %(backup_id)s;

-- name: ensure_partitions
-- Each provider's rows live in its own partition of models (migration 0008), which must exist first.
SELECT ensure_models_partitions();

-- name: restore_models
INSERT INTO models
SELECT id, provider_id, model_id, model_name, context_length, input_price_per_mtok, output_price_per_mtok,
       modality, is_free, quantization, release_stage, metadata, raw_name, name_rule, name_steps,
       sync_run_id, content_hash, created_at, updated_at
FROM backup_models WHERE backup_id = %(backup_id)s;

-- name: reset_sequences
-- Past the restored rows' ids, never back: an id handed out since the backup (to a row the restore removed)
-- must not be given to another model.
SELECT setval(pg_get_serial_sequence('providers', 'id'),
              greatest((SELECT max(id) FROM providers),
                       pg_sequence_last_value(pg_get_serial_sequence('providers', 'id')::regclass), 1)),
       setval(pg_get_serial_sequence('models', 'id'),
              greatest((SELECT max(id) FROM models),
                       pg_sequence_last_value(pg_get_serial_sequence('models', 'id')::regclass), 1));

-- name: checksum
SELECT catalog_tables_checksum();

-- name: log_removed_all
-- History for a flush: every model row that is about to go, as 'removed'.
INSERT INTO model_history (run_id, provider_slug, model_id, model_row_id, changes, old_values)
SELECT %(run_id)s, p.slug, m.model_id, m.id, ARRAY['removed'], model_snapshot(m)
FROM models m JOIN providers p ON p.id = m.provider_id;

-- name: log_added_all
INSERT INTO model_history (run_id, provider_slug, model_id, model_row_id, changes)
SELECT %(run_id)s, p.slug, m.model_id, m.id, ARRAY['added']
FROM models m JOIN providers p ON p.id = m.provider_id;

-- name: audit
INSERT INTO audit_log (run_id, launched_by, action, dry_run, outcome, providers_before, models_before,
                       providers_after, models_after, backup_id, details, error)
VALUES (%(run_id)s, %(launched_by)s, %(action)s, %(dry_run)s, %(outcome)s, %(providers_before)s,
        %(models_before)s, %(providers_after)s, %(models_after)s, %(backup_id)s, %(details)s, %(error)s)
RETURNING id;

-- name: audit_started
-- The row of a write about to begin, committed before it (migration 0021), naming the session that writes. Its
-- outcome is written over it afterwards (audit_outcome).
INSERT INTO audit_log (run_id, launched_by, action, dry_run, outcome, providers_before, models_before,
                       writer_pid, writer_session_start)
SELECT %(run_id)s, %(launched_by)s, %(action)s, false, 'started', %(providers_before)s, %(models_before)s,
       pg_backend_pid(), (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid())
RETURNING id;

-- name: audit_writing
-- The row this session's statement triggers mark when the write changes the catalog (migration 0021), for the
-- session (not the transaction: the write's own transaction begins after this one commits).
SELECT set_config('modelsync.audit_id', %(audit_id)s::text, false);

-- name: audit_outcome
-- A started write's outcome, over its row; `at` becomes the time of the outcome, as for a row written whole.
UPDATE audit_log
SET at = now(), outcome = %(outcome)s, providers_before = coalesce(%(providers_before)s, providers_before),
    models_before = coalesce(%(models_before)s, models_before), providers_after = %(providers_after)s,
    models_after = %(models_after)s, backup_id = %(backup_id)s, details = %(details)s, error = %(error)s
WHERE id = %(audit_id)s
RETURNING id;

-- name: audit_sweep
-- Started writes whose session is gone with no outcome written: the process was killed (SIGKILL, the OOM killer,
-- a lost machine), its connection was lost, or its outcome could not be written (the writer's run log says which).
-- Gone as audit_writer_running tells it (migration 0021). Whether the write committed is its row's
-- catalog_changed, marked in the write's own transaction.
UPDATE audit_log l
SET at = now(), outcome = CASE WHEN l.catalog_changed THEN 'succeeded' ELSE 'failed' END,
    error = 'the write''s session ended with no outcome recorded (its process killed: SIGKILL, out of memory, a '
            || 'lost machine; its connection lost; or its outcome could not be written): ' || CASE
        WHEN l.catalog_changed
            THEN 'it committed, and its change to the catalog stands (its counts after were not recorded)'
        ELSE 'nothing was changed: its transaction rolled back' END
WHERE l.outcome = 'started' AND NOT audit_writer_running(l.writer_pid, l.writer_session_start)
RETURNING l.id, l.action, l.run_id, l.error;

-- name: audit_stopped
-- A started write whose process was interrupted (writes._stopped): whether its server session still runs (one
-- abandoned inside a statement ends once its cancel lands) and whether its transaction marked the row as having
-- changed the catalog (migration 0021): an interrupt that lands in the COMMIT does not stop it on the server.
SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
               WHERE a.pid = l.writer_pid AND a.backend_start = l.writer_session_start
                 AND a.pid <> pg_backend_pid()),
       l.catalog_changed
FROM audit_log l
WHERE l.id = %(audit_id)s;

-- name: plan
-- What a refresh would do, per provider, without writing: counts of added / removed / changed rows.
SELECT coalesce(c.provider_slug, m.slug) AS provider,
       count(*) FILTER (WHERE m.id IS NULL) AS added,
       count(*) FILTER (WHERE c.model_id IS NULL) AS removed,
       count(*) FILTER (WHERE m.id IS NOT NULL AND c.model_id IS NOT NULL AND m.content_hash <> c.content_hash) AS changed,
       count(*) FILTER (WHERE m.id IS NOT NULL AND c.model_id IS NOT NULL AND m.content_hash = c.content_hash) AS unchanged
FROM (SELECT * FROM staged_catalogs WHERE provider_slug = ANY(%(slugs)s)) c
FULL JOIN (SELECT m.*, p.slug FROM models m JOIN providers p ON p.id = m.provider_id
           WHERE p.slug = ANY(%(slugs)s)) m
     ON m.slug = c.provider_slug AND m.model_id = c.model_id
GROUP BY 1 ORDER BY 1;

-- name: plan_samples
SELECT kind, provider, model_id, old_name, new_name FROM (
    SELECT CASE WHEN m.id IS NULL THEN 'added' WHEN c.model_id IS NULL THEN 'removed' ELSE 'changed' END AS kind,
           coalesce(c.provider_slug, m.slug) AS provider, coalesce(c.model_id, m.model_id) AS model_id,
           m.model_name AS old_name, c.model_name AS new_name,
           row_number() OVER (PARTITION BY CASE WHEN m.id IS NULL THEN 1 WHEN c.model_id IS NULL THEN 2 ELSE 3 END
                              ORDER BY coalesce(c.provider_slug, m.slug), coalesce(c.model_id, m.model_id)) AS n
    FROM (SELECT * FROM staged_catalogs WHERE provider_slug = ANY(%(slugs)s)) c
    FULL JOIN (SELECT m.*, p.slug FROM models m JOIN providers p ON p.id = m.provider_id
               WHERE p.slug = ANY(%(slugs)s)) m
         ON m.slug = c.provider_slug AND m.model_id = c.model_id
    WHERE m.id IS NULL OR c.model_id IS NULL OR m.content_hash <> c.content_hash
) d WHERE n <= %(limit)s ORDER BY kind, provider, model_id;

-- name: status_providers
-- The status report: every known provider with its model counts and last sync; no row caps.
SELECT p.slug, p.name, p.is_active, count(m.id) AS models, p.last_synced_at, p.last_sync_run_id,
       v.validated_at AS last_good_catalog, v.row_count AS last_good_rows, coalesce(v.source, 'unknown') AS source,
       v.fetched_at AS last_good_fetched_at,
       (SELECT a.outcome || coalesce(' at ' || a.step || ': ' || left(a.error, 200), '')
        FROM sync_attempts a WHERE a.provider_slug = p.slug AND a.outcome <> 'superseded'  -- changed nothing staged
        ORDER BY a.attempted_at DESC, a.id DESC LIMIT 1) AS last_attempt,
       (SELECT max(a.attempted_at) FROM sync_attempts a
        WHERE a.provider_slug = p.slug AND a.outcome IN ('staged', 'unchanged')) AS last_good_attempt,
       -- whether the table holds the provider's latest staged catalog (one a killed or failed run staged does not)
       v.checksum IS NULL OR p.published_checksum IS NOT DISTINCT FROM v.checksum AS holds_staged
FROM providers p
LEFT JOIN models m ON m.provider_id = p.id
LEFT JOIN provider_catalog_versions v ON v.provider_slug = p.slug
GROUP BY p.id, v.validated_at, v.row_count, v.source, v.fetched_at, v.checksum
ORDER BY p.slug;

-- name: unregistered_providers
-- Providers in the table that the registry no longer lists (removed, or renamed to a new slug), with their
-- models: a refresh never touches them again, so they stay published until a reset_and_resync.
SELECT p.slug, count(m.id) FROM providers p LEFT JOIN models m ON m.provider_id = p.id
WHERE NOT p.slug = ANY(%(registry)s)
GROUP BY p.slug ORDER BY p.slug;

-- name: status_totals
SELECT (SELECT count(*) FROM providers) AS providers,
       (SELECT count(*) FROM providers p WHERE EXISTS (SELECT 1 FROM models m WHERE m.provider_id = p.id)) AS with_models,
       (SELECT count(*) FROM providers p WHERE NOT EXISTS (SELECT 1 FROM models m WHERE m.provider_id = p.id)) AS without_models,
       (SELECT count(*) FROM models) AS models,
       (SELECT count(*) FROM models m JOIN providers p ON p.id = m.provider_id WHERE p.is_active) AS active_models;

-- name: status_modalities
SELECT modality, count(*) FROM models GROUP BY modality ORDER BY 2 DESC, 1;

-- name: status_started
-- Writes whose audit row has no outcome yet (migration 0021): running, or ended with their session (killed) and
-- not yet given an outcome by a later write's sweep, which is told as audit_sweep tells it; read, never written.
SELECT l.id, l.action, l.run_id, l.at, audit_writer_running(l.writer_pid, l.writer_session_start) AS running,
       l.catalog_changed
FROM audit_log l
WHERE l.outcome = 'started'
ORDER BY l.id;

-- name: use_approval
-- Accept an approval code once: a second use (a replay) inserts nothing and returns no row.
INSERT INTO approvals_used (fingerprint, job, run_id) VALUES (%(fingerprint)s, %(job)s, %(run_id)s)
ON CONFLICT (fingerprint) DO NOTHING
RETURNING fingerprint;

-- name: approval_used
-- Whether a code was used already (read only: a destructive job's preflight, before its fetch).
SELECT EXISTS (SELECT 1 FROM approvals_used WHERE fingerprint = %(fingerprint)s);

-- name: release_approval
-- A code whose write failed and rolled back changed nothing: it may be used again, by a run of its own job.
DELETE FROM approvals_used WHERE fingerprint = %(fingerprint)s AND run_id = %(run_id)s;

-- name: newest_backups
SELECT id FROM backups ORDER BY id DESC LIMIT 20;

-- name: backup_counts
SELECT provider_count, model_count FROM backups WHERE id = %(backup_id)s;

-- name: run_models_per_provider
-- `modelsync run`'s summary: models per provider in the table, and whether the table holds the provider's latest
-- staged catalog (a staged catalog the table step then failed to write is not).
SELECT p.slug, count(m.id), p.published_checksum IS NOT DISTINCT FROM v.checksum
FROM providers p
LEFT JOIN provider_catalog_versions v ON v.provider_slug = p.slug
LEFT JOIN models m ON m.provider_id = p.id
GROUP BY p.slug, p.published_checksum, v.checksum;

-- name: run_table_changes
-- `modelsync run`'s summary: what the given runs wrote to each provider's models rows (their history), so that a
-- catalog fetched unchanged but written again (after a flush, or staged by a run whose table step failed) says so.
SELECT provider_slug,
       count(*) FILTER (WHERE 'added' = ANY(changes)),
       count(*) FILTER (WHERE NOT ('added' = ANY(changes) OR 'removed' = ANY(changes))),
       count(*) FILTER (WHERE 'removed' = ANY(changes))
FROM model_history WHERE run_id = ANY(%(run_ids)s)
GROUP BY provider_slug;

-- name: run_attempts
-- `modelsync run`'s summary: each provider's latest attempt in the given runs.
SELECT DISTINCT ON (provider_slug) provider_slug, outcome, step, error
FROM sync_attempts WHERE run_id = ANY(%(run_ids)s)
ORDER BY provider_slug, attempted_at DESC, id DESC;

-- name: explain_model
-- `modelsync explain`: a row's lineage, found by model id, display name or raw upstream name. Each is also compared
-- in Unicode's composed form (NFC): an id a provider sends with its accents written apart (NFD, as macOS file names
-- are) looks the same as the one an operator types or pastes, and was "no model" to it.
SELECT p.slug, m.id, m.model_id, m.model_name, m.raw_name, m.name_rule, m.name_steps,
       m.is_free, m.quantization, m.release_stage, m.sync_run_id, m.updated_at, m.created_at
FROM models m JOIN providers p ON p.id = m.provider_id
WHERE p.slug = %(provider)s AND (m.model_id = %(q)s OR normalize(m.model_id, NFC) = normalize(%(q)s, NFC)
                                 OR lower(normalize(m.model_name, NFC)) = lower(normalize(%(q)s, NFC))
                                 OR lower(normalize(m.raw_name, NFC)) = lower(normalize(%(q)s, NFC)))
ORDER BY m.model_id;

-- name: provider_slugs
SELECT slug FROM providers;

-- name: explain_history
-- `modelsync explain`: a model's latest changes, newest first, with how many it has and when it was first listed.
-- By provider slug and model id, so a model no longer in `models` (removed, flushed) still has its lineage.
SELECT run_id, changed_at, changes, old_values, new_values,
       count(*) OVER () AS entries, min(changed_at) OVER () AS first_listed
FROM model_history
WHERE provider_slug = %(provider)s AND model_id = %(model_id)s
ORDER BY changed_at DESC, id DESC
LIMIT %(limit)s;

-- name: provider_known
-- Whether the catalog has or had a provider of this slug: one the registry no longer lists keeps its rows.
SELECT EXISTS (SELECT 1 FROM providers WHERE slug = %(provider)s)
       OR EXISTS (SELECT 1 FROM model_history WHERE provider_slug = %(provider)s);
