package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/api/apitest"
)

// mountedBy marks a documented operation as served by another package
// through Config.Routes ("x-mounted-by": "hub/vault"); that package's tests
// check the routes it returns against the operations carrying its name.
const mountedBy = "x-mounted-by"

// TestOpenAPIDescribesEveryRoute checks the document and the router agree:
// every route served is documented and every documented operation is served.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc, err := apitest.Spec()
	require.NoError(t, err)
	h := newHub(t)
	engine, ok := h.handler.(*gin.Engine)
	require.True(t, ok)

	param := regexp.MustCompile(`:([a-z_]+)`)
	var served, documented []string
	for _, r := range engine.Routes() {
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if _, ok := op.Extensions[mountedBy]; ok {
				// Served through Config.Routes by the package the
				// extension names, whose tests check it serves them.
				continue
			}
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	assert.Equal(t, documented, served)
}

// TestOpenAPIServed checks /openapi.json is the embedded, valid document and
// that every operation documents its error answers in the error shape.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	res := h.do(req{Method: "GET", Path: "/openapi.json"})
	require.Equal(t, http.StatusOK, res.Status)
	assert.JSONEq(t, string(api.OpenAPI()), string(res.Body))

	doc, err := apitest.Spec()
	require.NoError(t, err)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, ref := range op.Responses.Map() {
				if code[0] != '4' && code[0] != '5' {
					continue
				}
				schema := ref.Value.Content.Get("application/json").Schema
				assert.Equal(t, "#/components/schemas/Error", schema.Ref, "%s %s %s", method, path, code)
			}
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			assert.NotNil(t, op.Responses.Value("401"), "%s %s documents 401", method, path)
			assert.NotNil(t, op.Responses.Value("403"), "%s %s documents 403", method, path)
		}
	}
	var raw map[string]any
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &raw))
	assert.Equal(t, "3.0.3", raw["openapi"])
}
