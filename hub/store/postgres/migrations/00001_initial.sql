-- Switchboard's own tables on PostgreSQL: the same tables as the SQLite
-- store's migrations 1 to 3, in PostgreSQL's native types. River's tables
-- (river_*) are migrated separately by rivermigrate; goose records these
-- versions in switchboard_migration.
--
-- Ids are text, not uuid: they are the store's strings, and an id a caller
-- made up must be "not found", not an error. COLLATE "C" makes them sort
-- byte by byte, as UUIDv7 strings need to list newest first (and as SQLite
-- sorts them), whatever the database's collation.
--
-- Times are timestamptz, which keeps microseconds, as store.Time does.
-- Lists the hub writes are arrays; JSON documents are json where they are
-- handed on byte for byte (an event's entity is delivered as stored; jsonb
-- would reorder its keys and refuse \u0000) and jsonb otherwise.

-- +goose Up
CREATE TABLE api_keys (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    hash       bytea NOT NULL,
    scopes     text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);

CREATE TABLE subscriptions (
    id                         text COLLATE "C" PRIMARY KEY,
    description                text NOT NULL DEFAULT '',
    unified_api                text NOT NULL,
    status                     text NOT NULL,
    disabled_reason            text NOT NULL DEFAULT '',
    delivery_url               text NOT NULL,
    events                     text[] NOT NULL DEFAULT '{}',
    consumer_id                text NOT NULL DEFAULT '',
    retry_schedule             integer[],
    secret_sealed              bytea,
    previous_secret_sealed     bytea,
    previous_secret_expires_at timestamptz,
    fail_streak                integer NOT NULL DEFAULT 0,
    fail_streak_started_at     timestamptz,
    last_failed_at             timestamptz,
    last_succeeded_at          timestamptz,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);
CREATE INDEX subscriptions_status ON subscriptions (status);

CREATE TABLE events (
    id                    text COLLATE "C" PRIMARY KEY,
    event_type            text NOT NULL,
    base_event_type       text NOT NULL DEFAULT '',
    unified_api           text NOT NULL,
    service_id            text NOT NULL DEFAULT '',
    consumer_id           text NOT NULL DEFAULT '',
    connection_id         text NOT NULL DEFAULT '',
    entity_id             text NOT NULL DEFAULT '',
    entity_type           text NOT NULL DEFAULT '',
    entity_url            text NOT NULL DEFAULT '',
    downstream_event_type text NOT NULL DEFAULT '',
    event_source          text NOT NULL DEFAULT '',
    occurred_at           timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    entity                json,
    -- NULL (no key) never conflicts: NULLs are distinct.
    dedupe_key            text UNIQUE,
    request_hash          text NOT NULL DEFAULT ''
);
CREATE INDEX events_event_type ON events (event_type, id);
CREATE INDEX events_consumer_id ON events (consumer_id, id);
CREATE INDEX events_service_id ON events (service_id, id);

CREATE TABLE deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    event_id        text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    subscription_id text COLLATE "C" NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- The node whose in-process dispatcher took the first try (the key of
    -- its advisory lock, see node.go); NULL when a fan-out job takes it.
    -- StartQueue leaves a live node's untried deliveries alone.
    dispatcher_node integer
);
CREATE INDEX deliveries_event_status ON deliveries (event_id, status);
-- Cancelling a subscription's pending deliveries (delete, disable), and the
-- StartQueue sweep of untried ones.
CREATE INDEX deliveries_subscription_pending ON deliveries (subscription_id) WHERE status = 'pending';

-- The attempt log outlives subscriptions: no reference to them.
CREATE TABLE attempts (
    id                text COLLATE "C" PRIMARY KEY,
    delivery_id       text COLLATE "C" NOT NULL,
    event_id          text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    event_type        text NOT NULL,
    unified_api       text NOT NULL DEFAULT '',
    subscription_id   text COLLATE "C" NOT NULL,
    consumer_id       text NOT NULL DEFAULT '',
    service_id        text NOT NULL DEFAULT '',
    endpoint          text NOT NULL,
    status_code       integer NOT NULL,
    success           boolean NOT NULL,
    execution_attempt integer NOT NULL,
    timestamp         timestamptz NOT NULL,
    duration_ms       bigint NOT NULL,
    response_body     text NOT NULL DEFAULT '',
    error             text NOT NULL DEFAULT '',
    retry_scheduled   boolean NOT NULL
);
CREATE INDEX attempts_event_id ON attempts (event_id, id);
CREATE INDEX attempts_subscription_id ON attempts (subscription_id, id);
CREATE INDEX attempts_consumer_id ON attempts (consumer_id, id);
CREATE INDEX attempts_event_type ON attempts (event_type, id);
CREATE INDEX attempts_service_id ON attempts (service_id, id);

-- Vault connections: a consumer's connection to one provider service.
-- Credentials are one JSON object sealed with the store's Sealer (NULL when
-- there are none); the inbound URL's token is stored as its SHA-256, for
-- lookups, and sealed, only ever opened to show the webhook_url again.
CREATE TABLE connections (
    id                 text COLLATE "C" PRIMARY KEY,
    consumer_id        text NOT NULL,
    service_id         text NOT NULL,
    status             text NOT NULL,
    settings           jsonb NOT NULL DEFAULT '{}',
    credentials_sealed bytea,
    token_hash         bytea NOT NULL,
    registrations      jsonb,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    token_sealed       bytea
);
-- A consumer's connections, newest first.
CREATE INDEX connections_consumer_id ON connections (consumer_id, id);
-- Inbound requests find their connection by token.
CREATE UNIQUE INDEX connections_token_hash ON connections (token_hash);

-- +goose Down
DROP TABLE connections;
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE subscriptions;
DROP TABLE api_keys;
