-- The alert outbox: alerts for admins (a job became a dead letter, a connection needs
-- re-authorisation), recorded in the transaction that caused them and posted to the webhook by a
-- sender that retries until the webhook takes them.

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces(id),
    kind            TEXT    NOT NULL,
    -- The dead letter it announces (for kind 'dead_letter'): at most one alert per dead letter.
    dead_letter_id  INTEGER UNIQUE REFERENCES dead_letters(id),
    -- What happened, as JSON text (the sender builds the message from it).
    details         TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sent')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX alerts_due ON alerts (status, next_attempt_at);
CREATE INDEX alerts_workspace ON alerts (workspace_id, id);
