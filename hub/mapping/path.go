package mapping

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// checkPath reports why a gjson path cannot be what its author meant, or nil.
// gjson itself never rejects a path (a broken one silently matches nothing),
// so mapping files are checked here at load: a typo such as "data..id" or an
// unclosed query must fail the load, not produce empty events in production.
//
// The check is syntactic and conservative: it accepts everything gjson
// documents (dots, escapes, wildcards, #, queries #(...), multipaths [..] and
// {..}, literals !true, pipes and @modifiers) and rejects empty components,
// unbalanced brackets, unterminated strings and escapes, unknown modifiers
// and the JSON Lines prefix "..", which makes no sense for one document.
func checkPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	if strings.HasPrefix(p, "..") {
		return fmt.Errorf("path %q: the JSON Lines prefix \"..\" is not supported", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 {
			return fmt.Errorf("path %q: control character at offset %d", p, i)
		}
	}
	var (
		stack     []byte // open brackets
		inString  bool   // inside a "..." literal of a query or multipath
		compStart = 0    // start of the current top-level component
	)
	closing := map[byte]byte{')': '(', ']': '[', '}': '{'}
	endComponent := func(end int) error {
		comp := p[compStart:end]
		if comp == "" {
			return fmt.Errorf("path %q: empty component at offset %d", p, end)
		}
		if comp[0] == '@' && len(comp) > 1 && comp[1] != '(' {
			name := comp[1:]
			if k := strings.IndexAny(name, ":"); k >= 0 {
				name = name[:k]
			}
			if !gjson.ModifierExists(name, nil) {
				return fmt.Errorf("path %q: unknown modifier @%s", p, name)
			}
		}
		return nil
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' {
			if i+1 >= len(p) {
				return fmt.Errorf("path %q: dangling escape at the end", p)
			}
			i++
			continue
		}
		if inString {
			if c == '"' {
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			if len(stack) == 0 {
				continue // a quote in a plain key is just a character
			}
			inString = true
		case '(', '[', '{':
			// A bracket opens a group only where gjson treats it so: a query
			// after '#', a multipath at the start of a component, or a
			// modifier argument; elsewhere it is part of a key. Count it
			// as a group anyway when it can be closed: keys with brackets
			// are rare, and an unmatched opener is almost always a typo.
			stack = append(stack, c)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != closing[c] {
				return fmt.Errorf("path %q: unbalanced %q at offset %d", p, c, i)
			}
			stack = stack[:len(stack)-1]
		case '.', '|':
			if len(stack) > 0 {
				continue
			}
			if err := endComponent(i); err != nil {
				return err
			}
			compStart = i + 1
		}
	}
	if inString {
		return fmt.Errorf("path %q: unterminated string", p)
	}
	if len(stack) > 0 {
		return fmt.Errorf("path %q: unclosed %q", p, stack[len(stack)-1])
	}
	if err := endComponent(len(p)); err != nil {
		return err
	}
	return probePath(p)
}

// probePath runs the path once against a small document so that any input
// gjson cannot cope with fails at load instead of at the first webhook.
func probePath(p string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("path %q: rejected by gjson: %v", p, r)
		}
	}()
	gjson.Get(`{"a":{"b":[1,{"c":"d"}]},"e":true}`, p)
	return nil
}
