-- A subscription's delivery format (issue 13): "standard" (Standard
-- Webhooks, every existing subscription) or "apideck" (Apideck's body and
-- x-apideck-signature). signing_key_sealed is the write-only key of the
-- apideck signature, sealed with the master key like secret_sealed.

-- +goose Up
ALTER TABLE subscriptions ADD COLUMN delivery_format TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE subscriptions ADD COLUMN signing_key_sealed BYTEA;

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN signing_key_sealed;
ALTER TABLE subscriptions DROP COLUMN delivery_format;
