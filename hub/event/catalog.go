package event

import "strings"

// extensionBase lists the catalogue's extension events with their base type,
// so an event published as accounting.invoice.paid carries
// base_event_type accounting.invoice.updated without the publisher saying so.
var extensionBase = map[string]string{}

func init() {
	for entity, actions := range map[string][]string{
		"accounting.invoice":           {"sent", "paid", "partially_paid", "overdue", "reminder_sent"},
		"accounting.quote":             {"sent", "rejected", "expired", "converted", "accepted"},
		"accounting.invoice_item":      {"stock_in", "stock_out"},
		"issue-tracking.ticket":        {"completed", "assigned", "moved", "merged"},
		"issue-tracking.collection":    {"archived"},
		"time-registration.time_entry": {"started", "stopped"},
	} {
		for _, a := range actions {
			extensionBase[entity+"."+a] = entity + ".updated"
		}
	}
}

// BaseOf returns the base event type of a catalogue extension event, or "".
func BaseOf(eventType string) string { return extensionBase[eventType] }

// EntityURL builds the link a consumer follows to the entity in the unified
// API: <public>/<unified_api>/<plural entity>/<id>.
func EntityURL(publicURL, unifiedAPI, entityType, entityID string) string {
	if entityType == "" || entityID == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/" + unifiedAPI + "/" + plural(entityType) + "/" + entityID
}

func plural(s string) string {
	switch {
	case strings.HasSuffix(s, "y") && !strings.HasSuffix(s, "ay") && !strings.HasSuffix(s, "ey"):
		return s[:len(s)-1] + "ies"
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "ch"):
		return s + "es"
	default:
		return s + "s"
	}
}
