package deskera

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/provider"
)

// client makes the calls of one Subscribe or Unsubscribe to Deskera's
// webhook API: retries, timeouts, scrubbing and Deskera's error messages
// are plugins/provider's.
type client struct{ *provider.Session }

func (c *Connector) client(base *url.URL, token string, log *slog.Logger, secrets []string) *client {
	return &client{c.http.Session(base.String(), http.Header{HeaderAccessToken: {token}}, secrets, log)}
}

// list returns the account's webhooks (GET /v1/webhooks).
func (a *client) list(ctx context.Context) ([]Hook, *plugins.ProviderError) {
	ans, perr := a.do(ctx, http.MethodGet, PathList, nil)
	if perr != nil {
		return nil, perr
	}
	if !ans.OK() {
		return nil, a.Refusal(ans)
	}
	var hooks []Hook
	if err := json.Unmarshal(ans.Body, &hooks); err != nil {
		return nil, &plugins.ProviderError{StatusCode: ans.Status, Message: "Deskera's webhook list is not a JSON array of webhooks"}
	}
	return hooks, nil
}

// register makes one registration. unknown says the outcome is unknown: the
// hook may exist at Deskera although no id came back.
func (a *client) register(ctx context.Context, creds map[string]string, eventType, hookURL string) (Registration, *plugins.ProviderError, bool) {
	ans, perr := a.do(ctx, http.MethodPost, PathRegister, registerBody{
		ClientID:     creds[CredentialClientID],
		ClientSecret: creds[CredentialClientSecret],
		AccessToken:  creds[CredentialAccessToken],
		RefreshToken: creds[CredentialRefreshToken],
		EventType:    eventType,
		WebhookURL:   hookURL,
	})
	if perr != nil {
		return Registration{}, perr, true
	}
	if !ans.OK() {
		return Registration{}, a.Refusal(ans), ans.Status >= 500
	}
	var h Hook
	if err := json.Unmarshal(ans.Body, &h); err != nil || h.HookID == 0 {
		return Registration{}, &plugins.ProviderError{StatusCode: ans.Status,
			Message: "Deskera answered the registration without a hookId"}, true
	}
	return Registration{EventType: eventType, HookID: h.HookID}, nil, false
}

// delete removes one hook; 404 means it is gone already, which is fine.
func (a *client) delete(ctx context.Context, hookID int64) *plugins.ProviderError {
	ans, perr := a.do(ctx, http.MethodDelete, PathDelete+strconv.FormatInt(hookID, 10), nil)
	if perr != nil {
		return perr
	}
	if ans.OK() || ans.Status == http.StatusNotFound {
		return nil
	}
	return a.Refusal(ans)
}

// do makes one call with retries and returns Deskera's last answer, or a
// *plugins.ProviderError with status 0 when no answer came (or, never
// expected, when the request could not be made).
func (a *client) do(ctx context.Context, method, path string, payload any) (*provider.Answer, *plugins.ProviderError) {
	ans, err := a.Call(ctx, method, path, payload)
	if perr, ok := errors.AsType[*plugins.ProviderError](err); ok {
		return nil, perr
	}
	if err != nil {
		return nil, &plugins.ProviderError{Message: err.Error()}
	}
	return ans, nil
}
