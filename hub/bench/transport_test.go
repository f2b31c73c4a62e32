package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchboardhq/switchboard/plugins/netguard"
)

func TestLoadTransportCapsResponseHeaders(t *testing.T) {
	t.Parallel()
	assert.Equal(t, int64(netguard.MaxResponseHeaderBytes), loadTransport(8).MaxResponseHeaderBytes)
}
