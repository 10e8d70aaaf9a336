-- A write's audit row is written before the write begins (outcome 'started') and given its outcome after it
-- (modelsync_pipeline/writes.py). It used to be written only after: a writer killed by SIGKILL, the OOM killer or
-- a lost machine left no row at all, and the next row's counts before did not follow any row's after. The row
-- names the server session that writes, so that the next write can tell a write still running from one whose
-- session is gone (audit_sweep in sql/admin.sql).
ALTER TABLE audit_log DROP CONSTRAINT audit_log_outcome_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_outcome_check
    CHECK (outcome IN ('succeeded', 'failed', 'refused', 'planned', 'started'));
ALTER TABLE audit_log ADD COLUMN writer_pid integer,
                      ADD COLUMN writer_session_start timestamptz,
                      ADD COLUMN catalog_changed boolean NOT NULL DEFAULT false;
CREATE INDEX audit_log_started_idx ON audit_log (id) WHERE outcome = 'started';

-- Whether the server session that wrote a started row still runs: its process, begun when the row says (a pid is
-- reused). A session of another role, whose start is hidden without pg_read_all_stats, is taken as running. Asked
-- by the next write's sweep and by the status report, which must agree on it.
CREATE FUNCTION audit_writer_running(p_pid integer, p_session_start timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
                   WHERE a.pid = p_pid AND (a.backend_start IS NULL OR a.backend_start = p_session_start))
$$;

-- Whether a started write changed the catalog, known whatever ends its process: the statement triggers that bump
-- catalog_version (migration 0016) mark the row of the write their session is running (the session setting
-- modelsync.audit_id, set with the row) in the same transaction, so the mark commits exactly when the write does.
-- Once per transaction (NOT catalog_changed). A write by anyone else, with no such setting, does not touch
-- audit_log at all: an operator's role may write models by hand without any privilege on it.
CREATE OR REPLACE FUNCTION bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_audit_id bigint := nullif(current_setting('modelsync.audit_id', true), '')::bigint;
BEGIN
    UPDATE catalog_version SET version = version + 1;
    IF v_audit_id IS NOT NULL THEN
        UPDATE audit_log SET catalog_changed = true
        WHERE id = v_audit_id AND outcome = 'started' AND NOT catalog_changed;
    END IF;
    RETURN NULL;
END
$$;
