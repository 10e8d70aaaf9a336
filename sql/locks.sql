-- Statements of the lock watch (modelsync_pipeline.db.locks): what a write waits behind, read from a
-- connection of its own while the write's statement waits.

-- name: blockers
-- The server processes the write's connection waits for, each once (pg_blocking_pids): those that hold a lock
-- it needs, and those queued ahead of it for one (`waiting`: itself waiting for a lock). `since` tells one
-- transaction of a process from the next. Times and states of another role's sessions are hidden from a role
-- without pg_read_all_stats: NULL then. A prepared transaction is process 0. No query text: it can hold
-- another session's literals.
SELECT b.pid,
       CASE WHEN b.pid = 0 THEN 'a prepared transaction (pg_prepared_xacts)' ELSE coalesce(a.application_name, '') END,
       coalesce(a.usename::text, ''), coalesce(a.state, ''),
       extract(epoch FROM now() - coalesce(a.xact_start, a.state_change))::float8,
       coalesce(a.xact_start, a.backend_start)::text,
       coalesce(a.wait_event_type = 'Lock', false)
FROM unnest(pg_blocking_pids(%(pid)s)) AS b(pid)
LEFT JOIN pg_stat_activity a ON a.pid = b.pid
ORDER BY b.pid;

-- name: cancel
-- Ends the statement the write waits in, only while it still waits for a lock: once the lock is granted the
-- write goes on, and a cancel then would end whatever statement came next. Its transaction rolls back.
SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = %(pid)s AND wait_event_type = 'Lock';

-- name: lift_statement_timeout
-- For a wait behind another modelsync write alone (locks.wait_behind_writes): a statement_timeout set for the role
-- or the database is armed as a statement starts, so the lock function's own SET clause (migration 0017, for
-- lock_timeout) cannot lift it. SET and RESET take no snapshot: a REPEATABLE READ transaction's is still taken
-- by the wait itself.
SET statement_timeout = 0;

-- name: restore_statement_timeout
-- Back to the session's own value (the role's, the database's or DATABASE_URL's options): modelsync sets none.
RESET statement_timeout;

-- name: read_committed
-- A write that waits for its lock as its transaction's first statement, then reads what the write before it left:
-- READ COMMITTED whatever default_transaction_isolation the role or the database sets. Under 'repeatable read' the
-- wait took the snapshot, so a stage of a provider behind another run's stage of it read the catalog that one had
-- replaced and failed "could not serialize access due to concurrent delete". (The refresh and the reset choose
-- REPEATABLE READ themselves, after a session lock.)
SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
