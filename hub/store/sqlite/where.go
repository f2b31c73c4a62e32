package sqlite

import "github.com/switchboardhq/switchboard/hub/store"

// newWhere starts a WHERE clause with SQLite's ? placeholders.
func newWhere() *store.Where { return store.NewWhere(func(int) string { return "?" }) }

// byID is the WHERE clause of a single-row read or change: the row id and
// the caller's scope on column.
func byID(id, column string, sc store.Scope) *store.Where {
	w := newWhere()
	w.Add("id", "=", id)
	w.Scope(column, sc)
	return w
}
