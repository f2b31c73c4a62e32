-- Facts about the database itself. master_key_fingerprint is
-- HMAC-SHA256(master key, "switchboard key fingerprint v1"), never the key:
-- a start with another master key than the one the secrets are sealed with
-- is refused instead of accepting events it cannot sign.

-- +goose Up
CREATE TABLE hub_meta (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE hub_meta;
