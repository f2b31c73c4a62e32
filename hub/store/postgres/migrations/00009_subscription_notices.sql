-- Operational events (webhook.subscription.failing/disabled/recovered):
-- what was already said about a subscription, so each is sent once.
-- notice_streak is the fail_streak_started_at of the streak whose failing
-- event was sent; notice_open is set by a failing or disabled event and
-- cleared by the first success after it (recovered).

-- +goose Up
ALTER TABLE subscriptions ADD COLUMN notice_streak timestamptz;
ALTER TABLE subscriptions ADD COLUMN notice_open boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN notice_open;
ALTER TABLE subscriptions DROP COLUMN notice_streak;
