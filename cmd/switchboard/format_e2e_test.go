package main

import (
	"testing"
)

// TestApideckReceiverNode runs compat/apideck-receiver.test.mjs against a
// real hub: an apideck-format delivery verified with Apideck's documented
// method (Node's crypto) and a standard one verified with the
// standardwebhooks library, both from real deliveries.
func TestApideckReceiverNode(t *testing.T) {
	t.Parallel()
	requireNode(t)
	p := startHub(t, t.TempDir(), freeAddr(t))
	runNode(t, "apideck-receiver.test.mjs", "SWITCHBOARD_URL=http://"+p.addr, "SWITCHBOARD_KEY="+p.key)
}

// TestOpenAPIValidatorsNode runs compat/openapi.test.mjs: Redocly's
// recommended lint (0 errors) and Ajv strict compilation of every schema,
// on the document in the tree and on the one a running hub serves.
func TestOpenAPIValidatorsNode(t *testing.T) {
	t.Parallel()
	requireNode(t)
	p := startHub(t, t.TempDir(), freeAddr(t))
	runNode(t, "openapi.test.mjs", "OPENAPI_DOCS=../hub/api/openapi.json:http://"+p.addr+"/openapi.json")
}
