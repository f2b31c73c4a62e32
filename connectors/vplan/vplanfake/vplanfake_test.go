package vplanfake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/vplan"
	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
)

func call(t *testing.T, method, url, key, env string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	require.NoError(t, err)
	req.Header.Set(vplan.HeaderAPIKey, key)
	req.Header.Set(vplan.HeaderAPIEnv, env)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	f := vplanfake.New("k", "e")
	defer f.Close()

	code, _ := call(t, http.MethodPost, f.URL+"/webhook", "k", "wrong", map[string]any{"url": "https://x.example/h"})
	assert.Equal(t, http.StatusUnauthorized, code)

	code, res := call(t, http.MethodPost, f.URL+"/webhook", "k", "e", map[string]any{"event_types": []string{"card.nope"}})
	assert.Equal(t, http.StatusUnprocessableEntity, code)
	assert.Equal(t, "The selected event_types.0 is invalid.", res["message"])
	errs := res["errors"].(map[string]any)
	assert.Equal(t, []any{"The url field is required."}, errs["url"])

	code, hook := call(t, http.MethodPost, f.URL+"/webhook", "k", "e", vplan.CreateWebhook{
		URL: "https://x.example/h", Description: "d", Active: true, EventTypes: []string{"card.created"}})
	require.Equal(t, http.StatusCreated, code)
	id := hook["id"].(string)
	assert.NotEmpty(t, id)
	assert.Equal(t, float64(0), hook["fail_streak"])
	assert.Equal(t, true, hook["can_send"])
	assert.Equal(t, true, hook["third_party"])
	assert.Nil(t, hook["disabled_until"])

	code, got := call(t, http.MethodGet, f.URL+"/webhook/"+id, "k", "e", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, id, got["id"])

	code, _ = call(t, http.MethodDelete, f.URL+"/webhook/"+id, "k", "e", nil)
	assert.Equal(t, http.StatusNoContent, code)
	code, _ = call(t, http.MethodDelete, f.URL+"/webhook/"+id, "k", "e", nil)
	assert.Equal(t, http.StatusNotFound, code)

	f.Refuse(http.StatusTooManyRequests, "Too Many Attempts.")
	code, res = call(t, http.MethodGet, f.URL+"/webhook", "k", "e", nil)
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Equal(t, "Too Many Attempts.", res["message"])

	reqs := f.Requests()
	require.Len(t, reqs, 7)
	assert.Equal(t, "/v1/webhook", reqs[0].Path)
	assert.Equal(t, "wrong", reqs[0].Header.Get(vplan.HeaderAPIEnv))
}

func TestTriggerAndSendEachKind(t *testing.T) {
	t.Parallel()
	f := vplanfake.New("k", "e")
	defer f.Close()
	var mu sync.Mutex
	var got []map[string]any
	fail := false
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer rcv.Close()

	sent, err := f.SendEachKind(t.Context(), rcv.URL)
	require.NoError(t, err)
	require.Len(t, sent, 3)
	for i, k := range vplanfake.Kinds {
		assert.Equal(t, vplanfake.SampleEvents[k], sent[i].Event)
		assert.Equal(t, http.StatusAccepted, sent[i].Status)
		assert.NoError(t, sent[i].Err)
		assert.NotEmpty(t, sent[i].MessageID)
	}
	mu.Lock()
	assert.Equal(t, "card.label.attached", got[1]["event"])
	assert.NotEqual(t, got[0]["message_id"], got[1]["message_id"])
	mu.Unlock()

	hook := f.AddWebhook(rcv.URL, []string{"comment.created"})
	f.AddWebhook(rcv.URL, []string{"card.created"})
	out, err := f.Trigger(t.Context(), "comment.created", func(d map[string]any) { d["id"] = "c-9" })
	require.NoError(t, err)
	require.Len(t, out, 1, "only the webhook subscribed to the event")
	assert.Equal(t, hook.ID, out[0].WebhookID)
	mu.Lock()
	last := got[len(got)-1]
	assert.Equal(t, hook.ID, last["webhook_id"])
	assert.Equal(t, "c-9", last["data"].(map[string]any)["id"])
	fail = true
	mu.Unlock()

	out, err = f.Trigger(t.Context(), "comment.created", nil)
	require.NoError(t, err)
	require.Error(t, out[0].Err)
	for _, h := range f.Webhooks() {
		if h.ID == hook.ID {
			require.NotNil(t, h.FailStreak)
			assert.Equal(t, int64(1), *h.FailStreak)
			assert.NotNil(t, h.LastFailedAt)
		}
	}
}
