-- The inbound token, sealed, so a connection can show its webhook_url again.
-- Lookups still go by token_hash; the sealed copy is only ever opened for display.

-- +goose Up
ALTER TABLE connections ADD COLUMN token_sealed BLOB;

-- +goose Down
ALTER TABLE connections DROP COLUMN token_sealed;
