package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/switchboardhq/switchboard"
	"github.com/switchboardhq/switchboard/connectors/dversum"
)

// apiClient talks to the hub's REST API for the run's setup and cleanup.
type apiClient struct {
	target Target
	http   *http.Client
}

// call sends one API request and decodes the envelope's data into out.
func (c *apiClient) call(ctx context.Context, method, path, consumer string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.target.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.target.APIKey)
	req.Header.Set("Content-Type", "application/json")
	if consumer != "" {
		req.Header.Set("x-consumer-id", consumer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer's data: %w", method, path, err)
		}
	}
	return nil
}

// subscription is what the run needs of a created subscription.
type subscription struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

func (c *apiClient) subscribe(ctx context.Context, deliveryURL, consumer string) (subscription, error) {
	var sub subscription
	err := c.call(ctx, http.MethodPost, "/webhook/webhooks", "", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": deliveryURL,
		"events": []string{"*"}, "consumer_id": consumer, "description": "switchboard bench",
	}, &sub)
	if err == nil && (sub.ID == "" || sub.Secret == "") {
		err = fmt.Errorf("POST /webhook/webhooks: the answer has no id or secret")
	}
	return sub, err
}

// connection is what the run needs of a created vault connection.
type connection struct {
	ID            string `json:"id"`
	WebhookURL    string `json:"webhook_url"`
	SigningSecret string `json:"signing_secret"`
}

func (c *apiClient) connect(ctx context.Context, consumer string) (connection, error) {
	var conn connection
	err := c.call(ctx, http.MethodPost, "/vault/connections", consumer, map[string]any{"service_id": dversum.ID}, &conn)
	if err == nil && (conn.WebhookURL == "" || conn.SigningSecret == "") {
		err = fmt.Errorf("POST /vault/connections: the answer has no webhook_url or signing_secret")
	}
	return conn, err
}

// load builds the requests of one mode: request i is event i of the run.
type load interface {
	request(ctx context.Context, i int) (*http.Request, error)
	// ids reads the accepted event ids out of a 202 answer; dup counts
	// events the hub reported as duplicates (stored earlier, no new delivery).
	ids(answer []byte, into []string) (ids []string, dup int)
}

// template is a request body with holes, so building event i costs a few
// appends instead of a JSON encoding.
type template struct {
	parts [][]byte // len(holes)+1
	holes []int    // which value fills each hole
}

// compile splits body at each marker occurrence; the value for marker k
// fills every hole of marker k.
func compile(body []byte, markers ...string) template {
	var t template
	for {
		at, which := -1, -1
		for k, m := range markers {
			if i := bytes.Index(body, []byte(m)); i >= 0 && (at < 0 || i < at) {
				at, which = i, k
			}
		}
		if at < 0 {
			t.parts = append(t.parts, body)
			return t
		}
		t.parts = append(t.parts, body[:at])
		t.holes = append(t.holes, which)
		body = body[at+len(markers[which]):]
	}
}

func (t template) fill(values ...string) []byte {
	n := 0
	for _, p := range t.parts {
		n += len(p)
	}
	for _, h := range t.holes {
		n += len(values[h])
	}
	out := make([]byte, 0, n)
	for i, p := range t.parts {
		out = append(out, p...)
		if i < len(t.holes) {
			out = append(out, values[t.holes[i]]...)
		}
	}
	return out
}

const (
	markerID = "@@bench-id@@"
	markerTS = "@@bench-ts@@"
)

// publishLoad posts events to POST /webhook/events with unique entity ids
// and no idempotency key, so none is deduplicated.
type publishLoad struct {
	url, auth string
	prefix    string // unique per run
	body      template
}

func newPublishLoad(target Target, consumer string) (*publishLoad, error) {
	raw, err := json.Marshal(map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": consumer,
		"entity_id": "inv_" + markerID, "entity_type": "invoice",
		"entity": map[string]any{"number": "RE-" + markerID, "total": 1190.0, "currency": "EUR", "status": "draft"},
	})
	if err != nil {
		return nil, err
	}
	return &publishLoad{
		url: strings.TrimRight(target.URL, "/") + "/webhook/events", auth: "Bearer " + target.APIKey,
		prefix: consumer + "_", body: compile(raw, markerID),
	}, nil
}

func (l *publishLoad) request(ctx context.Context, i int) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url,
		bytes.NewReader(l.body.fill(l.prefix+strconv.Itoa(i))))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", l.auth)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

func (l *publishLoad) ids(answer []byte, into []string) ([]string, int) {
	if id := gjson.GetBytes(answer, "data.id").String(); id != "" {
		into = append(into, id)
	}
	return into, 0
}

// inboundLoad plays dVersum: signed invoice.created webhooks, each with its
// own data.id, timestamp and X-Webhook-Id, posted to a connection's inbound
// URL. This is the whole inbound path: connector plugin (gRPC), mapping,
// store, delivery.
type inboundLoad struct {
	url, secret, prefix string
	body                template
}

func newInboundLoad(conn connection, runID string) (*inboundLoad, error) {
	sample, err := switchboard.Sample(dversum.ID, "invoice.created")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(sample, &m); err != nil {
		return nil, fmt.Errorf("the dversum invoice.created sample: %w", err)
	}
	data, ok := m["data"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the dversum invoice.created sample has no data object")
	}
	data["id"] = "inv_" + markerID
	m["timestamp"] = markerTS
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &inboundLoad{url: conn.WebhookURL, secret: conn.SigningSecret, prefix: runID + "_",
		body: compile(raw, markerID, markerTS)}, nil
}

func (l *inboundLoad) request(ctx context.Context, i int) (*http.Request, error) {
	id := l.prefix + strconv.Itoa(i)
	body := l.body.fill(id, time.Now().UTC().Format(time.RFC3339Nano))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(dversum.HeaderWebhookID, id)
	req.Header.Set(dversum.HeaderSignature, dversum.Sign(l.secret, body))
	return req, nil
}

func (l *inboundLoad) ids(answer []byte, into []string) ([]string, int) {
	dup := 0
	gjson.GetBytes(answer, "data.events").ForEach(func(_, ev gjson.Result) bool {
		if ev.Get("duplicate").Bool() {
			dup++
		} else if id := ev.Get("id").String(); id != "" {
			into = append(into, id)
		}
		return true
	})
	return into, dup
}
