// Command testhost is a minimal hub for the host tests that must kill the
// hub itself: it starts one connector plugin, prints "pid <n>" of the plugin
// on stdout and waits to be killed.
//
//	testhost -plugin <path> -id <id>        via host.Manager (parent-death signal)
//	testhost -plugin <path> -id <id> -raw   plain exec, no parent-death signal:
//	                                        only the plugin's own parent watch
//	                                        can end it
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/host"
)

func main() {
	path := flag.String("plugin", "", "plugin executable")
	id := flag.String("id", "dversum", "connector id")
	raw := flag.Bool("raw", false, "start the plugin with plain exec")
	flag.Parse()
	if err := run(*path, *id, *raw); err != nil {
		fmt.Fprintln(os.Stderr, "testhost:", err)
		os.Exit(1)
	}
}

func run(path, id string, raw bool) error {
	if raw {
		cmd := exec.Command(path, "connector", id)
		// What the manager passes, minus the parent-death signal.
		cmd.Env = append(os.Environ(),
			plugins.Handshake.MagicCookieKey+"="+plugins.Handshake.MagicCookieValue,
			plugins.EnvParentPID+"="+strconv.Itoa(os.Getpid()))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		fmt.Printf("pid %d\n", cmd.Process.Pid)
		return cmd.Wait()
	}
	m, err := host.New(host.Config{Builtin: map[string]host.Command{id: {Path: path, Args: []string{"connector", id}}}})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := m.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("pid %d\n", m.Status()[0].PID)
	<-ctx.Done()
	return m.Stop(context.Background())
}
