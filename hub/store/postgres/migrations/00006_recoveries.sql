-- Bulk recoveries (POST /webhook/webhooks/{id}/recover): one row per run,
-- with the cursor its batches advance. At most one runs per subscription
-- (the partial unique index), which is the API's 409.

-- +goose Up
CREATE TABLE recoveries (
    id              text COLLATE "C" PRIMARY KEY,
    subscription_id text COLLATE "C" NOT NULL,
    consumer_id     text COLLATE "C" NOT NULL DEFAULT '',
    status          text NOT NULL,
    since           timestamptz NOT NULL,
    until           timestamptz NOT NULL,
    total           integer NOT NULL,
    done            integer NOT NULL DEFAULT 0,
    error           text NOT NULL DEFAULT '',
    cursor          text COLLATE "C" NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX recoveries_running ON recoveries (subscription_id) WHERE status = 'running';

-- +goose Down
DROP TABLE recoveries;
