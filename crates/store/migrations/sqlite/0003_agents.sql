-- Agents (which actions and objects each may use, confirmation overrides) and custom actions,
-- per workspace. Definitions are JSON validated by the service before they are stored.

CREATE TABLE agents (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    name          TEXT    NOT NULL,
    definition    TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE custom_actions (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id),
    name          TEXT    NOT NULL,
    definition    TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name)
);
