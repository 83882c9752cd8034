-- The keyed audit chain. An entry appended with an audit key records the key's version (the
-- vault's master-key version it was derived from); its hash is then an HMAC-SHA256 under that
-- key. Entries written before this migration keep NULL: they are only hash-chained and verify
-- as they are.
ALTER TABLE audit_log ADD COLUMN key_version INTEGER;

-- The newest key version appended to each chain (NULL: no keyed entry yet). An appender without
-- a key refuses to add an unkeyed entry after a keyed one.
ALTER TABLE audit_heads ADD COLUMN key_version INTEGER;

-- Values sealed by the vault under the current master key, by name: the audit keys of older
-- master-key versions (`audit.hmac.<version>`) and the checkpoint signing key. A master-key
-- rotation re-seals every row in its transaction.
CREATE TABLE vault_sealed (
    name         TEXT    PRIMARY KEY,
    key_version  INTEGER NOT NULL,
    sealed       BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
);
