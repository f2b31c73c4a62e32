package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/hub/listen"
)

func newListenCmd() *cobra.Command {
	var port int
	var host, secret, forwardTo, events string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Run a local receiver that verifies, prints and optionally forwards every delivery",
		Long: `Run a local webhook receiver: point a subscription's delivery_url at it and
watch events arrive, each with its signature checked against --secret
(the subscription's whsec_ secret; env SWITCHBOARD_LISTEN_SECRET).

With --forward-to URL each verified delivery is relayed to URL with the same
body and webhook-* headers, and the hub is answered with URL's status (502
when it cannot be reached, 504 when it times out); the application's status
and answer are printed with the delivery. --events limits what is
shown and forwarded; other event types are answered 204 and dropped.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				secret = os.Getenv("SWITCHBOARD_LISTEN_SECRET")
			}
			cfg := listen.Config{
				Addr:      net.JoinHostPort(host, fmt.Sprint(port)),
				Secret:    secret,
				Out:       cmd.OutOrStdout(),
				ForwardTo: forwardTo,
				JSON:      asJSON,
			}
			if events != "" {
				cfg.Events = strings.Split(events, ",")
			}
			// Checked before binding, so a wrong secret never leaves a
			// receiver answering 401 to everything.
			if err := cfg.Validate(); err != nil {
				return err
			}
			check := "on"
			if secret == "" {
				check = "off, no --secret"
			}
			cfg.OnListen = func(addr net.Addr) {
				msg := fmt.Sprintf("Listening on http://%s (signature check: %s)", addr, check)
				if forwardTo != "" {
					msg += ", forwarding to " + forwardTo
				}
				fmt.Fprintln(cmd.ErrOrStderr(), msg)
			}
			return listen.Run(cmd.Context(), cfg)
		},
	}
	cmd.Flags().IntVar(&port, "port", 4000, "port to listen on")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "interface to listen on")
	cmd.Flags().StringVar(&secret, "secret", "", "subscription secret (whsec_...) to verify signatures with")
	cmd.Flags().StringVar(&forwardTo, "forward-to", "", "relay each verified delivery to this http(s) URL and answer with its status")
	cmd.Flags().StringVar(&events, "events", "", "comma-separated event types to show and forward (others are answered 204)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line per delivery")
	return cmd
}
