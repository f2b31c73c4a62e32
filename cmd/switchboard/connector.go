package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/connectors"
	"github.com/switchboardhq/switchboard/plugins"
)

// newConnectorCmd is how the hub runs its built-in connectors out of
// process: it re-executes its own binary as `switchboard connector <id>`.
// It speaks go-plugin's protocol on stdout, so it is not for people.
//
// Its subcommand init (connector init NAME) is for people: it scaffolds an
// external connector module.
func newConnectorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connector init NAME",
		Short: "Scaffold an external connector (connector init NAME); connector <id> is run by serve",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			builtin := connectors.Builtin()
			newConnector, ok := builtin[args[0]]
			if !ok {
				return fmt.Errorf("no built-in connector %q (have %s)", args[0],
					strings.Join(slices.Sorted(maps.Keys(builtin)), ", "))
			}
			plugins.Serve(newConnector())
			return nil
		},
	}
	cmd.AddCommand(newConnectorInitCmd())
	return cmd
}
