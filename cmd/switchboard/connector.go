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
func newConnectorCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "connector <id>",
		Short:  "Run a built-in connector as a plugin process (started by serve)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
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
}
