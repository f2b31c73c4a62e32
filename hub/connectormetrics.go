package hub

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// connectorCollector exports the plugin manager's view of each connector at
// scrape time, so restarts and outages show on dashboards without the
// manager knowing about Prometheus.
type connectorCollector struct {
	manager *host.Manager
}

var (
	connectorUpDesc = prometheus.NewDesc("switchboard_connector_up",
		"1 while the connector's plugin process runs and answers, else 0.", []string{"connector", "state"}, nil)
	connectorRestartsDesc = prometheus.NewDesc("switchboard_connector_restarts_total",
		"Times the connector's plugin process was relaunched since the hub started.", []string{"connector"}, nil)
)

func (c connectorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectorUpDesc
	ch <- connectorRestartsDesc
}

func (c connectorCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.manager.Status() {
		up := 0.0
		if st.State == host.StateRunning {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(connectorUpDesc, prometheus.GaugeValue, up, st.ID, string(st.State))
		ch <- prometheus.MustNewConstMetric(connectorRestartsDesc, prometheus.CounterValue, float64(st.Restarts), st.ID)
	}
}

// dispatchGauge exports how many events the dispatcher holds: first tries
// running in process, which the queue's backlog metrics do not see.
func dispatchGauge(d *delivery.Dispatcher) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_dispatch_in_flight",
		Help: "Events whose first delivery try runs in process, outside the job queue.",
	}, func() float64 { return float64(d.InFlight()) })
}
