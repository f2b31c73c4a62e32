package host

import (
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
	path string
	sum  []byte // nil when err is set
	err  error  // why it cannot be loaded
}

// discover lists the external connectors in dir, sorted by id. pinned
// (Config.Checksums) overrides a connector's checksum file. A connector that
// cannot be verified is returned with err set, so it shows up as failed
// instead of silently missing.
func discover(dir string, pinned map[string]string) ([]external, error) {
	entries, err := os.ReadDir(dir)
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
		path := filepath.Join(dir, name)
		x := external{id: id, path: path}
		switch info, err := os.Stat(path); {
		case err != nil:
			x.err = err
		case !info.Mode().IsRegular():
			continue
		case !plugins.ValidID(id):
			x.err = fmt.Errorf("%s: connector id %q is not valid (lower-case letters, digits, - and _)", name, id)
		case info.Mode().Perm()&0o111 == 0:
			x.err = fmt.Errorf("%s is not executable", name)
		default:
			x.sum, x.err = checksum(path, pinned[id])
		}
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// checksum returns the expected SHA-256 of the executable at path: pinned
// when the hub's configuration gives one, else the content of path.sha256.
func checksum(path, pinned string) ([]byte, error) {
	src := "configured checksum"
	text := pinned
	if text == "" {
		src = filepath.Base(path) + ChecksumSuffix
		b, err := os.ReadFile(path + ChecksumSuffix)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no checksum: create %s with its SHA-256 (sha256sum %s > %s)",
				src, filepath.Base(path), src)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", src, err)
		}
		text = string(b)
	}
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s is empty", src)
	}
	sum, err := hex.DecodeString(fields[0])
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("%s does not start with a hex SHA-256 digest", src)
	}
	return sum, nil
}
