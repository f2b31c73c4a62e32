package api_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
)

// TestOpenAPILoadsInValidators keeps, without Node, the two rules that
// broke Redocly and Ajv (compat/openapi.test.mjs runs the validators
// themselves): the document names a server, and no schema says nullable
// without a type beside it.
func TestOpenAPILoadsInValidators(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &doc))
	servers, _ := doc["servers"].([]any)
	require.NotEmpty(t, servers, "a servers entry")
	var untyped []string
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if n, ok := v["nullable"].(bool); ok && n {
				if _, typed := v["type"]; !typed {
					untyped = append(untyped, at)
				}
			}
			for k, child := range v {
				walk(child, at+"/"+k)
			}
		case []any:
			for i, child := range v {
				walk(child, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")
	require.Empty(t, untyped, "nullable needs a type beside it (Redocly's nullable-type-sibling, Ajv strict)")
}
