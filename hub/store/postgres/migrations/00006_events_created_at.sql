-- The retention purge finds the oldest events by creation time. Without this
-- index each purge round would scan every event once the old ones were gone.
-- Plain CREATE INDEX (goose runs each migration in a transaction, where
-- CONCURRENTLY is not allowed): it blocks writes to events while it builds,
-- once, at the upgrade.

-- +goose Up
CREATE INDEX events_created_at ON events (created_at, id);

-- +goose Down
DROP INDEX events_created_at;
