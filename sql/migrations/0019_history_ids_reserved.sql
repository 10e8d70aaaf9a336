-- The 'added' history rows of a refresh's first loads, written by its second connection (migration 0011),
-- get their ids from a range the refresh reserves up front, as their models rows do: a nextval of the history
-- sequence per row was 20-25 ms of ~135 ms per 100,000 rows of that connection's fill here (PostgreSQL 15).

-- `p_count` new ids of model_history_id_seq, contiguous: the first of them; locked as reserve_model_ids.
CREATE FUNCTION reserve_history_ids(p_count bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_first bigint;
BEGIN
    ALTER SEQUENCE model_history_id_seq NO CYCLE;  -- unchanged; taken for its lock
    v_first := nextval('model_history_id_seq');
    IF p_count > 1 THEN
        PERFORM setval('model_history_id_seq', v_first + p_count - 1);
    END IF;
    RETURN v_first;
END $$;
