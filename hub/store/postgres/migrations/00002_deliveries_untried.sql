-- The sweep of untried deliveries (releaseStrandedSQL, untriedSQL) runs
-- every SweepInterval (15 s) on every node, not only at start: it reads the
-- deliveries that are pending and have had no try, a handful in flight,
-- through this index instead of a scan of the whole table.

-- +goose Up
CREATE INDEX deliveries_untried ON deliveries (event_id) WHERE status = 'pending' AND attempts = 0;

-- +goose Down
DROP INDEX deliveries_untried;
