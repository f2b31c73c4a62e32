package main

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/hub/bench"
)

func ptr(f float64) *float64 { return &f }

func TestReadTimeline(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     []bench.Second
		wantLine int   // > 0: want a *lineError for this line
		wantErr  error // otherwise, when non-nil: want this error
	}{
		{
			name: "good",
			in: `{"t":0,"accepted_per_sec":1234,"delivered_per_sec":1200,"p99_ms":35.1,"cpu_cores":1.4,"rss_mb":150.2}
{"t":1,"accepted_per_sec":1300,"delivered_per_sec":1310,"p99_ms":36,"cpu_cores":1.5,"rss_mb":151}
`,
			want: []bench.Second{
				{T: 0, AcceptedPerSec: 1234, DeliveredPerSec: 1200, P99MS: ptr(35.1), CPUCores: ptr(1.4), RSSMB: ptr(150.2)},
				{T: 1, AcceptedPerSec: 1300, DeliveredPerSec: 1310, P99MS: ptr(36), CPUCores: ptr(1.5), RSSMB: ptr(151)},
			},
		},
		{
			name: "null p99, cpu and rss; blank line skipped",
			in:   `{"t":0,"accepted_per_sec":5,"delivered_per_sec":0,"p99_ms":null,"cpu_cores":null,"rss_mb":null}` + "\n\n",
			want: []bench.Second{{T: 0, AcceptedPerSec: 5}},
		},
		{
			name:     "malformed line",
			in:       `{"t":0,"accepted_per_sec":1,"delivered_per_sec":1,"p99_ms":1}` + "\n" + `{"t":1,"accepted_per_sec":` + "\n",
			wantLine: 2,
		},
		{
			name:     "wrong type",
			in:       `{"t":"zero"}`,
			wantLine: 1,
		},
		{
			name:     "not an object",
			in:       "\nnull\n",
			wantLine: 2,
		},
		{
			name:    "empty file",
			in:      "",
			wantErr: errEmpty,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readTimeline(strings.NewReader(tt.in))
			switch {
			case tt.wantLine > 0:
				var le *lineError
				if !errors.As(err, &le) {
					t.Fatalf("err = %v, want a line error", err)
				}
				if le.Line != tt.wantLine {
					t.Errorf("error on line %d, want %d (%v)", le.Line, tt.wantLine, err)
				}
				if prefix := fmt.Sprintf("line %d: ", tt.wantLine); !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("err = %q, want it to start with %q", err, prefix)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d seconds, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !sameSecond(got[i], tt.want[i]) {
					t.Errorf("second %d = %s, want %s", i, show(got[i]), show(tt.want[i]))
				}
			}
		})
	}
}

func sameSecond(a, b bench.Second) bool {
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.T == b.T && a.AcceptedPerSec == b.AcceptedPerSec && a.DeliveredPerSec == b.DeliveredPerSec &&
		eq(a.P99MS, b.P99MS) && eq(a.CPUCores, b.CPUCores) && eq(a.RSSMB, b.RSSMB)
}

func show(s bench.Second) string {
	var b bytes.Buffer
	_ = (&bench.Result{Timeline: []bench.Second{s}}).WriteTimeline(&b)
	return strings.TrimSpace(b.String())
}

// twoSeries is a small pair of runs: one with RSS and gaps in p99, one
// without any RSS.
func twoSeries() []series {
	return []series{
		{label: "a", seconds: []bench.Second{
			{T: 0, AcceptedPerSec: 100, DeliveredPerSec: 90, P99MS: ptr(30), RSSMB: ptr(150)},
			{T: 1, AcceptedPerSec: 110, DeliveredPerSec: 100, RSSMB: ptr(152)},
			{T: 2, AcceptedPerSec: 100, DeliveredPerSec: 110, P99MS: ptr(40), RSSMB: ptr(151)},
			{T: 3, AcceptedPerSec: 0, DeliveredPerSec: 20},
		}},
		{label: "b", seconds: []bench.Second{
			{T: 0, AcceptedPerSec: 50, DeliveredPerSec: 50, P99MS: ptr(20)},
			{T: 1, AcceptedPerSec: 50, DeliveredPerSec: 50, P99MS: ptr(25)},
		}},
	}
}

func TestRender(t *testing.T) {
	var buf bytes.Buffer
	if err := render(twoSeries(), "test", &buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("render did not write a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != widthPx || b.Dy() != heightPx {
		t.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), widthPx, heightPx)
	}
}

func TestPanels(t *testing.T) {
	ss := twoSeries()
	ps, err := panels(ss, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 {
		t.Errorf("with RSS samples: %d panels, want 3", len(ps))
	}
	// p99 and RSS end at t=2 but throughput at t=3: all share 0 to 3.
	for i, p := range ps {
		if p.X.Min != 0 || p.X.Max != 3 {
			t.Errorf("panel %d: x from %g to %g, want the shared 0 to 3", i, p.X.Min, p.X.Max)
		}
	}
	ps, err = panels(ss[1:], "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Errorf("without RSS samples: %d panels, want 2", len(ps))
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	bad := filepath.Join(dir, "bad.jsonl")
	out := filepath.Join(dir, "out.png")
	write := func(path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(good, `{"t":0,"accepted_per_sec":1,"delivered_per_sec":1,"p99_ms":1,"rss_mb":null}`+"\n")
	write(bad, `{"t":0,"accepted_per_sec":1,"delivered_per_sec":1}`+"\n"+"oops\n")

	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string // in stderr
	}{
		{"no inputs", []string{"-o", out}, 2, "no timeline files given"},
		{"unknown flag", []string{"-x", good}, 2, "flag provided but not defined: -x"},
		{"malformed input", []string{"-o", out, "run=" + bad}, 1, "reading " + bad + ":line 2: "},
		{"missing input", []string{"-o", out, filepath.Join(dir, "nope.jsonl")}, 1, "nope.jsonl"},
		{"empty label", []string{"-o", out, "=" + good}, 1, "want label=path"},
		{"ok", []string{"-o", out, "-title", "t", "run=" + good, good}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(tt.args, &stderr); code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, &stderr)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", &stderr, tt.wantErr)
			}
			if tt.code == 2 && !strings.Contains(stderr.String(), "usage: benchplot") {
				t.Errorf("no usage message on stderr: %q", &stderr)
			}
			if tt.code != 0 {
				if _, err := os.Stat(out); err == nil {
					t.Errorf("a failed run wrote %s", out)
				}
				return
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := png.Decode(f); err != nil {
				t.Errorf("%s is not a PNG: %v", out, err)
			}
		})
	}
}
