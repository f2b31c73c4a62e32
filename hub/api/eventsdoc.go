package api

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
)

// EventsMarkdown renders docs/events.md from the embedded catalogue and the
// mappings' coverage: the same data as GET /webhook/event-types and
// /asyncapi.json, so the page cannot drift from what the hub enforces (a
// test compares the committed file with this output).
func EventsMarkdown(set *mapping.Set) []byte {
	cat := event.Default()
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	types := cat.Types()
	apideck := 0
	for _, t := range types {
		if t.Apideck {
			apideck++
		}
	}
	w("# Event catalogue\n\n")
	w("<!-- Generated from hub/event/catalog by `go test ./hub/api -run TestEventsDocIsCurrent -update-docs`; do not edit. -->\n\n")
	w("Every event type the hub knows, with its entity schema (`hub/event/catalog/schemas/`), the connectors that emit it and the share of the entity's fields each one fills. ")
	w("The same data is served at `GET /webhook/event-types` and `GET /asyncapi.json`. ")
	w("Publish, subscribe and mapping load refuse any other name (except `<service_id>.<native>` pass-throughs, application types registered with `POST /webhook/event-types`, and `*` in subscriptions), naming the closest known ones.\n\n")
	w("%d event types (%d with Apideck's name verbatim), %d entity types, %d entity fields.\n\n", len(types), apideck, len(cat.EntityTypes()), fieldCount(cat))

	w("## Unified APIs\n\n| unified API | event types | description |\n|---|---|---|\n")
	for _, a := range cat.UnifiedAPIs() {
		n := 0
		for _, t := range types {
			if t.UnifiedAPI == a.Name {
				n++
			}
		}
		w("| `%s` | %d | %s |\n", a.Name, n, a.Description)
	}

	w("\n## Event types\n\n| event type | entity | base type | Apideck name | connectors (fields filled) | description |\n|---|---|---|---|---|---|\n")
	for _, t := range types {
		sch, _ := cat.Schema(t.EntityType)
		var conns []string
		if set != nil {
			for _, c := range set.EventTypeCoverage(t.Name, sch) {
				filled := 0
				for _, ok := range c.Coverage {
					if ok {
						filled++
					}
				}
				conns = append(conns, fmt.Sprintf("%s (%d/%d)", c.ServiceID, filled, len(c.Coverage)))
			}
		}
		base := ""
		if t.BaseEventType != "" {
			base = "`" + t.BaseEventType + "`"
		}
		yes := ""
		if t.Apideck {
			yes = "yes"
		}
		w("| `%s` | [%s](#entity-%s) | %s | %s | %s | %s |\n", t.Name, t.EntityType, t.EntityType, base, yes, strings.Join(conns, ", "), t.Description)
	}

	w("\n## Coverage per connector\n\nFields of each entity a connector's mapping fills, over every event type it emits for that entity.\n\n| connector | entity | fields filled |\n|---|---|---|\n")
	if set != nil {
		for _, cov := range set.Coverage() {
			seen := map[string]bool{}
			for _, e := range cov.Entities {
				if seen[e.EntityType] {
					continue
				}
				seen[e.EntityType] = true
				sch, ok := cat.Schema(e.EntityType)
				if !ok {
					continue
				}
				filled := map[string]bool{}
				for _, t := range types {
					if t.EntityType != e.EntityType {
						continue
					}
					for _, c := range set.EventTypeCoverage(t.Name, sch) {
						if c.ServiceID != cov.ServiceID {
							continue
						}
						for f, ok := range c.Coverage {
							filled[f] = filled[f] || ok
						}
					}
				}
				n := 0
				for _, ok := range filled {
					if ok {
						n++
					}
				}
				w("| %s | %s | %d/%d |\n", cov.ServiceID, e.EntityType, n, len(sch.Leaves()))
			}
		}
	}

	w("\n## Entities\n\nFields as a mapping targets them (`[]` = every element of an array). Types are JSON types; every field may be null.\n")
	for _, et := range cat.EntityTypes() {
		sch, _ := cat.Schema(et)
		w("\n### <a id=\"entity-%s\"></a>%s\n\n", et, et)
		if sch.Root.Description != "" {
			w("%s\n\n", sch.Root.Description)
		}
		w("| field | type |\n|---|---|\n")
		for _, leaf := range sch.Leaves() {
			n, _, _ := sch.Field(strings.Split(strings.ReplaceAll(leaf, "[]", ".[]"), "."))
			typ := "any"
			if n != nil {
				typ = leafType(n)
			}
			w("| `%s` | %s |\n", leaf, typ)
		}
	}
	return b.Bytes()
}

func leafType(n *event.Node) string {
	var ts []string
	for _, t := range n.Types {
		if t != "null" {
			ts = append(ts, t)
		}
	}
	sort.Strings(ts)
	s := strings.Join(ts, " or ")
	if s == "" {
		s = "any"
	}
	if n.Format != "" {
		s += " (" + n.Format + ")"
	}
	return s
}

func fieldCount(cat *event.Catalog) int {
	n := 0
	for _, et := range cat.EntityTypes() {
		s, _ := cat.Schema(et)
		n += len(s.Leaves())
	}
	return n
}
