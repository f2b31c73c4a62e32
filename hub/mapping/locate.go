package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Position is a 1-based line and column in a mapping file's text, where an
// editor puts its cursor for an Error.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// position locates the byte at index off.
func position(data []byte, off int64) Position {
	off = max(0, min(off, int64(len(data))))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return Position{Line: line, Column: col}
}

// Locate finds where the value at the JSON pointer ptr starts in data. A
// pointer to something that is not there (a missing property) resolves to
// its deepest existing parent, where the editor should look; "" is the
// whole document. ok is false when data is not JSON up to that point.
func Locate(data []byte, ptr string) (pos Position, ok bool) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Position{}, false
	}
	tokens := splitPointer(ptr)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	best := int64(-1)
	errFound := errors.New("found")
	var walk func(depth int, onPath bool) error
	walk = func(depth int, onPath bool) error {
		if onPath {
			best = valueStart(data, dec.InputOffset())
			if depth == len(tokens) {
				return errFound
			}
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		delim, isDelim := tok.(json.Delim)
		if !isDelim {
			return nil
		}
		for i := 0; dec.More(); i++ {
			name := strconv.Itoa(i)
			if delim == '{' {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				name, _ = key.(string)
			}
			next := onPath && depth < len(tokens) && tokens[depth] == name
			if err := walk(depth+1, next); err != nil {
				return err
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	_ = walk(0, true) // a syntax error ends the walk where the text breaks
	if best < 0 {
		return Position{}, false
	}
	return position(data, best), true
}

// At is where an editor shows e in data, the file it was found in: the
// value its pointer names, or for a file that is not JSON at all the byte
// where the text stops being JSON (the end, when it is cut short).
func (e *Error) At(data []byte) (Position, bool) {
	if e.Pointer == "" {
		dec := json.NewDecoder(bytes.NewReader(data))
		var v any
		err := dec.Decode(&v)
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return position(data, se.Offset-1), true
		case err != nil:
			return position(data, int64(len(data))), true
		case valueStart(data, dec.InputOffset()) < int64(len(data)):
			return position(data, valueStart(data, dec.InputOffset())), true
		}
	}
	return Locate(data, e.Pointer)
}

// valueStart skips what separates the decoder's offset from the next
// value: blanks and the ':' or ',' before it.
func valueStart(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n:,", data[off]) >= 0 {
		off++
	}
	return off
}

// splitPointer parses an RFC 6901 pointer into its unescaped tokens.
func splitPointer(ptr string) []string {
	if ptr == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
	}
	return parts
}
