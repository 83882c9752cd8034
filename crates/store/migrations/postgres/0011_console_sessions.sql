-- Sessions of the admin console: a browser signed in with an API key of a workspace. Only the
-- session token's SHA-256 is stored; the CSRF token is bound to the session.
CREATE TABLE console_sessions (
    token_hash    TEXT    PRIMARY KEY,
    workspace_id  BIGINT  NOT NULL REFERENCES workspaces(id),
    api_key_id    BIGINT  REFERENCES api_keys(id),
    csrf          TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
