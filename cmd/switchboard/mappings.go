package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/hub/mapping"
)

func newMappingsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mappings",
		Short: "Work with mapping files",
	}
	var dir string
	lint := &cobra.Command{
		Use:   "lint [DIR]",
		Short: "Validate mapping files; exits non-zero and names the file, JSON pointer and reason on error",
		Long: `Validate the mapping files of DIR (or --mappings-dir, default ./mappings).
Exits non-zero and names the file, JSON pointer and reason of every problem.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				if c.Flags().Changed("mappings-dir") && dir != args[0] {
					return fmt.Errorf("give the directory once: DIR %q and --mappings-dir %q differ", args[0], dir)
				}
				dir = args[0]
			} else if err := bindEnv(c, map[string]string{"mappings-dir": "SWITCHBOARD_MAPPINGS_DIR"}); err != nil {
				return err
			}
			if !mapping.LintCommandOutput(c.OutOrStdout(), dir) {
				return exitError{code: 1}
			}
			return nil
		},
	}
	lint.Flags().StringVar(&dir, "mappings-dir", "mappings", "directory of the mapping files")
	cmd.AddCommand(lint)
	return cmd
}
