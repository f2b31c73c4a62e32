// Package apitest checks API responses against the hub's OpenAPI document,
// for the tests of every package that mounts routes on the API: a response a
// test sees is also a conformance check of openapi.json.
package apitest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	return legacy.NewRouter(doc)
})

// Conforms validates one response against the document: the status is
// declared for the operation, and its headers and body match the schema. A
// path the document does not know must be an error in the error shape.
func Conforms(t testing.TB, method, path string, status int, header http.Header, body []byte) {
	t.Helper()
	doc, err := Spec()
	require.NoError(t, err, "openapi.json loads and validates")
	router, err := specRouter()
	require.NoError(t, err)
	httpReq := httptest.NewRequest(method, path, nil)
	route, params, err := router.FindRoute(httpReq)
	if err != nil {
		require.GreaterOrEqual(t, status, 400, "%s %s is served but not in openapi.json", method, path)
		var v any
		require.NoError(t, json.Unmarshal(body, &v))
		require.NoError(t, doc.Components.Schemas["Error"].Value.VisitJSON(v), "error shape of %s %s: %s", method, path, body)
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
