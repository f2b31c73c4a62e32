package event

import (
	"fmt"
	"slices"
	"strings"
)

// Vocabulary decides which event names an entry point accepts: the
// catalogue, the event types applications registered, and the
// <service_id>.<native> pass-throughs of the services the hub has mappings
// for. Publish, subscribe, replay and mapping lint all ask it, so a typo is
// refused everywhere with the same suggestions.
type Vocabulary struct {
	Catalog *Catalog
	// Registered are application-registered types by name.
	Registered map[string]*Type
	// Services are the service ids whose pass-through events exist.
	Services []string
}

// DefaultVocabulary is the embedded catalogue alone.
func DefaultVocabulary() Vocabulary { return Vocabulary{Catalog: Default()} }

// UnknownNameError is an event type or unified API nobody defines, with the
// closest known names.
type UnknownNameError struct {
	What        string // "event type" or "unified API"
	Name        string
	Suggestions []string
}

func (e *UnknownNameError) Error() string {
	msg := fmt.Sprintf("unknown %s %q", e.What, e.Name)
	if len(e.Suggestions) > 0 {
		msg += " (did you mean " + strings.Join(e.Suggestions, ", ") + "?)"
	}
	return msg
}

// Lookup returns the catalogue or registered type of name.
func (v Vocabulary) Lookup(name string) (*Type, bool) {
	if v.Catalog != nil {
		if t, ok := v.Catalog.Lookup(name); ok {
			return t, true
		}
	}
	t, ok := v.Registered[name]
	return t, ok
}

// IsPassThrough reports whether name is <service_id>.<native> of a known
// service.
func (v Vocabulary) IsPassThrough(name string) bool {
	return ValidType(name) && slices.Contains(v.Services, UnifiedAPIOf(name))
}

// CheckType accepts a known event type or pass-through (and "*" when
// wildcard is allowed); anything else is an *UnknownNameError.
func (v Vocabulary) CheckType(name string, wildcard bool) error {
	if wildcard && name == Wildcard {
		return nil
	}
	if _, ok := v.Lookup(name); ok {
		return nil
	}
	if v.IsPassThrough(name) {
		return nil
	}
	return &UnknownNameError{What: "event type", Name: name, Suggestions: Suggest(name, v.names(), 3)}
}

// CheckUnifiedAPI accepts "*", a catalogue unified API, one of a
// registered type, or a service id (whose pass-throughs a subscription may
// name).
func (v Vocabulary) CheckUnifiedAPI(name string) error {
	if name == Wildcard || slices.Contains(v.apis(), name) {
		return nil
	}
	return &UnknownNameError{What: "unified API", Name: name, Suggestions: Suggest(name, v.apis(), 3)}
}

func (v Vocabulary) names() []string {
	var out []string
	if v.Catalog != nil {
		out = v.Catalog.Names()
	}
	for n := range v.Registered {
		out = append(out, n)
	}
	return out
}

func (v Vocabulary) apis() []string {
	var out []string
	if v.Catalog != nil {
		for _, a := range v.Catalog.UnifiedAPIs() {
			out = append(out, a.Name)
		}
	}
	for _, t := range v.Registered {
		out = append(out, t.UnifiedAPI)
	}
	out = append(out, v.Services...)
	slices.Sort(out)
	return slices.Compact(out)
}
