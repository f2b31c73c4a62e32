package host

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/switchboardhq/switchboard/plugins"
)

// slogHCLog is an hclog.Logger writing to a slog.Handler, so go-plugin's own
// messages and the log lines plugins write (which go-plugin parses from
// their stderr, level and attributes included) land in the hub's log.
// Plugins never receive secrets through their environment or arguments, and
// the SDK's types keep credentials out of log attributes.
type slogHCLog struct {
	h       slog.Handler
	name    string
	implied []any
}

var _ hclog.Logger = (*slogHCLog)(nil)

func newHCLog(l *slog.Logger) *slogHCLog { return &slogHCLog{h: l.Handler()} }

func toSlogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return plugins.LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (l *slogHCLog) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	lvl := toSlogLevel(level)
	ctx := context.Background()
	if !l.h.Enabled(ctx, lvl) {
		return
	}
	r := slog.NewRecord(time.Now(), lvl, msg, 0)
	if l.name != "" {
		r.AddAttrs(slog.String("logger", l.name))
	}
	r.Add(l.implied...)
	r.Add(args...)
	_ = l.h.Handle(ctx, r)
}

func (l *slogHCLog) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *slogHCLog) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *slogHCLog) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *slogHCLog) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *slogHCLog) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *slogHCLog) enabled(level hclog.Level) bool {
	return l.h.Enabled(context.Background(), toSlogLevel(level))
}

func (l *slogHCLog) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *slogHCLog) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *slogHCLog) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *slogHCLog) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *slogHCLog) IsError() bool { return l.enabled(hclog.Error) }

func (l *slogHCLog) ImpliedArgs() []any { return l.implied }

func (l *slogHCLog) With(args ...any) hclog.Logger {
	c := *l
	c.implied = append(append([]any(nil), l.implied...), args...)
	return &c
}

func (l *slogHCLog) Name() string { return l.name }

func (l *slogHCLog) Named(name string) hclog.Logger {
	c := *l
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (l *slogHCLog) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	return &c
}

// SetLevel is a no-op: the slog handler decides what is logged.
func (l *slogHCLog) SetLevel(hclog.Level) {}

// GetLevel is the lowest level the slog handler logs; go-plugin uses it to
// skip parsing plugin lines that would be dropped anyway.
func (l *slogHCLog) GetLevel() hclog.Level {
	for _, lvl := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if l.enabled(lvl) {
			return lvl
		}
	}
	return hclog.Off
}

func (l *slogHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *slogHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return newLineWriter(func(line string) { l.Info(line) })
}

// lineWriter calls fn for every complete line written to it. It backs the
// plugin's synced stdout and stderr, which only carry output an author
// printed directly instead of logging. Lines longer than 64 KiB are split.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(line string)
}

func newLineWriter(fn func(line string)) *lineWriter { return &lineWriter{fn: fn} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLine {
		w.fn(string(w.buf))
		w.buf = w.buf[:0]
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}

const maxLine = 64 << 10
