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
