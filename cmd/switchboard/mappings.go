package main

import (
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
		Use:   "lint",
		Short: "Validate mapping files; exits non-zero and names the file, JSON pointer and reason on error",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := bindEnv(c, map[string]string{"mappings-dir": "SWITCHBOARD_MAPPINGS_DIR"}); err != nil {
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
