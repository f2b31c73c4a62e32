package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/api/apitest"
	"github.com/switchboardhq/switchboard/hub/console"
)

// TestEmbeddedSize holds the console to its weight budget: everything a
// browser can load from it, at most 300 KB.
func TestEmbeddedSize(t *testing.T) {
	t.Parallel()
	total, err := console.EmbeddedBytes()
	require.NoError(t, err)
	names, err := console.Files()
	require.NoError(t, err)
	t.Logf("console: %d files, %.1f KB embedded", len(names), float64(total)/1024)
	assert.Greater(t, total, 10<<10, "the console is embedded")
	assert.LessOrEqual(t, total, console.MaxEmbeddedBytes, "the console must stay at most 300 KB")
}

func router(t *testing.T, cfg console.Config) http.Handler {
	t.Helper()
	c, err := console.New(cfg)
	require.NoError(t, err)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	for _, rt := range c.Routes() {
		r.Handle(rt.Method, rt.Path, rt.Handler)
	}
	return r
}

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Result()
}

// TestCSPOnEveryResponse fetches the index, every asset it names (and
// every module those import), a missing file, an asset of another build
// and the bare /console redirect: each carries the strict policy.
func TestCSPOnEveryResponse(t *testing.T) {
	t.Parallel()
	h := router(t, console.Config{})
	res := get(t, h, "/console/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	body, _ := io.ReadAll(res.Body)
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		assert.Contains(t, csp, want)
	}
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "unsafe-eval")
	assert.NotContains(t, csp, "http", "no other origin is allowed")
	assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))

	// No inline script or style in the page.
	assert.NotRegexp(t, `<script(?:\s[^>]*)?>\s*[^<\s]`, string(body), "no inline script")
	assert.NotContains(t, string(body), "<style")
	assert.NotContains(t, string(body), "style=")

	assets := regexp.MustCompile(`(?:src|href)="(/console/assets/[0-9a-f]{16}/[^"]+)"`).FindAllStringSubmatch(string(body), -1)
	require.NotEmpty(t, assets)
	base := regexp.MustCompile(`/console/assets/[0-9a-f]{16}/`).FindString(assets[0][1])
	seen := map[string]bool{}
	queue := []string{}
	for _, a := range assets {
		queue = append(queue, a[1])
	}
	imports := regexp.MustCompile(`(?:from\s+|import\()\s*'(\.{1,2}/[^']+)'`)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		res := get(t, h, p)
		b, _ := io.ReadAll(res.Body)
		require.Equalf(t, http.StatusOK, res.StatusCode, "%s", p)
		assert.Equalf(t, csp, res.Header.Get("Content-Security-Policy"), "%s", p)
		assert.Containsf(t, res.Header.Get("Cache-Control"), "immutable", "%s", p)
		assert.Equalf(t, "nosniff", res.Header.Get("X-Content-Type-Options"), "%s", p)
		if strings.HasSuffix(p, ".js") {
			assert.Containsf(t, res.Header.Get("Content-Type"), "text/javascript", "%s", p)
			for _, bad := range []string{".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", ".setAttribute('style'"} {
				assert.Falsef(t, strings.Contains(string(b), bad), "%s uses %s: the DOM is built from nodes and text only", p, bad)
			}
			dir := p[:strings.LastIndex(p, "/")+1]
			for _, m := range imports.FindAllStringSubmatch(string(b), -1) {
				queue = append(queue, resolve(dir, m[1]))
			}
		}
		if strings.HasSuffix(p, ".css") {
			assert.Falsef(t, strings.Contains(string(b), "@import"), "%s: no other origin", p)
			assert.Falsef(t, regexp.MustCompile(`url\(\s*['"]?https?:`).MatchString(string(b)), "%s: no other origin", p)
		}
	}
	names, err := console.Files()
	require.NoError(t, err)
	assert.Len(t, seen, len(names)-1, "every embedded file but index.html is reachable from the page: %v", seen)

	for _, p := range []string{"/console/nope.js", "/console/assets/0000000000000000/js/app.js", base + "../index.html", base + "js/missing.js", "/console"} {
		res := get(t, h, p)
		assert.NotEqualf(t, http.StatusOK, res.StatusCode, "%s", p)
		assert.Equalf(t, csp, res.Header.Get("Content-Security-Policy"), "%s", p)
	}
	res = get(t, h, "/console")
	assert.Equal(t, http.StatusMovedPermanently, res.StatusCode)
	assert.Equal(t, "/console/", res.Header.Get("Location"))
}

// resolve joins a relative module path to its importer's directory.
func resolve(dir, rel string) string {
	parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
	for _, seg := range strings.Split(rel, "/") {
		switch seg {
		case ".":
		case "..":
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, seg)
		}
	}
	return strings.Join(parts, "/")
}

func TestFrameAncestors(t *testing.T) {
	t.Parallel()
	origins, err := console.ParseFrameAncestors([]string{"https://app.example.com, https://*.example.org:8443", "'self'"})
	require.NoError(t, err)
	assert.Equal(t, []string{"https://app.example.com", "https://*.example.org:8443", "'self'"}, origins)

	h := router(t, console.Config{FrameAncestors: origins})
	res := get(t, h, "/console/")
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "frame-ancestors https://app.example.com https://*.example.org:8443 'self'")
	assert.Empty(t, res.Header.Get("X-Frame-Options"), "framing by the named origins is allowed")
}

func TestParseFrameAncestorsRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"*", "any site"},
		{"https://*", "any site"},
		{"'none'", "leave the flag empty"},
		{"app.example.com", "with a scheme, e.g. https://app.example.com"},
		{"ftp://app.example.com", "scheme must be http or https"},
		{"https://app.example.com/embed", "use https://app.example.com"},
		{"https://app.example.com?x=1", "without path, query"},
		{"https://app.example.com;script-src", "must be an origin"},
		{"https://a.*.example.com", "only a leading *."},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			_, err := console.ParseFrameAncestors([]string{tc.in})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestAPIRoutesMatchOpenAPI: the console's API routes are exactly the
// operations the document marks as mounted by hub/console, none public.
func TestAPIRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	c, err := console.New(console.Config{})
	require.NoError(t, err)
	doc, err := apitest.Spec()
	require.NoError(t, err)
	param := regexp.MustCompile(`:([a-z_]+)`)
	var routes, documented []string
	for _, r := range c.Routes() {
		if r.Tenancy == api.Public {
			assert.True(t, strings.HasPrefix(r.Path, "/console"), "%s %s: only the pages are public", r.Method, r.Path)
			continue
		}
		routes = append(routes, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Extensions["x-mounted-by"] == "hub/console" {
				documented = append(documented, method+" "+path)
			}
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	assert.Equal(t, documented, routes)
}

// TestSamples: GET /mapping/samples/{service_id} answers the shipped
// sample webhooks with their request details; none for an unknown
// provider; 400 for something that is no service id.
func TestSamples(t *testing.T) {
	t.Parallel()
	h := router(t, console.Config{})
	res := get(t, h, "/mapping/samples/deskera")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var body struct {
		Data []struct {
			Event   string              `json:"event"`
			Payload json.RawMessage     `json:"payload"`
			Query   map[string][]string `json:"query"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.NotEmpty(t, body.Data)
	found := false
	for _, s := range body.Data {
		assert.True(t, json.Valid(s.Payload), s.Event)
		if s.Event == "CREATE_CONTACT@supplier" {
			found = true
			assert.Equal(t, []string{"CREATE_CONTACT"}, s.Query["e"], "Deskera's event type travels in ?e=")
		}
	}
	assert.True(t, found, "deskera's CREATE_CONTACT@supplier sample is listed")

	res = get(t, h, "/mapping/samples/nosuchprovider")
	require.Equal(t, http.StatusOK, res.StatusCode)
	b, _ := io.ReadAll(res.Body)
	assert.JSONEq(t, `{"status_code":200,"status":"OK","data":[]}`, string(b))

	res = get(t, h, "/mapping/samples/Bad_ID")
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
}
