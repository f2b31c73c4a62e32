package mapping_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
)

// acmeVersion is a valid acme mapping whose invoice.created event type
// tells the versions apart.
func acmeVersion(version, eventType string) string {
	return strings.Replace(acmeFile(acmeEntities, `{"invoice.created": {"event_type": "`+eventType+`", "entity": "invoice"}}`),
		`"version": "1"`, `"version": "`+version+`"`, 1)
}

// writeLikeAnEditor replaces a file the way editors do: write a temporary
// file next to it, then rename it over the original.
func writeLikeAnEditor(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".swp~"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventTypeOf is what the active acme mapping calls invoice.created. It
// runs inside require.Eventually's goroutine, so it reports, never fails.
func eventTypeOf(t *testing.T, r *mapping.Registry) string {
	res, err := r.Current().Apply("acme", mapping.Input{NativeType: "invoice.created", Body: []byte(`{"data": {"id": "i1"}}`)})
	if err != nil {
		t.Errorf("apply: %v", err)
		return ""
	}
	return res.EventType
}

func statusOf(r *mapping.Registry, file string) mapping.FileStatus {
	for _, s := range r.Status() {
		if s.File == file {
			return s
		}
	}
	return mapping.FileStatus{}
}

func TestRegistryHotReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "acme.json")
	require.NoError(t, os.WriteFile(file, []byte(acmeVersion("1", "accounting.invoice.created")), 0o644))
	logs := &syncBuffer{}
	reg, err := mapping.NewRegistry(mapping.RegistryConfig{
		Dir:      dir,
		Embedded: mappings.FS,
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		Debounce: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	require.Equal(t, dir, reg.Source())
	require.Equal(t, []string{"acme", "deskera", "dversum", "vplan"}, reg.Current().Services(),
		"a directory holding only a plugin's mapping keeps the built-in ones")
	require.Contains(t, logs.String(), `"msg":"mappings in use","from_dir":["acme"]`)
	require.Contains(t, logs.String(), `"built_in":["deskera","dversum","vplan"]`)
	require.Equal(t, "accounting.invoice.created", eventTypeOf(t, reg))
	st := statusOf(reg, "acme.json")
	require.True(t, st.OK)
	require.True(t, st.Active)
	require.Equal(t, "1", st.Version)
	firstLoad := st.LoadedAt
	require.False(t, firstLoad.IsZero())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	// A good edit takes effect.
	writeLikeAnEditor(t, file, acmeVersion("2", "accounting.invoice.updated"))
	require.Eventually(t, func() bool { return eventTypeOf(t, reg) == "accounting.invoice.updated" }, 10*time.Second, 10*time.Millisecond)
	st = statusOf(reg, "acme.json")
	require.True(t, st.OK)
	require.Equal(t, "2", st.Version)

	// A bad edit is rejected: the last good mapping stays, the status and
	// the log say exactly what is wrong.
	before := reg.Current()
	writeLikeAnEditor(t, file, acmeFile(acmeEntities, `{"invoice.created": {"event_type": "accounting.invoice.created", "entity": "invoce"}}`))
	require.Eventually(t, func() bool { return !statusOf(reg, "acme.json").OK }, 10*time.Second, 10*time.Millisecond)
	st = statusOf(reg, "acme.json")
	require.True(t, st.Active, "the last good version is still in use")
	require.Equal(t, "2", st.Version)
	require.Equal(t, `acme.json: /events/invoice.created/entity: entity "invoce" is not defined`, st.Error)
	require.Equal(t, "accounting.invoice.updated", eventTypeOf(t, reg))
	require.Same(t, before, reg.Current(), "nothing changed, so the Set is not replaced")
	require.Contains(t, logs.String(), `"pointer":"/events/invoice.created/entity"`)
	require.Contains(t, logs.String(), `"keeps_previous":true`)

	// Fixing it loads the fix.
	writeLikeAnEditor(t, file, acmeVersion("3", "accounting.invoice.deleted"))
	require.Eventually(t, func() bool { return eventTypeOf(t, reg) == "accounting.invoice.deleted" }, 10*time.Second, 10*time.Millisecond)
	require.True(t, statusOf(reg, "acme.json").OK)

	// A new service appears; a deleted file's service disappears.
	other := strings.ReplaceAll(acmeVersion("1", "accounting.invoice.sent"), `"service_id": "acme"`, `"service_id": "zeta"`)
	writeLikeAnEditor(t, filepath.Join(dir, "zeta.json"), other)
	require.Eventually(t, func() bool { return reg.Current().Has("zeta") }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, os.Remove(filepath.Join(dir, "zeta.json")))
	require.Eventually(t, func() bool { return !reg.Current().Has("zeta") }, 10*time.Second, 10*time.Millisecond)
	require.Len(t, reg.Status(), 1)
}

// TestRegistryDirOverridesBuiltIn: a file in the directory replaces the
// built-in mapping of its service id, and only that one.
func TestRegistryDirOverridesBuiltIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	builtin, err := fs.ReadFile(mappings.FS, "dversum.json")
	require.NoError(t, err)
	edited := bytes.Replace(builtin, []byte(`"version": "1.0.0"`), []byte(`"version": "9.9.9"`), 1)
	require.NotEqual(t, builtin, edited, "the built-in dversum.json has a version to edit")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dversum.json"), edited, 0o644))
	reg, err := mapping.NewRegistry(mapping.RegistryConfig{Dir: dir, Embedded: mappings.FS})
	require.NoError(t, err)
	_, data, ok := reg.Current().Source("dversum")
	require.True(t, ok)
	assert.Equal(t, edited, data, "the directory's dversum.json is used")
	_, data, ok = reg.Current().Source("vplan")
	require.True(t, ok)
	want, err := fs.ReadFile(mappings.FS, "vplan.json")
	require.NoError(t, err)
	assert.Equal(t, want, data, "the built-in vplan.json stays")
}

func TestRegistryReloadWithoutWatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "acme.json")
	require.NoError(t, os.WriteFile(file, []byte(acmeVersion("1", "accounting.invoice.created")), 0o644))
	reg, err := mapping.NewRegistry(mapping.RegistryConfig{Dir: dir})
	require.NoError(t, err)
	loaded := statusOf(reg, "acme.json").LoadedAt

	// Unchanged files are not recompiled.
	require.NoError(t, reg.Reload())
	require.Equal(t, loaded, statusOf(reg, "acme.json").LoadedAt)

	require.NoError(t, os.WriteFile(file, []byte(`{"service_id": "acme"`), 0o644))
	err = reg.Reload()
	require.Error(t, err)
	require.Contains(t, err.Error(), "acme.json: invalid JSON")
	require.Equal(t, "accounting.invoice.created", eventTypeOf(t, reg))

	require.NoError(t, os.WriteFile(file, []byte(acmeVersion("2", "accounting.invoice.paid")), 0o644))
	require.NoError(t, reg.Reload())
	require.Equal(t, "accounting.invoice.paid", eventTypeOf(t, reg))
	require.True(t, statusOf(reg, "acme.json").OK)
}

func TestRegistryRejectsBadFilesAtStartup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "acme.json"), []byte(`{}`), 0o644))
	_, err := mapping.NewRegistry(mapping.RegistryConfig{Dir: dir})
	require.Error(t, err)
	require.Contains(t, err.Error(), "acme.json: schema: missing properties")

	_, err = mapping.NewRegistry(mapping.RegistryConfig{})
	require.Error(t, err)

	_, err = mapping.NewRegistry(mapping.RegistryConfig{Dir: filepath.Join(dir, "missing")})
	require.Error(t, err)
}

func TestRegistryEmbedded(t *testing.T) {
	t.Parallel()
	reg, err := mapping.NewRegistry(mapping.RegistryConfig{Embedded: mappings.FS})
	require.NoError(t, err)
	require.Equal(t, "embedded", reg.Source())
	require.True(t, reg.Current().Has("dversum"))
	require.NoError(t, reg.Watch(context.Background()), "nothing to watch: returns at once")
	require.True(t, statusOf(reg, "dversum.json").OK)
}
