-- Virtual webhooks: one row per polled connection, created by its first
-- poll and deleted with it. The cursor advances in the same transaction as the events it
-- covers; lease_token fences a poll whose lease expired (another poll took
-- it) so its late results are not stored.

-- +goose Up
CREATE TABLE connection_polls (
    connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    consumer_id   TEXT NOT NULL,
    cursor        TEXT NOT NULL DEFAULT '',
    cursor_at     INTEGER,
    last_polled_at INTEGER,
    last_error    TEXT NOT NULL DEFAULT '',
    failures      INTEGER NOT NULL DEFAULT 0,
    not_before    INTEGER,
    lease_token   INTEGER NOT NULL DEFAULT 0,
    lease_until   INTEGER
);

-- +goose Down
DROP TABLE connection_polls;
