-- Consumers an application created or described through the API (Apideck's
-- vault consumers): their metadata. Consumers that only connections,
-- subscriptions or events name have no row and are listed all the same.

-- +goose Up
CREATE TABLE consumers (
    consumer_id TEXT PRIMARY KEY,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- +goose Down
DROP TABLE consumers;
