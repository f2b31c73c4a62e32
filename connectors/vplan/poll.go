package vplan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/plugins"
)

// Reconciliation (virtual webhooks) limits; see the package documentation.
const (
	// PollPageSize is how many changed objects one list call asks for.
	PollPageSize = 100
	// PollIntervalMin and PollIntervalDefault bound a connection's
	// settings.poll_interval. A poll makes one list call per resource.
	PollIntervalMin     = 10 * time.Second
	PollIntervalDefault = 5 * time.Minute
)

// PollResources are the vPlan objects reconciliation lists, with the
// path of their list endpoint and the event prefix of their webhooks.
var PollResources = []string{"card", "collection"}

// pollCursor is the connector's cursor: per resource, the newest
// updated_at seen (RFC 3339 with fractions). The list filter is inclusive,
// so objects at exactly that time come back once more and are
// deduplicated by the hub (same version key).
type pollCursor map[string]string

// Poll lists the cards and collections changed since the cursor (see
// "Reconciliation" in the package documentation) and returns one
// <resource>.created or <resource>.updated event per object version,
// keyed like its webhook so a change that arrived both ways is delivered
// once. It never reports deletions: a list does not show what is gone.
func (c *Connector) Poll(ctx context.Context, req *plugins.PollRequest) (*plugins.PollResult, error) {
	set, err := parseSettings(req.Connection.Settings)
	if err != nil {
		return nil, err
	}
	creds, err := parseCredentials(req.Connection.Credentials)
	if err != nil {
		return nil, err
	}
	cur := pollCursor{}
	if req.Cursor != "" {
		if err := json.Unmarshal([]byte(req.Cursor), &cur); err != nil {
			return nil, errorf("the poll cursor %q is not this connector's: %v", req.Cursor, err)
		}
	}
	if len(cur) == 0 {
		// The first poll starts from now: reconciliation covers changes
		// from the connection on, it does not replay vPlan's history.
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for _, r := range PollResources {
			cur[r] = now
		}
		return &plugins.PollResult{Cursor: cur.String()}, nil
	}
	api := c.api(set, creds, c.log().With("connection_id", req.Connection.ID))
	res := &plugins.PollResult{}
	for _, r := range PollResources {
		since := cur[r]
		if since == "" {
			since = time.Now().UTC().Format(time.RFC3339Nano)
			cur[r] = since
			continue
		}
		q := url.Values{"updated_since": {since}, "sort": {"updated_at"}, "limit": {fmt.Sprint(PollPageSize)}}
		ans, err := api.Call(ctx, http.MethodGet, "/"+r+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		if ans.Status == http.StatusTooManyRequests {
			return nil, plugins.RateLimited(ans.RetryAfter, "vPlan answered 429 to GET /%s", r)
		}
		if !ans.OK() {
			return nil, api.Refusal(ans)
		}
		items, err := listItems(ans.Body)
		if err != nil {
			return nil, &plugins.ProviderError{StatusCode: ans.Status, Message: fmt.Sprintf("GET /%s: %v", r, err)}
		}
		for _, raw := range items {
			ev, updated, ok := polledEvent(r, raw)
			if !ok {
				continue
			}
			res.Events = append(res.Events, ev)
			if later(updated, cur[r]) {
				cur[r] = updated
			}
		}
		if len(items) >= PollPageSize {
			res.More = true
		}
	}
	res.Cursor = cur.String()
	return res, nil
}

// later reports whether RFC 3339 time a is after b (or b is unreadable).
// Not a string comparison: RFC3339Nano drops trailing zeros, so
// "…05.57Z" sorts after "…05.572Z" as text.
func later(a, b string) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	return err != nil || ta.After(tb)
}

func (p pollCursor) String() string {
	b, _ := json.Marshal(map[string]string(p))
	return string(b)
}

// listItems reads a list answer, bare or wrapped as {"data": [...]}.
func listItems(body []byte) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err == nil {
		return items, nil
	}
	var wrapped struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &wrapped); err != nil {
		return nil, fmt.Errorf("the answer is neither a list nor {\"data\": [...]}")
	}
	return wrapped.Data, nil
}

// polledEvent builds the event of one listed object in the webhook
// envelope, so mappings/vplan.json maps it as it maps a pushed one. The
// cursor value it returns is the object's updated_at in UTC RFC 3339.
func polledEvent(resource string, raw json.RawMessage) (plugins.NativeEvent, string, bool) {
	var obj struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.ID == "" || obj.UpdatedAt.IsZero() {
		return plugins.NativeEvent{}, "", false
	}
	action := "updated"
	if !obj.CreatedAt.IsZero() && obj.CreatedAt.Equal(obj.UpdatedAt) {
		action = "created"
	}
	updated := obj.UpdatedAt.UTC().Format(time.RFC3339Nano)
	body, _ := json.Marshal(map[string]any{
		"event":      resource + "." + action,
		"created_at": updated,
		"source":     "poll",
		"data":       raw,
	})
	return plugins.NativeEvent{
		Type:           resource + "." + action,
		Payload:        body,
		IdempotencyKey: plugins.EntityVersionKey(resource, obj.ID, obj.UpdatedAt),
		OccurredAt:     obj.UpdatedAt.UTC(),
	}, updated, true
}

// versionKey is the key of a pushed event that reconciliation can also
// find: any card.* or collection.* event but a deletion, whose data has an
// id and an updated_at. "" otherwise.
func versionKey(event string, fields map[string]json.RawMessage) string {
	resource, _, _ := strings.Cut(event, ".")
	if (resource != "card" && resource != "collection") || strings.HasSuffix(event, ".deleted") {
		return ""
	}
	var data struct {
		ID        string    `json:"id"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	if json.Unmarshal(fields["data"], &data) != nil || data.ID == "" || data.UpdatedAt.IsZero() ||
		len(data.ID) > maxIDLen || strings.ContainsFunc(data.ID, func(r rune) bool { return r < 0x20 }) {
		return ""
	}
	return plugins.EntityVersionKey(resource, data.ID, data.UpdatedAt)
}
