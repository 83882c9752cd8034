-- Intent maps: one per workspace, with the report of its last check.
CREATE TABLE intent_maps (
    workspace_id  BIGINT PRIMARY KEY REFERENCES workspaces(id),
    map           TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT FALSE,
    report        TEXT,
    updated_at    BIGINT NOT NULL
);
