package switchboard

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSamples(t *testing.T) {
	t.Parallel()
	events, err := SampleEvents("dversum")
	require.NoError(t, err)
	require.Contains(t, events, "invoice.paid")
	for _, ev := range events {
		b, err := Sample("dversum", ev)
		require.NoError(t, err)
		var body struct{ Event string }
		require.NoError(t, json.Unmarshal(b, &body), ev)
		require.Equal(t, ev, body.Event, "sample file %s holds its own event", ev)
	}
	meta, err := Meta("deskera", "CREATE_CONTACT@supplier")
	require.NoError(t, err)
	require.Equal(t, []string{"CREATE_CONTACT"}, meta.Query["e"])
	none, err := Meta("dversum", "invoice.paid")
	require.NoError(t, err)
	require.Empty(t, none.Query)
	_, err = Sample("dversum", "invoice.nope")
	require.ErrorContains(t, err, "invoice.paid", "the error lists what exists")
	_, err = Sample("nosuch", "x")
	require.ErrorContains(t, err, `no sample webhooks for service "nosuch"`)
}
