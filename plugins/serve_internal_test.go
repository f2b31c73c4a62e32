package plugins

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWatchParentNoticesReparenting(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{})
	// A parent id that is not ours is what a plugin sees after its hub died
	// and it was re-parented.
	go watchParent(os.Getppid()+1, time.Millisecond, func() { close(gone) })
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("watchParent did not notice the parent change")
	}
}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		code codes.Code
	}{
		{ErrBadSignature, codes.Unauthenticated},
		{Malformed("x"), codes.InvalidArgument},
		{ErrMalformed, codes.InvalidArgument},
		{&ProviderError{StatusCode: 500, Message: "x"}, codes.FailedPrecondition},
		{ErrUnsupported, codes.Unimplemented},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{errors.New("x"), codes.Unknown},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.code, status.Code(toStatus(tt.err)), "%v", tt.err)
	}

	require.ErrorIs(t, fromStatus(status.Error(codes.Unavailable, "conn closed")), ErrUnavailable)
	require.ErrorIs(t, fromStatus(status.Error(codes.DeadlineExceeded, "late")), context.DeadlineExceeded)
	require.ErrorIs(t, fromStatus(status.Error(codes.Canceled, "gone")), context.Canceled)
	require.NoError(t, fromStatus(nil))
}
