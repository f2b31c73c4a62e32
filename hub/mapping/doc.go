// Package mapping turns providers' native webhook events into unified events,
// driven by one JSON mapping file per service (mappings/<service_id>.json).
// Integration maintainers change how provider fields land in the unified
// model by editing those files, without recompiling: the hub validates every
// file when it loads it, rejects a bad edit with file, JSON pointer and
// reason, keeps the last good version active, and hot-reloads good edits.
//
// # Using it
//
// [LoadDir] compiles a directory into an immutable [Set]; [Set.Apply] maps
// one native event into a [Result]. A [Registry] holds the current Set,
// reloads it on file changes ([Registry.Watch], fsnotify, debounced) or on
// demand ([Registry.Reload], e.g. on SIGHUP) and reports per-file status.
// [Lint] and [LintCommandOutput] back `switchboard mappings lint`;
// [Validate] vets one file (the mappings API); [Set.Coverage] lists what each
// service's mapping produces.
//
// # The file format
//
// The schema is mappings/mapping.schema.json (JSON Schema 2020-12); this is
// what its keys mean. Every "path" is a gjson path
// (https://github.com/tidwall/gjson/blob/master/SYNTAX.md).
//
//	{
//	  "service_id": "dversum",            // = file name without .json
//	  "version": "1.0.0",
//	  "description": "...",
//	  "native_event_type": {"path": "event"},
//	  "occurred_at": "timestamp",
//	  "record": "data",
//	  "pass_through": {"id": "id"},
//	  "entities": {"invoice": {...}},
//	  "events": {"invoice.paid": {...}}
//	}
//
// native_event_type: where the provider's event type is read when the
// connector plugin does not hand it over (Input.NativeType; when it does,
// that wins). One source or a list tried in order, first non-empty wins:
// {"path": "<gjson path in the body>"}, {"header": "X-Event"} or
// {"query": "e"}. Deskera: [{"query": "e"}, {"path": "eventType"}].
//
// occurred_at: path (or list of paths) in the body of when the event
// happened: an RFC 3339 string (any offset; stored in UTC), a date, or unix
// seconds or milliseconds (numbers or numeric strings; values of 1e12 and
// above are milliseconds). Missing or unparsable: Input.OccurredAt, else
// the time of Apply.
//
// record: path of the object the event is about (dVersum: "data"). Entity
// ids, fields, conditions and change paths are evaluated against the
// record; native_event_type and occurred_at against the whole body. Empty:
// the whole body.
//
// # Entities
//
//	"invoice": {
//	  "type": "invoice",                  // the unified entity_type
//	  "id": "id",                         // path of entity_id in the record
//	  "occurred_at": "updated_at",        // optional, tried before the file's
//	  "fields": {
//	    "number": "invoice_number",       // a path: the value is copied as is
//	    "customer.id": "client_id",       // dotted targets build objects
//	    "emails.0.email": "email",        // digit segments build arrays
//	    "total": {"path": "total", "scale": 0.01, "scale_when": "integer"},
//	    "status": {"path": "status", "map": {"sent": "submitted", "*": "other"}},
//	    "invoice_sent": {"value": true, "when": "sent_at"},
//	    "line_items": {"path": "items", "each": {"description": "text"}}
//	  }
//	}
//
// A field is a path, or an object with exactly one of path or value and
// optional modifiers, applied in this order:
//
//   - when: the field is set only if the condition holds on the record.
//   - value: a constant (any JSON) instead of a path.
//   - path: read the value. Missing: default if given, else the field is left
//     out. JSON null: default if given, else null (a cleared field stays
//     visible as null).
//   - each: the value must be an array; every element is mapped with the
//     nested fields (paths relative to the element) into an array of objects.
//   - map: enum table keyed by the value as text (strings as they are,
//     numbers as written, true/false). "*" catches values not listed; without
//     it unlisted values pass unchanged. Table values are scalars.
//   - scale: multiply by this factor, in exact decimal arithmetic (119000 *
//     0.01 = 1190). scale_when "integer" scales only numbers written without
//     a fraction or exponent: dVersum's REST API sends integer cents (12500 =
//     125.00 EUR) while its webhook example sends decimals (1190.00), and
//     one mapping handles both. A decimal written without a fraction (1190
//     meaning 1190.00) is then read as cents: the provider's ambiguity, not
//     one the mapping can resolve. Numeric strings are accepted.
//   - type: coerce to string, number, integer, boolean (true/false, "true",
//     0/1 ...), time (RFC 3339 UTC from any accepted time form) or date
//     (YYYY-MM-DD; an RFC 3339 time gives its local date).
//
// A value that cannot go through its pipeline (a string where scale wants a
// number) is left out of the entity and named in Result.Warnings; the event
// is still delivered. Targets are checked at load: one field cannot be both
// a value and the parent of others ("customer" and "customer.id"), and array
// indexes and keys cannot be mixed under one parent. Entities render with
// sorted keys, so output is stable byte for byte.
//
// # Conditions
//
// A when is either a path that must be truthy (exists and is not null,
// false, 0 or "") or an object with a path and one operator:
//
//	{"path": "type", "equals": "supplier"}    // strings exactly, numbers by value
//	{"path": "type", "not_equals": "supplier"} // also true when missing
//	{"path": "type", "in": ["a", "b"]}
//	{"path": "deleted_at", "exists": true}      // null counts as existing
//	{"all": [<when>, ...]}  {"any": [<when>, ...]}
//
// A number never equals a string ("1" is not 1).
//
// # Events
//
//	"invoice.paid": {
//	  "event_type": "accounting.invoice.paid",
//	  "base_event_type": "accounting.invoice.updated",   // optional
//	  "entity": "invoice",
//	  "fields": {"paid_at": "paid_at"},                    // optional, over the entity's
//	  "set": {"status": "paid"},                           // optional constants, last
//	  "change": {"relation": "tags", "action": "attached", // optional (vPlan)
//	             "related_id": "label.id", "pivot": "pivot"}
//	}
//
// Keys are native event types, matched exactly. event_type must be a type of
// the event catalogue (package event, hub/event/catalog), and the entity's
// type the catalogue's entity type for it; every target field must exist in
// that entity's JSON Schema with a type the field can produce (a constant,
// map values, type or scale). Unknown names fail with the closest known ones.
// base_event_type, if given, must be the catalogue's; it defaults to it:
// accounting.invoice.paid -> accounting.invoice.updated; base events have none. change gives the entity
// a change object {relation, action, related_id, pivot?} for attach/detach
// events (catalogue rule 3).
//
// branches: a list of {when, event_type?, base_event_type?, entity?, fields?,
// set?, change?} tried in order; the first whose when holds decides. Keys a
// branch leaves out come from the event (base_event_type only together with
// event_type). When no branch matches, the event's own event_type applies;
// an event with branches only is then passed through, with a warning:
//
//	"CREATE_CONTACT": {
//	  "entity": "contact",
//	  "branches": [
//	    {"when": {"path": "type", "equals": "SUPPLIER"}, "event_type": "accounting.supplier.created"},
//	    {"when": {"path": "type", "equals": "CUSTOMER"}, "event_type": "accounting.customer.created"}
//	  ]
//	}
//
// pass_through: true marks a native event that is deliberately unmapped, so
// the file lists every event the provider documents.
//
// # Unmapped events (catalogue rule 4)
//
// A native event not in events (or pass_through) is never dropped: its
// Result has event_type <service_id>.<native> (lower-cased; characters
// outside [a-z0-9_-] become "_"), unified_api = service_id, entity_type =
// the native type's first segment, entity_id = the record's id (path
// pass_through.id, default "id"), entity = the record as it came (the whole
// body when there is no record) and Mapped false. A service with no mapping
// file at all is handled the same way, as long as the plugin names the
// native type.
//
// # Load-time checks
//
// A file is rejected, with an [Error] per problem naming file, JSON pointer
// and reason, for: invalid JSON, duplicate keys in any object, schema
// violations (unknown keys, wrong types), service_id other than the file
// name, gjson paths that are empty or malformed (unbalanced brackets, empty
// components such as "data..id", unknown @modifiers), undefined entity
// references, invalid event types, map tables whose values cannot go
// through the field's scale or type, conditions with several operators or
// non-scalar operands, and conflicting targets. Example:
//
//	dversum.json: /events/invoice.paid/entity: entity "invoce" is not defined
package mapping
