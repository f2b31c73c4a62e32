// Package apitest checks API responses against the hub's OpenAPI document,
// for the tests of every package that mounts routes on the API: a response a
// test sees is also a conformance check of openapi.json.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
)

// Spec is the OpenAPI document, loaded and validated once.
var Spec = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(context.Background())
})

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := Spec()
	if err != nil {
		return nil, err
	}
	// The document's server is "/" (relative to the hub); the router would
	// otherwise match it against the test requests' host.
	routed := *doc
	routed.Servers = nil
	return legacy.NewRouter(&routed)
})

// Conforms validates one response against the document: the status is
// declared for the operation, and its headers and body match the schema. A
// path the document does not know must be an error in the error shape; so
// must a path with a trailing slash, which the document's router forgives
// and the API does not.
func Conforms(t testing.TB, method, path string, status int, header http.Header, body []byte) {
	t.Helper()
	router, err := specRouter()
	require.NoError(t, err, "openapi.json loads and validates")
	httpReq := httptest.NewRequest(method, path, nil)
	if raw := httpReq.URL.RawPath; raw != "" {
		// The API routes on the path as sent (an escaped slash stays in its
		// segment); so does the document's router here.
		u := *httpReq.URL
		u.Path, u.RawPath = raw, ""
		httpReq.URL = &u
	}
	route, params, err := router.FindRoute(httpReq)
	if err == nil && strings.HasSuffix(httpReq.URL.Path, "/") && httpReq.URL.Path != "/" {
		err = errors.New("the router forgives a trailing slash; the API does not")
	}
	if err != nil {
		require.GreaterOrEqual(t, status, 400, "%s %s is served but not in openapi.json", method, path)
		ErrorShape(t, method, path, body)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: httpReq, PathParams: params, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Options:                opts,
	}
	in.SetBodyBytes(body)
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), in),
		"%s %s answered %d, which openapi.json does not describe: %s", method, path, status, body)
}

// ErrorShape checks that body is an error in the document's Error schema,
// for answers of routes the document does not describe.
func ErrorShape(t testing.TB, method, path string, body []byte) {
	t.Helper()
	doc, err := Spec()
	require.NoError(t, err, "openapi.json loads and validates")
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	require.NoError(t, doc.Components.Schemas["Error"].Value.VisitJSON(v), "error shape of %s %s: %s", method, path, body)
}

// Response is one recorded answer of the API; JSON is its body decoded when
// the answer is JSON.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// Data returns the envelope's data object.
func (r Response) Data() map[string]any {
	d, _ := r.JSON["data"].(map[string]any)
	return d
}

// List returns the envelope's data array.
func (r Response) List() []map[string]any {
	items, _ := r.JSON["data"].([]any)
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i] = it.(map[string]any)
	}
	return out
}

// Str returns the string at path in the JSON body ("" if there is none),
// e.g. Str("data", "id").
func (r Response) Str(path ...string) string {
	var v any = r.JSON
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// Serve sends one request to h and records the answer, decoding a JSON
// body (a body that claims JSON and is not fails the test). body is sent as
// is when it is a string or []byte and encoded as JSON otherwise; a body
// comes with Content-Type: application/json. It checks nothing else: the
// caller decides how the answer must conform.
func Serve(t testing.TB, h http.Handler, method, path string, body any, header http.Header) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(res.Body, &res.JSON), "response is JSON: %s", res.Body)
	}
	return res
}
