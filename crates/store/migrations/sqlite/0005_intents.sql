-- Intent maps: one per workspace, with the report of its last check.
CREATE TABLE intent_maps (
    workspace_id  INTEGER PRIMARY KEY REFERENCES workspaces(id),
    map           TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 0,
    report        TEXT,
    updated_at    INTEGER NOT NULL
);
