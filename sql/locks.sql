-- Statements of the lock watch (modelsync_pipeline.db.locks): what a write waits behind, read from a
-- connection of its own while the write's statement waits.

-- name: blockers
-- The server processes the write's connection waits for, each once: a lock it holds or waits for ahead of the
-- write (pg_blocking_pids). The age is of its transaction or, idle, of its last state change. No query text: it
-- can hold another session's literals.
SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), coalesce(a.state, ''),
       extract(epoch FROM now() - coalesce(a.xact_start, a.state_change))::float8
FROM unnest(pg_blocking_pids(%(pid)s)) AS b(pid)
JOIN pg_stat_activity a ON a.pid = b.pid
ORDER BY a.pid;

-- name: cancel
-- Ends the statement the write waits in; its transaction rolls back.
SELECT pg_cancel_backend(%(pid)s);
