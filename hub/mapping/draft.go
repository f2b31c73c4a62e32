package mapping

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tidwall/gjson"
)

// ErrReadOnly is returned by Registry.Save when the mappings do not come
// from a directory this hub may write: the built-in (embedded) files.
var ErrReadOnly = errors.New("the hub runs on its built-in mappings (no --mappings-dir): there is no file to save; start it with --mappings-dir")

// DraftName is the file name a draft mapping is judged under: the
// service_id it declares (or is saved for) plus .json, the same rule the
// mappings directory applies.
func DraftName(serviceID string, data []byte) string {
	if serviceID == "" {
		serviceID = gjson.GetBytes(data, "service_id").String()
	}
	if !validServiceID(serviceID) {
		serviceID = "draft"
	}
	return serviceID + ".json"
}

// Draft compiles one mapping file that is not (yet) on disk, for the
// mapping studio: the Set holds just that service, so a preview applies the
// draft and nothing else. The error joins one *Error per problem, like a
// reload's.
func Draft(name string, data []byte) (*Set, error) {
	svc, err := compileFile(filepath.Base(name), data, nil)
	if err != nil {
		return nil, err
	}
	return &Set{services: map[string]*service{svc.id: svc}}, nil
}

// Save replaces (or creates) serviceID's mapping file with data after it
// compiles, atomically (a temporary file renamed over the old one, so the
// watcher and a concurrent reader never see half a file), then reloads and
// returns the file's new status. Invalid data is never written: the error
// joins its *Error problems. With embedded mappings it is ErrReadOnly.
func (r *Registry) Save(serviceID string, data []byte) (FileStatus, error) {
	if r.cfg.Dir == "" {
		return FileStatus{}, ErrReadOnly
	}
	if !validServiceID(serviceID) {
		return FileStatus{}, &Error{Pointer: "/service_id", Reason: fmt.Sprintf("%q is not a service id (a lower-case letter, then up to 63 lower-case letters, digits and -)", serviceID)}
	}
	name := serviceID + ".json"
	if _, err := compileFile(name, data, nil); err != nil {
		return FileStatus{}, err
	}
	tmp, err := os.CreateTemp(r.cfg.Dir, "."+serviceID+".*.tmp")
	if err != nil {
		return FileStatus{}, fmt.Errorf("saving mapping %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return FileStatus{}, fmt.Errorf("saving mapping %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return FileStatus{}, fmt.Errorf("saving mapping %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return FileStatus{}, fmt.Errorf("saving mapping %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(r.cfg.Dir, name)); err != nil {
		return FileStatus{}, fmt.Errorf("saving mapping %s: %w", name, err)
	}
	// The watcher reloads too; reloading here makes the answer the state in
	// force, not a guess. Other files' problems do not concern this save.
	_ = r.Reload()
	for _, st := range r.Status() {
		if st.File == name {
			return st, nil
		}
	}
	return FileStatus{}, fmt.Errorf("saving mapping %s: not found after reload", name)
}
