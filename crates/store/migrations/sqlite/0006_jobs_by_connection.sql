-- Workers lease only the jobs of connections they can send through (Store::lease_ready): this
-- index finds those jobs without reading the ones that wait for another connection.
CREATE INDEX jobs_connection_due ON jobs (workspace_id, connection_id, status, next_run_at);
