// Command polling is a complete poll-only Switchboard connector (virtual
// webhooks): its made-up provider "Tasklist" has no webhooks at all, only
// a REST list of tasks with an updated-since filter:
//
//	GET {base_url}/tasks?updated_since=<RFC 3339>&limit=100
//	Authorization: Bearer <credentials.token>
//
//	200 {"data": [{"id": "t1", "title": "Call back", "done": false,
//	               "created_at": "...", "updated_at": "..."}]}   oldest first
//	429 Retry-After: <seconds>                                   rate-limited
//
// The hub polls it on a schedule (settings.poll_interval, at least 1 s) and
// maps task.created / task.updated with tasklist.json (put it into the
// hub's --mappings-dir next to the others) to issue-tracking.ticket.created
// and issue-tracking.ticket.updated. Copy it to start a connector for a provider
// that cannot push. examples/polling/tasklistfake is the provider for
// tests, and `go run ./examples/polling/fakeserver` runs it for trying the
// connector by hand.
//
//	go build -o plugins.d/switchboard-connector-tasklist ./examples/polling
//	(cd plugins.d && sha256sum switchboard-connector-tasklist > switchboard-connector-tasklist.sha256)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/provider"
)

func main() {
	// Nothing before Serve may print to stdout.
	plugins.Serve(New())
}

// PageSize is how many changed tasks one poll asks for.
const PageSize = 100

// Tasklist implements plugins.Connector and plugins.Poller.
type Tasklist struct {
	http *provider.Client
}

// New returns the connector; its calls go through plugins/provider (the
// hub's SSRF guard, bounded retries of 5xx, never a retry of a 429).
func New() *Tasklist {
	return &Tasklist{http: provider.New(provider.Config{Name: "Tasklist", UserAgent: "Switchboard-Tasklist-example/1"}, nil)}
}

var (
	_ plugins.Connector = (*Tasklist)(nil)
	_ plugins.Poller    = (*Tasklist)(nil)
)

// Describe: mode virtual (the provider cannot push), nothing to register.
func (*Tasklist) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID: "tasklist", Name: "Tasklist (poll-only example)", Version: "1.0.0",
		UnifiedAPIs: []string{"tasklist"},
		Webhook:     plugins.WebhookSupport{Mode: plugins.ModeVirtual, ManagedVia: plugins.ManagedManual},
		SupportedEvents: []plugins.SupportedEvent{
			{EventType: "tasklist.task.created", DownstreamEventType: "task.created"},
			{EventType: "tasklist.task.updated", DownstreamEventType: "task.updated"},
		},
		SettingsSchema: json.RawMessage(`{"type": "object", "additionalProperties": false, "required": ["base_url"],
			"properties": {"base_url": {"type": "string", "pattern": "^https?://", "` + plugins.OperatorOnly + `": true}}}`),
		CredentialsSchema: json.RawMessage(`{"type": "object", "additionalProperties": false, "required": ["token"],
			"properties": {"token": {"type": "string", "minLength": 1}}}`),
		PollIntervalMin:     time.Second,
		PollIntervalDefault: time.Minute,
	}, nil
}

// HandleInbound: Tasklist never calls the hub.
func (*Tasklist) HandleInbound(context.Context, *plugins.InboundRequest) (*plugins.InboundResult, error) {
	return nil, plugins.Malformed("Tasklist has no webhooks; the hub polls it")
}

// Subscribe registers nothing: the hub polls.
func (*Tasklist) Subscribe(context.Context, *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	return &plugins.SubscribeResult{Message: "Tasklist cannot send webhooks: the hub polls it (settings.poll_interval)."}, nil
}

// Unsubscribe has nothing to remove.
func (*Tasklist) Unsubscribe(context.Context, *plugins.UnsubscribeRequest) error { return nil }

// Task is one task as Tasklist lists it.
type Task struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Poll lists the tasks changed since the cursor (the newest updated_at
// seen; the first poll starts from now) and returns one event per task
// version, keyed by task id and updated_at so a repeated poll is stored
// once. It never reports deletions.
func (t *Tasklist) Poll(ctx context.Context, req *plugins.PollRequest) (*plugins.PollResult, error) {
	var set struct {
		BaseURL string `json:"base_url"`
	}
	if err := json.Unmarshal(req.Connection.Settings, &set); err != nil || set.BaseURL == "" {
		return nil, fmt.Errorf("tasklist: settings.base_url is missing")
	}
	if req.Cursor == "" {
		return &plugins.PollResult{Cursor: time.Now().UTC().Format(time.RFC3339Nano)}, nil
	}
	token := req.Connection.Credentials["token"]
	h := http.Header{"Authorization": {"Bearer " + token}}
	api := t.http.Session(strings.TrimRight(set.BaseURL, "/"), h, []string{token}, nil)
	q := url.Values{"updated_since": {req.Cursor}, "limit": {fmt.Sprint(PageSize)}}
	ans, err := api.Call(ctx, http.MethodGet, "/tasks?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if ans.Status == http.StatusTooManyRequests {
		return nil, plugins.RateLimited(ans.RetryAfter, "Tasklist answered 429")
	}
	if !ans.OK() {
		return nil, api.Refusal(ans)
	}
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(ans.Body, &list); err != nil {
		return nil, &plugins.ProviderError{StatusCode: ans.Status, Message: "the task list is not {\"data\": [...]}"}
	}
	res := &plugins.PollResult{Cursor: req.Cursor, More: len(list.Data) >= PageSize}
	for _, raw := range list.Data {
		var task Task
		if json.Unmarshal(raw, &task) != nil || task.ID == "" || task.UpdatedAt.IsZero() {
			continue
		}
		native := "task.updated"
		if task.CreatedAt.Equal(task.UpdatedAt) {
			native = "task.created"
		}
		res.Events = append(res.Events, plugins.NativeEvent{
			Type: native, Payload: raw, OccurredAt: task.UpdatedAt.UTC(),
			IdempotencyKey: plugins.EntityVersionKey("task", task.ID, task.UpdatedAt),
		})
		// Compared as times: RFC3339Nano drops trailing zeros, so the text
		// does not sort.
		if cur, err := time.Parse(time.RFC3339Nano, res.Cursor); err != nil || task.UpdatedAt.After(cur) {
			res.Cursor = task.UpdatedAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return res, nil
}
