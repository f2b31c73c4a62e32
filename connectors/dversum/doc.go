// Package dversum is the connector for dVersum, a German SMB invoicing and
// project-management suite (seed 000 of the product documents).
//
// # Setup
//
// dVersum's outgoing webhooks are configured by hand in its UI (Settings ->
// Webhooks: name, URL, events), so the connector is managed_via manual:
// Subscribe registers nothing and tells the user what to paste. The user
// enters the connection's webhook_url and its signing_secret, which the hub
// generates when the connection is created (or which the caller copies from
// dVersum into credentials.signing_secret).
//
// # What dVersum sends
//
// One event per POST, JSON:
//
//	POST <webhook_url>
//	Content-Type: application/json
//	X-Webhook-Signature: sha256=<hex HMAC-SHA256(signing_secret, raw body)>
//
//	{
//	  "event": "invoice.created",
//	  "timestamp": "2024-01-15T10:30:00Z",
//	  "data": {
//	    "id": "inv_abc123",
//	    "invoice_number": "RE-2024-0001",
//	    "client_id": "cli_xyz789",
//	    "total": 1190.00,
//	    "currency": "EUR",
//	    "status": "draft"
//	  }
//	}
//
// "event" is one of the 44 native event types dVersum documents (invoice.*,
// quote.*, client.*, reminder.sent, project.*, task.*, subtask.*,
// comment.created, time_entry.*, page.*, absence.*; see Events), "timestamp"
// is RFC 3339 and "data" is the entity. The documentation's example carries
// money as a decimal while dVersum's REST API uses integer cents; the mapping
// file (mappings/dversum.json), not this connector, decides how to read it.
//
// # What the connector does
//
// HandleInbound checks the signature over the exact body bytes (constant-time)
// before it parses anything: a missing or wrong signature is
// plugins.ErrBadSignature (401). It then requires a JSON object with a
// non-empty string "event", an RFC 3339 string "timestamp" and no
// duplicated top-level keys, else plugins.Malformed says precisely what is
// wrong (400). It returns one native event: type = "event", payload = the
// whole body, occurred_at = "timestamp", idempotency key = the hex SHA-256
// of the raw body, so a redelivery of the same body is stored once.
//
// Only signed data identifies an event. The X-Webhook-Id header is not
// signed: deduplicating on it let anyone holding one captured body turn it
// into new events by changing the header, and let a guessed id claim a
// real event's key first. The signed timestamp is required because the hub
// refuses signed bodies older than its replay window (--retention): without
// it a body could be replayed once its event is purged. (X-Request-Id is not
// used either: it names one HTTP request, so a retry carries a new one.)
package dversum
