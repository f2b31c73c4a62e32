package ingest_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/ingest"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
)

var adminJSON = http.Header{"Authorization": {"Bearer " + apiKey}, "Content-Type": {"application/json"}}

// builtinDversum is the built-in dversum.json and the 1-based line of its
// invoice.created rule, which the studio tests edit.
func builtinDversum(t *testing.T) (text string, line int) {
	t.Helper()
	data, err := mappings.FS.ReadFile("dversum.json")
	require.NoError(t, err)
	text = string(data)
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, `"invoice.created": {`) {
			return text, i + 1
		}
	}
	t.Fatal("dversum.json has no invoice.created rule")
	return "", 0
}

const createdRule = `"invoice.created": { "event_type": "accounting.invoice.created", "entity": "invoice" }`

func edit(t *testing.T, text, with string) string {
	t.Helper()
	require.Contains(t, text, createdRule)
	return strings.Replace(text, createdRule, with, 1)
}

func post(t *testing.T, e *env, method, path string, body any) response {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return e.send(method, path, b, adminJSON)
}

func problemsOf(t *testing.T, data map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, p := range data["errors"].([]any) {
		out = append(out, p.(map[string]any))
	}
	return out
}

func TestValidateMappingPlacesEachProblem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	text, line := builtinDversum(t)
	typo := edit(t, text, strings.Replace(createdRule, `"entity": "invoice"`, `"entity": "invoce"`, 1))
	col := strings.Index(strings.Split(typo, "\n")[line-1], `"invoce"`) + 1

	for _, tc := range []struct {
		name        string
		mapping     any
		valid       bool
		pointer     string
		line, col   int
		reasonHints string
	}{
		{name: "the built-in file as text", mapping: text, valid: true},
		{name: "the built-in file as an object", mapping: json.RawMessage(text), valid: true},
		{
			name:    "an undefined entity, at its line",
			mapping: typo, pointer: "/events/invoice.created/entity", line: line, col: col,
			reasonHints: "invoce",
		},
		{
			name:    "text cut short, at its end",
			mapping: text[:len(text)/2], pointer: "", line: strings.Count(text[:len(text)/2], "\n") + 1,
			reasonHints: "invalid JSON",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(t, e, http.MethodPost, "/mapping/validate", map[string]any{"mapping": tc.mapping})
			require.Equal(t, http.StatusOK, res.status, res.json)
			data := res.json["data"].(map[string]any)
			assert.Equal(t, tc.valid, data["valid"])
			assert.Equal(t, "dversum", data["service_id"])
			ps := problemsOf(t, data)
			if tc.valid {
				assert.Empty(t, ps)
				return
			}
			require.NotEmpty(t, ps)
			p := ps[0]
			assert.Equal(t, tc.pointer, p["pointer"])
			assert.Contains(t, p["message"], tc.reasonHints)
			assert.EqualValues(t, tc.line, p["line"], "line of %v", p)
			if tc.col > 0 {
				assert.EqualValues(t, tc.col, p["column"], "column of %v", p)
			}
			if tc.pointer != "" {
				assert.Greater(t, tc.col, 1)
			}
		})
	}

	missing := post(t, e, http.MethodPost, "/mapping/validate", map[string]any{})
	assert.Equal(t, http.StatusUnprocessableEntity, missing.status)
	assert.Contains(t, missing.json["message"], "mapping is required")
}

func TestPreviewAppliesADraftMapping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	text, line := builtinDversum(t)
	payload := json.RawMessage(sample(t, "invoice.created"))

	inForce := post(t, e, http.MethodPost, "/mapping/preview", map[string]any{"service_id": "dversum", "payload": payload})
	require.Equal(t, http.StatusOK, inForce.status, inForce.json)
	entity := inForce.json["data"].(map[string]any)["entity"].(map[string]any)
	require.NotEqual(t, "voided", entity["status"])

	draft := edit(t, text, `"invoice.created": { "event_type": "accounting.invoice.created", "entity": "invoice", "set": { "status": "voided" } }`)
	res := post(t, e, http.MethodPost, "/mapping/preview", map[string]any{"service_id": "dversum", "payload": payload, "mapping": draft})
	require.Equal(t, http.StatusOK, res.status, res.json)
	data := res.json["data"].(map[string]any)
	assert.Equal(t, "voided", data["entity"].(map[string]any)["status"], "the draft, not the mapping in force, made the event")
	cov, ok := data["coverage"].(map[string]any)
	require.True(t, ok, "the preview reports the entity schema's coverage: %v", data)
	assert.Equal(t, true, cov["status"])
	assert.Equal(t, true, cov["total"])
	assert.Contains(t, cov, "id")

	again := post(t, e, http.MethodPost, "/mapping/preview", map[string]any{"service_id": "dversum", "payload": payload})
	assert.Equal(t, entity["status"], again.json["data"].(map[string]any)["entity"].(map[string]any)["status"],
		"a draft changes nothing in force")

	broken := edit(t, text, strings.Replace(createdRule, `"entity": "invoice"`, `"entity": "invoce"`, 1))
	bad := post(t, e, http.MethodPost, "/mapping/preview", map[string]any{"service_id": "dversum", "payload": payload, "mapping": broken})
	require.Equal(t, http.StatusUnprocessableEntity, bad.status, bad.json)
	assert.Contains(t, bad.json["message"], "mapping/events/invoice.created/entity")
	ps := bad.json["detail"].(map[string]any)["problems"].([]any)
	assert.EqualValues(t, line, ps[0].(map[string]any)["line"])
}

func TestSaveMappingWritesOnlyValidFilesAndReloads(t *testing.T) {
	t.Parallel()
	text, line := builtinDversum(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "dversum.json")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
	e := newEnv(t, func(o *options) { o.mappingsDir = dir })
	payload := json.RawMessage(sample(t, "invoice.created"))

	broken := edit(t, text, strings.Replace(createdRule, `"entity": "invoice"`, `"entity": "invoce"`, 1))
	bad := post(t, e, http.MethodPut, "/mapping/mappings/dversum", map[string]any{"mapping": broken})
	require.Equal(t, http.StatusUnprocessableEntity, bad.status, bad.json)
	assert.EqualValues(t, line, bad.json["detail"].(map[string]any)["problems"].([]any)[0].(map[string]any)["line"])
	onDisk, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, text, string(onDisk), "a rejected save writes nothing")

	other := post(t, e, http.MethodPut, "/mapping/mappings/deskera", map[string]any{"mapping": text})
	assert.Equal(t, http.StatusUnprocessableEntity, other.status, "dversum's file cannot be saved as deskera's")
	assert.Contains(t, other.json["message"], "service_id")

	saved := edit(t, text, `"invoice.created": { "event_type": "accounting.invoice.created", "entity": "invoice", "set": { "status": "voided" } }`)
	ok := post(t, e, http.MethodPut, "/mapping/mappings/dversum", map[string]any{"mapping": saved})
	require.Equal(t, http.StatusOK, ok.status, ok.json)
	st := ok.json["data"].(map[string]any)
	assert.Equal(t, "dversum.json", st["file"])
	assert.Equal(t, true, st["ok"])
	onDisk, err = os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, saved, string(onDisk), "the file holds the text byte for byte")
	leftovers, err := filepath.Glob(filepath.Join(dir, ".*"))
	require.NoError(t, err)
	assert.Empty(t, leftovers, "no temporary file is left behind")

	res := post(t, e, http.MethodPost, "/mapping/preview", map[string]any{"service_id": "dversum", "payload": payload})
	assert.Equal(t, "voided", res.json["data"].(map[string]any)["entity"].(map[string]any)["status"], "the saved file is in force at once")
}

func TestSaveMappingConflicts(t *testing.T) {
	t.Parallel()
	text, _ := builtinDversum(t)
	for name, opt := range map[string]func(*options){
		"built-in mappings": func(*options) {},
		"a shared store": func(o *options) {
			o.saveMapping = func(string, []byte) (mapping.FileStatus, error) {
				return mapping.FileStatus{}, ingest.ErrMappingsShared
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, opt)
			res := post(t, e, http.MethodPut, "/mapping/mappings/dversum", map[string]any{"mapping": text})
			assert.Equal(t, http.StatusConflict, res.status, res.json)
			assert.Equal(t, "ConflictError", res.json["type_name"])
			assert.Regexp(t, "--mappings-dir|PostgreSQL", res.json["message"])
		})
	}
}

// TestReadMapping: GET /mapping/mappings/{service_id} answers the file's
// text byte for byte (what the studio edits), from the mappings directory
// when there is one, and 404 for a service without a file.
func TestReadMapping(t *testing.T) {
	t.Parallel()
	builtin, _ := builtinDversum(t)
	dir := t.TempDir()
	edited := strings.Replace(builtin, `"number": "invoice_number"`, `"number": "reference"`, 1)
	require.NotEqual(t, builtin, edited)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dversum.json"), []byte(edited), 0o644))

	for _, tc := range []struct {
		name string
		opts []func(*options)
		want string
	}{
		{name: "built in", want: builtin},
		{name: "mappings directory", opts: []func(*options){func(o *options) { o.mappingsDir = dir }}, want: edited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.opts...)
			res := e.send(http.MethodGet, "/mapping/mappings/dversum", nil, adminJSON)
			require.Equal(t, http.StatusOK, res.status, "%v", res.json)
			data := res.json["data"].(map[string]any)
			assert.Equal(t, "dversum", data["service_id"])
			assert.Equal(t, "dversum.json", data["file"])
			assert.Equal(t, tc.want, data["mapping"])

			for _, id := range []string{"nope", "Not_A_Service", ".."} {
				res := e.send(http.MethodGet, "/mapping/mappings/"+id, nil, adminJSON)
				assert.Equalf(t, http.StatusNotFound, res.status, "%s: %v", id, res.json)
			}
		})
	}
}
