-- Bulk recoveries (POST /webhook/webhooks/{id}/recover): one row per run,
-- with the cursor its batches advance. At most one runs per subscription
-- (the partial unique index), which is the API's 409.

-- +goose Up
CREATE TABLE recoveries (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    consumer_id     TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    since           INTEGER NOT NULL,
    until           INTEGER NOT NULL,
    total           INTEGER NOT NULL,
    done            INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    cursor          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX recoveries_running ON recoveries (subscription_id) WHERE status = 'running';

-- +goose Down
DROP TABLE recoveries;
