package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/hub/listen"
)

func newListenCmd() *cobra.Command {
	var port int
	var host, secret string
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Run a local receiver that verifies and prints every delivery",
		Long: `Run a local webhook receiver: point a subscription's delivery_url at it and
watch events arrive, each with its signature checked against --secret
(the subscription's whsec_ secret; env SWITCHBOARD_LISTEN_SECRET).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				secret = os.Getenv("SWITCHBOARD_LISTEN_SECRET")
			}
			addr := fmt.Sprintf("%s:%d", host, port)
			fmt.Fprintf(cmd.ErrOrStderr(), "Listening on http://%s (signature check: %s)\n", addr, map[bool]string{true: "on", false: "off, no --secret"}[secret != ""])
			return listen.Run(cmd.Context(), listen.Config{Addr: addr, Secret: secret, Out: cmd.OutOrStdout()})
		},
	}
	cmd.Flags().IntVar(&port, "port", 4000, "port to listen on")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "interface to listen on")
	cmd.Flags().StringVar(&secret, "secret", "", "subscription secret (whsec_...) to verify signatures with")
	return cmd
}
