package dversum

import "github.com/switchboardhq/switchboard/plugins"

// Events pairs every native event dVersum documents (seed 000, in its
// order) with its unified event type per catalog.md. Wiki pages have no
// unified model: they pass through as dversum.page.*. The list is what the
// hub's catalogue shows; the mapping file (mappings/dversum.json) is what
// actually maps, so keep the two in step.
var Events = []plugins.SupportedEvent{
	{DownstreamEventType: "invoice.created", EventType: "accounting.invoice.created"},
	{DownstreamEventType: "invoice.updated", EventType: "accounting.invoice.updated"},
	{DownstreamEventType: "invoice.sent", EventType: "accounting.invoice.sent"},
	{DownstreamEventType: "invoice.paid", EventType: "accounting.invoice.paid"},
	{DownstreamEventType: "invoice.partially_paid", EventType: "accounting.invoice.partially_paid"},
	{DownstreamEventType: "invoice.overdue", EventType: "accounting.invoice.overdue"},
	{DownstreamEventType: "invoice.deleted", EventType: "accounting.invoice.deleted"},
	{DownstreamEventType: "quote.created", EventType: "accounting.quote.created"},
	{DownstreamEventType: "quote.updated", EventType: "accounting.quote.updated"},
	{DownstreamEventType: "quote.sent", EventType: "accounting.quote.sent"},
	{DownstreamEventType: "quote.signed", EventType: "accounting.quote.accepted"},
	{DownstreamEventType: "quote.rejected", EventType: "accounting.quote.rejected"},
	{DownstreamEventType: "quote.expired", EventType: "accounting.quote.expired"},
	{DownstreamEventType: "quote.converted", EventType: "accounting.quote.converted"},
	{DownstreamEventType: "quote.deleted", EventType: "accounting.quote.deleted"},
	{DownstreamEventType: "client.created", EventType: "accounting.customer.created"},
	{DownstreamEventType: "client.updated", EventType: "accounting.customer.updated"},
	{DownstreamEventType: "client.deleted", EventType: "accounting.customer.deleted"},
	{DownstreamEventType: "reminder.sent", EventType: "accounting.invoice.reminder_sent"},
	{DownstreamEventType: "project.created", EventType: "issue-tracking.collection.created"},
	{DownstreamEventType: "project.updated", EventType: "issue-tracking.collection.updated"},
	{DownstreamEventType: "project.archived", EventType: "issue-tracking.collection.archived"},
	{DownstreamEventType: "project.deleted", EventType: "issue-tracking.collection.deleted"},
	{DownstreamEventType: "task.created", EventType: "issue-tracking.ticket.created"},
	{DownstreamEventType: "task.updated", EventType: "issue-tracking.ticket.updated"},
	{DownstreamEventType: "task.completed", EventType: "issue-tracking.ticket.completed"},
	{DownstreamEventType: "task.assigned", EventType: "issue-tracking.ticket.assigned"},
	{DownstreamEventType: "task.moved", EventType: "issue-tracking.ticket.moved"},
	{DownstreamEventType: "task.deleted", EventType: "issue-tracking.ticket.deleted"},
	{DownstreamEventType: "subtask.created", EventType: "issue-tracking.ticket.created"},
	{DownstreamEventType: "subtask.completed", EventType: "issue-tracking.ticket.completed"},
	{DownstreamEventType: "subtask.deleted", EventType: "issue-tracking.ticket.deleted"},
	{DownstreamEventType: "comment.created", EventType: "issue-tracking.comment.created"},
	{DownstreamEventType: "time_entry.created", EventType: "time-registration.time_entry.created"},
	{DownstreamEventType: "time_entry.started", EventType: "time-registration.time_entry.started"},
	{DownstreamEventType: "time_entry.stopped", EventType: "time-registration.time_entry.stopped"},
	{DownstreamEventType: "time_entry.updated", EventType: "time-registration.time_entry.updated"},
	{DownstreamEventType: "time_entry.deleted", EventType: "time-registration.time_entry.deleted"},
	{DownstreamEventType: "page.created", EventType: "dversum.page.created"},
	{DownstreamEventType: "page.updated", EventType: "dversum.page.updated"},
	{DownstreamEventType: "page.deleted", EventType: "dversum.page.deleted"},
	{DownstreamEventType: "absence.created", EventType: "hris.time-off-request.created"},
	{DownstreamEventType: "absence.updated", EventType: "hris.time-off-request.updated"},
	{DownstreamEventType: "absence.deleted", EventType: "hris.time-off-request.deleted"},
	// Older dVersum accounts send quote.accepted for what is now quote.signed.
	{DownstreamEventType: "quote.accepted", EventType: "accounting.quote.accepted"},
}
