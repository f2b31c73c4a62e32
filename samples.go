// Package switchboard holds what the module ships besides its packages: the
// sample provider webhooks under testdata/, which are also the inputs of the
// mapping golden tests. `switchboard send-test-event` sends them, so a new
// user can watch provider -> hub -> subscriber without a provider account.
package switchboard

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed testdata/*/*.input.json
var samples embed.FS

// Sample returns the sample webhook body of a provider's native event
// (dversum, invoice.paid): testdata/<service>/<event>.input.json.
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
