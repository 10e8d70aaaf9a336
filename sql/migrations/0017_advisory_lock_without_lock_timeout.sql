-- One function for every wait behind another modelsync write (a refresh, a stage of the same provider, a
-- publish): such a wait is reported by the lock watch (modelsync_pipeline/db/locks.py), never cut short, not
-- even by a lock_timeout set for the role or the database. The function's SET clause lifts lock_timeout for
-- the call alone and puts the caller's back when it returns, so the setting still bounds the write's other
-- lock waits. The four lock statements each wrote that lift out inline before this.
CREATE FUNCTION modelsync_wait_lock(p_key bigint, p_transaction boolean) RETURNS void
LANGUAGE plpgsql SET lock_timeout = 0 AS $$
BEGIN
    IF p_transaction THEN
        PERFORM pg_advisory_xact_lock(p_key);
    ELSE
        PERFORM pg_advisory_lock(p_key);
    END IF;
END $$;
