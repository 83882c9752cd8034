-- Connections to orgs, one-time OAuth states and connect links, and the vault's key checks.
-- Secrets (tokens, JWT keys, client secrets, PKCE verifiers) are only ever stored encrypted
-- (AEAD, the row's id bound as associated data); `key_version` names the master key used.

CREATE TABLE connections (
    id              TEXT    PRIMARY KEY,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces(id),
    name            TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('web_server', 'jwt', 'client_credentials')),
    environment     TEXT    NOT NULL,
    login_url       TEXT    NOT NULL,
    client_id       TEXT,
    instance_url    TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    username        TEXT    NOT NULL,
    scopes          TEXT    NOT NULL,
    api_version     TEXT    NOT NULL,
    profile         TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('connected', 'needs_reauth', 'disconnected')),
    status_reason   TEXT,
    is_default      BOOLEAN NOT NULL DEFAULT FALSE,
    daily_share     DOUBLE PRECISION,
    max_concurrent  BIGINT,
    secrets         BYTEA    NOT NULL,
    key_version     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX connections_workspace ON connections (workspace_id, id);

CREATE TABLE one_time_tokens (
    token_hash      TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('state', 'link')),
    workspace_id    BIGINT NOT NULL REFERENCES workspaces(id),
    api_key_id      BIGINT,
    payload         TEXT    NOT NULL,
    secret          BYTEA,
    key_version     BIGINT,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE vault_keys (
    version      BIGINT PRIMARY KEY,
    check_value  BYTEA    NOT NULL,
    created_at   BIGINT NOT NULL
);
