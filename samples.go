// Package switchboard holds what the module ships besides its packages: the
// sample provider webhooks under testdata/, which are also the inputs of the
// mapping golden tests. `switchboard send-test-event` sends them, so a new
// user can watch provider -> hub -> subscriber without a provider account.
package switchboard

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed testdata/*/*.input.json testdata/*/*.meta.json
var samples embed.FS

// SampleMeta is what a sample says about its request beyond the body (from
// <event>.meta.json, when there is one): Deskera's ?e= event type, say.
type SampleMeta struct {
	Query   map[string][]string `json:"query"`
	Headers map[string]string   `json:"headers"`
}

// Meta returns the request details of a sample; the zero SampleMeta when it
// has none.
func Meta(serviceID, nativeEvent string) (SampleMeta, error) {
	var m SampleMeta
	b, err := samples.ReadFile(path.Join("testdata", serviceID, nativeEvent+".meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("reading %s/%s.meta.json: %w", serviceID, nativeEvent, err)
	}
	return m, nil
}

// Sample returns the sample webhook body of a provider's native event
// (dversum, invoice.paid): testdata/<service>/<event>.input.json. A variant
// of an event is named <event>@<variant> (CREATE_CONTACT@supplier).
func Sample(serviceID, nativeEvent string) ([]byte, error) {
	b, err := samples.ReadFile(path.Join("testdata", serviceID, nativeEvent+".input.json"))
	if err != nil {
		known, _ := SampleEvents(serviceID)
		if len(known) == 0 {
			return nil, fmt.Errorf("no sample webhooks for service %q", serviceID)
		}
		return nil, fmt.Errorf("no sample for %s event %q; samples exist for: %s", serviceID, nativeEvent, strings.Join(known, ", "))
	}
	return b, nil
}

// SampleEvents lists the native events a service has samples for.
func SampleEvents(serviceID string) ([]string, error) {
	entries, err := fs.ReadDir(samples, path.Join("testdata", serviceID))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".input.json"); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}
