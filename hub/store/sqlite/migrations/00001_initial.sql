-- Switchboard's own tables. River's tables (river_*) are migrated separately
-- by rivermigrate; goose records these versions in goose_db_version.
--
-- Times are INTEGER unix microseconds (UTC). JSON lists are TEXT.

-- +goose Up
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);

CREATE TABLE subscriptions (
    id                         TEXT PRIMARY KEY,
    description                TEXT NOT NULL DEFAULT '',
    unified_api                TEXT NOT NULL,
    status                     TEXT NOT NULL,
    disabled_reason            TEXT NOT NULL DEFAULT '',
    delivery_url               TEXT NOT NULL,
    events                     TEXT NOT NULL DEFAULT '[]',
    consumer_id                TEXT NOT NULL DEFAULT '',
    retry_schedule             TEXT,
    secret_sealed              BLOB,
    previous_secret_sealed     BLOB,
    previous_secret_expires_at INTEGER,
    fail_streak                INTEGER NOT NULL DEFAULT 0,
    fail_streak_started_at     INTEGER,
    last_failed_at             INTEGER,
    last_succeeded_at          INTEGER,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);
CREATE INDEX subscriptions_status ON subscriptions (status);

CREATE TABLE events (
    id                    TEXT PRIMARY KEY,
    event_type            TEXT NOT NULL,
    base_event_type       TEXT NOT NULL DEFAULT '',
    unified_api           TEXT NOT NULL,
    service_id            TEXT NOT NULL DEFAULT '',
    consumer_id           TEXT NOT NULL DEFAULT '',
    connection_id         TEXT NOT NULL DEFAULT '',
    entity_id             TEXT NOT NULL DEFAULT '',
    entity_type           TEXT NOT NULL DEFAULT '',
    entity_url            TEXT NOT NULL DEFAULT '',
    downstream_event_type TEXT NOT NULL DEFAULT '',
    event_source          TEXT NOT NULL DEFAULT '',
    occurred_at           INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    entity                TEXT,
    dedupe_key            TEXT,
    request_hash          TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX events_dedupe_key ON events (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX events_event_type ON events (event_type, id);
CREATE INDEX events_consumer_id ON events (consumer_id, id);
CREATE INDEX events_service_id ON events (service_id, id);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    subscription_id TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_event_status ON deliveries (event_id, status);
-- Cancelling a subscription's pending deliveries (delete, disable).
CREATE INDEX deliveries_subscription_pending ON deliveries (subscription_id) WHERE status = 'pending';

-- The attempt log outlives subscriptions: no reference to them.
CREATE TABLE attempts (
    id                TEXT PRIMARY KEY,
    delivery_id       TEXT NOT NULL,
    event_id          TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    event_type        TEXT NOT NULL,
    unified_api       TEXT NOT NULL DEFAULT '',
    subscription_id   TEXT NOT NULL,
    consumer_id       TEXT NOT NULL DEFAULT '',
    service_id        TEXT NOT NULL DEFAULT '',
    endpoint          TEXT NOT NULL,
    status_code       INTEGER NOT NULL,
    success           INTEGER NOT NULL,
    execution_attempt INTEGER NOT NULL,
    timestamp         INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    response_body     TEXT NOT NULL DEFAULT '',
    error             TEXT NOT NULL DEFAULT '',
    retry_scheduled   INTEGER NOT NULL
);
CREATE INDEX attempts_event_id ON attempts (event_id, id);
CREATE INDEX attempts_subscription_id ON attempts (subscription_id, id);
CREATE INDEX attempts_consumer_id ON attempts (consumer_id, id);
CREATE INDEX attempts_event_type ON attempts (event_type, id);
CREATE INDEX attempts_service_id ON attempts (service_id, id);

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE subscriptions;
DROP TABLE api_keys;
