package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
)

// RequestIDHeader carries the id of every request back to the client, so a
// support question can be matched to the log line.
const RequestIDHeader = "Request-Id"

// Context keys set by the middleware.
const (
	ctxRequestID = "switchboard.request_id"
	ctxAPIKey    = "switchboard.api_key"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID echoes a well-formed incoming Request-Id (or X-Request-Id) so a
// caller's own trace id flows through, and otherwise makes one.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(RequestIDHeader)
		if !requestIDPattern.MatchString(id) {
			id = c.GetHeader("X-Request-Id")
		}
		if !requestIDPattern.MatchString(id) {
			id = uuid.NewString()
		}
		c.Set(ctxRequestID, id)
		c.Header(RequestIDHeader, id)
		c.Next()
	}
}

// RequestID returns the id of the request being served.
func RequestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// observe logs one line per request and counts it by route template. The
// query string is logged (it holds filters and cursors, nothing secret);
// headers are not.
func observe(log *slog.Logger, m *metric.Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		m.HTTPRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()

		level := slog.LevelInfo
		attrs := []slog.Attr{
			slog.String("request_id", RequestID(c)),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.String("path", loggedPath(c.Request.URL.Path)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.Int("bytes_out", c.Writer.Size()),
			slog.String("remote", c.ClientIP()),
		}
		if q := c.Request.URL.RawQuery; q != "" {
			attrs = append(attrs, slog.String("query", q))
		}
		if k, ok := c.Get(ctxAPIKey); ok {
			attrs = append(attrs, slog.String("api_key_id", k.(*store.APIKey).ID))
		}
		if len(c.Errors) > 0 {
			attrs = append(attrs, slog.String("error", c.Errors.String()))
		}
		if status >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
	}
}

// inboundPrefix starts the URLs providers post to; what follows the service
// id is the connection's token.
const inboundPrefix = "/webhook/inbound/"

// loggedPath is the request path as logged: an inbound URL's token is
// redacted, because for providers that do not sign their webhooks the token
// is the only credential.
func loggedPath(path string) string {
	rest, ok := strings.CutPrefix(path, inboundPrefix)
	if !ok {
		return path
	}
	service, _, hasToken := strings.Cut(rest, "/")
	if !hasToken {
		return path
	}
	return inboundPrefix + service + "/[redacted]"
}

// recovery turns a panic in a handler into a logged 500 in the error shape
// instead of a dropped connection.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			log.Error("panic in handler",
				slog.String("request_id", RequestID(c)),
				slog.String("path", loggedPath(c.Request.URL.Path)),
				slog.Any("panic", rec),
				slog.String("stack", string(debug.Stack())))
			if !c.Writer.Written() {
				WriteError(c, fmt.Errorf("panic: %v", rec))
			}
			c.Abort()
		}()
		c.Next()
	}
}

// limitBody caps every request body. A declared Content-Length over the limit
// is refused before reading; anything else is cut off by MaxBytesReader and
// refused by the decoder.
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			WriteError(c, &http.MaxBytesError{Limit: limit})
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

// authenticator checks bearer keys: the bootstrap key from the environment
// first, then stored keys looked up by their id part.
type authenticator struct {
	keys      store.APIKeys
	bootstrap *store.APIKey // nil when SWITCHBOARD_API_KEY is not set
}

var errNoKey = &Error{
	Status:   http.StatusUnauthorized,
	TypeName: TypeUnauthorized,
	Message:  "missing API key: send the header Authorization: Bearer <api key>",
}

var errBadKey = &Error{
	Status:   http.StatusUnauthorized,
	TypeName: TypeUnauthorized,
	Message:  "invalid API key: it is unknown, revoked or mistyped",
}

// require returns middleware admitting keys that grant scope.
func (a *authenticator) require(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		k, err := a.authenticate(c)
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="switchboard"`)
			WriteError(c, err)
			return
		}
		c.Set(ctxAPIKey, k)
		if !apikey.Allows(k, scope) {
			WriteError(c, &Error{
				Status:   http.StatusForbidden,
				TypeName: TypeForbidden,
				Message:  fmt.Sprintf("this API key lacks the %s scope needed for this route", scope),
				Detail:   map[string]any{"required_scope": scope, "key_scopes": k.Scopes},
			})
			return
		}
		c.Next()
	}
}

func (a *authenticator) authenticate(c *gin.Context) (*store.APIKey, error) {
	h := c.GetHeader("Authorization")
	if h == "" {
		return nil, errNoKey
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, &Error{
			Status:   http.StatusUnauthorized,
			TypeName: TypeUnauthorized,
			Message:  "malformed Authorization header: expected Bearer <api key>",
		}
	}
	if a.bootstrap != nil && subtle.ConstantTimeCompare(apikey.Hash(token), a.bootstrap.Hash) == 1 {
		return a.bootstrap, nil
	}
	id, err := apikey.Parse(token)
	if err != nil {
		apikey.Verify(nil, token) // same work as a lookup miss
		return nil, errBadKey
	}
	k, err := a.keys.GetAPIKey(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		apikey.Verify(nil, token)
		return nil, errBadKey
	}
	if err != nil {
		return nil, fmt.Errorf("loading API key %s: %w", id, err)
	}
	if !apikey.Verify(k, token) {
		return nil, errBadKey
	}
	return k, nil
}

// APIKey returns the key that authenticated the request, or nil on public
// routes.
func APIKey(c *gin.Context) *store.APIKey {
	if k, ok := c.Get(ctxAPIKey); ok {
		return k.(*store.APIKey)
	}
	return nil
}
