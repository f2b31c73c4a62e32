// Package console serves the web console: committed static files (vanilla
// JavaScript modules and CSS, no build step) embedded in the binary and
// served at /console/. The console is a client of the public API only: an
// operator signs in with an API key, a consumer arrives through a session's
// session_uri (/console/#session=<token>), and every page is built from the
// same routes any other client calls.
//
// Every response under /console carries a strict Content-Security-Policy:
// scripts, styles and connections from the hub's own origin only, no inline
// script or style, and frame-ancestors 'none' unless the operator names the
// application origins that may embed the consumer portal
// (--console-frame-ancestors).
//
// Assets are served under /console/assets/<hash>/, where <hash> covers every
// embedded file, with Cache-Control immutable; index.html names them and is
// never cached, so a new binary is picked up on the next load.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
)

//go:embed static
var files embed.FS

// MaxEmbeddedBytes is the most the embedded console may weigh; a test
// holds it to that, so it stays usable on a slow laptop and link.
const MaxEmbeddedBytes = 300 << 10

// Config configures the console.
type Config struct {
	// FrameAncestors are the origins allowed to embed the console in a
	// frame (the application's pages showing the consumer portal), as
	// ParseFrameAncestors returns them. Empty: none may ('none').
	FrameAncestors []string
}

// Console serves the embedded files.
type Console struct {
	static fs.FS
	hash   string // content hash of every embedded file
	index  []byte // rendered index.html
	csp    string
	frame  bool // whether framing is allowed at all
}

// New prepares the console: it hashes the embedded files and renders the
// index page once.
func New(cfg Config) (*Console, error) {
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("opening embedded console: %w", err)
	}
	names, err := Files()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, name := range names {
		b, err := fs.ReadFile(static, name)
		if err != nil {
			return nil, fmt.Errorf("reading embedded console file %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	c := &Console{static: static, hash: hex.EncodeToString(h.Sum(nil))[:16]}

	raw, err := fs.ReadFile(static, "index.html")
	if err != nil {
		return nil, fmt.Errorf("reading embedded index.html: %w", err)
	}
	tmpl, err := template.New("index").Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing embedded index.html: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, struct{ Assets string }{Assets: c.assetsBase()}); err != nil {
		return nil, fmt.Errorf("rendering index.html: %w", err)
	}
	c.index = buf.Bytes()

	ancestors := "'none'"
	if len(cfg.FrameAncestors) > 0 {
		ancestors = strings.Join(cfg.FrameAncestors, " ")
		c.frame = true
	}
	c.csp = strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src 'self'",
		"font-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors " + ancestors,
	}, "; ")
	return c, nil
}

// CSP is the Content-Security-Policy every console response carries.
func (c *Console) CSP() string { return c.csp }

func (c *Console) assetsBase() string { return "/console/assets/" + c.hash + "/" }

// Routes are the console's routes for api.Config.Routes: its pages,
// public since they hold no data (every call they make carries the
// signed-in credential), and the API routes only it adds (apiRoutes).
func (c *Console) Routes() []api.Route {
	return append([]api.Route{
		{Method: http.MethodGet, Path: "/console", Tenancy: api.Public, Handler: c.redirect},
		{Method: http.MethodGet, Path: "/console/*path", Tenancy: api.Public, Handler: c.serve},
	}, c.apiRoutes()...)
}

// headers are set on every console response, errors included.
func (c *Console) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", c.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	// The session token travels in the URL fragment, which browsers never
	// send; no-referrer keeps even the path out of other sites' logs.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !c.frame {
		h.Set("X-Frame-Options", "DENY")
	}
}

func (c *Console) redirect(g *gin.Context) {
	c.headers(g.Writer)
	g.Redirect(http.StatusMovedPermanently, "/console/")
}

func (c *Console) serve(g *gin.Context) {
	c.headers(g.Writer)
	p := g.Param("path")
	if p == "/" || p == "/index.html" {
		g.Header("Cache-Control", "no-store")
		g.Data(http.StatusOK, "text/html; charset=utf-8", c.index)
		return
	}
	rest, ok := strings.CutPrefix(p, "/assets/")
	if !ok {
		c.notFound(g, p)
		return
	}
	hash, name, ok := strings.Cut(rest, "/")
	if !ok || hash != c.hash || name == "" || name == "index.html" || strings.Contains(name, "..") || path.Clean(name) != name {
		// An asset of another build: answering it with this build's file
		// would put the wrong bytes in an immutable cache entry.
		c.notFound(g, p)
		return
	}
	b, err := fs.ReadFile(c.static, name)
	if err != nil {
		c.notFound(g, p)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	g.Header("Cache-Control", "public, max-age=31536000, immutable")
	g.Data(http.StatusOK, ctype, b)
}

func (c *Console) notFound(g *gin.Context, p string) {
	g.Header("Cache-Control", "no-store")
	api.WriteError(g, api.NotFound("console file", strings.TrimPrefix(p, "/")))
}

// Files lists the embedded files (paths relative to the console root),
// sorted.
func Files() ([]string, error) {
	var names []string
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, strings.TrimPrefix(p, "static/"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing embedded console: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// EmbeddedBytes is the total size of the embedded files.
func EmbeddedBytes() (int, error) {
	names, err := Files()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, n := range names {
		b, err := files.ReadFile("static/" + n)
		if err != nil {
			return 0, err
		}
		total += len(b)
	}
	return total, nil
}

// ParseFrameAncestors checks --console-frame-ancestors: origins
// (scheme://host[:port], a leading *. wildcard allowed in the host) that
// may embed the console, or 'self'. Anything else (paths, a bare *,
// 'none' next to origins, characters that would end the CSP directive) is
// refused with the reason and the nearest valid form.
func ParseFrameAncestors(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, item := range strings.Fields(strings.ReplaceAll(v, ",", " ")) {
			o, err := parseOrigin(item)
			if err != nil {
				return nil, fmt.Errorf("console-frame-ancestors %q: %w", item, err)
			}
			out = append(out, o)
		}
	}
	return out, nil
}

func parseOrigin(s string) (string, error) {
	switch strings.ToLower(s) {
	case "'self'", "self":
		return "'self'", nil
	case "'none'", "none":
		return "", fmt.Errorf("leave the flag empty to forbid framing; name origins to allow it")
	case "*", "http:", "https:", "http://*", "https://*":
		return "", fmt.Errorf("would let any site frame the console; name the application's origins, e.g. https://app.example.com")
	}
	if strings.ContainsAny(s, ";'\"\\<>") {
		return "", fmt.Errorf("must be an origin such as https://app.example.com")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("must be an origin with a scheme, e.g. https://%s", strings.TrimPrefix(strings.TrimPrefix(s, "//"), "/"))
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("must be an origin, without path, query or user; use %s://%s", u.Scheme, u.Host)
	}
	host := u.Hostname()
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host = rest
	}
	if host == "" || strings.Contains(host, "*") {
		return "", fmt.Errorf("only a leading *. wildcard is allowed in the host")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}
