package mapping_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/<service>/ from the current output")

// dversumEvents is every outgoing webhook event dVersum documents (seed 000).
var dversumEvents = []string{
	"invoice.created", "invoice.updated", "invoice.sent", "invoice.paid", "invoice.partially_paid",
	"invoice.overdue", "invoice.deleted",
	"quote.created", "quote.updated", "quote.sent", "quote.signed", "quote.rejected", "quote.expired",
	"quote.converted", "quote.deleted",
	"client.created", "client.updated", "client.deleted",
	"reminder.sent",
	"project.created", "project.updated", "project.archived", "project.deleted",
	"task.created", "task.updated", "task.completed", "task.assigned", "task.moved", "task.deleted",
	"subtask.created", "subtask.completed", "subtask.deleted",
	"comment.created",
	"time_entry.created", "time_entry.started", "time_entry.stopped", "time_entry.updated", "time_entry.deleted",
	"page.created", "page.updated", "page.deleted",
	"absence.created", "absence.updated", "absence.deleted",
}

// dversumAliases are native names the mapping accepts beyond the documented
// list (quote.accepted is quote.signed's older name, catalog.md).
var dversumAliases = []string{"quote.accepted"}

func builtinFS() fs.FS { return mappings.FS }

func builtin(t testing.TB) *mapping.Set {
	t.Helper()
	set, err := mapping.LoadDir(mappings.FS)
	require.NoError(t, err)
	return set
}

// goldenMeta is the optional <case>.meta.json next to a golden input: what
// the hub hands the mapping besides the body. Deskera, for one, carries its
// event type in the inbound URL (?e=CREATE_INVOICE).
type goldenMeta struct {
	// NativeType is the type a connector names (mapping.Input.NativeType).
	NativeType string `json:"native_type"`
	// Query and Headers are the inbound request's.
	Query   map[string][]string `json:"query"`
	Headers map[string]string   `json:"headers"`
}

// goldenInput reads a golden case's input and its optional meta file.
func goldenInput(t *testing.T, in string) mapping.Input {
	t.Helper()
	body, err := os.ReadFile(in)
	require.NoError(t, err)
	input := mapping.Input{Body: body}
	raw, err := os.ReadFile(strings.TrimSuffix(in, ".input.json") + ".meta.json")
	if errors.Is(err, fs.ErrNotExist) {
		return input
	}
	require.NoError(t, err)
	var meta goldenMeta
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&meta), "meta file")
	input.NativeType = meta.NativeType
	input.Query = url.Values(meta.Query)
	if len(meta.Headers) > 0 {
		input.Header = http.Header{}
		for k, v := range meta.Headers {
			input.Header.Set(k, v)
		}
	}
	return input
}

// TestGolden applies the built-in mapping to every testdata/<service>/
// <case>.input.json and compares the Result with <case>.golden.json, byte
// for byte. A case is named after its native event type, or
// <event>@<variant> for more cases of one event (Deskera's
// CREATE_CONTACT@supplier); an optional <case>.meta.json gives the query,
// headers or connector-named type the hub would pass along (goldenMeta).
// Run with -update to rewrite the goldens, then review the diff: the
// goldens are the specification of the mapping.
func TestGolden(t *testing.T) {
	t.Parallel()
	set := builtin(t)
	services, err := os.ReadDir(filepath.Join("..", "..", "testdata"))
	require.NoError(t, err)
	for _, svc := range services {
		if !svc.IsDir() || !set.Has(svc.Name()) {
			continue
		}
		inputs, err := filepath.Glob(filepath.Join("..", "..", "testdata", svc.Name(), "*.input.json"))
		require.NoError(t, err)
		require.NotEmpty(t, inputs)
		for _, in := range inputs {
			name := strings.TrimSuffix(filepath.Base(in), ".input.json")
			native, _, _ := strings.Cut(name, "@")
			t.Run(svc.Name()+"/"+name, func(t *testing.T) {
				t.Parallel()
				res, err := set.Apply(svc.Name(), goldenInput(t, in))
				require.NoError(t, err)
				require.Equal(t, native, res.DownstreamEventType, "input file name must be the native event type (or <event>@<variant>)")
				require.Empty(t, res.Warnings, "the test inputs follow the shapes the mapping documents")
				got, err := json.MarshalIndent(res, "", "  ")
				require.NoError(t, err)
				got = append(got, '\n')
				golden := strings.TrimSuffix(in, ".input.json") + ".golden.json"
				if *update {
					require.NoError(t, os.WriteFile(golden, got, 0o644))
				}
				want, err := os.ReadFile(golden)
				require.NoError(t, err, "missing golden file; run go test ./hub/mapping -run TestGolden -update")
				require.Equal(t, string(want), string(got))
			})
		}
	}
}

// TestDversumCoversEverySeedEvent: every documented dVersum event has a
// test input and an explicit entry in dversum.json, and nothing else is
// mapped by accident.
func TestDversumCoversEverySeedEvent(t *testing.T) {
	t.Parallel()
	set := builtin(t)
	var cov mapping.Coverage
	for _, c := range set.Coverage() {
		if c.ServiceID == "dversum" {
			cov = c
		}
	}
	require.Equal(t, "dversum", cov.ServiceID)
	var mapped []string
	for _, ev := range cov.Events {
		mapped = append(mapped, ev.NativeType)
		if ev.PassThrough {
			require.True(t, strings.HasPrefix(ev.EventType, "dversum.page."), ev.EventType)
			continue
		}
		require.True(t, event.ValidType(ev.EventType), ev.EventType)
		require.NotEqual(t, "dversum", event.UnifiedAPIOf(ev.EventType))
	}
	want := append(slices.Clone(dversumEvents), dversumAliases...)
	slices.Sort(want)
	mapped = slices.Compact(mapped)
	require.Equal(t, want, mapped)
	for _, native := range want {
		_, err := os.Stat(filepath.Join("..", "..", "testdata", "dversum", native+".input.json"))
		require.NoError(t, err, "every dVersum event needs a golden test input")
	}
}

// TestDversumCatalogue pins the unified name of every dVersum event to the
// mapping table of catalog.md, independently of the golden files.
func TestDversumCatalogue(t *testing.T) {
	t.Parallel()
	set := builtin(t)
	want := map[string][2]string{ // native -> {event_type, base_event_type}
		"invoice.created":        {"accounting.invoice.created", ""},
		"invoice.updated":        {"accounting.invoice.updated", ""},
		"invoice.deleted":        {"accounting.invoice.deleted", ""},
		"invoice.sent":           {"accounting.invoice.sent", "accounting.invoice.updated"},
		"invoice.paid":           {"accounting.invoice.paid", "accounting.invoice.updated"},
		"invoice.partially_paid": {"accounting.invoice.partially_paid", "accounting.invoice.updated"},
		"invoice.overdue":        {"accounting.invoice.overdue", "accounting.invoice.updated"},
		"reminder.sent":          {"accounting.invoice.reminder_sent", "accounting.invoice.updated"},
		"quote.created":          {"accounting.quote.created", ""},
		"quote.updated":          {"accounting.quote.updated", ""},
		"quote.deleted":          {"accounting.quote.deleted", ""},
		"quote.sent":             {"accounting.quote.sent", "accounting.quote.updated"},
		"quote.rejected":         {"accounting.quote.rejected", "accounting.quote.updated"},
		"quote.expired":          {"accounting.quote.expired", "accounting.quote.updated"},
		"quote.converted":        {"accounting.quote.converted", "accounting.quote.updated"},
		"quote.signed":           {"accounting.quote.accepted", "accounting.quote.updated"},
		"quote.accepted":         {"accounting.quote.accepted", "accounting.quote.updated"},
		"client.created":         {"accounting.customer.created", ""},
		"client.updated":         {"accounting.customer.updated", ""},
		"client.deleted":         {"accounting.customer.deleted", ""},
		"project.created":        {"issue-tracking.collection.created", ""},
		"project.updated":        {"issue-tracking.collection.updated", ""},
		"project.deleted":        {"issue-tracking.collection.deleted", ""},
		"project.archived":       {"issue-tracking.collection.archived", "issue-tracking.collection.updated"},
		"task.created":           {"issue-tracking.ticket.created", ""},
		"task.updated":           {"issue-tracking.ticket.updated", ""},
		"task.deleted":           {"issue-tracking.ticket.deleted", ""},
		"task.completed":         {"issue-tracking.ticket.completed", "issue-tracking.ticket.updated"},
		"task.assigned":          {"issue-tracking.ticket.assigned", "issue-tracking.ticket.updated"},
		"task.moved":             {"issue-tracking.ticket.moved", "issue-tracking.ticket.updated"},
		"subtask.created":        {"issue-tracking.ticket.created", ""},
		"subtask.deleted":        {"issue-tracking.ticket.deleted", ""},
		"subtask.completed":      {"issue-tracking.ticket.completed", "issue-tracking.ticket.updated"},
		"comment.created":        {"issue-tracking.comment.created", ""},
		"time_entry.created":     {"time-registration.time_entry.created", ""},
		"time_entry.updated":     {"time-registration.time_entry.updated", ""},
		"time_entry.deleted":     {"time-registration.time_entry.deleted", ""},
		"time_entry.started":     {"time-registration.time_entry.started", "time-registration.time_entry.updated"},
		"time_entry.stopped":     {"time-registration.time_entry.stopped", "time-registration.time_entry.updated"},
		"absence.created":        {"hris.time-off-request.created", ""},
		"absence.updated":        {"hris.time-off-request.updated", ""},
		"absence.deleted":        {"hris.time-off-request.deleted", ""},
		"page.created":           {"dversum.page.created", ""},
		"page.updated":           {"dversum.page.updated", ""},
		"page.deleted":           {"dversum.page.deleted", ""},
	}
	require.Len(t, want, len(dversumEvents)+len(dversumAliases))
	for native, w := range want {
		res, err := set.Apply("dversum", mapping.Input{
			NativeType: native,
			Body:       []byte(`{"data":{"id":"x_1","invoice_id":"inv_1"}}`),
			OccurredAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		})
		require.NoError(t, err, native)
		require.Equal(t, w[0], res.EventType, native)
		require.Equal(t, w[1], res.BaseEventType, native)
		require.Equal(t, event.UnifiedAPIOf(w[0]), res.UnifiedAPI, native)
		require.Equal(t, !strings.HasPrefix(w[0], "dversum."), res.Mapped, native)
	}
}
