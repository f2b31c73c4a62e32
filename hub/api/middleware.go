package api

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/auth"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
)

// RequestIDHeader carries the id of every request back to the client, so a
// support question can be matched to the log line.
const RequestIDHeader = "Request-Id"

// ctxRequestID is the Gin context key of the request id.
const ctxRequestID = "switchboard.request_id"

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
		// An inbound URL's query may carry a provider's verification secret
		// (hub.verify_token): like its path token, it stays out of the log.
		if q := c.Request.URL.RawQuery; q != "" {
			if strings.HasPrefix(c.Request.URL.Path, inboundPrefix) {
				q = "[redacted]"
			}
			attrs = append(attrs, slog.String("query", q))
		}
		if p := Principal(c); p != nil {
			attrs = append(attrs, slog.String("api_key_id", p.KeyID))
			if p.SessionID != "" {
				attrs = append(attrs, slog.String("session_id", p.SessionID))
			}
			if p.ConsumerID != "" {
				attrs = append(attrs, slog.String("principal_consumer_id", p.ConsumerID))
			}
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

// Tenancy is how a route treats consumers. Every route declares one (and a
// scope, unless Public); a test walks the router and fails on a route that
// does not.
type Tenancy int

const (
	tenancyUndeclared Tenancy = iota
	// Public routes take no credential: inbound provider webhooks
	// authenticate by their URL token and signature, probes have nothing
	// to protect.
	Public
	// Shared routes serve what is not consumer data (the connector
	// catalogue) to any credential with the route's scope.
	Shared
	// Scoped routes read or change consumer data: their handlers pass the
	// principal's store scope (ScopeOf), so a bound credential reaches only
	// its consumer's rows.
	Scoped
	// Application routes are for the application itself (API keys,
	// operator settings): credentials bound to a consumer get 403.
	Application
)

func (t Tenancy) String() string {
	switch t {
	case Public:
		return "public"
	case Shared:
		return "shared"
	case Scoped:
		return "scoped"
	case Application:
		return "application"
	default:
		return "undeclared"
	}
}

// Consumer headers: the consumer an unbound key acts for (Apideck's name is
// accepted too). A bound credential implies its consumer; the header may
// then be left out or must name the same consumer.
const (
	ConsumerHeader        = "x-consumer-id"
	ApideckConsumerHeader = "x-apideck-consumer-id"
)

// authenticator resolves a request's bearer credential into a Principal,
// trying each provider in turn: the bootstrap key from the environment, a
// stored API key, a consumer session.
type authenticator struct {
	keys            store.APIKeys
	sessions        store.Sessions
	bootstrap       *store.APIKey // nil when SWITCHBOARD_API_KEY is not set
	bootstrapParent func() []byte // parentHash of bootstrap, computed once
	now             func() time.Time
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

var errBadSession = &Error{
	Status:   http.StatusUnauthorized,
	TypeName: TypeUnauthorized,
	Message:  "invalid session: it is unknown, expired or revoked, or the key that made it was revoked",
}

// guard returns the middleware of a route that needs a credential: it
// authenticates, puts the Principal in the request context, checks the
// consumer headers against a bound principal, the route's tenancy and its
// scope.
func (a *authenticator) guard(scope string, tenancy Tenancy) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := a.authenticate(c)
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="switchboard"`)
			WriteError(c, err)
			return
		}
		c.Request = c.Request.WithContext(auth.WithPrincipal(c.Request.Context(), p))
		if _, err := RequestedConsumer(c); err != nil {
			WriteError(c, err)
			return
		}
		if tenancy == Application && p.Bound() {
			WriteError(c, &Error{
				Status:   http.StatusForbidden,
				TypeName: TypeForbidden,
				Message:  "this route is for the application only; a key or session bound to a consumer cannot use it",
				Detail:   map[string]any{"consumer_id": p.ConsumerID},
			})
			return
		}
		if !p.Allows(scope) {
			WriteError(c, &Error{
				Status:   http.StatusForbidden,
				TypeName: TypeForbidden,
				Message:  fmt.Sprintf("this credential lacks the %s scope needed for this route", scope),
				Detail:   map[string]any{"required_scope": scope, "scopes": p.Scopes},
			})
			return
		}
		c.Next()
	}
}

func (a *authenticator) authenticate(c *gin.Context) (*auth.Principal, error) {
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
		return principalOf(a.bootstrap), nil
	}
	if id, err := apikey.ParseSession(token); err == nil {
		return a.session(c.Request.Context(), id, token)
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
	return principalOf(k), nil
}

// session authenticates a consumer session token: its hash, its expiry and
// revocation, and its parent key, which must still be active (for the
// bootstrap key: still the same SWITCHBOARD_API_KEY).
func (a *authenticator) session(ctx context.Context, id, token string) (*auth.Principal, error) {
	ss, err := a.sessions.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		apikey.Verify(nil, token)
		return nil, errBadSession
	}
	if err != nil {
		return nil, fmt.Errorf("loading session %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare(apikey.Hash(token), ss.Hash) != 1 || ss.RevokedAt != nil || !a.now().Before(ss.ExpiresAt) {
		return nil, errBadSession
	}
	parent, err := a.parent(ctx, ss.ParentKeyID)
	if err != nil {
		return nil, err
	}
	if parent == nil || parent.RevokedAt != nil || subtle.ConstantTimeCompare(a.parentHash(parent), ss.ParentHash) != 1 {
		return nil, errBadSession
	}
	return &auth.Principal{KeyID: parent.ID, SessionID: ss.ID, Scopes: ss.Scopes, ConsumerID: ss.ConsumerID}, nil
}

// parent loads the key that minted a session; nil when it is gone.
func (a *authenticator) parent(ctx context.Context, id string) (*store.APIKey, error) {
	if id == apikey.BootstrapID {
		return a.bootstrap, nil
	}
	k, err := a.keys.GetAPIKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading API key %s of a session: %w", id, err)
	}
	return k, nil
}

// parentHash is what a session stores of its parent key, to tell at each
// request that the key is still the one that minted it. For a stored key it
// is the SHA-256 of the key's hash (already in the database). For
// SWITCHBOARD_API_KEY, which is never stored, it is a slow PBKDF2 of the
// key's hash, computed once per process: a copy of the database then does
// not make guessing the bootstrap key cheap, and a session of it ends when
// the variable is given another value.
func (a *authenticator) parentHash(k *store.APIKey) []byte {
	if k.ID == apikey.BootstrapID {
		return a.bootstrapParent()
	}
	sum := sha256.Sum256(k.Hash)
	return sum[:]
}

// bootstrapParentIterations is PBKDF2-HMAC-SHA256's work factor for the
// bootstrap key's parent hash (OWASP's 2023 figure).
const bootstrapParentIterations = 600_000

func bootstrapParent(k *store.APIKey) func() []byte {
	return sync.OnceValue(func() []byte {
		if k == nil {
			return nil
		}
		key, err := pbkdf2.Key(sha256.New, string(k.Hash), []byte("switchboard session parent v1"), bootstrapParentIterations, sha256.Size)
		if err != nil {
			panic(err) // only for parameters FIPS mode refuses; ours are fixed
		}
		return key
	})
}

func principalOf(k *store.APIKey) *auth.Principal {
	return &auth.Principal{KeyID: k.ID, Scopes: k.Scopes, ConsumerID: k.ConsumerID}
}

// Principal returns the caller of the request, or nil on public routes.
func Principal(c *gin.Context) *auth.Principal { return auth.From(c.Request.Context()) }

// ScopeOf is the store scope of the request's caller: its consumer when the
// credential is bound, every consumer otherwise. On a public route it is the
// zero Scope, which matches nothing.
func ScopeOf(c *gin.Context) store.Scope { return Principal(c).Scope() }

// RequestedConsumer is the consumer named by the x-consumer-id (or
// x-apideck-consumer-id) header, or for a bound credential its own consumer.
// A bound credential naming another consumer is refused with 403; the two
// headers naming different consumers, or one over the length limit, with
// 400. "" means an unbound caller named no consumer.
func RequestedConsumer(c *gin.Context) (string, error) {
	named := strings.TrimSpace(c.GetHeader(ConsumerHeader))
	other := strings.TrimSpace(c.GetHeader(ApideckConsumerHeader))
	switch {
	case named == "":
		named = other
	case other != "" && other != named:
		return "", BadRequest(ApideckConsumerHeader, fmt.Sprintf("names consumer %q but %s names %q", other, ConsumerHeader, named))
	}
	if n := utf8.RuneCountInString(named); n > MaxIDLength {
		return "", BadRequest(ConsumerHeader, fmt.Sprintf("must be at most %d characters, got %d", MaxIDLength, n))
	}
	p := Principal(c)
	if !p.Bound() {
		return named, nil
	}
	if named != "" && named != p.ConsumerID {
		return "", ForeignConsumer(ConsumerHeader, named, p.ConsumerID)
	}
	return p.ConsumerID, nil
}

// ForeignConsumer is the 403 of a bound caller naming another consumer in
// field.
func ForeignConsumer(field, named, own string) *Error {
	what := fmt.Sprintf("names consumer %q", named)
	if named == "" {
		what = "is empty (application-wide)"
	}
	return &Error{
		Status:   http.StatusForbidden,
		TypeName: TypeForbidden,
		Message:  fmt.Sprintf("%s %s, but this credential acts for consumer %q only", field, what, own),
		Detail:   map[string]string{"field": field, "consumer_id": own},
	}
}

// CheckConsumer refuses (403) a bound caller's request naming another
// consumer in field; "" (not given) passes.
func CheckConsumer(c *gin.Context, field, consumerID string) error {
	p := Principal(c)
	if p.Bound() && consumerID != "" && consumerID != p.ConsumerID {
		return ForeignConsumer(field, consumerID, p.ConsumerID)
	}
	return nil
}
