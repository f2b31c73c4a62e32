-- Application-registered event types (POST /webhook/event-types): the
-- catalogue's own types are embedded in the binary; these are an
-- application's additions, with the JSON Schema of their entity.

-- +goose Up
CREATE TABLE event_types (
    name              text COLLATE "C" PRIMARY KEY,
    unified_api       text NOT NULL,
    entity_type       text NOT NULL,
    description       text NOT NULL DEFAULT '',
    schema            text NOT NULL,
    example_entity_id text NOT NULL DEFAULT '',
    example           text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

-- +goose Down
DROP TABLE event_types;
