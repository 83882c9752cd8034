-- The writes of each call instance in the duplicate window: the same action with the same
-- arguments asked for again in the call answers the first one's result instead of writing again.
-- `target` is what the write touches (`new` for a create, a record, `*` when unknown); `state`
-- is `pending` while the first one runs, then `done` with its `result` (JSON). Rows older than the
-- window are deleted on the way of each claim.
CREATE TABLE call_writes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace   BIGINT  NOT NULL,
    call_id     TEXT    NOT NULL,
    instance    TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    args_hash   TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    result      TEXT,
    created_at  BIGINT  NOT NULL,
    UNIQUE (workspace, call_id, instance, action, args_hash)
);
CREATE INDEX call_writes_target ON call_writes (workspace, call_id, instance, target, id);
CREATE INDEX call_writes_created ON call_writes (created_at);
