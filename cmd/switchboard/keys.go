package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

func newKeysCmd() *cobra.Command {
	var dataDir, databaseURL, masterKeyFile string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys",
		Long: `Manage API keys directly in the store (the hub may be running).
Scopes: ` + strings.Join(apikey.AllScopes, ", ") + ` (admin implies all).`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "./data", "directory of the embedded store")
	cmd.PersistentFlags().StringVar(&databaseURL, "database-url", "", "postgres:// URL of a PostgreSQL store")
	cmd.PersistentFlags().StringVar(&masterKeyFile, "master-key-file", "", "file holding the master key (or SWITCHBOARD_MASTER_KEY); never created here")

	open := func(c *cobra.Command) (store.Store, error) {
		if err := bindEnv(c, storeFlagEnv); err != nil {
			return nil, err
		}
		st, _, err := hub.OpenStore(c.Context(), hub.StoreOptions{
			DataDir: dataDir, DatabaseURL: databaseURL,
			MasterKey: os.Getenv("SWITCHBOARD_MASTER_KEY"), MasterKeyFile: masterKeyFile,
		})
		return st, err
	}

	var name string
	var scopes []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key and print it once",
		RunE: func(c *cobra.Command, _ []string) error {
			for _, s := range scopes {
				if !apikey.ValidScope(s) {
					return fmt.Errorf("--scopes: unknown scope %q (want %s)", s, strings.Join(apikey.AllScopes, ", "))
				}
			}
			st, err := open(c)
			if err != nil {
				return err
			}
			defer st.Close()
			plain, k, err := apikey.Generate(name, scopes)
			if err != nil {
				return err
			}
			if err := st.CreateAPIKey(c.Context(), k); err != nil {
				return fmt.Errorf("storing key: %w", err)
			}
			fmt.Fprintf(c.ErrOrStderr(), "Created key %s (%s) with scopes %s. It is shown once:\n", k.ID, k.Name, strings.Join(k.Scopes, ","))
			fmt.Fprintln(c.OutOrStdout(), plain)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the key is for")
	create.Flags().StringSliceVar(&scopes, "scopes", []string{apikey.ScopeWebhooksRead, apikey.ScopeWebhooksWrite, apikey.ScopeEventsWrite}, "comma-separated scopes")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secret part)",
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := open(c)
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.ListAPIKeys(c.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tSCOPES\tCREATED\tSTATUS")
			for _, k := range keys {
				status := "active"
				if k.RevokedAt != nil {
					status = "revoked " + k.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Scopes, ","), k.CreatedAt.Format(time.RFC3339), status)
			}
			return w.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke <key-id>",
		Short: "Revoke a key; requests with it get 401 from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			st, err := open(c)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.RevokeAPIKey(c.Context(), args[0], time.Now().UTC()); err != nil {
				return fmt.Errorf("revoking key %s: %w", args[0], err)
			}
			fmt.Fprintf(c.OutOrStdout(), "Revoked key %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
