package hub

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/metric"
)

// TestGrafanaDashboardUsesExportedMetrics keeps docs/grafana.json true: every
// switchboard_* metric a panel queries is one the hub describes.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docs/grafana.json")
	require.NoError(t, err)

	described := map[string]bool{}
	fqName := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	collect := func(c prometheus.Collector) {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			described[fqName.FindStringSubmatch(d.String())[1]] = true
		}
	}
	m := reflect.ValueOf(metric.New()).Elem()
	for i := range m.NumField() {
		if c, ok := m.Field(i).Interface().(prometheus.Collector); ok {
			collect(c)
		}
	}
	collect(connectorCollector{})
	collect(dispatchGauge(nil))
	require.True(t, described["switchboard_deliveries_total"], "collectors were read")

	used := regexp.MustCompile(`switchboard_[a-z_]+`).FindAllString(string(raw), -1)
	require.NotEmpty(t, used)
	for _, name := range used {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		require.True(t, described[base], "docs/grafana.json queries %s, which the hub does not export", name)
	}
}
