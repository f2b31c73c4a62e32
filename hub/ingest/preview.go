package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
)

// typeConnectorExecution is Apideck's type name for a connector that failed.
const typeConnectorExecution = "ConnectorExecutionError"

// previewRequest is the body of POST /mapping/preview: a native payload as
// the provider would send it, and optionally where its event type is.
type previewRequest struct {
	ServiceID string              `json:"service_id"`
	EventType string              `json:"event_type"` // native; optional when the mapping finds it
	Payload   json.RawMessage     `json:"payload"`
	Headers   map[string]string   `json:"headers"`
	Query     map[string][]string `json:"query"`
	// Mapping is a draft mapping file (object or JSON text) to apply
	// instead of the one in force: the mapping studio's preview.
	Mapping json.RawMessage `json:"mapping"`
}

// previewResult is the unified event a preview produces, and which fields
// of its entity schema the mapping fills.
type previewResult struct {
	mapping.Result
	Coverage map[string]bool `json:"coverage,omitempty"`
}

// preview maps a native payload with the mappings in force and returns the
// unified event it would become, storing nothing: the tool for editing a
// mapping file against a real capture.
func (s *Service) preview(c *gin.Context) {
	var req previewRequest
	if _, err := api.DecodeJSON(c, &req); err != nil {
		api.WriteError(c, err)
		return
	}
	var errs []api.FieldError
	if req.ServiceID == "" {
		errs = append(errs, api.FieldError{Field: "service_id", Reason: "is required"})
	}
	if len(req.Payload) == 0 || string(req.Payload) == "null" {
		errs = append(errs, api.FieldError{Field: "payload", Reason: "is required: the native webhook body as JSON"})
	}
	if len(errs) > 0 {
		api.WriteError(c, api.Invalid(errs...))
		return
	}
	set, err := s.draftSet(&req)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	if !set.Has(req.ServiceID) {
		api.WriteError(c, api.Invalid(api.FieldError{Field: "service_id", Reason: unknownService(req.ServiceID, set.Services())}))
		return
	}
	header := http.Header{}
	for k, v := range req.Headers {
		header.Set(k, v)
	}
	res, err := set.Apply(req.ServiceID, mapping.Input{
		NativeType: req.EventType, Body: req.Payload, Header: header, Query: url.Values(req.Query),
	})
	switch {
	case errors.Is(err, mapping.ErrInvalidService):
		api.WriteError(c, api.Invalid(api.FieldError{Field: "service_id", Reason: err.Error()}))
		return
	case errors.Is(err, mapping.ErrNoEventType):
		api.WriteError(c, api.Invalid(api.FieldError{Field: "event_type",
			Reason: "the mapping finds no native event type in this payload; pass event_type"}))
		return
	case err != nil:
		api.WriteError(c, api.Invalid(api.FieldError{Field: "payload", Reason: err.Error()}))
		return
	}
	if res.Entity == nil {
		res.Entity = json.RawMessage("{}")
	}
	api.Respond(c, http.StatusOK, previewResult{Result: res, Coverage: coverage(set, res, req.ServiceID)})
}

// unknownService explains a service id without a mapping: the known ones,
// the closest first if one is close.
func unknownService(id string, known []string) string {
	msg := fmt.Sprintf("unknown service id %q: no mapping has it (known: %s)", id, strings.Join(known, ", "))
	if close := event.Suggest(id, known, 1); len(close) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", close[0])
	}
	return msg
}

// mappingStatus lists each mapping file's load state: whether the file on
// disk is what runs, and if an edit was rejected, why.
func (s *Service) mappingStatus(c *gin.Context) {
	out := []mapping.FileStatus{}
	if s.cfg.MappingStatus != nil {
		out = append(out, s.cfg.MappingStatus()...)
	}
	api.Respond(c, http.StatusOK, out)
}
