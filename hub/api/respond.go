package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// envelope is the Apideck success shape. Meta and Links are set on lists only.
type envelope struct {
	StatusCode int    `json:"status_code"`
	Status     string `json:"status"`
	Data       any    `json:"data"`
	Meta       *meta  `json:"meta,omitempty"`
	Links      *links `json:"links,omitempty"`
}

type meta struct {
	ItemsOnPage int     `json:"items_on_page"`
	Cursors     cursors `json:"cursors"`
}

type cursors struct {
	Previous *string `json:"previous"`
	Current  *string `json:"current"`
	Next     *string `json:"next"`
}

type links struct {
	Previous *string `json:"previous"`
	Current  string  `json:"current"`
	Next     *string `json:"next"`
}

// Respond writes data in the success envelope with the status's reason text
// ("OK", "Created", "Accepted"). Exported for routes mounted through
// Config.Routes.
func Respond(c *gin.Context, status int, data any) {
	writeJSON(c, status, envelope{StatusCode: status, Status: http.StatusText(status), Data: data})
}

// writeJSON encodes without HTML escaping, so URLs with & stay readable.
func writeJSON(c *gin.Context, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own response types reach here; failing to encode them is a bug.
		_ = c.Error(err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"status_code":500,"error":"Internal Server Error","type_name":"ServerError","message":"internal server error","detail":null}` + "\n")
	}
	c.Data(status, "application/json; charset=utf-8", buf.Bytes())
}

// Pagination bounds, as Apideck documents them.
const (
	defaultLimit = 20
	maxLimit     = 200
)

// Cursor directions: "a" pages towards older items (after the id), "b"
// towards newer ones (before it).
const (
	dirAfter  = "a"
	dirBefore = "b"
)

// pageQuery is a parsed cursor + limit.
type pageQuery struct {
	kind   string // the list the cursor belongs to
	limit  int
	cursor string // as given, empty on the first page
	dir    string // "", dirAfter or dirBefore
	id     string
}

// parsePage reads cursor and limit. kind binds cursors to one list, so a logs
// cursor handed to the events list is refused instead of silently misread.
func parsePage(c *gin.Context, kind string) (pageQuery, error) {
	q := pageQuery{kind: kind, limit: defaultLimit}
	if raw, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return q, BadRequest("limit", "must be an integer between 1 and 200")
		}
		if n < 1 || n > maxLimit {
			return q, BadRequest("limit", "must be between 1 and 200")
		}
		q.limit = n
	}
	raw := c.Query("cursor")
	if raw == "" {
		return q, nil
	}
	dir, id, ok := decodeCursor(kind, raw)
	if !ok {
		return q, &Error{
			Status:   http.StatusBadRequest,
			TypeName: TypeInvalidCursor,
			Message:  "cursor is not valid for this list; use a cursor from meta.cursors of the same list",
			Detail:   FieldError{Field: "cursor", Reason: "not a cursor of this list"},
		}
	}
	q.cursor, q.dir, q.id = raw, dir, id
	return q, nil
}

func encodeCursor(kind, dir, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1|" + kind + "|" + dir + "|" + id))
}

func decodeCursor(kind, raw string) (dir, id string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "="))
	if err != nil {
		return "", "", false
	}
	parts := strings.Split(string(b), "|")
	if kind == consumersList && len(parts) > 4 {
		// A consumer id may itself hold "|".
		parts = append(parts[:3], strings.Join(parts[3:], "|"))
	}
	if len(parts) != 4 || parts[0] != "v1" || parts[1] != kind || (parts[2] != dirAfter && parts[2] != dirBefore) {
		return "", "", false
	}
	if kind == eventTypesList {
		// Event types page by name, not by id.
		return parts[2], parts[3], event.ValidType(parts[3])
	}
	if kind == consumersList {
		id := strings.Join(parts[3:], "|")
		return parts[2], id, validConsumerCursor(id)
	}
	if _, err := uuid.Parse(parts[3]); err != nil {
		return "", "", false
	}
	return parts[2], parts[3], true
}

// page is one page of a list with whether more lies either side.
type page[T any] struct {
	items            []T
	hasPrev, hasNext bool
}

// fetchPage reads one page through fetch (a store List call). It asks for
// one item more than the page holds to learn whether another page follows in
// the direction of travel; when that would pass the store's own cap it asks
// with a one-item probe instead.
func fetchPage[T any](q pageQuery, fetch func(store.Page) ([]T, error), idOf func(T) string) (page[T], error) {
	p := store.Page{Limit: q.limit + 1}
	if p.Limit > store.MaxPageLimit {
		p.Limit = q.limit
	}
	switch q.dir {
	case dirAfter:
		p.After = q.id
	case dirBefore:
		p.Before = q.id
	}
	items, err := fetch(p)
	if err != nil {
		return page[T]{}, err
	}
	more := len(items) > q.limit
	if !more && p.Limit == q.limit && len(items) == q.limit {
		probe := store.Page{Limit: 1, After: idOf(items[len(items)-1])}
		if q.dir == dirBefore {
			probe = store.Page{Limit: 1, Before: idOf(items[0])}
		}
		extra, err := fetch(probe)
		if err != nil {
			return page[T]{}, err
		}
		more = len(extra) > 0
	}
	var pg page[T]
	switch q.dir {
	case dirBefore:
		// Newest first: an extra item is the newest, at the front.
		if len(items) > q.limit {
			items = items[len(items)-q.limit:]
		}
		pg.hasPrev, pg.hasNext = more, true
	default:
		if len(items) > q.limit {
			items = items[:q.limit]
		}
		pg.hasPrev, pg.hasNext = q.dir == dirAfter, more
	}
	pg.items = items
	return pg, nil
}

// mapPage converts a page of store items to their views.
func mapPage[T, V any](pg page[T], view func(T) V) page[V] {
	out := page[V]{items: make([]V, len(pg.items)), hasPrev: pg.hasPrev, hasNext: pg.hasNext}
	for i, it := range pg.items {
		out.items[i] = view(it)
	}
	return out
}

// respondList writes one page in the list envelope with the cursors and
// links of its neighbours.
func respondList[T any](c *gin.Context, base string, q pageQuery, pg page[T], idOf func(T) string) {
	items := pg.items
	var m meta
	m.ItemsOnPage = len(items)
	var l links
	if q.cursor != "" {
		m.Cursors.Current = &q.cursor
	}
	l.Current = pageURL(c, base, q.cursor)
	if len(items) > 0 {
		if pg.hasPrev {
			cur := encodeCursor(q.kind, dirBefore, idOf(items[0]))
			m.Cursors.Previous = &cur
			u := pageURL(c, base, cur)
			l.Previous = &u
		}
		if pg.hasNext {
			cur := encodeCursor(q.kind, dirAfter, idOf(items[len(items)-1]))
			m.Cursors.Next = &cur
			u := pageURL(c, base, cur)
			l.Next = &u
		}
	}
	if items == nil {
		items = []T{}
	}
	writeJSON(c, http.StatusOK, envelope{
		StatusCode: http.StatusOK,
		Status:     http.StatusText(http.StatusOK),
		Data:       items,
		Meta:       &m,
		Links:      &l,
	})
}

// pageURL is the absolute URL of this list with the cursor replaced and every
// other query parameter (filters, limit) kept.
func pageURL(c *gin.Context, base, cursor string) string {
	q := c.Request.URL.Query()
	q.Del("cursor")
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	u := url.URL{Path: c.Request.URL.Path, RawQuery: q.Encode()}
	return baseURL(c, base) + u.String()
}

// baseURL is the configured public URL or, without one, the scheme and host
// the request came to.
func baseURL(c *gin.Context, public string) string {
	if public != "" {
		return strings.TrimRight(public, "/")
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// RespondPage serves one page of a cursor-paginated list for routes mounted
// through Config.Routes, so their lists page exactly like the hub's own:
// cursor + limit query parameters, meta.cursors and links. kind binds cursors
// to this one list. fetch reads a page from the store (newest first by
// UUIDv7 id) and returns the items as the client sees them; idOf names an
// item's id. A bad cursor or limit, or a fetch error, is written in the
// error envelope; wrap fetch errors with context inside fetch.
func RespondPage[T any](c *gin.Context, publicURL, kind string, fetch func(store.Page) ([]T, error), idOf func(T) string) {
	q, err := parsePage(c, kind)
	if err != nil {
		WriteError(c, err)
		return
	}
	pg, err := fetchPage(q, fetch, idOf)
	if err != nil {
		WriteError(c, err)
		return
	}
	respondList(c, publicURL, q, pg, idOf)
}
