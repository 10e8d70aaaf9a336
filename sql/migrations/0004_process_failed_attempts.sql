-- A provider's attempt can also fail outside its fetch and its checks: an unexpected error while it is
-- parsed or staged is that provider's failure (the others go on), recorded as 'process_failed'.
ALTER TABLE sync_attempts DROP CONSTRAINT sync_attempts_outcome_check;
ALTER TABLE sync_attempts ADD CONSTRAINT sync_attempts_outcome_check
    CHECK (outcome IN ('staged', 'unchanged', 'fetch_failed', 'check_failed', 'process_failed'));
