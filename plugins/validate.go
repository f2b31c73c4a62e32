package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidID reports whether id can name a connector: lower-case letters,
// digits, '-' and '_', as it appears in inbound URLs, mapping file names and
// external plugin file names.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Validate checks a Description the hub is about to trust: a connector with
// a broken self-description is not loaded rather than half-working.
func (d *Description) Validate() error {
	var errs []error
	if !ValidID(d.ID) {
		errs = append(errs, fmt.Errorf("id %q must match %s", d.ID, idPattern))
	}
	if d.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	switch d.Webhook.Mode {
	case ModeNative, ModeNone:
	case ModeVirtual:
		if !d.Poll {
			errs = append(errs, errors.New(`webhook_support.mode "virtual" needs a connector that implements Poll`))
		}
	default:
		errs = append(errs, fmt.Errorf(`webhook_support.mode %q must be "native", "virtual" or "none"`, d.Webhook.Mode))
	}
	if v := d.Webhook.VirtualWebhooks; v != nil {
		if !d.Poll {
			errs = append(errs, errors.New("webhook_support.virtual_webhooks needs a connector that implements Poll"))
		}
		if v.RequestRate.Rate < 0 || v.RequestRate.Size < 0 {
			errs = append(errs, errors.New("webhook_support.virtual_webhooks.request_rate: rate and size must not be negative"))
		}
		switch v.RequestRate.Unit {
		case "second", "minute", "hour", "day", "":
		default:
			errs = append(errs, fmt.Errorf(`webhook_support.virtual_webhooks.request_rate.unit %q must be "second", "minute", "hour" or "day"`, v.RequestRate.Unit))
		}
	}
	if d.PollIntervalMin < 0 || d.PollIntervalDefault < 0 || (d.PollIntervalDefault > 0 && d.PollIntervalDefault < d.PollIntervalMin) {
		errs = append(errs, errors.New("poll intervals must not be negative, and the default not below the minimum"))
	}
	switch d.Webhook.ManagedVia {
	case ManagedManual, ManagedAPI:
	default:
		errs = append(errs, fmt.Errorf(`webhook_support.managed_via %q must be "manual" or "api"`, d.Webhook.ManagedVia))
	}
	seen := make(map[string]bool, len(d.SupportedEvents))
	for i, e := range d.SupportedEvents {
		if e.EventType == "" || e.DownstreamEventType == "" {
			errs = append(errs, fmt.Errorf("supported_events[%d]: event_type and downstream_event_type are required", i))
		}
		if seen[e.DownstreamEventType] {
			errs = append(errs, fmt.Errorf("supported_events[%d]: downstream_event_type %q is listed twice", i, e.DownstreamEventType))
		}
		seen[e.DownstreamEventType] = true
	}
	for name, schema := range map[string]json.RawMessage{"settings_schema": d.SettingsSchema, "credentials_schema": d.CredentialsSchema} {
		if len(schema) == 0 {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(schema, &v); err != nil || !bytes.HasPrefix(bytes.TrimSpace(schema), []byte("{")) {
			errs = append(errs, fmt.Errorf("%s is not a JSON object", name))
		}
	}
	return errors.Join(errs...)
}
