// Package vplan is the connector for vPlan, a Dutch planning-board tool
// (boards of collections, an order or project, holding cards; seed 004 of
// the product documents).
//
// # Setup: managed through vPlan's API
//
// A connection carries credentials{api_key, api_env} (vPlan's x-api-key and
// x-api-env headers) and optional settings{base_url, event_types}. base_url
// defaults to https://api.vplan.com/v1 (tests point it at vplanfake);
// event_types defaults to all 36 types vPlan documents (EventTypes).
//
// Subscribe registers ONE vPlan webhook for the connection:
//
//	POST {base_url}/webhook
//	x-api-key: <api_key>
//	x-api-env: <api_env>
//	Content-Type: application/json
//
//	{"url": "<the connection's webhook_url>",
//	 "description": "Switchboard <connection id> #<nonce>",
//	 "active": true,
//	 "event_types": ["card.created", ...]}
//
// and reads the created webhook object back: its id, plus vPlan's delivery
// health (fail_streak, can_send) for the log. The answer is accepted bare or
// wrapped as {"data": {...}}. The connection's
// stored state is {"webhook_id": "<id>"}; Unsubscribe deletes it with
// DELETE {base_url}/webhook/{id}, and a 404 counts as already deleted.
//
// Calls to vPlan go through plugins/provider (go-retryablehttp): each try is
// bounded by Config.TryTimeout (10 s), transport errors and 5xx answers are
// retried (Config.RetryMax, 2), 4xx never, a Retry-After is honoured up to
// Config.RetryWaitMax, redirects are not followed (they would carry the API
// key elsewhere). When vPlan refuses, Subscribe returns a
// *plugins.ProviderError with vPlan's status and message (read from
// "message", "error" or "errors", else the body's text), which the hub turns
// into 502 ConnectorExecutionError. When vPlan does not answer in time, or
// cannot be reached, it is a *plugins.ProviderError with StatusCode 0 and a
// message saying so ("timed out: vPlan did not answer POST /webhook within
// 10s", "could not reach vPlan at ..."): the
// hub words that as "could not reach the provider". Credential values never
// appear in an error or a log line; they are also scrubbed from vPlan's own
// messages in case it echoes them.
//
// Nothing half-made is left behind: a registration vPlan may have created
// although Subscribe fails (a timeout or a 5xx after the request was sent,
// an answer without a webhook id) is looked up with GET {base_url}/webhook
// and deleted; so are duplicates a retried POST may have created. A webhook
// counts as this call's when both its URL (which holds the connection's
// unguessable token) and its description (which holds a random nonce per
// Subscribe call) match: when the hub re-registers after a settings change,
// the previous registration has the same URL and must survive a failed
// attempt. This cleanup is best effort (a single try per call, at most two
// TryTimeouts); what it cannot remove is logged.
//
// # Authenticity
//
// vPlan does not sign its webhooks (ProviderSigns is false): there is no
// secret to verify. Authenticity rests on the inbound URL, whose path holds
// the connection's unguessable token (256 bits); only vPlan, which was given
// the URL at registration, knows it. Treat the URL as a secret.
//
// # What vPlan sends (ASSUMED)
//
// vPlan documents its 36 event types in three payload kinds (normal, nested,
// nested with pivot) but not the literal JSON. The connector and
// mappings/vplan.json assume the shapes below, chosen to be consistent with
// vPlan's REST objects (UUID ids, snake_case, ISO 8601 times with offset)
// and with the Laravel convention of "pivot" values on a related object. If
// vPlan's real bodies differ, edit mappings/vplan.json (paths) rather than
// this code; the connector itself only reads the envelope.
//
// Envelope, one event per POST:
//
//	{
//	  "message_id": "7076ddf0-5a77-5f12-9e16-76f123db99e5", // id of this message, the same on every retry
//	  "webhook_id": "0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b", // the registration it was sent for
//	  "event": "card.created",                            // one of the 36 event types
//	  "created_at": "2024-03-04T10:15:01+01:00",          // when it happened
//	  "data": { ... }                                     // by payload kind, below
//	}
//
// Normal (16: card.*, card.updated.merged, collection.*, comment.*,
// attachment.*, time_tracking.*): data is the object itself.
//
//	{"event": "card.created", "data": {"id": "9b2f…", "collection_id": "5e8a…",
//	  "name": "Weld main frame", "status": {"id": "…", "name": "In progress"},
//	  "labels": [...], "resources": [...], "due_date": "2024-03-15", ...}}
//
// Nested (8: a label, resource or follower attached to / detached from a
// card or collection): data is the parent object, as in its normal events,
// with the related object under its singular name.
//
//	{"event": "card.label.attached", "data": {"id": "9b2f…", "name": "Weld main frame", ...,
//	  "label": {"id": "b9e3…", "name": "Paint shop", "color": "#1e88e5"}}}
//
// Nested with pivot (12: activities on a card or collection, collection
// checklists and their items): as nested, and the related object carries
// the relation's own values under "pivot".
//
//	{"event": "card.activity.updated", "data": {"id": "9b2f…", ...,
//	  "activity": {"id": "6a9c…", "name": "Welding", "pivot": {"estimate": 120, "done": true}}}}
//
// Checklist events put the checklist under "checklist" and, for item events,
// the item under "checklist_item"; they are passed through unmapped
// (vplan.collection.checklist.*). testdata/vplan holds a sample of every
// event type.
//
// # What HandleInbound does
//
// It requires a JSON object without duplicated top-level keys whose "event"
// (or, failing that, "type") is a non-empty string without whitespace or
// control characters; anything else is plugins.Malformed with the precise
// reason (400). It does not require "data" or check the event against the 36
// known types: an event it did not expect is kept and passed through
// (catalogue rule 4) rather than refused, since refusals count towards
// vPlan's fail streak and eventually disable the webhook. It returns one
// native event: the whole body as payload; occurred_at from "created_at"
// (RFC 3339, zero when missing or unreadable); idempotency key "message_id"
// when present (a string or number of at most 255 bytes without control
// characters), else the hex SHA-256 of the raw body, so a redelivery is
// stored once either way. (A top-level "id" is deliberately not used: were
// vPlan to send the object itself at the top level, that would be the card's
// id, and every later event about the card would be dropped as a duplicate.)
//
// # Reconciliation: virtual webhooks (ASSUMED list API)
//
// vPlan caps and sometimes fails its webhooks; the connector also
// implements plugins.Poller, so the hub reconciles each connection by
// polling (webhook_support.mode "native" with virtual_webhooks:
// request_rate 60 per minute, resources card and collection; poll_interval
// at least 10 s, default 5 min). vPlan's REST API lists its objects; the
// connector assumes this updated-since filter on them:
//
//	GET {base_url}/card?updated_since=<RFC 3339>&sort=updated_at&limit=100
//	GET {base_url}/collection?updated_since=...&sort=updated_at&limit=100
//	x-api-key, x-api-env as for the webhook calls
//
// answering the objects (as in the webhooks' data) with updated_at at or
// after updated_since, oldest first, bare or as {"data": [...]}; 429 with
// Retry-After when rate-limited (returned to the hub as
// plugins.RateLimited, never retried by the connector). The cursor is
// {"card": <newest updated_at seen>, "collection": ...}; the first poll
// only sets it to now (reconciliation does not replay vPlan's history). A
// full page (100) sets PollResult.More. Each object becomes
// <resource>.created (created_at == updated_at) or <resource>.updated in
// the webhook envelope {"event", "created_at": updated_at, "source": "poll",
// "data": object}, so mappings/vplan.json maps it unchanged. Deletions are
// never reported: a list does not show what is gone.
//
// Push/poll deduplication: a card.* or collection.* webhook other than a
// deletion, whose data has an id and an updated_at, is keyed
// plugins.EntityVersionKey(resource, id, updated_at), exactly as its polled
// copy, so the hub stores one event per object version whichever way it
// came first; other webhooks keep message_id. Consequence: two webhooks
// about one object version (a card.updated and a card.label.attached with
// the same updated_at) are stored once, the first one standing.
package vplan
