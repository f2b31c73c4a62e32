package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/switchboardhq/switchboard/plugins"
)

// ExternalPrefix starts the file name of every third-party connector in the
// plugins directory: switchboard-connector-<id>.
const ExternalPrefix = "switchboard-connector-"

// ChecksumSuffix ends the name of the file that pins an external connector's
// SHA-256: switchboard-connector-<id>.sha256 next to the executable, holding
// the hex digest, optionally followed by the file name as sha256sum prints
// it (so `sha256sum switchboard-connector-foo > switchboard-connector-foo.sha256`
// makes one).
const ChecksumSuffix = ".sha256"

// external is one connector found in the plugins directory.
type external struct {
	id   string
	path string // inside the plugins directory, symlinks resolved
	sum  []byte // nil when err is set
	err  error  // why it cannot be loaded
}

// discover lists the external connectors in dir, sorted by id. pinned
// (Config.Checksums) pins digests by id. A connector that cannot be
// verified is returned with err set, so it shows up as failed instead of
// silently missing. A directory anyone may write to is refused whole: a
// checksum file next to an executable proves nothing when anyone can
// replace both.
func discover(dir string, pinned map[string]string) ([]external, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("reading plugins dir: %w", err)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("reading plugins dir: %w", err)
	}
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("reading plugins dir: %w", err)
	}
	if info.Mode().Perm()&0o002 != 0 {
		return nil, fmt.Errorf("plugins dir %s is writable by every user (mode %s): no connector in it is loaded; chmod o-w it", dir, info.Mode().Perm())
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("reading plugins dir: %w", err)
	}
	var out []external
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ExternalPrefix) || strings.HasSuffix(name, ChecksumSuffix) {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(name, ExternalPrefix), ".exe")
		x := external{id: id, path: filepath.Join(root, name)}
		path, info, err := inside(root, name)
		switch {
		case err != nil:
			x.err = err
		case info.IsDir():
			continue
		case !info.Mode().IsRegular():
			x.err = fmt.Errorf("%s is not a regular file", name)
		case !plugins.ValidID(id):
			x.err = fmt.Errorf("%s: connector id %q is not valid (lower-case letters, digits, - and _)", name, id)
		case info.Mode().Perm()&0o111 == 0:
			x.err = fmt.Errorf("%s is not executable", name)
		case info.Mode().Perm()&0o002 != 0:
			x.err = fmt.Errorf("%s is writable by every user (mode %s): refused; chmod o-w it", name, info.Mode().Perm())
		default:
			x.path = path
			x.sum, x.err = checksum(root, name, pinned[id])
		}
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// inside resolves dir/name and stats it, refusing a symlink that leads out
// of dir (dir has its own symlinks resolved already): whoever controls the
// link's target would control the connector.
func inside(dir, name string) (string, os.FileInfo, error) {
	path, err := filepath.EvalSymlinks(filepath.Join(dir, name))
	if err != nil {
		return "", nil, fmt.Errorf("resolving %s: %w", name, err)
	}
	if rel, err := filepath.Rel(dir, path); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", nil, fmt.Errorf("%s is a symlink to %s, outside the plugins dir: refused", name, path)
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", nil, err
	}
	return path, info, nil
}

// checksum returns the expected SHA-256 of the executable dir/name: the
// digest pinned in the hub's configuration, else the content of
// name.sha256. When both exist they must agree: a checksum file that
// disagrees with the operator's pin means one of them is stale or forged,
// and guessing which would be wrong half the time.
func checksum(dir, name, pinned string) ([]byte, error) {
	var pin []byte
	if pinned != "" {
		var err error
		if pin, err = parseDigest(pinned, "the digest pinned by --plugin-sha256"); err != nil {
			return nil, err
		}
	}
	src := name + ChecksumSuffix
	file, err := readChecksumFile(dir, src)
	switch {
	case errors.Is(err, fs.ErrNotExist) && pin != nil:
		return pin, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no checksum: create %s with its SHA-256 (sha256sum %s > %s) or pin it with --plugin-sha256",
			src, name, src)
	case err != nil:
		return nil, err
	}
	sum, err := parseDigest(string(file), src)
	if err != nil {
		return nil, err
	}
	if pin != nil && !bytes.Equal(pin, sum) {
		return nil, fmt.Errorf("%s says %x but --plugin-sha256 pins %x: refused; fix whichever is wrong", src, sum, pin)
	}
	return sum, nil
}

// readChecksumFile reads dir/name under the same rules as the executable:
// no symlink out of dir, not writable by every user.
func readChecksumFile(dir, name string) ([]byte, error) {
	if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
		return nil, err
	}
	path, info, err := inside(dir, name)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o002 != 0 {
		return nil, fmt.Errorf("%s is writable by every user (mode %s): refused; chmod o-w it", name, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// parseDigest reads a hex SHA-256 digest, optionally followed by a file
// name as sha256sum prints it.
func parseDigest(text, src string) ([]byte, error) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s is empty", src)
	}
	sum, err := hex.DecodeString(fields[0])
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("%s does not start with a hex SHA-256 digest", src)
	}
	return sum, nil
}

// ParseChecksums reads --plugin-sha256 values (id=HEX) into
// Config.Checksums, naming the first one that is not valid.
func ParseChecksums(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		id, digest, ok := strings.Cut(strings.TrimSpace(v), "=")
		if !ok || !plugins.ValidID(id) {
			return nil, fmt.Errorf("%q: want id=HEX with a connector id (lower-case letters, digits, - and _)", v)
		}
		if _, err := parseDigest(digest, "the digest of "+id); err != nil || strings.Contains(strings.TrimSpace(digest), " ") {
			return nil, fmt.Errorf("%q: the digest must be 64 hex digits (a SHA-256)", v)
		}
		if prev, dup := out[id]; dup && !strings.EqualFold(prev, digest) {
			return nil, fmt.Errorf("%q: %s is pinned twice with different digests", v, id)
		}
		out[id] = strings.ToLower(digest)
	}
	return out, nil
}
