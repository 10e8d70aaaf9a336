-- One-time approval codes of destructive jobs (modelsync_pipeline/approval.py): a code is accepted once.
-- Only a SHA-256 fingerprint of the code is kept; the admin secret is never stored anywhere.
CREATE TABLE approvals_used (
    fingerprint text        PRIMARY KEY,
    job         text        NOT NULL,
    run_id      text        NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now()
);
