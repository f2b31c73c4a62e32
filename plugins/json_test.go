package plugins

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestObjectFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, wantErr string }{
		{``, "body is empty"},
		{`{"a":`, "body is not valid JSON"},
		{`[1]`, "body must be a JSON object, got an array"},
		{`{"event":"a","event":"b"}`, `body field "event" appears more than once`},
	} {
		_, err := ObjectFields([]byte(tc.body))
		require.ErrorContains(t, err, tc.wantErr, tc.body)
		require.True(t, errors.Is(err, ErrMalformed), tc.body)
	}
	fields, err := ObjectFields([]byte(` {"event":"invoice.paid","data":{"id":1}} `))
	require.NoError(t, err)
	require.JSONEq(t, `"invoice.paid"`, string(fields["event"]))
	require.JSONEq(t, `{"id":1}`, string(fields["data"]))
	for raw, want := range map[string]string{`{}`: "an object", `[]`: "an array", `"x"`: "a string", `true`: "a boolean", `null`: "null", `-1`: "a number", ` `: "nothing"} {
		require.Equal(t, want, JSONKind([]byte(raw)))
	}
}
