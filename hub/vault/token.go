package vault

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/plugins"
)

// newToken makes a connection's inbound URL token and its SHA-256, by which
// inbound requests find the connection.
func newToken() (token string, hash []byte, err error) {
	token, err = secret.Token(tokenBytes)
	if err != nil {
		return "", nil, fmt.Errorf("generating inbound token: %w", err)
	}
	sum := sha256.Sum256([]byte(token))
	return token, sum[:], nil
}

// rotateToken gives a connection a new inbound URL. A connector that
// registered the URL at the provider registers the new one first and
// removes the old registration after, so no webhook is lost in between; if
// the provider refuses, the answer is 502 and the old URL keeps working. A
// manually registered URL (dVersum) stops working at once: the answer's
// webhook_url is to be pasted at the provider.
func (s *Service) rotateToken(c *gin.Context) {
	_, scope, err := api.VaultConsumer(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	conn, err := s.load(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	token, hash, err := newToken()
	if err != nil {
		api.WriteError(c, err)
		return
	}
	old := *conn
	registered := len(conn.Registrations) > 0
	ctx, cancel := s.callContext(c)
	defer cancel()
	var message string
	if registered {
		if _, ok := s.connectors.Get(conn.ServiceID); !ok {
			s.connectorFailed(c, conn.ServiceID, "register the new webhook URL", &plugins.UnavailableError{ID: conn.ServiceID, RetryAfter: defaultRetryAfter}, nil)
			return
		}
		res, err := s.connectors.Subscribe(ctx, conn.ServiceID, &plugins.SubscribeRequest{
			Connection: pluginConnection(conn),
			WebhookURL: s.webhookURL(c, conn.ServiceID, token),
		})
		if err != nil {
			s.connectorFailed(c, conn.ServiceID, "register the new webhook URL", err, withTokens(conn.Credentials, conn.Token, token))
			return
		}
		if res == nil {
			res = &plugins.SubscribeResult{}
		}
		conn.Registrations = encodeState(res.Registered, res.State)
		message = scrub(res.Message, conn.Credentials)
	}
	conn.Token, conn.TokenHash = token, hash
	if err := s.store.UpdateConnection(ctx, scope, conn); err != nil {
		if registered {
			s.undo(ctx, conn, conn.Registrations)
		}
		api.WriteError(c, fmt.Errorf("storing the new token of connection %s: %w", conn.ID, err))
		return
	}
	if registered {
		if err := s.unsubscribe(ctx, &old, old.Registrations); err != nil {
			s.logUndoFailure(ctx, conn, "removing the registration of the previous webhook URL", err)
			message = strings.TrimSpace(message + " The registration of the previous URL could not be removed (" +
				scrub(err.Error(), withTokens(conn.Credentials, old.Token, token)) + "); it no longer works, remove it at the provider by hand.")
		}
	} else {
		message = "The previous webhook_url no longer works: give the provider the new one."
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "connection token rotated",
		slog.String("connection_id", conn.ID),
		slog.String("consumer_id", conn.ConsumerID),
		slog.String("service_id", conn.ServiceID),
		slog.Bool("registered", registered))
	v := s.view(c, conn)
	v.Message = message
	api.Respond(c, http.StatusOK, v)
}

// operatorOnly lists the top-level settings a connector's schema marks with
// plugins.OperatorOnly.
func operatorOnly(schema json.RawMessage) []string {
	var doc struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	if json.Unmarshal(schema, &doc) != nil {
		return nil
	}
	var out []string
	for name, prop := range doc.Properties {
		if v, ok := prop[plugins.OperatorOnly].(bool); ok && v {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// checkOperatorSettings refuses (403) a caller bound to a consumer that sets
// a setting only the operator may: any value on create (stored nil), a
// changed one on update. Such settings aim the hub at a network address.
func checkOperatorSettings(c *gin.Context, d *plugins.Description, stored, settings map[string]any) error {
	if !api.Principal(c).Bound() {
		return nil
	}
	for _, name := range operatorOnly(d.SettingsSchema) {
		// Connectors may decode settings case-insensitively (Go's JSON
		// does), so BASE_URL must count as base_url.
		v, set := lookupFold(settings, name)
		old, had := lookupFold(stored, name)
		if set == had && (!set || reflect.DeepEqual(old, v)) {
			continue // left as the operator set it (or unset)
		}
		field := fieldSettings + "/" + escape(name)
		return &api.Error{
			Status:   http.StatusForbidden,
			TypeName: api.TypeForbidden,
			Message:  fmt.Sprintf("%s is an operator-only setting: a key or session bound to a consumer can neither set, change nor remove it", field),
			Detail:   map[string]string{"field": field, "reason": "operator-only setting"},
		}
	}
	return nil
}

// lookupFold finds a setting by name, ignoring case.
func lookupFold(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}
