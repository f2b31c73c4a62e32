package ingest

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
)

// ErrMappingsShared refuses a mapping save on a hub whose store is shared
// by several nodes (PostgreSQL): the file would exist on this node only,
// and the others would map the same provider differently.
var ErrMappingsShared = errors.New("the hub runs on PostgreSQL, possibly as several nodes: a mapping file saved on this node would be missing on the others; deploy mapping files with the hub's configuration instead")

// mappingProblem is one problem of a draft mapping, where an editor shows
// it: the JSON pointer of the value and its line and column in the text.
type mappingProblem struct {
	Message string `json:"message"`
	Pointer string `json:"pointer"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

// validation is the answer of POST /mapping/validate.
type validation struct {
	Valid     bool             `json:"valid"`
	ServiceID string           `json:"service_id,omitempty"`
	Errors    []mappingProblem `json:"errors"`
}

// draftText is a mapping as a request carries it: a JSON object, or the
// file's text as a JSON string (so line and column match the editor's).
// It returns the file's bytes; nil when the field is absent.
func draftText(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '"' {
		return raw, nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return nil, api.BadRequest("mapping", "must be a mapping object or its JSON text as a string")
	}
	if text == "" {
		return nil, api.Invalid(api.FieldError{Field: "mapping", Reason: "is empty"})
	}
	return []byte(text), nil
}

// problems lists err's mapping problems with their place in data.
func problems(err error, data []byte) []mappingProblem {
	out := []mappingProblem{}
	for _, e := range mapping.Errors(err) {
		p := mappingProblem{Message: e.Reason, Pointer: e.Pointer}
		if at, ok := e.At(data); ok {
			p.Line, p.Column = at.Line, at.Column
		}
		out = append(out, p)
	}
	return out
}

// invalidMapping is the 422 of a draft that does not compile: the field
// errors name each problem's pointer, the detail lists them with places.
func invalidMapping(ps []mappingProblem) *api.Error {
	fes := make([]api.FieldError, len(ps))
	for i, p := range ps {
		fes[i] = api.FieldError{Field: "mapping" + p.Pointer, Reason: p.Message}
	}
	e := api.Invalid(fes...)
	e.Detail = map[string]any{"field": fes[0].Field, "reason": fes[0].Reason, "errors": fes, "problems": ps}
	return e
}

type validateRequest struct {
	Mapping   json.RawMessage `json:"mapping"`
	ServiceID string          `json:"service_id"` // optional: judge the draft as this service's file
}

// validate lints a draft mapping without loading it. A draft with problems
// is still a 200: the answer is the lint, as an editor shows it while the
// user types.
func (s *Service) validate(c *gin.Context) {
	var req validateRequest
	if _, err := api.DecodeJSON(c, &req); err != nil {
		api.WriteError(c, err)
		return
	}
	data, err := draftText(req.Mapping)
	if err == nil && data == nil {
		err = api.Invalid(api.FieldError{Field: "mapping", Reason: "is required: the mapping file as an object or as its JSON text"})
	}
	if err != nil {
		api.WriteError(c, err)
		return
	}
	name := mapping.DraftName(req.ServiceID, data)
	_, err = mapping.Draft(name, data)
	out := validation{Valid: err == nil, Errors: problems(err, data)}
	if name != "draft.json" {
		out.ServiceID = name[:len(name)-len(".json")]
	}
	api.Respond(c, http.StatusOK, out)
}

// draftSet is the Set a preview applies: the draft mapping when the
// request has one, else the mappings in force.
func (s *Service) draftSet(req *previewRequest) (*mapping.Set, error) {
	data, err := draftText(req.Mapping)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return s.cfg.Mappings(), nil
	}
	set, err := mapping.Draft(mapping.DraftName(req.ServiceID, data), data)
	if err != nil {
		return nil, invalidMapping(problems(err, data))
	}
	return set, nil
}

// coverage is which fields of the event type's entity schema the mapping
// fills, for the studio's side-by-side view; nil for unknown types.
func coverage(set *mapping.Set, res mapping.Result, serviceID string) map[string]bool {
	cat := event.Default()
	t, ok := cat.Lookup(res.EventType)
	if !ok {
		return nil
	}
	sch, ok := cat.Schema(t.EntityType)
	if !ok {
		return nil
	}
	for _, cc := range set.EventTypeCoverage(res.EventType, sch) {
		if cc.ServiceID == serviceID {
			return cc.Coverage
		}
	}
	return nil
}

type saveRequest struct {
	Mapping json.RawMessage `json:"mapping"`
}

// saveMapping writes a mapping file after checking it; the registry's hot
// reload then applies it. Nothing invalid is ever written.
func (s *Service) saveMapping(c *gin.Context) {
	serviceID := c.Param("service_id")
	var req saveRequest
	if _, err := api.DecodeJSON(c, &req); err != nil {
		api.WriteError(c, err)
		return
	}
	data, err := draftText(req.Mapping)
	if err == nil && data == nil {
		err = api.Invalid(api.FieldError{Field: "mapping", Reason: "is required: the mapping file as an object or as its JSON text"})
	}
	if err != nil {
		api.WriteError(c, err)
		return
	}
	if s.cfg.SaveMapping == nil {
		api.WriteError(c, conflict(mapping.ErrReadOnly))
		return
	}
	st, err := s.cfg.SaveMapping(serviceID, data)
	var me *mapping.Error
	switch {
	case errors.Is(err, mapping.ErrReadOnly), errors.Is(err, ErrMappingsShared):
		api.WriteError(c, conflict(err))
	case errors.As(err, &me):
		api.WriteError(c, invalidMapping(problems(err, data)))
	case err != nil:
		api.WriteError(c, err)
	default:
		api.Respond(c, http.StatusOK, st)
	}
}

func conflict(err error) *api.Error {
	return &api.Error{Status: http.StatusConflict, TypeName: api.TypeConflict, Message: err.Error()}
}

// mappingText is the answer of GET /mapping/mappings/{service_id}: the
// file's text, for an editor (the mapping studio) to start from.
type mappingText struct {
	ServiceID string `json:"service_id"`
	File      string `json:"file"`
	Mapping   string `json:"mapping"`
}

// readMapping returns a service's mapping file as it is now, in the
// mappings directory or built in.
func (s *Service) readMapping(c *gin.Context) {
	serviceID := c.Param("service_id")
	if s.cfg.ReadMapping == nil {
		api.WriteError(c, api.NotFound("mapping", serviceID))
		return
	}
	file, data, err := s.cfg.ReadMapping(serviceID)
	switch {
	case errors.Is(err, mapping.ErrNoFile):
		api.WriteError(c, api.NotFound("mapping", serviceID))
	case err != nil:
		api.WriteError(c, err)
	default:
		api.Respond(c, http.StatusOK, mappingText{ServiceID: serviceID, File: file, Mapping: string(data)})
	}
}
