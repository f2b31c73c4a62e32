package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckPathAcceptsGJSONSyntax(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		"id",
		"data.id",
		"data.items.0.name",
		"items.#",
		"items.#.name",
		`items.#(price>10).name`,
		`items.#(name=="a.b|c").id`,
		`items.#(name%"D*")#.id`,
		`friends.#(nets.#(=="fb"))#.first`,
		`a\.b`,
		"c?ild.*x",
		"@this",
		"items|@reverse",
		"items.@reverse.0",
		`children|@join:{"preserve":true}`,
		"{id,name}",
		`[id,"x"]`,
		"!true",
		"data.@keys",
	} {
		require.NoError(t, checkPath(p), p)
	}
}

func TestCheckPathRejectsTypos(t *testing.T) {
	t.Parallel()
	for p, reason := range map[string]string{
		"":                     "empty path",
		"data..id":             "empty component",
		"data.":                "empty component",
		".data":                "empty component",
		"a|":                   "empty component",
		"..data":               "JSON Lines",
		"items.#(price>10":     "unclosed '('",
		`items.#(name=="x).id`: "unterminated string",
		"a]":                   "unbalanced ']'",
		"{a,b]":                "unbalanced ']'",
		`a\`:                   "dangling escape",
		"@nosuch":              "unknown modifier @nosuch",
		"x|@nosuch:arg":        "unknown modifier @nosuch",
		"a\x01b":               "control character",
	} {
		err := checkPath(p)
		require.Error(t, err, "%q", p)
		require.Contains(t, err.Error(), reason, "%q", p)
	}
}

func TestPassThroughName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "unknown", passThroughName("..."))
	require.Equal(t, "page.created", passThroughName("page.created"))
	require.Len(t, passThroughName(string(make([]byte, 500))+"a"), 200)
}
