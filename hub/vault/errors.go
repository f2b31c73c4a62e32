package vault

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/plugins"
)

// defaultRetryAfter is the Retry-After hint for an unavailable connector
// that gave none.
const defaultRetryAfter = 5 * time.Second

// redacted replaces credential values in connector and provider messages.
const redacted = "[redacted]"

// minScrubLength is the shortest credential value scrubbed from messages;
// shorter ones (an "eu" region) would mangle text without hiding a secret.
const minScrubLength = 6

// connectorFailed answers for a connector call that failed: 503 with
// Retry-After when the connector is down, 502 ConnectorExecutionError
// naming the provider's status and message when the provider refused, 502
// with the connector's own message otherwise. creds are scrubbed from every
// text shown or logged.
func (s *Service) connectorFailed(c *gin.Context, serviceID, action string, err error, creds map[string]string) {
	msg := scrub(err.Error(), creds)
	cause := errors.New(msg) // logged by the API's request log; never the raw text
	var (
		provider    *plugins.ProviderError
		unavailable *plugins.UnavailableError
	)
	switch {
	case errors.As(err, &provider):
		pmsg := scrub(provider.Message, creds)
		text := fmt.Sprintf("%s: the provider refused to %s: it answered %d: %s", serviceID, action, provider.StatusCode, pmsg)
		if provider.StatusCode == 0 {
			text = fmt.Sprintf("%s: could not reach the provider to %s: %s", serviceID, action, pmsg)
		}
		api.WriteError(c, &api.Error{
			Status:   http.StatusBadGateway,
			TypeName: api.TypeConnectorExecution,
			Message:  text,
			Detail: map[string]any{
				"service_id":       serviceID,
				"provider_status":  provider.StatusCode,
				"provider_message": pmsg,
			},
			Err: cause,
		})
	case errors.Is(err, plugins.ErrUnavailable):
		retry := int(defaultRetryAfter / time.Second)
		if errors.As(err, &unavailable) {
			retry = unavailable.RetryAfterSeconds()
		}
		c.Header("Retry-After", strconv.Itoa(retry))
		api.WriteError(c, &api.Error{
			Status:   http.StatusServiceUnavailable,
			TypeName: api.TypeServiceUnavailable,
			Message:  fmt.Sprintf("connector %s is unavailable (down or restarting) and could not %s; retry in %d s", serviceID, action, retry),
			Detail:   map[string]any{"service_id": serviceID, "retry_after_seconds": retry},
			Err:      cause,
		})
	default:
		text := fmt.Sprintf("connector %s failed to %s: %s", serviceID, action, strings.TrimPrefix(msg, "connector: "))
		if errors.Is(err, errBadSchema) {
			text = fmt.Sprintf("connector %s could not %s: %s", serviceID, action, msg)
		}
		api.WriteError(c, &api.Error{
			Status:   http.StatusBadGateway,
			TypeName: api.TypeConnectorExecution,
			Message:  text,
			Detail:   map[string]any{"service_id": serviceID},
			Err:      cause,
		})
	}
}

// withTokens is creds plus inbound URL tokens, for scrub: a provider or a
// plugin that echoes the webhook URL in an error must not leak its token
// (for providers that do not sign, the only credential).
func withTokens(creds map[string]string, tokens ...string) map[string]string {
	out := make(map[string]string, len(creds)+len(tokens))
	for k, v := range creds {
		out[k] = v
	}
	for i, t := range tokens {
		out["\x00token"+strconv.Itoa(i)] = t
	}
	return out
}

// scrub replaces every credential value in text, so a provider that echoes
// a token in its error message does not leak it to a response or a log.
func scrub(text string, creds map[string]string) string {
	for _, v := range creds {
		if len(v) >= minScrubLength {
			text = strings.ReplaceAll(text, v, redacted)
		}
	}
	return text
}
