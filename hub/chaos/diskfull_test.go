//go:build chaos

package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tmpfsSize is the size of the file system the full-disk scenario fills.
const tmpfsSize = 32 << 20

// fullFor is how long the disk stays full.
const fullFor = 12 * time.Second

// TestDiskFull runs the hub with its data directory on a small tmpfs,
// fills the file system while publishers keep publishing, then frees it.
// While SQLite cannot grow its files the API must answer 503 (never a 500,
// a panic or a hang), and once there is room again everything it accepted
// must be delivered.
//
// Mounting needs root (CAP_SYS_ADMIN); without it the scenario is skipped
// and reported as SKIP, not as a pass.
func TestDiskFull(t *testing.T) {
	r := track(t, "e: disk full")
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", tmpfsSize)); err != nil {
		r.note = "not covered here: mounting a tmpfs needs root or CAP_SYS_ADMIN"
		t.Skipf("disk full not simulated: mounting a %d MiB tmpfs at %s failed (needs root or CAP_SYS_ADMIN): %v", tmpfsSize>>20, mnt, err)
	}
	// Registered after TempDir's removal, so it runs before it; the hub
	// (registered later still) is killed before this.
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", mnt, err)
		}
	})
	dataDir := filepath.Join(mnt, "data")
	h := newHub(t, dataDir)
	f := beforeStorageFault(t, r, h, "full")

	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	filled := time.Now()
	f.rcv.delay.Store(0)

	// SQLite reuses the space its WAL already has, so writes may go on for
	// a while; publish until they fail, bounded.
	stop := make(chan struct{})
	done := make(chan []faultAnswer)
	var refused atomic.Int64
	go func() { done <- publishDuring(h, f.acc, "full", 1_000_000, stop, &refused) }()
	var sawFull bool
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !sawFull {
		time.Sleep(100 * time.Millisecond)
		sawFull = refused.Load() > 0
	}
	// Keep the disk full past River's retries of completing a job (about
	// 7 s of backoff), as a real full disk would be.
	time.Sleep(time.Until(filled.Add(fullFor)))
	require.NoError(t, os.Remove(filler))
	freed := time.Now()
	close(stop)
	answers := <-done
	require.True(t, sawFull, "no publish was answered 503 within 30s of the disk filling up")
	assert.True(t, h.logContains("disk is full"), "the hub's log names the full disk")
	unavailable, acceptedDuring, slowest := judgeUnavailable(t, answers)
	require.False(t, h.exited(), "the hub died while the disk was full")

	recovered := f.after(freed, "space was freed", len(answers))
	r.note = fmt.Sprintf("%d MiB tmpfs full for %s with %d events' tries in flight: %d publishes answered 503, %d accepted, slowest answer %s; first publish after freeing took %s",
		tmpfsSize>>20, freed.Sub(filled).Round(100*time.Millisecond), f.burst, unavailable, acceptedDuring, slowest.Round(time.Millisecond), recovered.Round(time.Millisecond))
}

// fill writes path until the file system has no space left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "filling the disk: %v", err)
			return
		}
	}
}
