package plugins_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

// recorder is a connector that records what it was given and answers with
// what the test put in it.
type recorder struct {
	gotInbound *plugins.InboundRequest
	gotSub     *plugins.SubscribeRequest
	gotUnsub   *plugins.UnsubscribeRequest
	result     *plugins.InboundResult
	err        error
	panicMsg   string
}

func (r *recorder) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID: "rec", Name: "Recorder", Version: "1",
		Webhook: plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedAPI},
		Poll:    true, // authors cannot claim Poll; the SDK decides
	}, nil
}

func (r *recorder) HandleInbound(_ context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	if r.panicMsg != "" {
		panic(r.panicMsg)
	}
	r.gotInbound = req
	return r.result, r.err
}

func (r *recorder) Subscribe(_ context.Context, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	r.gotSub = req
	if r.err != nil {
		return nil, r.err
	}
	return &plugins.SubscribeResult{Registered: true, State: []byte(`{"hooks":["h1","h2"]}`), Message: "registered"}, nil
}

func (r *recorder) Unsubscribe(_ context.Context, req *plugins.UnsubscribeRequest) error {
	r.gotUnsub = req
	return r.err
}

// poller adds Poll to recorder.
type poller struct{ recorder }

func (p *poller) Poll(_ context.Context, req *plugins.PollRequest) (*plugins.PollResult, error) {
	return &plugins.PollResult{
		Events:        []plugins.NativeEvent{{Type: "x.created", Payload: json.RawMessage(`{"cursor":"` + req.Cursor + `"}`), IdempotencyKey: "k"}},
		Cursor:        req.Cursor + "+1",
		NextPollAfter: 90 * time.Second,
	}, nil
}

func TestInboundRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 1, 15, 10, 30, 0, 123_000_000, time.UTC)
	rec := &recorder{result: &plugins.InboundResult{
		Events: []plugins.NativeEvent{
			{Type: "invoice.paid", Payload: json.RawMessage(`{"a":1}`), IdempotencyKey: "evt_1", OccurredAt: at},
			{Payload: json.RawMessage(`{"b":2}`), IdempotencyKey: "evt_2"},
		},
		Response: &plugins.DirectResponse{Status: 202, Headers: http.Header{"X-Challenge": {"c1"}}, Body: []byte("ok")},
	}}
	c := plugintest.Connect(t, rec)

	req := &plugins.InboundRequest{
		Method:  http.MethodPost,
		Path:    "/webhook/inbound/rec/tok",
		Headers: http.Header{"x-webhook-signature": {"sha256=ab"}, "X-Multi": {"1", "2"}},
		Query:   url.Values{"e": {"CREATE_INVOICE"}},
		Body:    []byte("{\"raw\":\"bytes\"}\n"),
		Connection: plugins.Connection{
			ID: "conn_1", ConsumerID: "acme",
			Settings:    json.RawMessage(`{"base_url":"http://x"}`),
			Credentials: map[string]string{"signing_secret": "s3cret"},
		},
	}
	res, err := c.HandleInbound(t.Context(), req)
	require.NoError(t, err)

	got := rec.gotInbound
	require.NotNil(t, got)
	assert.Equal(t, req.Method, got.Method)
	assert.Equal(t, req.Path, got.Path)
	assert.Equal(t, "sha256=ab", got.Headers.Get("X-Webhook-Signature"), "header names arrive canonical")
	assert.Equal(t, []string{"1", "2"}, got.Headers.Values("X-Multi"))
	assert.Equal(t, "CREATE_INVOICE", got.Query.Get("e"))
	assert.Equal(t, req.Body, got.Body, "the body arrives byte for byte")
	assert.Equal(t, req.Connection, got.Connection)

	require.Len(t, res.Events, 2)
	assert.Equal(t, rec.result.Events[0].Type, res.Events[0].Type)
	assert.JSONEq(t, `{"a":1}`, string(res.Events[0].Payload))
	assert.Equal(t, "evt_1", res.Events[0].IdempotencyKey)
	assert.True(t, at.Equal(res.Events[0].OccurredAt))
	assert.Empty(t, res.Events[1].Type)
	assert.True(t, res.Events[1].OccurredAt.IsZero(), "an unknown time stays zero")
	require.NotNil(t, res.Response)
	assert.Equal(t, 202, res.Response.Status)
	assert.Equal(t, "c1", res.Response.Headers.Get("X-Challenge"))
	assert.Equal(t, "ok", string(res.Response.Body))
}

func TestSubscribeRoundTrip(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c := plugintest.Connect(t, rec)
	res, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: plugins.Connection{ID: "c"}, WebhookURL: "https://hub/x"})
	require.NoError(t, err)
	assert.Equal(t, "https://hub/x", rec.gotSub.WebhookURL)
	assert.True(t, res.Registered)
	assert.JSONEq(t, `{"hooks":["h1","h2"]}`, string(res.State))

	require.NoError(t, c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: plugins.Connection{ID: "c"}, State: res.State}))
	assert.Equal(t, res.State, rec.gotUnsub.State)
}

func TestPoll(t *testing.T) {
	t.Parallel()
	d, err := plugintest.Connect(t, &recorder{}).Describe(t.Context())
	require.NoError(t, err)
	assert.False(t, d.Poll, "Poll is reported by the SDK, not claimed by the author")
	_, err = plugintest.Connect(t, &recorder{}).Poll(t.Context(), &plugins.PollRequest{})
	require.ErrorIs(t, err, plugins.ErrUnsupported)

	c := plugintest.Connect(t, &poller{})
	d, err = c.Describe(t.Context())
	require.NoError(t, err)
	assert.True(t, d.Poll)
	res, err := c.Poll(t.Context(), &plugins.PollRequest{Cursor: "c7"})
	require.NoError(t, err)
	assert.Equal(t, "c7+1", res.Cursor)
	assert.Equal(t, 90*time.Second, res.NextPollAfter)
	require.Len(t, res.Events, 1)
	assert.JSONEq(t, `{"cursor":"c7"}`, string(res.Events[0].Payload))
}

func TestErrorsSurviveTheWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		check func(t *testing.T, err error)
	}{
		{"bad signature", plugins.ErrBadSignature, func(t *testing.T, err error) {
			require.ErrorIs(t, err, plugins.ErrBadSignature)
			assert.Equal(t, "bad signature", err.Error())
		}},
		{"wrapped bad signature", errors.Join(errors.New("ctx"), plugins.ErrBadSignature), func(t *testing.T, err error) {
			require.ErrorIs(t, err, plugins.ErrBadSignature)
			assert.Contains(t, err.Error(), "ctx")
		}},
		{"malformed", plugins.Malformed(`body field %q is missing`, "event"), func(t *testing.T, err error) {
			require.ErrorIs(t, err, plugins.ErrMalformed)
			var me *plugins.MalformedError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, `body field "event" is missing`, me.Reason)
		}},
		{"provider", &plugins.ProviderError{StatusCode: 403, Message: "token expired"}, func(t *testing.T, err error) {
			var pe *plugins.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 403, pe.StatusCode)
			assert.Equal(t, "token expired", pe.Message)
		}},
		{"other", errors.New("disk on fire"), func(t *testing.T, err error) {
			assert.NotErrorIs(t, err, plugins.ErrBadSignature)
			assert.NotErrorIs(t, err, plugins.ErrMalformed)
			assert.NotErrorIs(t, err, plugins.ErrUnavailable)
			assert.Contains(t, err.Error(), "disk on fire")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := plugintest.Connect(t, &recorder{err: tt.err})
			_, err := c.HandleInbound(t.Context(), &plugins.InboundRequest{})
			require.Error(t, err)
			tt.check(t, err)
			_, err = c.Subscribe(t.Context(), &plugins.SubscribeRequest{})
			tt.check(t, err)
		})
	}
}

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, &recorder{panicMsg: "boom"})
	_, err := c.HandleInbound(t.Context(), &plugins.InboundRequest{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "panicked")
	assert.Contains(t, err.Error(), "boom")
	// The server survived.
	_, err = c.Describe(t.Context())
	require.NoError(t, err)
}

func TestDescriptionValidate(t *testing.T) {
	t.Parallel()
	ok := func() *plugins.Description {
		return &plugins.Description{
			ID: "acme", Name: "Acme",
			Webhook:           plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedManual},
			SupportedEvents:   []plugins.SupportedEvent{{EventType: "crm.contact.created", DownstreamEventType: "contact.new"}},
			SettingsSchema:    json.RawMessage(`{"type":"object"}`),
			CredentialsSchema: json.RawMessage(` {"type":"object"}`),
		}
	}
	require.NoError(t, ok().Validate())

	tests := map[string]struct {
		mutate func(*plugins.Description)
		want   string
	}{
		"bad id":           {func(d *plugins.Description) { d.ID = "Acme Inc" }, `id "Acme Inc"`},
		"no name":          {func(d *plugins.Description) { d.Name = "" }, "name is empty"},
		"bad mode":         {func(d *plugins.Description) { d.Webhook.Mode = "push" }, `mode "push"`},
		"virtual, no poll": {func(d *plugins.Description) { d.Webhook.Mode = plugins.ModeVirtual }, "implements Poll"},
		"bad managed_via":  {func(d *plugins.Description) { d.Webhook.ManagedVia = "" }, "managed_via"},
		"virtual_webhooks, no poll": {func(d *plugins.Description) {
			d.Webhook.VirtualWebhooks = &plugins.VirtualWebhooks{RequestRate: plugins.RequestRate{Rate: 1, Size: 1, Unit: "minute"}}
		}, "virtual_webhooks needs a connector that implements Poll"},
		"bad rate unit": {func(d *plugins.Description) {
			d.Poll = true
			d.Webhook.VirtualWebhooks = &plugins.VirtualWebhooks{RequestRate: plugins.RequestRate{Rate: 1, Size: 1, Unit: "week"}}
		}, `unit "week"`},
		"default below min": {func(d *plugins.Description) {
			d.PollIntervalMin, d.PollIntervalDefault = time.Minute, time.Second
		}, "not below the minimum"},
		"duplicate event": {func(d *plugins.Description) {
			d.SupportedEvents = append(d.SupportedEvents, d.SupportedEvents[0])
		}, "listed twice"},
		"schema not object": {func(d *plugins.Description) { d.SettingsSchema = json.RawMessage(`[]`) }, "settings_schema is not a JSON object"},
		"schema not json":   {func(d *plugins.Description) { d.CredentialsSchema = json.RawMessage(`{`) }, "credentials_schema is not a JSON object"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			d := ok()
			tt.mutate(d)
			err := d.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestUnavailableError(t *testing.T) {
	t.Parallel()
	err := error(&plugins.UnavailableError{ID: "dversum", RetryAfter: 1500 * time.Millisecond, Err: errors.New("plugin process exited")})
	require.ErrorIs(t, err, plugins.ErrUnavailable)
	var ue *plugins.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, 2, ue.RetryAfterSeconds())
	assert.Equal(t, 1, (&plugins.UnavailableError{}).RetryAfterSeconds(), "Retry-After is at least 1 s")
	assert.Equal(t, "connector dversum unavailable: plugin process exited", err.Error())
}

func TestConnectionLogValueHidesCredentials(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "connection", plugins.Connection{ID: "c1", ConsumerID: "acme", Credentials: map[string]string{"signing_secret": "hunter2"}})
	assert.Contains(t, buf.String(), `"credential_keys":["signing_secret"]`)
	assert.Contains(t, buf.String(), `"id":"c1"`)
	assert.NotContains(t, buf.String(), "hunter2")
}

// TestLogHandlerSpeaksHCLog checks the line format go-plugin parses on the
// hub's side: @level in hclog's names, @message, @timestamp in its layout.
func TestLogHandlerSpeaksHCLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(plugins.NewLogHandler(&buf, plugins.LevelTrace))
	log.Log(t.Context(), plugins.LevelTrace, "tracing", "k", 1)
	log.Warn("careful", slog.Group("g", "level", "inner"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)

	var first, second map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &second))
	assert.Equal(t, "trace", first["@level"])
	assert.Equal(t, "tracing", first["@message"])
	assert.EqualValues(t, 1, first["k"])
	_, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", first["@timestamp"].(string))
	require.NoError(t, err)
	assert.Equal(t, "warn", second["@level"])
	assert.Equal(t, map[string]any{"level": "inner"}, second["g"], "grouped keys are left alone")
}

// limitedPoller is a Poller whose provider rate-limits it, describing
// itself as a native connector reconciled by polling.
type limitedPoller struct{ recorder }

func (p *limitedPoller) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID: "lim", Name: "Limited", Version: "1",
		Webhook: plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedAPI,
			VirtualWebhooks: &plugins.VirtualWebhooks{
				RequestRate: plugins.RequestRate{Rate: 60, Size: 1, Unit: "minute"}, Resources: []string{"cards", "collections"}}},
		PollIntervalMin: 2 * time.Second, PollIntervalDefault: time.Minute,
	}, nil
}

func (p *limitedPoller) Poll(context.Context, *plugins.PollRequest) (*plugins.PollResult, error) {
	return nil, fmt.Errorf("listing cards: %w", plugins.RateLimited(42*time.Second, "slow down"))
}

func TestPollRateLimitedAndVirtualWebhooksSurviveTheWire(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, &limitedPoller{})
	d, err := c.Describe(t.Context())
	require.NoError(t, err)
	require.NoError(t, d.Validate())
	require.NotNil(t, d.Webhook.VirtualWebhooks)
	assert.Equal(t, plugins.RequestRate{Rate: 60, Size: 1, Unit: "minute"}, d.Webhook.VirtualWebhooks.RequestRate)
	assert.Equal(t, time.Minute, d.Webhook.VirtualWebhooks.RequestRate.Window())
	assert.Equal(t, []string{"cards", "collections"}, d.Webhook.VirtualWebhooks.Resources)
	assert.Equal(t, 2*time.Second, d.PollIntervalMin)
	assert.Equal(t, time.Minute, d.PollIntervalDefault)
	b, err := json.Marshal(d.Webhook)
	require.NoError(t, err)
	assert.JSONEq(t, `{"mode":"native","managed_via":"api","virtual_webhooks":{"request_rate":{"rate":60,"size":1,"unit":"minute"},"resources":["cards","collections"]}}`, string(b))

	_, err = c.Poll(t.Context(), &plugins.PollRequest{Cursor: "x"})
	require.ErrorIs(t, err, plugins.ErrRateLimited)
	var rl *plugins.RateLimitedError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, 42*time.Second, rl.RetryAfter)
	assert.Equal(t, "slow down", rl.Message)
}

func TestPollMoreAndEntityVersionKey(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 4, 10, 15, 1, 0, time.FixedZone("CET", 3600))
	assert.Equal(t, plugins.EntityVersionKey("card", "c1", at), plugins.EntityVersionKey("card", "c1", at.UTC()),
		"one instant in two zones is one version")
	assert.Equal(t, "card:c1@2024-03-04T09:15:01Z", plugins.EntityVersionKey("card", "c1", at))
	assert.NotEqual(t, plugins.EntityVersionKey("card", "c1", at), plugins.EntityVersionKey("card", "c1", at.Add(time.Second)))

	c := plugintest.Connect(t, &morePoller{})
	res, err := c.Poll(t.Context(), &plugins.PollRequest{})
	require.NoError(t, err)
	assert.True(t, res.More)
}

type morePoller struct{ recorder }

func (p *morePoller) Poll(context.Context, *plugins.PollRequest) (*plugins.PollResult, error) {
	return &plugins.PollResult{Cursor: "p2", More: true}, nil
}
