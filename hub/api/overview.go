package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/store"
)

// overviewWindow is the span of the operator's overview: per-minute
// traffic of the last hour.
const overviewWindow = 60

// maxDisabledListed bounds the disabled subscriptions the overview names;
// the count covers all of them.
const maxDisabledListed = 50

type overviewView struct {
	GeneratedAt   time.Time             `json:"generated_at"`
	WindowMinutes int                   `json:"window_minutes"`
	Minutes       []minuteView          `json:"minutes"`
	Totals        totalsView            `json:"totals"`
	Queue         queueView             `json:"queue"`
	Connectors    []ConnectorHealth     `json:"connectors"`
	Subscriptions subscriptionsOverview `json:"subscriptions"`
}

type minuteView struct {
	Minute     time.Time `json:"minute"`
	Events     int       `json:"events"`
	Deliveries int       `json:"deliveries"`
	Failures   int       `json:"failures"`
}

type totalsView struct {
	Events      int     `json:"events"`
	Deliveries  int     `json:"deliveries"`
	Failures    int     `json:"failures"`
	FailureRate float64 `json:"failure_rate"` // failures / deliveries over the window; 0 without tries
}

type queueView struct {
	Pending              int     `json:"pending"`
	OldestPendingSeconds float64 `json:"oldest_pending_seconds"`
}

type subscriptionsOverview struct {
	Total        int            `json:"total"`
	Disabled     int            `json:"disabled"`
	DisabledList []disabledView `json:"disabled_list"`
}

type disabledView struct {
	ID             string  `json:"id"`
	DeliveryURL    string  `json:"delivery_url"`
	ConsumerID     *string `json:"consumer_id"`
	DisabledReason string  `json:"disabled_reason"`
}

// overview is the operator's dashboard in one read: the last hour's
// traffic per minute (every minute, zeros included, oldest first), the
// queue's backlog, the connectors and the disabled subscriptions.
func (s *server) overview(c *gin.Context) {
	ctx := c.Request.Context()
	sc := ScopeOf(c)
	now := s.now().UTC()
	first := now.Truncate(time.Minute).Add(-(overviewWindow - 1) * time.Minute)
	mins, err := s.store.Activity(ctx, sc, first)
	if err != nil {
		WriteError(c, err)
		return
	}
	out := overviewView{GeneratedAt: now, WindowMinutes: overviewWindow, Minutes: make([]minuteView, overviewWindow),
		Connectors: []ConnectorHealth{}, Subscriptions: subscriptionsOverview{DisabledList: []disabledView{}}}
	for i := range out.Minutes {
		out.Minutes[i].Minute = first.Add(time.Duration(i) * time.Minute)
	}
	for _, m := range mins {
		i := int(m.Minute.Sub(first) / time.Minute)
		if i < 0 || i >= overviewWindow {
			continue // a clock step between the two reads
		}
		out.Minutes[i] = minuteView{Minute: m.Minute, Events: m.Events, Deliveries: m.Deliveries, Failures: m.Failures}
		out.Totals.Events += m.Events
		out.Totals.Deliveries += m.Deliveries
		out.Totals.Failures += m.Failures
	}
	if out.Totals.Deliveries > 0 {
		out.Totals.FailureRate = float64(out.Totals.Failures) / float64(out.Totals.Deliveries)
	}
	q, err := s.store.QueueStats(ctx)
	if err != nil {
		WriteError(c, err)
		return
	}
	out.Queue = queueView{Pending: q.Pending, OldestPendingSeconds: q.OldestPending.Seconds()}
	if s.connectors != nil {
		out.Connectors = append(out.Connectors, s.connectors()...)
	}
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		subs, err := s.store.ListSubscriptions(ctx, sc, p)
		if err != nil {
			WriteError(c, err)
			return
		}
		for _, sub := range subs {
			out.Subscriptions.Total++
			if sub.Status != store.StatusDisabled {
				continue
			}
			out.Subscriptions.Disabled++
			if len(out.Subscriptions.DisabledList) < maxDisabledListed {
				out.Subscriptions.DisabledList = append(out.Subscriptions.DisabledList, disabledView{
					ID: sub.ID, DeliveryURL: sub.DeliveryURL, ConsumerID: nullable(sub.ConsumerID), DisabledReason: string(sub.DisabledReason),
				})
			}
		}
		if len(subs) < p.Size() {
			break
		}
		p.After = subs[len(subs)-1].ID
	}
	Respond(c, http.StatusOK, out)
}
