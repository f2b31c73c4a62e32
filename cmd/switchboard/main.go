// Command switchboard is the one Switchboard binary: the hub (serve), its
// operator tools (keys) and the developer's local receiver (listen).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// exitError ends the process with a chosen code after the command printed
// its own message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "switchboard",
		Short:         "Unified integration connector hub: provider webhooks in, unified signed events out",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newKeysCmd(), newListenCmd(), newMappingsCmd(), newConnectorCmd(), newSendTestEventCmd(), newTriggerCmd(), newBenchCmd(), newFakeProviderCmd())
	return root
}

// bindEnv gives flags their environment twins: a flag the user did not set
// takes the variable's value, so the flag always wins.
func bindEnv(cmd *cobra.Command, twins map[string]string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		env, ok := twins[f.Name]
		if !ok || f.Changed || err != nil {
			return
		}
		if v, set := os.LookupEnv(env); set {
			if e := cmd.Flags().Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}
