// Command benchplot draws the per-second timelines written by
// `switchboard bench --timeline FILE` as one PNG: throughput, p99 latency and
// hub RSS over time, one line per run.
//
// It exists so the plots in BENCHMARKS.md are made by code in this
// repository rather than by a spreadsheet: anyone can rerun the benchmarks
// and redraw the plots with nothing but Go.
//
// Usage:
//
//	go run ./cmd/benchplot -o docs/bench/inbound.png -title "inbound, fan-out 1" label1=run1.jsonl [label2=run2.jsonl ...]
//
// A bare path (no "label=") is labelled with the file's base name; the label
// is everything before the first "=".
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchboardhq/switchboard/hub/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the whole command; it returns the exit status: 2 for a usage
// error, 1 for any other failure.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchplot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "benchplot.png", "write the PNG to this `file`")
	title := fs.String("title", "", "plot title")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: benchplot [-o file.png] [-title text] [label=]timeline.jsonl ...\n\n"+
			"Plots timelines written by `switchboard bench --timeline FILE`.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // fs.Parse already printed the error and the usage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "benchplot: no timeline files given")
		fs.Usage()
		return 2
	}

	ss := make([]series, 0, fs.NArg())
	for _, arg := range fs.Args() {
		s, err := loadSeries(arg)
		if err != nil {
			fmt.Fprintf(stderr, "benchplot: %v\n", err)
			return 1
		}
		ss = append(ss, s)
	}
	// Render into memory first so a failure leaves no half-written file.
	var buf bytes.Buffer
	if err := render(ss, *title, &buf); err != nil {
		fmt.Fprintf(stderr, "benchplot: %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "benchplot: %v\n", err)
		return 1
	}
	return 0
}

// series is one run's timeline and the name it gets in the legend.
type series struct {
	label   string
	seconds []bench.Second
}

// loadSeries reads the timeline named by a "label=path" or bare "path"
// argument.
func loadSeries(arg string) (series, error) {
	label, path, ok := strings.Cut(arg, "=")
	if !ok {
		path = arg
		label = filepath.Base(path)
	}
	if label == "" || path == "" {
		return series{}, fmt.Errorf("%q: want label=path or path", arg)
	}
	f, err := os.Open(path)
	if err != nil {
		return series{}, err // names the path already
	}
	defer f.Close()
	seconds, err := readTimeline(f)
	var le *lineError
	switch {
	case errors.As(err, &le):
		return series{}, fmt.Errorf("reading %s:%w", path, err) // "reading path:line N: ..."
	case err != nil:
		return series{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return series{label: label, seconds: seconds}, nil
}

// lineError is a problem with one line of a timeline.
type lineError struct {
	Line int // 1-based
	Err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *lineError) Unwrap() error { return e.Err }

// errEmpty is returned for a timeline without a single second in it.
var errEmpty = errors.New("empty timeline")

// readTimeline decodes a timeline: one JSON object (a bench.Second) per line.
// Blank lines are skipped. A line that does not decode is reported as a
// *lineError; a timeline with no seconds at all as errEmpty.
func readTimeline(r io.Reader) ([]bench.Second, error) {
	var out []bench.Second
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' {
			return nil, &lineError{n, errors.New("not a JSON object")}
		}
		var s bench.Second
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, &lineError{n, err}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, &lineError{n + 1, err}
	}
	if len(out) == 0 {
		return nil, errEmpty
	}
	return out, nil
}
