// Package metric holds the hub's Prometheus collectors. One Metrics value is
// built per hub and handed to the packages that count things, so tests can
// build their own registry and read the counters back.
package metric

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the hub's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	// EventsPublished counts stored events by source (api, native, virtual)
	// and whether they were duplicates of an earlier one.
	EventsPublished *prometheus.CounterVec
	// DeliveryAttempts counts HTTP tries by outcome: success, failure (non-2xx
	// answer), error (no answer: refused, timeout, blocked destination).
	DeliveryAttempts *prometheus.CounterVec
	// AttemptDuration is the latency of one HTTP try.
	AttemptDuration prometheus.Histogram
	// Deliveries counts deliveries reaching a final or retry state:
	// delivered, retrying, failed.
	Deliveries *prometheus.CounterVec
	// SubscriptionsDisabled counts automatic disables by reason (gone, retry_limit).
	SubscriptionsDisabled *prometheus.CounterVec
	// HTTPRequests counts API requests by route and status code.
	HTTPRequests *prometheus.CounterVec
	// InboundRequests counts provider webhooks by service and result
	// (accepted, bad_signature, malformed, unknown_token, connector_unavailable, ...).
	InboundRequests *prometheus.CounterVec
	// QueuePending and QueueOldestSeconds describe the job backlog.
	QueuePending       prometheus.Gauge
	QueueOldestSeconds prometheus.Gauge
	// RetentionPurged counts rows the retention purge deleted, by table
	// (events, deliveries, attempts).
	RetentionPurged *prometheus.CounterVec

	// Polls counts polls of providers (virtual webhooks) by service and
	// result (ok, rate_limited, error, busy, lease_lost).
	Polls *prometheus.CounterVec
	// PollEvents counts the events polls found, by service and whether
	// they were new or duplicates (already pushed or polled).
	PollEvents *prometheus.CounterVec
	// PollLag is the age of a connection's cursor when a poll stored it
	// advanced: how late a change polled now can be at most.
	PollLag *prometheus.HistogramVec
}

// New builds the collectors on a fresh registry (with Go and process
// collectors) so two hubs in one test process never share counters.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		EventsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_events_published_total",
			Help: "Unified events accepted, by source and duplicate flag.",
		}, []string{"source", "duplicate"}),
		DeliveryAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_delivery_attempts_total",
			Help: "HTTP delivery tries by outcome (success, failure, error).",
		}, []string{"outcome"}),
		AttemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_delivery_attempt_duration_seconds",
			Help:    "Latency of one HTTP delivery try.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_deliveries_total",
			Help: "Deliveries by the state a try left them in (delivered, retrying, failed).",
		}, []string{"state"}),
		SubscriptionsDisabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_subscriptions_disabled_total",
			Help: "Subscriptions disabled automatically, by reason.",
		}, []string{"reason"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_http_requests_total",
			Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		InboundRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_inbound_requests_total",
			Help: "Provider webhooks received, by service and result.",
		}, []string{"service", "result"}),
		QueuePending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_queue_pending_jobs",
			Help: "Jobs available, scheduled or waiting to retry.",
		}),
		QueueOldestSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_queue_oldest_pending_seconds",
			Help: "Age of the oldest job that is due and not yet running.",
		}),
		Polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_polls_total",
			Help: "Polls of providers (virtual webhooks), by service and result.",
		}, []string{"service", "result"}),
		PollEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_poll_events_total",
			Help: "Events found by polls, by service and duplicate flag.",
		}, []string{"service", "duplicate"}),
		PollLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_poll_lag_seconds",
			Help:    "Time since a connection's previous successful poll, observed at each successful poll (the longest a change waited).",
			Buckets: []float64{.1, .5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"service"}),
		RetentionPurged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_retention_purged_rows_total",
			Help: "Rows deleted by the retention purge, by table (events, deliveries, attempts).",
		}, []string{"table"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.EventsPublished, m.DeliveryAttempts, m.AttemptDuration, m.Deliveries,
		m.SubscriptionsDisabled, m.HTTPRequests, m.InboundRequests, m.QueuePending, m.QueueOldestSeconds,
		m.RetentionPurged, m.Polls, m.PollEvents, m.PollLag,
	)
	return m
}
