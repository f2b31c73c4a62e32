package mapping

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrNoFile is returned by Registry.Read for a service without a mapping
// file.
var ErrNoFile = errors.New("no mapping file")

// Read returns serviceID's mapping file as it is now (in the mappings
// directory, or built in): the text the mapping studio edits. It is the
// file, not necessarily what runs: after a rejected edit the last good
// version stays active (see Status).
func (r *Registry) Read(serviceID string) (name string, data []byte, err error) {
	if !validServiceID(serviceID) {
		return "", nil, fmt.Errorf("%w for %q: not a service id", ErrNoFile, serviceID)
	}
	name = serviceID + ".json"
	data, err = fs.ReadFile(r.fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return name, nil, fmt.Errorf("%w for %q in %s", ErrNoFile, serviceID, r.Source())
	}
	if err != nil {
		return name, nil, fmt.Errorf("reading mapping %s: %w", name, err)
	}
	return name, data, nil
}
