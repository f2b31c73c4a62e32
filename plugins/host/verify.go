package host

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-plugin"
)

// Executing exactly the bytes that were hashed.
//
// go-plugin's SecureConfig hashes the file at a path and then executes that
// path: whoever can replace the file in between runs their code as the
// hub's connector. Instead, an external connector is read once, through
// one open file, into a copy nobody else can change, hashed while being
// copied, and the copy is what runs:
//
//   - On Linux, a sealed memfd (write, grow, shrink and further sealing
//     forbidden), executed through /proc/self/fd/N. No file system is
//     involved, nothing is left behind, and the kernel itself refuses any
//     change after the seal.
//   - Elsewhere, or where the kernel forbids executing memfds
//     (vm.memfd_noexec=2), a 0500 copy in a fresh 0700 directory of the
//     hub's user, removed once the plugin has started.

// verifiedExecutable returns a path that executes the bytes of path, which
// must hash to want, and a release function to call once the process has
// started (or failed to). A digest that does not match is
// plugin.ErrChecksumsDoNotMatch.
func verifiedExecutable(path string, want []byte) (string, func(), error) {
	src, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer src.Close()
	// The file as opened, not as named: what is read below is what this
	// checked.
	info, err := src.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("checking %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Mode().Perm()&0o002 != 0 {
		return "", nil, fmt.Errorf("%s is writable by every user (mode %s): refused; chmod o-w it", path, info.Mode().Perm())
	}
	if exe, release, err := sealedCopy(src, path, want); err != errNoSealedCopy {
		return exe, release, err
	}
	return privateCopy(src, path, want)
}

// copyHashed copies src to dst and reports whether the bytes copied hash
// to want.
func copyHashed(dst io.Writer, src io.Reader, path string, want []byte) error {
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(dst, h), src); err != nil {
		return fmt.Errorf("copying %s to run it: %w", path, err)
	}
	return match(h, path, want)
}

func match(h hash.Hash, path string, want []byte) error {
	if got := h.Sum(nil); string(got) != string(want) {
		return fmt.Errorf("%s: its SHA-256 is %x, expected %x: %w", filepath.Base(path), got, want, plugin.ErrChecksumsDoNotMatch)
	}
	return nil
}

// privateCopy copies src into a new directory only the hub's user can
// enter and returns the copy.
func privateCopy(src *os.File, path string, want []byte) (string, func(), error) {
	dir, err := os.MkdirTemp("", "switchboard-plugin-")
	if err != nil {
		return "", nil, fmt.Errorf("making a private copy of %s: %w", path, err)
	}
	release := func() { _ = os.RemoveAll(dir) }
	exe := filepath.Join(dir, filepath.Base(path))
	dst, err := os.OpenFile(exe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o500)
	if err != nil {
		release()
		return "", nil, fmt.Errorf("making a private copy of %s: %w", path, err)
	}
	err = copyHashed(dst, src, path, want)
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("making a private copy of %s: %w", path, cerr)
	}
	if err != nil {
		release()
		return "", nil, err
	}
	return exe, release, nil
}
