-- The operations log: every action an agent ran in a call (reads too), for the console's Calls
-- page and overview. Arguments and results are stored after the workspace's redaction, and
-- compacted; rows older than the retention are deleted by the service's sweep.
CREATE TABLE operations (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id),
    call_id        TEXT    NOT NULL,
    call_instance  TEXT,
    agent          TEXT,
    connection_id  TEXT,
    action         TEXT    NOT NULL,
    arguments      TEXT    NOT NULL,
    result         TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    latency_us     BIGINT NOT NULL,
    caller_phone   TEXT,
    started_at     BIGINT NOT NULL
);
-- A workspace's recent operations (and its time filters).
CREATE INDEX operations_recent ON operations (workspace_id, started_at);
-- One call's operations in order.
CREATE INDEX operations_call ON operations (workspace_id, call_id, started_at, id);
-- Filters by action, outcome and caller phone.
CREATE INDEX operations_action ON operations (workspace_id, action, started_at);
CREATE INDEX operations_outcome ON operations (workspace_id, outcome, started_at);
CREATE INDEX operations_caller ON operations (workspace_id, caller_phone, started_at);
-- The retention sweep, across workspaces.
CREATE INDEX operations_age ON operations (started_at);

-- The fields whose values the operations log replaces with "[redacted]", per workspace (a JSON
-- array of field names; none by default).
ALTER TABLE workspaces ADD COLUMN sensitive_fields TEXT NOT NULL DEFAULT '[]';
