package mapping

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Error is one problem found in a mapping file. It names the file, the JSON
// pointer of the offending value and the reason, so a maintainer can jump
// straight to the line that needs fixing:
//
//	dversum.json: /events/invoice.paid/entity: entity "invoce" is not defined
//
// Several problems of one load are joined with errors.Join; use
// errors.As or [Errors] to get them back one by one.
type Error struct {
	File    string // file name inside the mappings directory, e.g. dversum.json
	Pointer string // RFC 6901 JSON pointer into the file; "" for the whole file
	Reason  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Pointer != "" {
		b.WriteString(e.Pointer)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Errors flattens an error returned by this package into its *Error parts,
// for callers (the lint command, the API) that list problems one per line.
// Errors that are not *Error (I/O failures) are wrapped with an empty pointer.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var me *Error
		if errors.As(err, &me) {
			out = append(out, me)
			return
		}
		out = append(out, &Error{Reason: err.Error()})
	}
	walk(err)
	return out
}

// problems collects the errors of one file while it is compiled.
type problems struct {
	file string
	list []error
	seen map[Error]bool
}

// add records a problem once: a part shared by several events (an entity, a
// branch default) is checked for each of them but reported a single time.
func (p *problems) add(ptr pointer, format string, args ...any) {
	e := &Error{File: p.file, Pointer: ptr.String(), Reason: fmt.Sprintf(format, args...)}
	if p.seen[*e] {
		return
	}
	if p.seen == nil {
		p.seen = map[Error]bool{}
	}
	p.seen[*e] = true
	p.list = append(p.list, e)
}

func (p *problems) err() error { return errors.Join(p.list...) }

// pointer is a JSON pointer under construction, kept as unescaped tokens.
type pointer []string

func (p pointer) add(tokens ...string) pointer {
	out := make(pointer, 0, len(p)+len(tokens))
	return append(append(out, p...), tokens...)
}

func (p pointer) index(i int) pointer { return p.add(fmt.Sprint(i)) }

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// String renders the pointer as RFC 6901 text ("~" -> "~0", "/" -> "~1").
func (p pointer) String() string {
	if len(p) == 0 {
		return ""
	}
	var b strings.Builder
	for _, t := range p {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return b.String()
}

var printer = message.NewPrinter(language.English)
