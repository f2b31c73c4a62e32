package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"

	switchboard "github.com/switchboardhq/switchboard"
	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
)

var serviceIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)

// sample is one provider webhook the binary ships (testdata/<service>/,
// also the inputs of the mapping golden tests): a body and the request
// details its mapping may read, for the mapping studio to preview against.
type sample struct {
	Event   string              `json:"event"`
	Payload json.RawMessage     `json:"payload"`
	Headers map[string]string   `json:"headers,omitempty"`
	Query   map[string][]string `json:"query,omitempty"`
}

// apiRoutes are the console's API routes: data it needs that no other
// route serves, usable by any client.
func (c *Console) apiRoutes() []api.Route {
	return []api.Route{
		{Method: http.MethodGet, Path: "/mapping/samples/:service_id", Scope: apikey.ScopeWebhooksRead, Tenancy: api.Shared, Handler: listSamples},
	}
}

// listSamples answers the sample webhooks of one provider; none (an empty
// list) for a provider the binary has no samples of.
func listSamples(g *gin.Context) {
	serviceID := g.Param("service_id")
	if !serviceIDPattern.MatchString(serviceID) {
		api.WriteError(g, api.BadRequest("service_id", fmt.Sprintf("%q is not a service id (a lower-case letter, then lower-case letters, digits and -)", serviceID)))
		return
	}
	events, err := switchboard.SampleEvents(serviceID)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(events) == 0) {
		api.Respond(g, http.StatusOK, []sample{})
		return
	}
	if err != nil {
		api.WriteError(g, fmt.Errorf("listing samples of %s: %w", serviceID, err))
		return
	}
	out := make([]sample, 0, len(events))
	for _, ev := range events {
		body, err := switchboard.Sample(serviceID, ev)
		if err != nil {
			api.WriteError(g, fmt.Errorf("reading sample %s/%s: %w", serviceID, ev, err))
			return
		}
		meta, err := switchboard.Meta(serviceID, ev)
		if err != nil {
			api.WriteError(g, fmt.Errorf("reading sample %s/%s: %w", serviceID, ev, err))
			return
		}
		out = append(out, sample{Event: ev, Payload: body, Headers: meta.Headers, Query: meta.Query})
	}
	api.Respond(g, http.StatusOK, out)
}
