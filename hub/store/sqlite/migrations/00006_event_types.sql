-- Application-registered event types (POST /webhook/event-types): the
-- catalogue's own types are embedded in the binary; these are an
-- application's additions, with the JSON Schema of their entity.

-- +goose Up
CREATE TABLE event_types (
    name              TEXT PRIMARY KEY,
    unified_api       TEXT NOT NULL,
    entity_type       TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    schema            TEXT NOT NULL,
    example_entity_id TEXT NOT NULL DEFAULT '',
    example           TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

-- +goose Down
DROP TABLE event_types;
