package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// sdkModule is the module path of the connector SDK (this repository).
const sdkModule = "github.com/switchboardhq/switchboard"

// connectorName is what a connector id may look like: it names the
// executable (switchboard-connector-<id>), the mapping file and URLs.
var connectorName = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)

// newConnectorInitCmd is `switchboard connector init NAME`: a new external
// connector module that builds and passes its own tests as generated.
func newConnectorInitCmd() *cobra.Command {
	var dir, sdk, module string
	cmd := &cobra.Command{
		Use:   "init NAME",
		Short: "Scaffold an external connector module (main.go, test, mapping, sample, go.mod, go.sum)",
		Long: `Write a new connector as its own Go module in --dir (default
./switchboard-connector-NAME): main.go (a provider that signs its webhooks
with HMAC-SHA256, verified in HandleInbound), main_test.go (plugintest plus
the mapping applied to the sample), mappings/NAME.json, testdata/ with a
sample webhook, go.mod and go.sum. It builds and passes 'go test ./...' as
generated, offline.

The SDK (` + sdkModule + `) is not published: go.mod
replaces it with the checkout at --sdk (default: the checkout the current
directory is in), and go.sum is that checkout's, so the build needs nothing
beyond the Go module cache the checkout already filled.`,
		Example: `  switchboard connector init acmebooks --sdk ~/src/switchboard
  cd switchboard-connector-acmebooks && go test ./... && go build -o switchboard-connector-acmebooks .`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			name := args[0]
			if !connectorName.MatchString(name) {
				return fmt.Errorf("connector name %q: use 2-31 lowercase letters and digits, starting with a letter (it becomes switchboard-connector-%s and mappings/%s.json)", name, name, name)
			}
			if dir == "" {
				dir = "switchboard-connector-" + name
			}
			if module == "" {
				module = "example.com/switchboard-connector-" + name
			}
			root, err := findSDK(sdk)
			if err != nil {
				return err
			}
			files, err := scaffold(name, module, root)
			if err != nil {
				return err
			}
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return fmt.Errorf("--dir %s exists and is not empty: nothing written", dir)
			}
			for rel, content := range files {
				p := filepath.Join(dir, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
				}
				if err := os.WriteFile(p, content, 0o644); err != nil {
					return fmt.Errorf("writing %s: %w", p, err)
				}
			}
			fmt.Fprintf(c.OutOrStdout(), `Created connector %[1]s in %[2]s (SDK: %[3]s).

  cd %[2]s
  go test ./...
  go build -o plugins.d/switchboard-connector-%[1]s .
  (cd plugins.d && sha256sum switchboard-connector-%[1]s > switchboard-connector-%[1]s.sha256)

Then run the hub with --plugins-dir %[2]s/plugins.d and a --mappings-dir
holding mappings/%[1]s.json next to the built-in mappings. README.md in
%[2]s says more.
`, name, dir, root)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to create (default ./switchboard-connector-NAME)")
	cmd.Flags().StringVar(&sdk, "sdk", "", "path of the switchboard checkout the module builds against (default: the one the current directory is in)")
	cmd.Flags().StringVar(&module, "module", "", "module path of the new connector (default example.com/switchboard-connector-NAME)")
	return cmd
}

// findSDK returns the absolute root of a switchboard checkout: --sdk, or the
// nearest directory above the current one whose go.mod is the SDK's.
func findSDK(flag string) (string, error) {
	if flag != "" {
		abs, err := filepath.Abs(flag)
		if err != nil {
			return "", err
		}
		if !isSDKRoot(abs) {
			return "", fmt.Errorf("--sdk %s: no go.mod of %s there", flag, sdkModule)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isSDKRoot(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("not inside a switchboard checkout: pass --sdk PATH (a clone of the repository, which holds the SDK and its go.sum)")
		}
	}
}

func isSDKRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module "+sdkModule+"\n"))
}

// sdkRequirements reads the go directive and every requirement of the SDK's
// go.mod. The new module lists them all (as indirect): with Go's pruned
// module graphs a main module must name each module its build uses, and
// these are exactly the versions the SDK was built and tested with.
func sdkRequirements(root string) (goVersion string, reqs []string, err error) {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", nil, err
	}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if c := strings.Index(line, "//"); c >= 0 {
			line = strings.TrimSpace(line[:c])
		}
		switch {
		case strings.HasPrefix(line, "go "):
			goVersion = strings.TrimPrefix(line, "go ")
		case line == "require (":
			in = true
		case in && line == ")":
			in = false
		case in && line != "":
			reqs = append(reqs, line)
		case strings.HasPrefix(line, "require "):
			reqs = append(reqs, strings.TrimPrefix(line, "require "))
		}
	}
	if goVersion == "" || len(reqs) == 0 {
		return "", nil, fmt.Errorf("reading %s/go.mod: no go directive or requirements", root)
	}
	return goVersion, reqs, sc.Err()
}

// scaffold renders the new module's files.
func scaffold(name, module, root string) (map[string][]byte, error) {
	goVersion, reqs, err := sdkRequirements(root)
	if err != nil {
		return nil, err
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return nil, fmt.Errorf("the SDK's go.sum: %w", err)
	}
	var gomod strings.Builder
	fmt.Fprintf(&gomod, "module %s\n\ngo %s\n\nrequire %s v0.0.0-00010101000000-000000000000\n\n", module, goVersion, sdkModule)
	gomod.WriteString("// The SDK's own requirements, at the versions it is built and tested with.\nrequire (\n")
	for _, r := range reqs {
		fmt.Fprintf(&gomod, "\t%s // indirect\n", r)
	}
	gomod.WriteString(")\n\n")
	fmt.Fprintf(&gomod, "// The SDK is not published: build against a local checkout. To build\n// without one, vendor it instead (see README.md).\nreplace %s => %s\n", sdkModule, root)

	title := strings.ToUpper(name[:1]) + name[1:]
	r := strings.NewReplacer("__NAME__", name, "__TITLE__", title, "__HEADER__", "X-"+title+"-Signature", "__MODULE__", module, "__SDK__", root, "BACKTICK", "`")
	files := map[string][]byte{
		"go.mod":                     []byte(gomod.String()),
		"go.sum":                     sum,
		"main.go":                    []byte(r.Replace(tmplMain)),
		"main_test.go":               []byte(r.Replace(tmplTest)),
		"mappings/" + name + ".json": []byte(r.Replace(tmplMapping)),
		"testdata/invoice.paid.json": []byte(r.Replace(tmplSample)),
		"README.md":                  []byte(r.Replace(tmplReadme)),
		".gitignore":                 []byte("/plugins.d/\n/switchboard-connector-" + name + "\n"),
	}
	if len(files) == 0 {
		return nil, errors.New("nothing to write")
	}
	return files, nil
}

const tmplMain = `// Command switchboard-connector-__NAME__ is a Switchboard connector for
// __TITLE__. __TITLE__ (a made-up provider to start from) posts one event per
// request and signs the exact body:
//
//	POST <webhook_url>
//	__HEADER__: sha256=<hex HMAC-SHA256(signing_secret, body)>
//
//	{"id": "evt_1", "type": "invoice.paid", "created_at": "2024-01-15T10:30:00Z",
//	 "data": {"id": "inv_1", "number": "INV-1", "total": 119.00, "currency": "EUR"}}
//
// Replace the body shape, the signature and the events with your provider's.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/plugins"
)

// ID is the service id: the executable is switchboard-connector-__NAME__ and
// the mapping mappings/__NAME__.json.
const ID = "__NAME__"

// HeaderSignature carries "sha256=<hex HMAC-SHA256(secret, body)>".
const HeaderSignature = "__HEADER__"

func main() {
	// Nothing before Serve may print to stdout.
	plugins.Serve(Connector{})
}

// Connector implements plugins.Connector for __TITLE__.
type Connector struct{}

// Describe tells the hub who we are and what the provider sends.
func (Connector) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID:          ID,
		Name:        "__TITLE__",
		Version:     "0.1.0",
		UnifiedAPIs: []string{"accounting"},
		Webhook:     plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedManual},
		SupportedEvents: []plugins.SupportedEvent{
			{DownstreamEventType: "invoice.paid", EventType: "accounting.invoice.paid"},
		},
		SettingsSchema:    json.RawMessage(BACKTICK{"type":"object","additionalProperties":false}BACKTICK),
		CredentialsSchema: json.RawMessage(BACKTICK{"type":"object","properties":{"signing_secret":{"type":"string","minLength":16}}}BACKTICK),
		// The hub generates credentials.signing_secret when a connection is
		// created without one and shows it once.
		ProviderSigns: true,
	}, nil
}

// Sign returns the __HEADER__ value __TITLE__ sends for body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// HandleInbound checks the signature, then turns the body into one event.
func (Connector) HandleInbound(_ context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	secret := req.Connection.Credentials[plugins.CredentialSigningSecret]
	got := req.Headers.Get(HeaderSignature)
	if secret == "" || got == "" {
		return nil, fmt.Errorf("%w: missing %s or signing secret", plugins.ErrBadSignature, HeaderSignature)
	}
	if !hmac.Equal([]byte(strings.ToLower(got)), []byte(Sign(secret, req.Body))) {
		return nil, fmt.Errorf("%w: %s does not match the body", plugins.ErrBadSignature, HeaderSignature)
	}
	var head struct {
		ID        string    BACKTICKjson:"id"BACKTICK
		Type      string    BACKTICKjson:"type"BACKTICK
		CreatedAt time.Time BACKTICKjson:"created_at"BACKTICK
	}
	if err := json.Unmarshal(req.Body, &head); err != nil {
		return nil, plugins.Malformed("body is not a JSON event: %v", err)
	}
	if head.ID == "" || head.Type == "" {
		return nil, plugins.Malformed("the event needs an id and a type")
	}
	return &plugins.InboundResult{Events: []plugins.NativeEvent{{
		Type:           head.Type,
		Payload:        req.Body,
		IdempotencyKey: head.ID,
		OccurredAt:     head.CreatedAt,
	}}}, nil
}

// Subscribe registers nothing: the user pastes the URL into __TITLE__.
func (Connector) Subscribe(_ context.Context, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	return &plugins.SubscribeResult{Message: "Paste " + req.WebhookURL + " and the signing secret into __TITLE__'s webhook settings."}, nil
}

// Unsubscribe has nothing to remove.
func (Connector) Unsubscribe(context.Context, *plugins.UnsubscribeRequest) error { return nil }
`

const tmplTest = `package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

const secret = "test-signing-secret-0123456789"

func inbound(t *testing.T, body []byte, signature string) *plugins.InboundRequest {
	t.Helper()
	return &plugins.InboundRequest{
		Method:     http.MethodPost,
		Path:       "/webhook/inbound/" + ID + "/token",
		Headers:    http.Header{HeaderSignature: {signature}, "Content-Type": {"application/json"}},
		Body:       body,
		Connection: plugins.Connection{ID: "conn_1", ConsumerID: "acme", Credentials: map[string]string{plugins.CredentialSigningSecret: secret}},
	}
}

// TestHandleInbound goes through the real gRPC layer, as the hub calls it.
func TestHandleInbound(t *testing.T) {
	c := plugintest.Connect(t, Connector{})
	sample, err := os.ReadFile("testdata/invoice.paid.json")
	if err != nil {
		t.Fatal(err)
	}

	res, err := c.HandleInbound(t.Context(), inbound(t, sample, Sign(secret, sample)))
	if err != nil {
		t.Fatalf("signed sample: %v", err)
	}
	if len(res.Events) != 1 || res.Events[0].Type != "invoice.paid" || res.Events[0].IdempotencyKey == "" {
		t.Fatalf("want one invoice.paid event with an idempotency key, got %+v", res.Events)
	}

	for name, sig := range map[string]string{
		"no signature":    "",
		"wrong secret":    Sign("another-secret-0123456789", sample),
		"tampered digest": Sign(secret, append([]byte(" "), sample...)),
	} {
		if _, err := c.HandleInbound(t.Context(), inbound(t, sample, sig)); !errors.Is(err, plugins.ErrBadSignature) {
			t.Errorf("%s: want ErrBadSignature, got %v", name, err)
		}
	}

	body := []byte("{not json")
	if _, err := c.HandleInbound(t.Context(), inbound(t, body, Sign(secret, body))); !errors.Is(err, plugins.ErrMalformed) {
		t.Errorf("unparseable body: want a Malformed error, got %v", err)
	}
}

// TestDescribe checks what the hub's catalogue will show.
func TestDescribe(t *testing.T) {
	d, err := plugintest.Connect(t, Connector{}).Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != ID || len(d.SupportedEvents) == 0 || !d.ProviderSigns {
		t.Fatalf("unexpected description %+v", d)
	}
}

// TestMapping applies mappings/__NAME__.json to the sample, as the hub will.
func TestMapping(t *testing.T) {
	set, err := mapping.LoadDir(os.DirFS("mappings"))
	if err != nil {
		t.Fatalf("mappings/__NAME__.json: %v", err)
	}
	sample, err := os.ReadFile("testdata/invoice.paid.json")
	if err != nil {
		t.Fatal(err)
	}
	res, err := set.Apply(ID, mapping.Input{NativeType: "invoice.paid", Body: sample})
	if err != nil {
		t.Fatal(err)
	}
	if res.EventType != "accounting.invoice.paid" || res.EntityID != "inv_1001" {
		t.Fatalf("mapped to %s %s, want accounting.invoice.paid inv_1001", res.EventType, res.EntityID)
	}
	var entity struct {
		Total  float64 BACKTICKjson:"total"BACKTICK
		Status string  BACKTICKjson:"status"BACKTICK
	}
	if err := json.Unmarshal(res.Entity, &entity); err != nil || entity.Total != 119 || entity.Status != "paid" {
		t.Fatalf("entity %s (%v): want total 119 and status paid", res.Entity, err)
	}
}
`

const tmplMapping = `{
  "service_id": "__NAME__",
  "version": "0.1.0",
  "description": "__TITLE__ webhooks: {id, type, created_at, data}, one event per request.",
  "native_event_type": { "path": "type" },
  "occurred_at": "created_at",
  "record": "data",
  "pass_through": { "description": "Unmapped __TITLE__ events keep data as entity.", "id": "id" },
  "entities": {
    "invoice": {
      "type": "invoice",
      "id": "id",
      "fields": {
        "id": "id",
        "number": "number",
        "currency": "currency",
        "total": { "path": "total", "type": "number" }
      }
    }
  },
  "events": {
    "invoice.paid": { "event_type": "accounting.invoice.paid", "entity": "invoice", "set": { "status": "paid" } }
  }
}
`

const tmplSample = `{
  "id": "evt_1001",
  "type": "invoice.paid",
  "created_at": "2024-01-15T10:30:00Z",
  "data": { "id": "inv_1001", "number": "INV-1001", "total": 119.00, "currency": "EUR" }
}
`

const tmplReadme = `# switchboard-connector-__NAME__

A Switchboard connector for __TITLE__, generated by
BACKTICKswitchboard connector init __NAME__BACKTICK.

| file | what |
| --- | --- |
| BACKTICKmain.goBACKTICK | the connector: Describe, HandleInbound (checks __HEADER__), Subscribe |
| BACKTICKmain_test.goBACKTICK | its tests through the real gRPC layer (plugintest) and the mapping applied to the sample |
| BACKTICKmappings/__NAME__.jsonBACKTICK | native -> unified events (BACKTICKgo doc github.com/switchboardhq/switchboard/hub/mappingBACKTICK) |
| BACKTICKtestdata/invoice.paid.jsonBACKTICK | a sample webhook |

## The SDK

BACKTICKgithub.com/switchboardhq/switchboardBACKTICK is not published as a module. BACKTICKgo.modBACKTICK
replaces it with a local checkout:

    replace github.com/switchboardhq/switchboard => __SDK__

and BACKTICKgo.sumBACKTICK is that checkout's, so building needs only the module cache the
checkout filled (it works offline: BACKTICKGOPROXY=off go test ./...BACKTICK). To build where
there is no checkout, vendor it: copy the checkout into the module (say BACKTICK./third_party/switchboardBACKTICK)
and point the replace there, or run BACKTICKgo mod vendorBACKTICK and commit BACKTICKvendor/BACKTICK.

## Build, install, try

    go test ./...
    go build -o plugins.d/switchboard-connector-__NAME__ .
    (cd plugins.d && sha256sum switchboard-connector-__NAME__ > switchboard-connector-__NAME__.sha256)

    # the hub: its mappings plus this connector's (switchboard is the binary
    # built in the checkout: go build -o switchboard ./cmd/switchboard)
    mkdir -p hub-mappings && cp __SDK__/mappings/*.json mappings/__NAME__.json hub-mappings/
    switchboard serve --allow-private-destinations --plugins-dir plugins.d --mappings-dir hub-mappings
    export SB_KEY=sb_...   # the admin key it prints on its first start

    # a connection: the answer carries webhook_url and signing_secret
    curl -s http://127.0.0.1:8080/vault/connections -H "Authorization: Bearer $SB_KEY" \
      -H 'x-consumer-id: acme' -H 'content-type: application/json' -d '{"service_id":"__NAME__"}'

    # play __TITLE__: sign the sample with the secret and post it
    switchboard send-test-event --connection <id> --file testdata/invoice.paid.json \
      --signing-secret <signing_secret> --hmac-header __HEADER__
`
