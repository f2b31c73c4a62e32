-- Virtual webhooks: one row per polled connection, created by its first
-- poll and deleted with it. The cursor advances in the same transaction as the events it
-- covers; lease_token fences a poll whose lease expired (another poll, on
-- this node or another, took it) so its late results are not stored.

-- +goose Up
CREATE TABLE connection_polls (
    connection_id  text COLLATE "C" PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    consumer_id    text COLLATE "C" NOT NULL,
    cursor         text NOT NULL DEFAULT '',
    cursor_at      timestamptz,
    last_polled_at timestamptz,
    last_error     text NOT NULL DEFAULT '',
    failures       integer NOT NULL DEFAULT 0,
    not_before     timestamptz,
    lease_token    bigint NOT NULL DEFAULT 0,
    lease_until    timestamptz
);

-- +goose Down
DROP TABLE connection_polls;
