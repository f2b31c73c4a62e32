package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe to write from the command's goroutine
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestListenRefusesANonWhsecSecret(t *testing.T) {
	t.Parallel()
	cmd := newRootCmd()
	var errOut lockedBuffer
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"listen", "--port", "0", "--secret", "sk_test_123"})
	err := cmd.ExecuteContext(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--secret: a subscription secret starts with "whsec_"`)
	assert.NotContains(t, errOut.String(), "Listening on", "nothing was bound")
}

// TestListenPrintsTheBoundAddress: "Listening on" comes once the port is
// bound, with the real port (here the kernel's pick for --port 0), and the
// address answers at once.
func TestListenPrintsTheBoundAddress(t *testing.T) {
	t.Parallel()
	cmd := newRootCmd()
	var errOut lockedBuffer
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"listen", "--port", "0", "--forward-to", "http://127.0.0.1:9/hooks"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	addrRE := regexp.MustCompile(`Listening on http://(127\.0\.0\.1:\d+) \(signature check: off, no --secret\), forwarding to http://127\.0\.0\.1:9/hooks`)
	var addr string
	require.Eventually(t, func() bool {
		m := addrRE.FindStringSubmatch(errOut.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond)
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err, "the printed address accepts connections")
	conn.Close()
	assert.NotContains(t, errOut.String(), ":0 ", "the bound port, not the flag's 0")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not stop")
	}
}
