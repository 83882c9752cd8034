-- Leasing walks one connection's unfinished jobs in due order and stops at the batch size: a
-- partial index over queued and leased jobs only, in that order. It replaces
-- jobs_connection_due, which found a connection's jobs but left them to be sorted, so every
-- lease read the connection's whole backlog.
CREATE INDEX jobs_pending ON jobs (workspace_id, connection_id, next_run_at, id)
    WHERE status IN ('queued', 'leased');
DROP INDEX jobs_connection_due;
