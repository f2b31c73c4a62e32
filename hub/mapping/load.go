package mapping

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/switchboardhq/switchboard/hub/event"
)

// isMappingFile reports whether a directory entry is a mapping file:
// *.json at the top of the directory, except the schema (*.schema.json).
func isMappingFile(name string) bool {
	return path.Ext(name) == ".json" && !strings.HasSuffix(name, ".schema.json") && !strings.HasPrefix(name, ".")
}

// mappingFiles lists the mapping files of fsys's root, sorted.
func mappingFiles(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("listing mapping files: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			if isMappingFile(e.Name()) {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// LoadDir compiles every mapping file at the root of fsys (os.DirFS of the
// mappings directory, or mappings.FS). It returns the Set of the files that
// compiled and, if any did not, an error joining one *Error per problem;
// callers that must not run with a partial Set treat any error as fatal.
func LoadDir(fsys fs.FS) (*Set, error) { return LoadDirCatalog(fsys, nil) }

// LoadDirCatalog is LoadDir checking targets against cat instead of the
// embedded catalogue (nil: the embedded one); tests of the engine's
// mechanics use it with made-up entity types.
func LoadDirCatalog(fsys fs.FS, cat *event.Catalog) (*Set, error) {
	names, err := mappingFiles(fsys)
	if err != nil {
		return &Set{services: map[string]*service{}}, err
	}
	set := &Set{services: make(map[string]*service, len(names))}
	var errs []error
	for _, name := range names {
		svc, err := loadFile(fsys, name, cat)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.services[svc.id] = svc
	}
	return set, errors.Join(errs...)
}

func loadFile(fsys fs.FS, name string, cat *event.Catalog) (*service, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, &Error{File: name, Reason: fmt.Sprintf("reading: %v", err)}
	}
	return compileFile(name, data, cat)
}

// Validate checks one mapping file without loading it: the mappings API
// uses it to vet an edit before it is saved. name is the file name
// (<service_id>.json); the error joins one *Error per problem.
func Validate(name string, data []byte) error {
	_, err := compileFile(path.Base(name), data, nil)
	return err
}

// Lint checks every mapping file of fsys and returns every problem, one
// *Error each, in file order. No problems: nil.
func Lint(fsys fs.FS) []error {
	_, err := LoadDir(fsys)
	var out []error
	for _, e := range Errors(err) {
		out = append(out, e)
	}
	return out
}

// LintCommandOutput is `switchboard mappings lint <dir>`: it checks the
// mapping files of dir, writes one line per file (and one per problem) to
// w, and reports whether all are valid.
func LintCommandOutput(w io.Writer, dir string) (ok bool) {
	switch st, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(w, "error: mappings directory %s does not exist\n", dir)
		return false
	case err != nil:
		fmt.Fprintf(w, "error: mappings directory %s: %v\n", dir, err)
		return false
	case !st.IsDir():
		fmt.Fprintf(w, "error: %s is not a directory\n", dir)
		return false
	}
	fsys := os.DirFS(dir)
	names, err := mappingFiles(fsys)
	if err != nil {
		fmt.Fprintf(w, "error: reading %s: %v\n", dir, err)
		return false
	}
	if len(names) == 0 {
		fmt.Fprintf(w, "error: no mapping files (*.json) in %s\n", dir)
		return false
	}
	ok = true
	for _, name := range names {
		svc, err := loadFile(fsys, name, nil)
		if err != nil {
			ok = false
			problems := Errors(err)
			fmt.Fprintf(w, "FAIL %s: %d problem(s)\n", name, len(problems))
			for _, p := range problems {
				fmt.Fprintf(w, "  %s\n", p.Error())
			}
			continue
		}
		fmt.Fprintf(w, "ok   %s: %s %s, %d native events, %d entities\n", name, svc.id, svc.version, len(svc.events), len(svc.entities))
	}
	return ok
}

// Services lists the service ids with a mapping, sorted.
func (s *Set) Services() []string {
	if s == nil {
		return nil
	}
	return sortedKeys(s.services)
}

// Has reports whether serviceID has a mapping file in the set.
func (s *Set) Has(serviceID string) bool {
	return s != nil && s.services[serviceID] != nil
}

// Coverage describes every service of the set, sorted by service id.
func (s *Set) Coverage() []Coverage {
	var out []Coverage
	for _, id := range s.Services() {
		out = append(out, s.services[id].coverage.clone())
	}
	return out
}

// Source returns the file name and exact bytes of serviceID's active
// mapping, for the mappings API (list, download).
func (s *Set) Source(serviceID string) (file string, data []byte, ok bool) {
	if !s.Has(serviceID) {
		return "", nil, false
	}
	svc := s.services[serviceID]
	return svc.file, append([]byte(nil), svc.raw...), true
}
