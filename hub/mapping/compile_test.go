package mapping_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/switchboardhq/switchboard/hub/mapping"
)

// acmeFile builds a small mapping file for service "acme" with the given
// entities and events objects (JSON text).
func acmeFile(entities, events string) string {
	return `{
  "service_id": "acme",
  "version": "1",
  "native_event_type": [{"query": "e"}, {"header": "X-Acme-Event"}, {"path": "type"}],
  "occurred_at": "at",
  "record": "data",
  "entities": ` + entities + `,
  "events": ` + events + `
}`
}

const acmeEntities = `{
  "invoice": {"type": "invoice", "id": "id", "fields": {"id": "id", "total": {"path": "total", "scale": 0.01, "scale_when": "integer"}}},
  "contact": {"type": "contact", "id": "id", "fields": {"id": "id", "name": "name"}}
}`

func TestValidateAcceptsAcme(t *testing.T) {
	t.Parallel()
	require.NoError(t, mapping.Validate("acme.json", []byte(acmeFile(acmeEntities, `{
		"invoice.created": {"event_type": "accounting.invoice.created", "entity": "invoice"},
		"page.created": {"pass_through": true}
	}`))))
}

// TestValidateRejects: every kind of bad mapping file is rejected with the
// file, the JSON pointer of the culprit and a reason that says what is
// wrong.
func TestValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string // acme.json unless set
		doc     string
		pointer string
		reason  string // substring of the reason
	}{
		{
			name:   "invalid JSON",
			doc:    `{"service_id": "acme",` + "\n" + `  "version": }`,
			reason: "invalid JSON: invalid character '}' looking for beginning of value at line 2, column 14",
		},
		{
			name:   "trailing data",
			doc:    acmeFile(acmeEntities, `{}`) + ` {}`,
			reason: "unexpected data after the top-level value at line 12, column 3",
		},
		{
			name:    "schema: unknown key",
			doc:     acmeFile(acmeEntities, `{"invoice.created": {"event_type": "accounting.invoice.created", "entiy": "invoice"}}`),
			pointer: "/events/invoice.created",
			reason:  `schema: unknown key(s) "entiy"`,
		},
		{
			name:    "schema: wrong type",
			doc:     strings.Replace(acmeFile(acmeEntities, `{}`), `"version": "1"`, `"version": 1`, 1),
			pointer: "/version",
			reason:  "schema: got number, want string",
		},
		{
			name:   "schema: missing required key",
			doc:    `{"service_id": "acme", "native_event_type": {"path": "type"}, "events": {}}`,
			reason: "schema: missing property 'version'",
		},
		{
			name:    "schema: scale is a string",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"total": {"path": "total", "scale": "0.01"}}}}`, `{}`),
			pointer: "/entities/invoice/fields/total/scale",
			reason:  "got string, want number",
		},
		{
			name:    "service id differs from file name",
			file:    "other.json",
			doc:     acmeFile(acmeEntities, `{}`),
			pointer: "/service_id",
			reason:  `service_id "acme" does not match the file name (want "other")`,
		},
		{
			name:    "bad gjson path: empty component",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "data..id", "fields": {}}}`, `{}`),
			pointer: "/entities/invoice/id",
			reason:  `path "data..id": empty component`,
		},
		{
			name:    "bad gjson path: unclosed query",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"first": "items.#(price>10"}}}`, `{}`),
			pointer: "/entities/invoice/fields/first",
			reason:  `unclosed '('`,
		},
		{
			name:    "bad gjson path: unknown modifier",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"n": {"path": "items|@nosuch"}}}}`, `{}`),
			pointer: "/entities/invoice/fields/n/path",
			reason:  "unknown modifier @nosuch",
		},
		{
			name:    "bad gjson path in native_event_type",
			doc:     strings.Replace(acmeFile(acmeEntities, `{}`), `{"path": "type"}`, `{"path": "type."}`, 1),
			pointer: "/native_event_type/2/path",
			reason:  "empty component",
		},
		{
			name:    "unknown entity",
			doc:     acmeFile(acmeEntities, `{"invoice.paid": {"event_type": "accounting.invoice.paid", "entity": "invoce"}}`),
			pointer: "/events/invoice.paid/entity",
			reason:  `entity "invoce" is not defined`,
		},
		{
			name:    "event without entity",
			doc:     acmeFile(acmeEntities, `{"invoice.paid": {"event_type": "accounting.invoice.paid"}}`),
			pointer: "/events/invoice.paid",
			reason:  "needs an entity",
		},
		{
			name:    "invalid event type",
			doc:     acmeFile(acmeEntities, `{"invoice.paid": {"event_type": "Accounting.Invoice.Paid", "entity": "invoice"}}`),
			pointer: "/events/invoice.paid/event_type",
			reason:  `"Accounting.Invoice.Paid" is not a valid event type`,
		},
		{
			name:    "invalid event type: one segment",
			doc:     acmeFile(acmeEntities, `{"invoice.paid": {"event_type": "paid", "entity": "invoice"}}`),
			pointer: "/events/invoice.paid/event_type",
			reason:  `"paid" is not a valid event type`,
		},
		{
			name:    "event type in the pass-through namespace",
			doc:     acmeFile(acmeEntities, `{"invoice.paid": {"event_type": "acme.invoice.paid", "entity": "invoice"}}`),
			pointer: "/events/invoice.paid/event_type",
			reason:  `"acme.invoice.paid" is not an event type of the catalogue (did you mean accounting.invoice.paid`,
		},
		{
			name:    "base event type in another API",
			doc:     acmeFile(acmeEntities, `{"invoice.paid": {"event_type": "accounting.invoice.paid", "base_event_type": "crm.invoice.updated", "entity": "invoice"}}`),
			pointer: "/events/invoice.paid/base_event_type",
			reason:  `the catalogue's base type of accounting.invoice.paid is accounting.invoice.updated`,
		},
		{
			name:    "duplicate native event",
			doc:     acmeFile(acmeEntities, `{"invoice.paid": {"pass_through": true}, "invoice.paid": {"pass_through": true}}`),
			pointer: "/events/invoice.paid",
			reason:  `duplicate key "invoice.paid"`,
		},
		{
			name:    "duplicate field",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"total": "a", "total": "b"}}}`, `{}`),
			pointer: "/entities/invoice/fields/total",
			reason:  `duplicate key "total"`,
		},
		{
			name:    "bad map table: nested value",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"status": {"path": "s", "map": {"a": {"b": 1}}}}}}`, `{}`),
			pointer: "/entities/invoice/fields/status/map/a",
			reason:  "got object, want null or boolean or number or string",
		},
		{
			name:    "bad map table: empty",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"status": {"path": "s", "map": {}}}}}`, `{}`),
			pointer: "/entities/invoice/fields/status/map",
			reason:  "minProperties",
		},
		{
			name:    "bad map table: value does not fit the type",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"open": {"path": "s", "map": {"o": "yes"}, "type": "boolean"}}}}`, `{}`),
			pointer: "/entities/invoice/fields/open/map/o",
			reason:  `map value "yes" does not fit type boolean`,
		},
		{
			name:    "bad map table: value cannot be scaled",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"total": {"path": "t", "map": {"none": "zero"}, "scale": 0.01}}}}`, `{}`),
			pointer: "/entities/invoice/fields/total/map/none",
			reason:  "cannot be scaled",
		},
		{
			name:    "bad when: two operators",
			doc:     acmeFile(acmeEntities, `{"x.y": {"entity": "contact", "branches": [{"when": {"path": "t", "equals": "a", "exists": true}, "event_type": "crm.contact.created"}]}}`),
			pointer: "/events/x.y/branches/0/when",
			reason:  "a condition takes one operator, got equals, exists",
		},
		{
			name:    "bad when: object operand",
			doc:     acmeFile(acmeEntities, `{"x.y": {"entity": "contact", "branches": [{"when": {"path": "t", "in": ["a", ["b"]]}, "event_type": "crm.contact.created"}]}}`),
			pointer: "/events/x.y/branches/0/when/in/1",
			reason:  "want null or boolean or number or string",
		},
		{
			name:    "bad when: bad path",
			doc:     acmeFile(acmeEntities, `{"x.y": {"entity": "contact", "branches": [{"when": "a[", "event_type": "crm.contact.created"}]}}`),
			pointer: "/events/x.y/branches/0/when",
			reason:  `unclosed '['`,
		},
		{
			name:    "bad when: missing",
			doc:     acmeFile(acmeEntities, `{"x.y": {"entity": "contact", "branches": [{"event_type": "crm.contact.created"}]}}`),
			pointer: "/events/x.y/branches/0",
			reason:  "missing property 'when'",
		},
		{
			name:    "field with path and value",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"n": {"path": "a", "value": 1}}}}`, `{}`),
			pointer: "/entities/invoice/fields/n",
			reason:  "exactly one of path or value",
		},
		{
			name:    "conflicting targets",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"customer": "c", "customer.id": "c"}}}`, `{}`),
			pointer: "/entities/invoice/fields/customer.id",
			reason:  `target "customer.id" conflicts with "customer"`,
		},
		{
			name:    "set conflicts with an entity field",
			doc:     acmeFile(acmeEntities, `{"invoice.paid": {"event_type": "accounting.invoice.paid", "entity": "invoice", "set": {"total.amount": 1}}}`),
			pointer: "/events/invoice.paid/set/total.amount",
			reason:  `target "total.amount" conflicts with "total"`,
		},
		{
			name:    "array indexes mixed with keys",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"emails.0": "a", "emails.main": "b"}}}`, `{}`),
			pointer: "/entities/invoice/fields/emails.main",
			reason:  `targets under "emails" mix array indexes and keys`,
		},
		{
			name:    "pass_through with a mapping",
			doc:     acmeFile(acmeEntities, `{"page.created": {"pass_through": true, "event_type": "accounting.invoice.created"}}`),
			pointer: "/events/page.created",
			reason:  "a pass_through event takes no event_type",
		},
		{
			name:    "event with nothing to do",
			doc:     acmeFile(acmeEntities, `{"page.created": {"description": "todo"}}`),
			pointer: "/events/page.created",
			reason:  "needs event_type and entity, branches, or pass_through",
		},
		{
			name:    "type source with two kinds",
			doc:     strings.Replace(acmeFile(acmeEntities, `{}`), `{"query": "e"}`, `{"query": "e", "path": "type"}`, 1),
			pointer: "/native_event_type/0",
			reason:  "exactly one of path, header or query",
		},
		{
			name:    "scale_when without scale",
			doc:     acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"t": {"path": "t", "scale_when": "integer"}}}}`, `{}`),
			pointer: "/entities/invoice/fields/t/scale_when",
			reason:  "scale_when needs scale",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := tt.file
			if file == "" {
				file = "acme.json"
			}
			err := mapping.Validate(file, []byte(tt.doc))
			require.Error(t, err)
			problems := mapping.Errors(err)
			require.NotEmpty(t, problems)
			var found bool
			for _, p := range problems {
				assert.Equal(t, file, p.File)
				if p.Pointer == tt.pointer && strings.Contains(p.Reason, tt.reason) {
					found = true
				}
			}
			require.True(t, found, "want a problem at %q containing %q, got:\n%v", tt.pointer, tt.reason, err)
			var typed *mapping.Error
			require.True(t, errors.As(err, &typed))
		})
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	err := mapping.Validate("dversum.json", []byte(`{
		"service_id": "dversum", "version": "1", "native_event_type": {"path": "event"}, "record": "data",
		"entities": {"invoice": {"type": "invoice", "id": "id", "fields": {"id": "id"}}},
		"events": {"invoice.paid": {"event_type": "accounting.invoice.paid", "entity": "invoce"}}
	}`))
	require.EqualError(t, err, `dversum.json: /events/invoice.paid/entity: entity "invoce" is not defined`)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := mapping.Validate("acme.json", []byte(acmeFile(acmeEntities, `{
		"a.b": {"event_type": "accounting.invoice.paid", "entity": "nope"},
		"c.d": {"event_type": "accounting.invoice.paid", "entity": "nada"}
	}`)))
	require.Len(t, mapping.Errors(err), 2)
}

func TestLoadDirSkipsSchemaAndKeepsGoodFiles(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"acme.json":           {Data: []byte(acmeFile(acmeEntities, `{}`))},
		"broken.json":         {Data: []byte(`{`)},
		"mapping.schema.json": {Data: []byte(`{"not": "a mapping"}`)},
		"README.md":           {Data: []byte("# notes")},
	}
	set, err := mapping.LoadDir(fsys)
	require.Error(t, err)
	require.Len(t, mapping.Errors(err), 1)
	require.Equal(t, "broken.json", mapping.Errors(err)[0].File)
	require.Equal(t, []string{"acme"}, set.Services())

	lint := mapping.Lint(fsys)
	require.Len(t, lint, 1)
	require.Contains(t, lint[0].Error(), "broken.json: invalid JSON")
}

func TestLintBuiltinIsClean(t *testing.T) {
	t.Parallel()
	require.Empty(t, mapping.Lint(builtinFS()))
}

func TestLintCommandOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "acme.json"), []byte(acmeFile(acmeEntities, `{}`)), 0o644))
	var out bytes.Buffer
	require.True(t, mapping.LintCommandOutput(&out, dir))
	require.Equal(t, "ok   acme.json: acme 1, 0 native events, 2 entities\n", out.String())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "beta.json"), []byte(strings.Replace(
		acmeFile(acmeEntities, `{"a.b": {"event_type": "accounting.invoice.paid", "entity": "invoce"}}`),
		`"service_id": "acme"`, `"service_id": "beta"`, 1)), 0o644))
	out.Reset()
	require.False(t, mapping.LintCommandOutput(&out, dir))
	require.Equal(t, "ok   acme.json: acme 1, 0 native events, 2 entities\n"+
		"FAIL beta.json: 1 problem(s)\n"+
		"  beta.json: /events/a.b/entity: entity \"invoce\" is not defined\n", out.String())

	out.Reset()
	require.False(t, mapping.LintCommandOutput(&out, t.TempDir()))
	require.Contains(t, out.String(), "no mapping files")
}

func TestErrorsFlattens(t *testing.T) {
	t.Parallel()
	require.Nil(t, mapping.Errors(nil))
	plain := mapping.Errors(errors.New("disk on fire"))
	require.Equal(t, []*mapping.Error{{Reason: "disk on fire"}}, plain)
	require.Equal(t, "f.json: /a~1b: bad", (&mapping.Error{File: "f.json", Pointer: "/a~1b", Reason: "bad"}).Error())
}

func TestValidateBoundsScale(t *testing.T) {
	t.Parallel()
	for _, scale := range []string{"0", "1e999999999", "-1e-999999999", "1e31"} {
		doc := acmeFile(`{"invoice": {"type": "invoice", "id": "id", "fields": {"t": {"path": "t", "scale": `+scale+`}}}}`, `{}`)
		err := mapping.Validate("acme.json", []byte(doc))
		require.Error(t, err, scale)
		require.Contains(t, err.Error(), "/entities/invoice/fields/t/scale: scale "+scale+" must be a non-zero number", scale)
	}
}
