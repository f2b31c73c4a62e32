package mapping

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLocate(t *testing.T) {
	t.Parallel()
	doc := "{\n  \"a\": {\"b~c\": [1, {\"d/e\": true}]},\n  \"f\": \"x\"\n}"
	for _, tc := range []struct {
		ptr  string
		want Position
		ok   bool
	}{
		{"", Position{1, 1}, true},
		{"/a", Position{2, 8}, true},
		{"/a/b~0c", Position{2, 16}, true},
		{"/a/b~0c/0", Position{2, 17}, true},
		{"/a/b~0c/1/d~1e", Position{2, 28}, true},
		{"/f", Position{3, 8}, true},
		{"/a/missing", Position{2, 8}, true}, // the deepest existing parent
		{"/f/0", Position{3, 8}, true},
	} {
		got, ok := Locate([]byte(doc), tc.ptr)
		assert.Equal(t, tc.ok, ok, tc.ptr)
		assert.Equal(t, tc.want, got, tc.ptr)
	}
	_, ok := Locate(nil, "/a")
	assert.False(t, ok, "no JSON, no place")
}

func TestErrorAtASyntaxError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc  string
		want Position
	}{
		{"{\n  \"a\": 1,\n  \"b\" 2\n}", Position{3, 7}}, // the byte that breaks the syntax
		{"{\n  \"a\": [1,", Position{2, 11}},             // cut short: the end of the text
		{"{}\n{}", Position{2, 1}},                       // data after the value
	} {
		got, ok := (&Error{Reason: "invalid JSON"}).At([]byte(tc.doc))
		assert.True(t, ok)
		assert.Equal(t, tc.want, got, "%q", tc.doc)
	}
}
