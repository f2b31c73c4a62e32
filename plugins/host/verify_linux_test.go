package host

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerifiedExecutableRunsTheHashedBytes swaps the executable's content
// after it was verified and before it runs, the race go-plugin's
// SecureConfig loses: what runs must still be what was hashed.
func TestVerifiedExecutableRunsTheHashedBytes(t *testing.T) {
	t.Parallel()
	echo, err := exec.LookPath("echo")
	require.NoError(t, err)
	good, err := os.ReadFile(echo)
	require.NoError(t, err)
	evil, err := os.ReadFile("/bin/false")
	require.NoError(t, err)
	want := sha256.Sum256(good)

	for name, copyOf := range map[string]func(*os.File, string, []byte) (string, func(), error){
		"sealed memfd": sealedCopy,
		"private copy": privateCopy,
		"as the host does": func(_ *os.File, path string, want []byte) (string, func(), error) {
			return verifiedExecutable(path, want)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "switchboard-connector-x")
			require.NoError(t, os.WriteFile(path, good, 0o755))
			src, err := os.Open(path)
			require.NoError(t, err)
			defer src.Close()

			exe, release, err := copyOf(src, path, want[:])
			require.NoError(t, err)
			defer release()
			assert.NotEqual(t, path, exe)

			// Swapped in place, after the check.
			require.NoError(t, os.WriteFile(path, evil, 0o755))

			out, err := exec.Command(exe, "still", "the", "hashed", "bytes").Output()
			require.NoError(t, err, "the swapped-in /bin/false would fail")
			assert.Equal(t, "still the hashed bytes\n", string(out))

			// Nobody can change the copy.
			if strings.HasPrefix(exe, "/proc/self/fd/") {
				f, err := os.OpenFile(exe, os.O_WRONLY, 0)
				if err == nil {
					_, err = f.Write([]byte("x"))
					f.Close()
				}
				assert.Error(t, err, "a sealed memfd cannot be written")
			} else {
				info, err := os.Stat(filepath.Dir(exe))
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
			}
		})
	}
}

func TestVerifiedExecutableRefusesAMismatch(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "switchboard-connector-x")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\necho hi\n"), 0o755))
	_, _, err := verifiedExecutable(path, make([]byte, sha256.Size))
	require.ErrorIs(t, err, plugin.ErrChecksumsDoNotMatch)
	assert.Contains(t, err.Error(), "switchboard-connector-x: its SHA-256 is ")

	require.NoError(t, os.Chmod(path, 0o757))
	_, _, err = verifiedExecutable(path, make([]byte, sha256.Size))
	assert.ErrorContains(t, err, "is writable by every user")
}
