-- Vault connections: a consumer's connection to one provider service.
--
-- Credentials are one JSON object sealed with the store's Sealer (NULL when
-- there are none); the inbound URL's token is stored only as its SHA-256.

-- +goose Up
CREATE TABLE connections (
    id                 TEXT PRIMARY KEY,
    consumer_id        TEXT NOT NULL,
    service_id         TEXT NOT NULL,
    status             TEXT NOT NULL,
    settings           TEXT NOT NULL DEFAULT '{}',
    credentials_sealed BLOB,
    token_hash         BLOB NOT NULL,
    registrations      TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
-- A consumer's connections, newest first.
CREATE INDEX connections_consumer_id ON connections (consumer_id, id);
-- Inbound requests find their connection by token.
CREATE UNIQUE INDEX connections_token_hash ON connections (token_hash);

-- +goose Down
DROP TABLE connections;
