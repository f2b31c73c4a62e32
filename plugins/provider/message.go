package provider

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxMessage bounds a provider message quoted in an error, in bytes: enough
// for any provider's sentence, too little to carry a page of someone
// else's server into the hub's answers and logs.
const maxMessage = 200

// messageFields are where providers put their error message, first found
// first: Deskera's errorMessage, Laravel's message (vPlan; with errors),
// OAuth's error_description and error, JSON:API's errors, detail and
// title, and msg.
var messageFields = []string{"errorMessage", "message", "error_description", "error", "errors", "msg", "detail", "title"}

// maxDepth bounds how deep messageIn looks into nested arrays and objects.
const maxDepth = 8

// ProviderMessage extracts the provider's own message from an error answer,
// whitespace collapsed and at most 200 bytes. From a JSON object it reads
// the first of errorMessage, message, error_description, error, errors,
// msg, detail and title that holds one: a string, an object with such a
// field (else the messages of all its members, as in Laravel's validation
// errors {"url": ["..."]}), or an array of these (their messages joined by
// "; "). A JSON array or string body is read the same way. Anything else
// (plain text, HTML, JSON it cannot read, binary) is never quoted: the
// base URL may point at a server that is no provider at all, whose answer
// must not travel into the hub's errors and logs. Then the message is the
// status text, else "no message".
func ProviderMessage(status int, body []byte) string {
	return tidy(status, messageOf(body))
}

// messageOf is the message in body, as found, before tidy.
func messageOf(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || !json.Valid(body) {
		return ""
	}
	switch body[0] {
	case '{':
		var doc map[string]json.RawMessage
		if json.Unmarshal(body, &doc) != nil {
			return ""
		}
		return fieldMessage(doc, 0)
	case '[', '"':
		return messageIn(body, 0)
	}
	return "" // a number, a boolean or null says nothing
}

// fieldMessage is the message of the first of messageFields in obj that
// holds one.
func fieldMessage(obj map[string]json.RawMessage, depth int) string {
	for _, k := range messageFields {
		if m := messageIn(obj[k], depth+1); m != "" {
			return m
		}
	}
	return ""
}

// messageIn reads a message from a string, from an object (its message
// field, else all its members), or from an array (all its elements).
func messageIn(raw json.RawMessage, depth int) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || depth > maxDepth {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strings.TrimSpace(s)
		}
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		if m := fieldMessage(obj, depth); m != "" {
			return m
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if m := messageIn(obj[k], depth+1); m != "" {
				parts = append(parts, m)
			}
		}
		return strings.Join(parts, "; ")
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return ""
		}
		var parts []string
		for _, item := range list {
			if m := messageIn(item, depth+1); m != "" {
				parts = append(parts, m)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

// tidy collapses msg's whitespace, falls back to the status text and
// bounds the length. It runs after scrubbing, so a cut never leaves part
// of a secret behind.
func tidy(status int, msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		msg = http.StatusText(status)
	}
	if msg == "" {
		msg = "no message"
	}
	return Truncate(msg, maxMessage)
}

// Truncate cuts s to at most n bytes on a rune boundary, ending the cut
// text with "…" (n is at least 3, the length of "…").
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len("…"), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
