package mapping

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// RegistryConfig says where mapping files come from.
type RegistryConfig struct {
	// Dir is the mappings directory on disk, watched for edits. Empty:
	// use Embedded and never reload from disk.
	Dir string
	// Embedded are the built-in mapping files (mappings.FS). With Dir they
	// stay in use for every service Dir has no file of (a directory holding
	// only a plugin's mapping keeps the built-in ones); a file in Dir
	// overrides the built-in mapping of its service.
	Embedded fs.FS
	// Logger receives reload results, with every rejected problem spelled
	// out. Nil: discard.
	Logger *slog.Logger
	// Debounce is how long Watch waits for a burst of file events to end
	// before reloading (default 100ms): editors write a file in several
	// steps (temp file, rename), and reloading half-way would log a bogus
	// error.
	Debounce time.Duration
}

// FileStatus is the state of one mapping file as of the last reload, for
// the readiness and mappings APIs.
type FileStatus struct {
	File      string `json:"file"`
	ServiceID string `json:"service_id,omitempty"`
	Version   string `json:"version,omitempty"`
	// OK: the file on disk compiled and is what is active.
	OK bool `json:"ok"`
	// Error is the rejected edit's problems, one per line, when !OK.
	Error string `json:"error,omitempty"`
	// Active: some version of this file is in use; after a rejected edit
	// it is the last good one, loaded at LoadedAt.
	Active   bool      `json:"active"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
}

// Registry holds the active mapping Set and replaces it when the files
// change. A bad edit never takes effect: the file's last good version
// stays active and its status carries the precise error. Files are judged
// one by one, so a broken deskera.json does not hold back a fixed
// dversum.json.
type Registry struct {
	cfg    RegistryConfig
	fsys   fs.FS
	log    *slog.Logger
	cur    atomic.Pointer[Set]
	mu     sync.Mutex // serialises reloads and guards files
	files  map[string]*fileState
	status atomic.Pointer[[]FileStatus]
	// builtin are the compiled Embedded mappings by service id, when Dir
	// is set; Dir's files override them.
	builtin map[string]*service
	inUse   string // the last "mappings in use" line, logged on change
}

type fileState struct {
	svc      *service // active version; nil if none ever compiled
	loadedAt time.Time
	err      error // of the latest attempt; nil if it is the active one
}

// NewRegistry loads the mapping files and returns a Registry serving them.
// At startup there is no last good version to fall back on, so any
// rejected file fails NewRegistry: the operator sees every problem at once
// instead of a hub that silently passes events through.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	r := &Registry{cfg: cfg, log: cfg.Logger, files: map[string]*fileState{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.cfg.Debounce <= 0 {
		r.cfg.Debounce = 100 * time.Millisecond
	}
	switch {
	case cfg.Dir != "":
		r.fsys = os.DirFS(cfg.Dir)
		if cfg.Embedded != nil {
			builtin, err := LoadDir(cfg.Embedded)
			if err != nil {
				return nil, fmt.Errorf("built-in mappings: %w", err)
			}
			r.builtin = builtin.services
		}
	case cfg.Embedded != nil:
		r.fsys = cfg.Embedded
	default:
		return nil, errors.New("mapping registry: neither Dir nor Embedded given")
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Current returns the active Set. Callers keep it for the duration of one
// request; it never changes underneath them.
func (r *Registry) Current() *Set { return r.cur.Load() }

// Source names where the mappings come from: the directory, or "embedded".
func (r *Registry) Source() string {
	if r.cfg.Dir != "" {
		return r.cfg.Dir
	}
	return "embedded"
}

// Status reports every mapping file as of the last reload, sorted by name.
func (r *Registry) Status() []FileStatus {
	if s := r.status.Load(); s != nil {
		return append([]FileStatus(nil), (*s)...)
	}
	return nil
}

// Reload re-reads the mapping files and swaps in a new Set: files that
// compile replace their previous version, removed files are dropped, and a
// file that fails keeps its last good version (if any) while its status
// records the error. Every problem is logged. The returned error joins the
// problems of this reload (nil when every file is fine); the hub calls
// Reload on SIGHUP, Watch calls it on file changes.
func (r *Registry) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	names, err := mappingFiles(r.fsys)
	if err != nil {
		r.log.Error("mappings not reloaded", "source", r.Source(), "error", err)
		return err
	}
	now := time.Now().UTC()
	next := map[string]*fileState{}
	var errs []error
	changed := false
	for _, name := range names {
		old := r.files[name]
		st := &fileState{}
		if old != nil {
			*st = *old
		}
		data, err := fs.ReadFile(r.fsys, name)
		if err != nil {
			err = &Error{File: name, Reason: fmt.Sprintf("reading: %v", err)}
		}
		var svc *service
		if err == nil {
			if old != nil && old.svc != nil && old.err == nil && sha(data) == old.svc.hash {
				next[name] = st // unchanged
				continue
			}
			svc, err = compileFile(name, data, nil)
		}
		if err != nil {
			st.err = err
			errs = append(errs, err)
			for _, p := range Errors(err) {
				r.log.Error("mapping rejected", "file", name, "pointer", p.Pointer, "reason", p.Reason,
					"keeps_previous", st.svc != nil)
			}
		} else {
			st.svc, st.loadedAt, st.err = svc, now, nil
			changed = true
			r.log.Info("mapping loaded", "file", name, "service_id", svc.id, "version", svc.version,
				"events", len(svc.events), "entities", len(svc.entities))
		}
		next[name] = st
	}
	for name := range r.files {
		if next[name] == nil {
			changed = true
			r.log.Info("mapping removed", "file", name)
		}
	}
	// service_id must equal the file name, so no two files share a service.
	set := &Set{services: map[string]*service{}}
	for _, st := range next {
		if st.svc != nil {
			set.services[st.svc.id] = st.svc
		}
	}
	fromDir, builtin := sortedKeys(set.services), []string(nil)
	for _, id := range sortedKeys(r.builtin) {
		if set.services[id] == nil {
			set.services[id] = r.builtin[id]
			builtin = append(builtin, id)
		}
	}
	if r.builtin != nil {
		if line := fmt.Sprint(fromDir, builtin); line != r.inUse {
			r.inUse = line
			r.log.Info("mappings in use", "from_dir", fromDir, "dir", r.cfg.Dir, "built_in", builtin)
		}
	}
	r.files = next
	if changed || r.cur.Load() == nil {
		r.cur.Store(set)
	}
	r.publishStatus()
	return errors.Join(errs...)
}

func (r *Registry) publishStatus() {
	out := make([]FileStatus, 0, len(r.files))
	for _, name := range sortedKeys(r.files) {
		st := r.files[name]
		fsx := FileStatus{File: name, OK: st.err == nil && st.svc != nil, Active: st.svc != nil}
		if st.svc != nil {
			fsx.ServiceID, fsx.Version, fsx.LoadedAt = st.svc.id, st.svc.version, st.loadedAt
		}
		if st.err != nil {
			fsx.Error = st.err.Error()
		}
		out = append(out, fsx)
	}
	r.status.Store(&out)
}

// Watch reloads whenever a mapping file in Dir is written, created, renamed
// or removed, until ctx ends. Bursts of events are debounced. It watches the
// directory rather than the files, so the rename dance of editors and
// `mv new.json dversum.json` are seen. With embedded mappings there is
// nothing to watch and Watch returns nil at once.
func (r *Registry) Watch(ctx context.Context) error {
	if r.cfg.Dir == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching mappings: %w", err)
	}
	defer w.Close()
	if err := w.Add(r.cfg.Dir); err != nil {
		return fmt.Errorf("watching mappings directory %s: %w", r.cfg.Dir, err)
	}
	// Catch edits made between NewRegistry and now; unchanged files are
	// not recompiled.
	_ = r.Reload()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !isMappingFile(filepath.Base(ev.Name)) {
				continue
			}
			timer.Reset(r.cfg.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.log.Warn("mappings watcher", "error", err)
		case <-timer.C:
			_ = r.Reload() // logged inside; the last good mappings stay
		}
	}
}

func sha(data []byte) [32]byte { return sha256.Sum256(data) }
