-- The describes of a connection's objects that its non-blocking writes are checked against,
-- kept so that a restart, or an org that cannot be reached, does not put the org on an agent's
-- time. One row per connection and object (its API name in lower case); the describe is JSON.
CREATE TABLE describes (
    connection_id  TEXT    NOT NULL REFERENCES connections(id),
    object         TEXT    NOT NULL,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id),
    describe       TEXT    NOT NULL,
    fetched_at     INTEGER NOT NULL,
    PRIMARY KEY (connection_id, object)
);
