package apideck

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/store"
)

// sessionRequest is Apideck's Session body.
type sessionRequest struct {
	ConsumerMetadata       *store.ConsumerMetadata `json:"consumer_metadata"`
	RedirectURI            *string                 `json:"redirect_uri"`
	Settings               map[string]any          `json:"settings"`
	Theme                  json.RawMessage         `json:"theme"`
	CustomConsumerSettings json.RawMessage         `json:"custom_consumer_settings"`
}

// sessionLength reads Apideck's settings.session_length ("30m", "1h",
// "1d", "1w") as seconds.
func sessionLength(raw string) (int, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return 0, errors.New("is empty")
	}
	unit := raw[len(raw)-1]
	n, err := strconv.Atoi(raw[:len(raw)-1])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("must be a number and a unit (s, m, h, d, w) such as 1h, got %q", raw)
	}
	mult := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("must end in a unit (s, m, h, d, w) such as 1h, got %q", raw)
	}
	secs := int((time.Duration(n) * mult).Seconds())
	if secs > api.MaxSessionTTL {
		return 0, fmt.Errorf("must be at most 24h on Switchboard, got %q", raw)
	}
	return secs, nil
}

// createSession mints a consumer session through the hub's own
// POST /vault/sessions and answers Apideck's {session_uri, session_token}
// with 200. consumer_metadata is also kept as the consumer's metadata.
func (s *Service) createSession(c *gin.Context) {
	var in sessionRequest
	body, err := readOptional(c, &in)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	consumer, scope, err := api.VaultConsumer(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	out := map[string]any{}
	if body {
		if in.ConsumerMetadata != nil {
			out["consumer_metadata"] = in.ConsumerMetadata
		}
		if in.RedirectURI != nil {
			out["redirect_uri"] = *in.RedirectURI
		}
		if in.Settings != nil {
			out["settings"] = in.Settings
			if raw, ok := in.Settings["session_length"]; ok {
				str, _ := raw.(string)
				ttl, err := sessionLength(str)
				if err != nil {
					api.WriteError(c, api.Invalid(api.FieldError{Field: "settings.session_length", Reason: err.Error()}))
					return
				}
				out["ttl_seconds"] = ttl
			}
		}
		if len(in.Theme) > 0 && string(in.Theme) != "null" {
			out["theme"] = in.Theme
		}
	}
	r, ok := s.relay(c, "", http.MethodPost, "/vault/sessions", nil, out)
	if !ok {
		return
	}
	var created struct {
		SessionURI   string `json:"session_uri"`
		SessionToken string `json:"session_token"`
	}
	if err := r.decode(&created); err != nil {
		api.WriteError(c, err)
		return
	}
	if in.ConsumerMetadata != nil {
		rec := &store.ConsumerRecord{ID: consumer, Metadata: *in.ConsumerMetadata}
		if err := s.store.CreateConsumer(c.Request.Context(), scope, rec); errors.Is(err, store.ErrExists) {
			err = s.store.UpdateConsumer(c.Request.Context(), scope, rec)
			if err != nil {
				_ = c.Error(fmt.Errorf("keeping the metadata of consumer %s: %w", consumer, err))
			}
		} else if err != nil {
			_ = c.Error(fmt.Errorf("keeping the metadata of consumer %s: %w", consumer, err))
		}
	}
	respond(c, http.StatusOK, created)
}

// readOptional decodes an optional JSON body; false when there was none.
func readOptional(c *gin.Context, v any) (bool, error) {
	if c.Request.ContentLength == 0 && c.Request.Body == nil {
		return false, nil
	}
	raw, err := c.GetRawData()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return false, err
		}
		return false, api.BadRequest("", "reading request body: "+err.Error())
	}
	if strings.TrimSpace(string(raw)) == "" {
		return false, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(v); err != nil {
		return false, api.BadRequest("", "request body must be a JSON object: "+err.Error())
	}
	return true, nil
}
