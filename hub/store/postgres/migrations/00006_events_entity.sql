-- An event's entity_url is served (GET /{unified_api}/{entity_plural}/{id}):
-- the newest stored event of that entity, found by its id.

-- +goose Up
CREATE INDEX events_entity_id ON events (entity_id, id);

-- +goose Down
DROP INDEX events_entity_id;
