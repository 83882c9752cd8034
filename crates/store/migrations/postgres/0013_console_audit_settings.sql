-- The console's audit page lists a workspace's entries newest first, a page at a time by seq
-- (keyset, never OFFSET), filtered by actor or call: each filter walks its own index in seq
-- order, so the 500th page costs what the first does. The call index gains seq (the old one
-- made the call filter walk the whole chain, or sort the call's entries).
CREATE INDEX audit_log_agent ON audit_log (workspace_id, agent, seq);
CREATE INDEX audit_log_call_seq ON audit_log (workspace_id, call_id, seq);
DROP INDEX audit_log_call;


-- Per-workspace settings (NULL: the service's default): the webhook the workspace's alerts are
-- posted to, and how many days its operations log and resolved dead letters are kept.
ALTER TABLE workspaces ADD COLUMN alert_webhook_url TEXT;
ALTER TABLE workspaces ADD COLUMN retention_days BIGINT;
-- The retention sweep of resolved dead letters, per workspace.
CREATE INDEX dead_letters_resolved ON dead_letters (workspace_id, status, updated_at);
