-- A write's audit row is written before the write begins (outcome 'started') and given its outcome after it
-- (modelsync_pipeline/writes.py). It used to be written only after: a writer killed by SIGKILL, the OOM killer or
-- a lost machine left no row at all, and the next row's counts before did not follow any row's after. The row
-- names the server session that writes, so that the next write can tell a write still running from one whose
-- session is gone (audit_sweep in sql/admin.sql), and the catalog version it began at, so that it can tell one
-- that changed nothing.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_outcome_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_outcome_check
    CHECK (outcome IN ('succeeded', 'failed', 'refused', 'planned', 'started'));
ALTER TABLE audit_log ADD COLUMN writer_pid integer,
                      ADD COLUMN writer_session_start timestamptz,
                      ADD COLUMN catalog_version_before bigint;
CREATE INDEX audit_log_started_idx ON audit_log (id) WHERE outcome = 'started';
