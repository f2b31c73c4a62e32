package api

import (
	"context"
	_ "embed"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document of the API, as served at
// /openapi.json, for tools and tests that want it without a server.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

func serveOpenAPI(c *gin.Context) {
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDoc)
}

type healthView struct {
	Status     string            `json:"status"`
	Version    string            `json:"version,omitempty"`
	Connectors []ConnectorHealth `json:"connectors,omitempty"`
}

// ConnectorHealth is one connector plugin's state in the /readyz body
// (running, starting, restarting, failed, ...).
type ConnectorHealth struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Restarts counts the plugin process's relaunches since the hub started.
	Restarts int `json:"restarts"`
}

// healthz answers 200 whenever the process serves HTTP: liveness only, so an
// orchestrator restarts a wedged process but not one waiting for its database.
func (s *server) healthz(c *gin.Context) {
	writeJSON(c, http.StatusOK, healthView{Status: "ok", Version: s.version})
}

// readyzTimeout bounds the readiness check so a hung database answers 503
// instead of hanging the probe.
const readyzTimeout = 2 * time.Second

// readyz answers 200 when the hub can take traffic (its store and queue),
// else 503 with the reason. Connector plugins are listed but do not count:
// a broken third-party plugin only fails its own provider's webhooks (503
// with Retry-After there), so it must not take the hub out of rotation.
func (s *server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyzTimeout)
	defer cancel()
	var connectors []ConnectorHealth
	if s.connectors != nil {
		connectors = s.connectors()
	}
	if err := s.ready(ctx); err != nil {
		s.log.Warn("not ready", "request_id", RequestID(c), "error", err.Error())
		WriteError(c, &Error{
			Status:   http.StatusServiceUnavailable,
			TypeName: TypeServiceUnavailable,
			Message:  "not ready: " + err.Error(),
			Detail:   map[string]any{"reason": err.Error(), "connectors": connectors},
		})
		return
	}
	writeJSON(c, http.StatusOK, healthView{Status: "ok", Version: s.version, Connectors: connectors})
}
