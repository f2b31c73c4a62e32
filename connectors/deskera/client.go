package deskera

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/switchboardhq/switchboard/plugins"
)

// client talks to Deskera's webhook API for one Subscribe or Unsubscribe.
type client struct {
	base    *url.URL
	token   string
	http    *retryablehttp.Client
	secrets []string
	timeout time.Duration
	// retried is set once any try was repeated: a registration may then
	// have been made twice.
	retried atomic.Bool
}

func (c *Connector) client(base *url.URL, token string, log *slog.Logger, secrets []string) *client {
	a := &client{base: base, token: token, secrets: secrets, timeout: c.cfg.Timeout}
	a.http = &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: c.transport, Timeout: c.cfg.Timeout},
		RetryWaitMin: c.cfg.RetryWaitMin,
		RetryWaitMax: c.cfg.RetryWaitMax,
		RetryMax:     c.cfg.Retries,
		CheckRetry:   retryPolicy,
		Backoff: func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
			return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), hi)
		},
		// The last answer (or transport error) comes back as is, so its
		// status and message can be reported.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		// No Logger: retryablehttp would log URLs and errors verbatim.
		RequestLogHook: func(_ retryablehttp.Logger, r *http.Request, attempt int) {
			if attempt > 0 {
				a.retried.Store(true)
				log.Debug("retrying a Deskera call", slog.String("method", r.Method),
					slog.String("path", r.URL.Path), slog.Int("attempt", attempt+1))
			}
		},
	}
	return a
}

// retryPolicy retries transport errors, timeouts and 5xx answers (but 501),
// never a 4xx: Deskera has decided, and asking again changes nothing.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if err == nil && resp != nil && resp.StatusCode < 500 {
		return false, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// list returns the account's webhooks (GET /v1/webhooks).
func (a *client) list(ctx context.Context) ([]Hook, *plugins.ProviderError) {
	status, body, perr := a.do(ctx, http.MethodGet, PathList, nil)
	if perr != nil {
		return nil, perr
	}
	if status < 200 || status > 299 {
		return nil, a.refusal(status, body)
	}
	var hooks []Hook
	if err := json.Unmarshal(body, &hooks); err != nil {
		return nil, &plugins.ProviderError{StatusCode: status, Message: "Deskera's webhook list is not a JSON array of webhooks"}
	}
	return hooks, nil
}

// register makes one registration. unknown says the outcome is unknown: the
// hook may exist at Deskera although no id came back.
func (a *client) register(ctx context.Context, creds map[string]string, eventType, hookURL string) (Registration, *plugins.ProviderError, bool) {
	status, body, perr := a.do(ctx, http.MethodPost, PathRegister, registerBody{
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
	if status < 200 || status > 299 {
		return Registration{}, a.refusal(status, body), status >= 500
	}
	var h Hook
	if err := json.Unmarshal(body, &h); err != nil || h.HookID == 0 {
		return Registration{}, &plugins.ProviderError{StatusCode: status,
			Message: "Deskera answered the registration without a hookId"}, true
	}
	return Registration{EventType: eventType, HookID: h.HookID}, nil, false
}

// delete removes one hook; 404 means it is gone already, which is fine.
func (a *client) delete(ctx context.Context, hookID int64) *plugins.ProviderError {
	status, body, perr := a.do(ctx, http.MethodDelete, PathDelete+strconv.FormatInt(hookID, 10), nil)
	if perr != nil {
		return perr
	}
	if (status >= 200 && status <= 299) || status == http.StatusNotFound {
		return nil
	}
	return a.refusal(status, body)
}

// do makes one call with retries and returns Deskera's last answer, or a
// *plugins.ProviderError with status 0 when no answer came.
func (a *client) do(ctx context.Context, method, path string, payload any) (int, []byte, *plugins.ProviderError) {
	var body io.Reader
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return 0, nil, &plugins.ProviderError{Message: "encoding the request: " + err.Error()}
		}
		body = bytes.NewReader(b)
	}
	u := *a.base
	u.Path += path
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return 0, nil, &plugins.ProviderError{Message: a.scrub("building the request: " + err.Error())}
	}
	req.Header.Set(HeaderAccessToken, a.token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Switchboard-Deskera/"+Version)
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, &plugins.ProviderError{Message: a.transportMessage(ctx, method, path, err)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, &plugins.ProviderError{Message: a.transportMessage(ctx, method, path, err)}
	}
	return resp.StatusCode, answer, nil
}

// transportMessage says why no answer came: "timed out" when a try or the
// hub's deadline ran out, else what the network said.
func (a *client) transportMessage(ctx context.Context, method, path string, err error) string {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("timed out: Deskera did not answer %s %s before the deadline of this call", method, path)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		// http.Client.Timeout: one try ran out (and so did the retries).
		return fmt.Sprintf("timed out: Deskera did not answer %s %s within %s", method, path, a.timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Sprintf("cancelled while calling Deskera (%s %s)", method, path)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return a.scrub(fmt.Sprintf("could not reach Deskera at %s (%s %s): %v", a.base.Host, method, path, err))
}

// refusal turns a non-2xx answer into a ProviderError with Deskera's own
// message.
func (a *client) refusal(status int, body []byte) *plugins.ProviderError {
	return &plugins.ProviderError{StatusCode: status, Message: a.scrub(providerMessage(status, body))}
}

// scrub replaces every secret in text.
func (a *client) scrub(text string) string {
	for _, s := range a.secrets {
		if len(s) >= minScrubLen {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
}

// providerMessage finds the message in a Deskera error answer. Deskera does
// not document its error body; the connector looks for the usual fields
// (errorMessage, message, error_description, error, errors[0], msg, detail),
// then falls back to a short plain-text body, then to the status text.
func providerMessage(status int, body []byte) string {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) == nil {
		for _, k := range []string{"errorMessage", "message", "error_description", "error", "errors", "msg", "detail"} {
			if m := messageIn(doc[k]); m != "" {
				return clip(m)
			}
		}
	}
	text := strings.TrimSpace(string(body))
	if text != "" && !strings.HasPrefix(text, "{") && !strings.HasPrefix(text, "[") && !strings.HasPrefix(text, "<") &&
		!strings.ContainsFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return clip(strings.Join(strings.Fields(text), " "))
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "HTTP " + strconv.Itoa(status)
}

// messageIn reads a message from a string, an object with a message, or
// the first element of an array of either.
func messageIn(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		for _, k := range []string{"message", "errorMessage", "msg", "detail"} {
			if m := messageIn(obj[k]); m != "" {
				return m
			}
		}
		return ""
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil && len(arr) > 0 {
		return messageIn(arr[0])
	}
	return ""
}

func clip(s string) string {
	if len(s) <= maxMessageLen {
		return s
	}
	cut := maxMessageLen
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
