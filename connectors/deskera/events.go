package deskera

import "github.com/switchboardhq/switchboard/plugins"

// Events pairs every webhook event type Deskera documents (seed 001, in its
// order) with its unified event type per catalog.md. The list is what the
// hub's catalogue shows and what a connection registers by default; the
// mapping file (mappings/deskera.json) is what actually maps, and a test
// keeps the two in step.
//
// CREATE_CONTACT is the one event with two unified names: a Books contact
// that is a vendor becomes accounting.supplier.created, any other contact
// accounting.customer.created (the mapping branches on data.contactType).
// A supported event names one unified type, so the list shows the customer
// case; SupplierContactEvent is the other.
var Events = []plugins.SupportedEvent{
	{DownstreamEventType: "CREATE_PRODUCTS", EventType: "accounting.invoice_item.created"},
	{DownstreamEventType: "CREATE_CONTACT", EventType: "accounting.customer.created"},
	{DownstreamEventType: "CREATE_BILL", EventType: "accounting.bill.created"},
	{DownstreamEventType: "UPDATE_BILL", EventType: "accounting.bill.updated"},
	{DownstreamEventType: "DELETE_BILL", EventType: "accounting.bill.deleted"},
	{DownstreamEventType: "CREATE_INVOICE", EventType: "accounting.invoice.created"},
	{DownstreamEventType: "UPDATE_INVOICE", EventType: "accounting.invoice.updated"},
	{DownstreamEventType: "DELETE_INVOICE", EventType: "accounting.invoice.deleted"},
	{DownstreamEventType: "CREATE_DEBITNOTE", EventType: "accounting.credit_note.created"},
	{DownstreamEventType: "UPDATE_DEBITNOTE", EventType: "accounting.credit_note.updated"},
	{DownstreamEventType: "DELETE_DEBITNOTE", EventType: "accounting.credit_note.deleted"},
	{DownstreamEventType: "CREATE_CREDITNOTE", EventType: "accounting.credit_note.created"},
	{DownstreamEventType: "UPDATE_CREDITNOTE", EventType: "accounting.credit_note.updated"},
	{DownstreamEventType: "DELETE_CREDITNOTE", EventType: "accounting.credit_note.deleted"},
	{DownstreamEventType: "CREATE_CRM_CONTACT", EventType: "crm.contact.created"},
	{DownstreamEventType: "UPDATE_CRM_CONTACT", EventType: "crm.contact.updated"},
	{DownstreamEventType: "DELETE_CRM_CONTACT", EventType: "crm.contact.deleted"},
	{DownstreamEventType: "CREATE_CRM_DEAL", EventType: "crm.opportunity.created"},
	{DownstreamEventType: "UPDATE_CRM_DEAL", EventType: "crm.opportunity.updated"},
	{DownstreamEventType: "DELETE_CRM_DEAL", EventType: "crm.opportunity.deleted"},
	{DownstreamEventType: "STOCK_IN", EventType: "accounting.invoice_item.stock_in"},
	{DownstreamEventType: "STOCK_OUT", EventType: "accounting.invoice_item.stock_out"},
}

// SupplierContactEvent is what CREATE_CONTACT becomes for a vendor contact
// (see Events).
const SupplierContactEvent = "accounting.supplier.created"

// EventTypes returns the native event types of Events, in Deskera's order:
// the default of the event_types setting.
func EventTypes() []string {
	out := make([]string, len(Events))
	for i, e := range Events {
		out[i] = e.DownstreamEventType
	}
	return out
}

// knownEvent reports whether Deskera documents the native event type.
func knownEvent(t string) bool {
	for _, e := range Events {
		if e.DownstreamEventType == t {
			return true
		}
	}
	return false
}
