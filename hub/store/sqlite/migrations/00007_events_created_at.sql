-- The retention purge finds the oldest events by creation time. Without this
-- index each purge round scanned every event inside its write transaction
-- (holding the write lock deliveries need) once the old ones were gone.

-- +goose Up
CREATE INDEX events_created_at ON events (created_at, id);

-- +goose Down
DROP INDEX events_created_at;
