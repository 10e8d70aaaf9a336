-- The 'added' history rows of a refresh's first loads, written by its second connection (migration 0011),
-- get their ids from a range the refresh reserves up front, as their models rows do: a nextval of the history
-- sequence per row was 20-25 ms of ~135 ms per 100,000 rows of that connection's fill here (PostgreSQL 15).
-- One function reserves a range of either sequence; it replaces reserve_model_ids (migration 0011).

-- `p_count` new values of `p_sequence`, contiguous: the first of them. ALTER SEQUENCE takes a lock that every
-- other session's nextval waits for until this transaction ends, so no value inside the range goes elsewhere
-- (modelsync's own writers already wait for the refresh's advisory lock).
CREATE FUNCTION reserve_ids(p_sequence regclass, p_count bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_first bigint;
BEGIN
    EXECUTE format('ALTER SEQUENCE %s NO CYCLE', p_sequence);  -- unchanged; taken for its lock
    v_first := nextval(p_sequence);
    IF p_count > 1 THEN
        PERFORM setval(p_sequence, v_first + p_count - 1);
    END IF;
    RETURN v_first;
END $$;

DROP FUNCTION reserve_model_ids(bigint);
