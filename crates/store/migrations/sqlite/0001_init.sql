-- callforce store, SQLite schema. Times are Unix milliseconds (UTC) in INTEGER columns.

CREATE TABLE workspaces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    name          TEXT    NOT NULL,
    prefix        TEXT    NOT NULL,
    key_hash      TEXT    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id     INTEGER NOT NULL REFERENCES workspaces(id),
    connection_id    TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    ordering_key     TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('queued', 'leased', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_run_at      INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until      INTEGER,
    last_error       TEXT,
    errors           TEXT    NOT NULL DEFAULT '[]',
    result           TEXT,
    call_id          TEXT,
    agent            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX jobs_due ON jobs (status, next_run_at);
CREATE INDEX jobs_ordering ON jobs (workspace_id, ordering_key, id);

CREATE TABLE connection_pauses (
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id),
    connection_id  TEXT    NOT NULL,
    paused_until   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, connection_id)
);

CREATE TABLE dead_letters (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    job_id        INTEGER NOT NULL REFERENCES jobs(id),
    connection_id TEXT    NOT NULL,
    idempotency_key TEXT  NOT NULL,
    ordering_key  TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    errors        TEXT    NOT NULL,
    attempts      INTEGER NOT NULL,
    call_id       TEXT,
    agent         TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('open', 'replayed', 'discarded')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX dead_letters_workspace ON dead_letters (workspace_id, status, id);

CREATE TABLE audit_log (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    seq           INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    call_id       TEXT,
    agent         TEXT,
    record_ids    TEXT    NOT NULL,
    request       TEXT,
    response      TEXT,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);
CREATE INDEX audit_log_call ON audit_log (workspace_id, call_id);
CREATE INDEX audit_log_at ON audit_log (workspace_id, at);

-- One row per (entry, record id), for the record-id filter. Written with the entry.
CREATE TABLE audit_record_ids (
    workspace_id  INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    record_id     TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, record_id, seq)
);

-- The chain head: the last sequence number and hash of each workspace's chain. Appenders
-- serialise on this row; the verifier compares the chain's tail with it (catches truncation).
CREATE TABLE audit_heads (
    workspace_id  INTEGER PRIMARY KEY REFERENCES workspaces(id),
    seq           INTEGER NOT NULL,
    hash          TEXT    NOT NULL
);
