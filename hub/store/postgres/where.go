package postgres

import (
	"strconv"

	"github.com/switchboardhq/switchboard/hub/store"
)

// newWhere starts a WHERE clause with PostgreSQL's $n placeholders.
func newWhere() *store.Where { return newWhereAfter(0) }

// newWhereAfter starts a clause whose parameters follow the first k of a
// statement written by hand.
func newWhereAfter(k int) *store.Where {
	return store.NewWhere(func(n int) string { return "$" + strconv.Itoa(k+n) })
}

// byID is the WHERE clause of a single-row read or change: the row id and
// the caller's scope on column.
func byID(id, column string, sc store.Scope) *store.Where {
	w := newWhere()
	w.Add("id", "=", id)
	w.Scope(column, sc)
	return w
}
