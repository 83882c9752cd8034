-- callforce store, PostgreSQL schema. Times are Unix milliseconds (UTC) in BIGINT columns, as on
-- SQLite, so both backends share one row shape.

CREATE TABLE workspaces (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    name          TEXT   NOT NULL,
    prefix        TEXT   NOT NULL,
    key_hash      TEXT   NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

CREATE TABLE jobs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id     BIGINT NOT NULL REFERENCES workspaces(id),
    connection_id    TEXT   NOT NULL,
    idempotency_key  TEXT   NOT NULL,
    ordering_key     TEXT   NOT NULL,
    kind             TEXT   NOT NULL,
    payload          TEXT   NOT NULL,
    status           TEXT   NOT NULL CHECK (status IN ('queued', 'leased', 'done', 'dead')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_run_at      BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    errors           TEXT   NOT NULL DEFAULT '[]',
    result           TEXT,
    call_id          TEXT,
    agent            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX jobs_due ON jobs (status, next_run_at);
CREATE INDEX jobs_ordering ON jobs (workspace_id, ordering_key, id);

CREATE TABLE connection_pauses (
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id),
    connection_id  TEXT   NOT NULL,
    paused_until   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, connection_id)
);

CREATE TABLE dead_letters (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    job_id        BIGINT NOT NULL REFERENCES jobs(id),
    connection_id TEXT   NOT NULL,
    idempotency_key TEXT NOT NULL,
    ordering_key  TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    payload       TEXT   NOT NULL,
    errors        TEXT   NOT NULL,
    attempts      BIGINT NOT NULL,
    call_id       TEXT,
    agent         TEXT,
    status        TEXT   NOT NULL CHECK (status IN ('open', 'replayed', 'discarded')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX dead_letters_workspace ON dead_letters (workspace_id, status, id);

CREATE TABLE audit_log (
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    seq           BIGINT NOT NULL,
    at            BIGINT NOT NULL,
    kind          TEXT   NOT NULL,
    call_id       TEXT,
    agent         TEXT,
    record_ids    TEXT   NOT NULL,
    request       TEXT,
    response      TEXT,
    prev_hash     TEXT   NOT NULL,
    hash          TEXT   NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);
CREATE INDEX audit_log_call ON audit_log (workspace_id, call_id);
CREATE INDEX audit_log_at ON audit_log (workspace_id, at);

CREATE TABLE audit_record_ids (
    workspace_id  BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    record_id     TEXT   NOT NULL,
    PRIMARY KEY (workspace_id, record_id, seq)
);

CREATE TABLE audit_heads (
    workspace_id  BIGINT PRIMARY KEY REFERENCES workspaces(id),
    seq           BIGINT NOT NULL,
    hash          TEXT   NOT NULL
);

-- The audit log is append-only: any UPDATE, DELETE or TRUNCATE is refused.
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_record_ids_append_only
    BEFORE UPDATE OR DELETE ON audit_record_ids
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_record_ids_no_truncate
    BEFORE TRUNCATE ON audit_record_ids
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
