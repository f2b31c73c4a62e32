// Package plugins is the SDK for Switchboard connector plugins, and the wire
// both ends of a plugin connection share.
//
// A connector turns one provider's webhooks into native events. It runs as a
// separate process the hub starts and supervises (hashicorp/go-plugin over
// gRPC with automatic mTLS); an author never touches go-plugin or gRPC:
//
//	package main
//
//	import "github.com/switchboardhq/switchboard/plugins"
//
//	type acme struct{}
//
//	func (acme) Describe(ctx context.Context) (*plugins.Description, error) { ... }
//	func (acme) HandleInbound(ctx context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) { ... }
//	func (acme) Subscribe(ctx context.Context, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) { ... }
//	func (acme) Unsubscribe(ctx context.Context, req *plugins.UnsubscribeRequest) error { ... }
//
//	func main() { plugins.Serve(acme{}) }
//
// plugins/example is a complete connector along these lines with its tests,
// and connectors/dversum is a real one.
//
// # What the hub does with a connector
//
//   - It starts the executable (switchboard-connector-<id> in the plugins
//     directory, checked against its SHA-256; built-in connectors run by
//     re-executing the hub's binary) and calls Describe; the description feeds
//     the hub's connector catalogue and validates connection settings and
//     credentials (JSON Schema).
//   - For every provider request to POST /webhook/inbound/<id>/<token> it
//     calls HandleInbound with the raw request and the connection's settings
//     and plaintext credentials. The connector verifies the provider's
//     signature, answers handshakes (InboundResult.Response), splits batches,
//     and returns one NativeEvent per provider event. The hub maps each with
//     mappings/<id>.json, stores it, and only then acknowledges the provider.
//   - When a connection is created or deleted it calls Subscribe or
//     Unsubscribe (managed_via api providers register the inbound URL there).
//   - For providers without push (webhook_support.mode "virtual") it calls
//     Poll on a schedule (implement Poller); a pushing provider that the hub
//     should also reconcile (webhooks its provider failed to send) keeps mode
//     "native", implements Poller too and sets Webhook.VirtualWebhooks.
//
// # Virtual webhooks (Poller)
//
// The hub keeps one cursor per connection. It calls Poll(cursor) no more
// often than the connection's poll_interval (at least
// Description.PollIntervalMin), never twice at once for one connection (not
// even across the nodes of a PostgreSQL cluster), and stores the returned
// events and PollResult.Cursor in one transaction: a crash repeats the poll
// from the old cursor and the repeated events are deduplicated, nothing is
// skipped or delivered twice. Polled events go through the mapping, store
// and fan-out of pushed ones with event_source "virtual".
//
//	func (c *acme) Poll(ctx context.Context, req *plugins.PollRequest) (*plugins.PollResult, error) {
//		since := req.Cursor // "" on the first poll: start from now, not from the beginning of time
//		items, retryAfter, err := c.listChangedSince(ctx, req.Connection, since)
//		if retryAfter > 0 {
//			return nil, plugins.RateLimited(retryAfter, "acme answered 429")
//		}
//		...
//		for _, it := range items {
//			ev.IdempotencyKey = plugins.EntityVersionKey("task", it.ID, it.UpdatedAt)
//		}
//		return &plugins.PollResult{Events: evs, Cursor: newest.Format(time.RFC3339Nano)}, nil
//	}
//
// Rules: give each event the key a pushed copy of the same change would
// get (EntityVersionKey: entity kind, id and the provider's updated_at), so
// the hub delivers a change that arrived both ways once; return events
// oldest first with a cursor that covers exactly them (set More when the
// provider has another page); never emit a deletion a list cannot show;
// return RateLimited with the provider's Retry-After on a 429 (the hub
// waits at least that long) and *ProviderError on other refusals (the hub
// backs off exponentially and shows the message as the connection's
// poll_error). plugintest.Connect exercises Poll over the real wire.
//
// # Errors
//
// Return ErrBadSignature (wrapped is fine) for requests that are not
// authentic and Malformed("what is wrong") for requests that cannot be
// parsed: the hub answers 401 and 400. Return a *ProviderError when the
// provider refuses a call the connector made. These survive the gRPC hop, so
// the hub (and a connector's own tests) can use errors.Is and errors.As. Any
// other error, a panic, a timeout or a crashed process makes the hub answer
// 5xx (503 with Retry-After while the plugin restarts), so the provider
// retries and nothing is lost.
//
// A connector that registers its webhooks through the provider's API
// (ManagedVia api) makes those calls with plugins/provider: bounded retries
// on transport errors and 5xx only, no redirects, credentials scrubbed from
// every message, and the provider's own message in the *ProviderError.
//
// # Rules of the process
//
// Nothing may be written to stdout before Serve (go-plugin's handshake is the
// first line there). Log with log/slog: Serve routes the default logger to
// the hub's log. Never log credentials; Connection's LogValue omits them. A
// connector is stateless between calls: it keeps no secrets and may be
// restarted at any time. Serve ignores SIGINT and SIGTERM and exits when the
// hub closes it or dies.
//
// # Testing
//
// plugins/plugintest.Connect serves a connector in-process behind the real
// gRPC layer, so its tests see exactly what the hub sees.
//
// # A connector in its own module
//
// The module github.com/switchboardhq/switchboard is not published, so an
// external connector's go.mod cannot simply require it. Point it at a copy
// on disk instead:
//
//	require github.com/switchboardhq/switchboard v0.0.0-00010101000000-000000000000
//
//	replace github.com/switchboardhq/switchboard => ../switchboard
//
// where ../switchboard is a checkout of the repository (or a vendored copy
// inside the connector's own repository, say ./third_party/switchboard; or
// run go mod vendor and commit vendor/). The connector's go.sum needs the
// lines of every module the SDK uses: start from the checkout's go.sum. With
// Go's pruned module graphs the go.mod also lists the SDK's requirements
// (as // indirect), at the checkout's versions.
//
// `switchboard connector init NAME [--dir DIR] [--sdk PATH]` writes such a
// module, ready to build: go.mod with the replace, go.sum, main.go (a
// provider that signs with HMAC-SHA256, verified in HandleInbound), a
// plugintest test, mappings/NAME.json and a sample webhook. As generated it
// passes go test ./... and builds offline (GOPROXY=off) from the module
// cache the checkout filled.
package plugins
