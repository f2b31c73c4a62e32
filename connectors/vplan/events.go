package vplan

import "github.com/switchboardhq/switchboard/plugins"

// PayloadKind is one of the three payload shapes vPlan's documentation
// sorts its 36 webhook event types into (seed 004). The kind decides how the
// mapping reads an event: see the package documentation.
type PayloadKind string

const (
	// KindNormal: data is the object the event is about (card.created).
	KindNormal PayloadKind = "normal"
	// KindNested: data is the parent card or collection with the related
	// object (label, resource, follower) under its singular name.
	KindNested PayloadKind = "nested"
	// KindNestedPivot: as KindNested, and the related object (activity,
	// checklist, checklist item) carries its pivot values under "pivot".
	KindNestedPivot PayloadKind = "nested_pivot"
)

// EventType is one native vPlan webhook event type with its payload kind and
// the unified event type it becomes.
type EventType struct {
	// Native is vPlan's name (card.label.attached), as in a webhook's
	// event_types and in the body's "event".
	Native string
	// Kind is the payload shape vPlan documents the event under.
	Kind PayloadKind
	// Unified is the event type subscribers receive (catalog.md): normal
	// events their own, nested and pivot events <parent>.updated (rule 3),
	// checklists the pass-through vplan.<native> (rule 4).
	Unified string
}

// EventTypes is every webhook event type vPlan documents (seed 004, in its
// order: 16 normal, 8 nested, 12 nested with pivot). It is the enum of the
// settings' event_types, what Subscribe registers by default and what the
// catalogue shows; mappings/vplan.json is what actually maps, so keep the
// two in step (the tests compare them).
var EventTypes = []EventType{
	{"card.created", KindNormal, "issue-tracking.ticket.created"},
	{"card.updated", KindNormal, "issue-tracking.ticket.updated"},
	{"card.deleted", KindNormal, "issue-tracking.ticket.deleted"},
	{"card.updated.merged", KindNormal, "issue-tracking.ticket.merged"},
	{"collection.created", KindNormal, "issue-tracking.collection.created"},
	{"collection.updated", KindNormal, "issue-tracking.collection.updated"},
	{"collection.deleted", KindNormal, "issue-tracking.collection.deleted"},
	{"attachment.created", KindNormal, "file-storage.file.created"},
	{"attachment.updated", KindNormal, "file-storage.file.updated"},
	{"attachment.deleted", KindNormal, "file-storage.file.deleted"},
	{"comment.created", KindNormal, "issue-tracking.comment.created"},
	{"comment.updated", KindNormal, "issue-tracking.comment.updated"},
	{"comment.deleted", KindNormal, "issue-tracking.comment.deleted"},
	{"time_tracking.created", KindNormal, "time-registration.time_entry.created"},
	{"time_tracking.updated", KindNormal, "time-registration.time_entry.updated"},
	{"time_tracking.deleted", KindNormal, "time-registration.time_entry.deleted"},

	{"card.label.attached", KindNested, "issue-tracking.ticket.updated"},
	{"card.label.detached", KindNested, "issue-tracking.ticket.updated"},
	{"card.resource.attached", KindNested, "issue-tracking.ticket.updated"},
	{"card.resource.detached", KindNested, "issue-tracking.ticket.updated"},
	{"collection.label.attached", KindNested, "issue-tracking.collection.updated"},
	{"collection.label.detached", KindNested, "issue-tracking.collection.updated"},
	{"collection.follower.attached", KindNested, "issue-tracking.collection.updated"},
	{"collection.follower.detached", KindNested, "issue-tracking.collection.updated"},

	{"card.activity.attached", KindNestedPivot, "issue-tracking.ticket.updated"},
	{"card.activity.detached", KindNestedPivot, "issue-tracking.ticket.updated"},
	{"card.activity.updated", KindNestedPivot, "issue-tracking.ticket.updated"},
	{"collection.activity.attached", KindNestedPivot, "issue-tracking.collection.updated"},
	{"collection.activity.detached", KindNestedPivot, "issue-tracking.collection.updated"},
	{"collection.activity.updated", KindNestedPivot, "issue-tracking.collection.updated"},
	{"collection.checklist.created", KindNestedPivot, "vplan.collection.checklist.created"},
	{"collection.checklist.updated", KindNestedPivot, "vplan.collection.checklist.updated"},
	{"collection.checklist.deleted", KindNestedPivot, "vplan.collection.checklist.deleted"},
	{"collection.checklist.item.attached", KindNestedPivot, "vplan.collection.checklist.item.attached"},
	{"collection.checklist.item.detached", KindNestedPivot, "vplan.collection.checklist.item.detached"},
	{"collection.checklist.item.updated", KindNestedPivot, "vplan.collection.checklist.item.updated"},
}

// AllEventTypes returns the 36 native names in vPlan's order: the default
// event_types of a connection.
func AllEventTypes() []string {
	out := make([]string, len(EventTypes))
	for i, e := range EventTypes {
		out[i] = e.Native
	}
	return out
}

// knownEvent reports whether name is one of vPlan's documented event types.
func knownEvent(name string) bool {
	for _, e := range EventTypes {
		if e.Native == name {
			return true
		}
	}
	return false
}

// supportedEvents is EventTypes as the catalogue lists them.
func supportedEvents() []plugins.SupportedEvent {
	out := make([]plugins.SupportedEvent, len(EventTypes))
	for i, e := range EventTypes {
		out[i] = plugins.SupportedEvent{DownstreamEventType: e.Native, EventType: e.Unified}
	}
	return out
}
