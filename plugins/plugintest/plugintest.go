// Package plugintest runs a connector in-process behind the real gRPC layer,
// so a connector's tests exercise exactly what the hub will call (protobuf
// encoding, header canonicalisation, error codes turned back into
// plugins.ErrBadSignature and friends) without building or starting a
// process.
//
//	func TestBadSignature(t *testing.T) {
//		c := plugintest.Connect(t, myconnector.New())
//		_, err := c.HandleInbound(t.Context(), &plugins.InboundRequest{...})
//		require.ErrorIs(t, err, plugins.ErrBadSignature)
//	}
package plugintest

import (
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/switchboardhq/switchboard/plugins"
)

// Connect serves impl over an in-process gRPC connection and returns the
// hub-side client of it. Both ends are closed when the test ends.
func Connect(t testing.TB, impl plugins.Connector) plugins.Client {
	t.Helper()
	cp, srv := plugin.TestPluginGRPCConn(t, false, plugins.PluginSet(impl))
	t.Cleanup(func() {
		// Server first: go-plugin's Close would otherwise ask the server to
		// stop itself over the connection it is closing.
		srv.Stop()
		_ = cp.Close()
	})
	c, err := plugins.Dispense(cp)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return c
}
