package plugins

import (
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// EnvLogLevel names the environment variable through which the hub tells a
// plugin the lowest level it logs (trace, debug, info, warn, error), so a
// plugin does not format lines the hub would drop.
const EnvLogLevel = "SWITCHBOARD_PLUGIN_LOG_LEVEL"

// EnvParentPID names the environment variable through which the hub gives
// a plugin its own pid, so the plugin can tell that the hub died even before
// the plugin got to look at its parent.
const EnvParentPID = "SWITCHBOARD_PLUGIN_PARENT_PID"

// parentPollInterval is how often a plugin checks that the hub still runs.
const parentPollInterval = 250 * time.Millisecond

// Serve runs impl as a connector plugin and returns when the hub closes it;
// main should then return. Call it first thing in main: go-plugin's
// handshake is the first line on stdout, so nothing may print to stdout
// before it (print to stderr, or better use log/slog, which Serve routes
// to the hub's log with level and attributes intact).
//
// The hub owns the plugin's lifetime: Serve ignores SIGINT and SIGTERM (a
// Ctrl-C or a service manager's stop reaches the whole process group, and
// the hub still needs its plugins while it drains), and it exits as soon as
// the hub's process is gone, even if the hub was killed with SIGKILL.
//
// Run by hand, without the hub's handshake, Serve explains that the binary
// is a plugin and exits with status 1.
func Serve(impl Connector) {
	signal.Ignore(os.Interrupt, syscall.SIGTERM)

	// go-plugin replaces os.Stderr with a pipe once serving; logs go to the
	// real stderr, which the hub parses line by line.
	stderr := os.Stderr
	level := parseLevel(os.Getenv(EnvLogLevel))
	slog.SetDefault(slog.New(NewLogHandler(stderr, level)))

	// The hub names itself: if it died before this line, the parent is
	// already init (or a subreaper) and Getppid alone would not notice.
	ppid := os.Getppid()
	if p, err := strconv.Atoi(os.Getenv(EnvParentPID)); err == nil && p > 0 {
		ppid = p
	}
	go watchParent(ppid, parentPollInterval, func() {
		slog.Warn("hub process is gone, exiting")
		os.Exit(2)
	})

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginSet(impl),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Output:     stderr,
			JSONFormat: true,
			Level:      hclogLevel(level),
		}),
	})
}

// watchParent calls gone once the process's parent is not ppid: the parent
// died and the process was re-parented (to init or a subreaper). It is the
// portable backstop of the hub's parent-death signal (Linux only), and also
// covers plugins started by something other than the hub's manager.
func watchParent(ppid int, every time.Duration, gone func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if os.Getppid() != ppid {
			gone()
			return
		}
		<-t.C
	}
}

// NewLogHandler returns a slog.Handler writing JSON lines in hclog's format
// (@level, @message, @timestamp), which go-plugin on the hub's side parses
// and re-logs at the same level with the same attributes. Serve installs it
// as the default logger; use it directly only to log from a plugin before
// Serve or to a different writer.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				lvl, _ := a.Value.Any().(slog.Level)
				return slog.String("@level", hclogLevel(lvl).String())
			case slog.MessageKey:
				return slog.Attr{Key: "@message", Value: a.Value}
			}
			return a
		},
	})
}

// LevelTrace is hclog's trace level expressed as a slog level, below Debug.
const LevelTrace = slog.LevelDebug - 4

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	default:
		return hclog.Error
	}
}

// LevelName is the EnvLogLevel value of a slog level.
func LevelName(l slog.Level) string { return hclogLevel(l).String() }

func parseLevel(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return LevelTrace
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
