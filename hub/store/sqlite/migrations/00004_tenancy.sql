-- Consumers as a security boundary: keys bound to one consumer, consumer
-- sessions, and the owner of the subscription each logged try was for (a
-- consumer sees only the tries of its own subscriptions, also after one is
-- deleted). subscription_consumer_id has no index of its own: a consumer's
-- subscription only ever receives that consumer's events, so a consumer's
-- tries are read through attempts_consumer_id, and every attempt insert
-- (the hot path) maintains one index fewer.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN consumer_id TEXT NOT NULL DEFAULT '';

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    hash          BLOB NOT NULL,
    consumer_id   TEXT NOT NULL,
    scopes        TEXT NOT NULL DEFAULT '[]',
    parent_key_id TEXT NOT NULL,
    parent_hash   BLOB NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX sessions_consumer_id ON sessions (consumer_id, id);
CREATE INDEX sessions_parent_key_id ON sessions (parent_key_id);

ALTER TABLE attempts ADD COLUMN subscription_consumer_id TEXT NOT NULL DEFAULT '';
UPDATE attempts SET subscription_consumer_id =
    coalesce((SELECT consumer_id FROM subscriptions WHERE subscriptions.id = attempts.subscription_id), '');

CREATE INDEX subscriptions_consumer_id ON subscriptions (consumer_id, id);

-- +goose Down
DROP INDEX subscriptions_consumer_id;
ALTER TABLE attempts DROP COLUMN subscription_consumer_id;
DROP TABLE sessions;
ALTER TABLE api_keys DROP COLUMN consumer_id;
