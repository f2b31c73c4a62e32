package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard"
	"github.com/switchboardhq/switchboard/connectors/dversum"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

func newSendTestEventCmd() *cobra.Command {
	var dataDir, databaseURL, masterKeyFile, hubURL, connID, eventName string
	cmd := &cobra.Command{
		Use:   "send-test-event",
		Short: "Send a realistic, signed provider webhook to a connection's inbound URL",
		Long: `Play the provider: build a sample webhook for --event (from the samples
shipped in testdata/), sign it with the connection's signing secret and post
it to the connection's inbound URL on a running hub, so you can watch
provider -> hub -> subscriber without a provider account.`,
		Example: `  switchboard send-test-event --connection <id> --event invoice.paid`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := bindEnv(c, storeFlagEnv); err != nil {
				return err
			}
			if hubURL == "" {
				hubURL = os.Getenv("SWITCHBOARD_PUBLIC_URL")
			}
			if hubURL == "" {
				hubURL = "http://" + envOr("SWITCHBOARD_ADDR", "127.0.0.1:8080")
			}
			st, _, err := hub.OpenStore(c.Context(), hub.StoreOptions{
				DataDir: dataDir, DatabaseURL: databaseURL, Existing: true,
				MasterKey: os.Getenv("SWITCHBOARD_MASTER_KEY"), MasterKeyFile: masterKeyFile,
			})
			if err != nil {
				return err
			}
			// The operator holds the store itself: every consumer's
			// connections are theirs to test.
			conn, err := st.GetConnection(c.Context(), store.AllConsumers(), connID)
			st.Close()
			if err != nil {
				return fmt.Errorf("--connection %s: %w", connID, err)
			}
			body, err := switchboard.Sample(conn.ServiceID, eventName)
			if err != nil {
				return fmt.Errorf("--event: %w", err)
			}
			meta, err := switchboard.Meta(conn.ServiceID, eventName)
			if err != nil {
				return err
			}
			// Fresh provider ids and times make every send a new provider
			// event rather than a redelivery the hub would deduplicate.
			if body, err = restamp(body, time.Now().UTC()); err != nil {
				return err
			}
			inbound := strings.TrimRight(hubURL, "/") + "/webhook/inbound/" + conn.ServiceID + "/" + conn.Token
			if len(meta.Query) > 0 {
				inbound += "?" + url.Values(meta.Query).Encode()
			}
			req, err := http.NewRequestWithContext(c.Context(), http.MethodPost, inbound, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range meta.Headers {
				req.Header.Set(k, v)
			}
			if conn.ServiceID == dversum.ID {
				req.Header.Set(dversum.HeaderSignature, dversum.Sign(conn.Credentials[plugins.CredentialSigningSecret], body))
			}
			resp, err := sendClient.Do(req)
			if err != nil {
				// *url.Error quotes the URL, and the URL holds the
				// connection's token: keep only the cause.
				var uerr *url.Error
				if errors.As(err, &uerr) {
					err = uerr.Err
				}
				return fmt.Errorf("posting to the hub at %s (is it running? --hub-url): %w", hubURL, err)
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			fmt.Fprintf(c.OutOrStdout(), "POST %s/webhook/inbound/%s/… %s event %s\n-> %s\n%s\n",
				strings.TrimRight(hubURL, "/"), conn.ServiceID, conn.ServiceID, eventName, resp.Status, answer)
			if resp.StatusCode >= 300 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&connID, "connection", "", "id of the connection (from POST /vault/connections)")
	f.StringVar(&eventName, "event", "invoice.paid", "the provider's native event type")
	f.StringVar(&hubURL, "hub-url", "", "base URL of the running hub (default $SWITCHBOARD_PUBLIC_URL or http://$SWITCHBOARD_ADDR)")
	f.StringVar(&dataDir, "data-dir", "./data", "directory of the embedded store")
	f.StringVar(&databaseURL, "database-url", "", "postgres:// URL of a PostgreSQL store")
	f.StringVar(&masterKeyFile, "master-key-file", "", "file holding the master key (or SWITCHBOARD_MASTER_KEY); never created here")
	_ = cmd.MarkFlagRequired("connection")
	return cmd
}

// restamp gives a sample a fresh identity: the top-level time fields the
// providers' samples carry become now and their event ids become new, so
// the hub sees a new provider event each time.
func restamp(body []byte, now time.Time) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("sample is not a JSON object: %w", err)
	}
	ts, _ := json.Marshal(now.Format(time.RFC3339))
	for _, k := range []string{"timestamp", "created_at"} {
		if _, ok := m[k]; ok {
			m[k] = ts
		}
	}
	if _, ok := m["timestamp"]; !ok {
		if _, ok := m["created_at"]; !ok {
			m["timestamp"] = ts
		}
	}
	for _, k := range []string{"message_id", "eventId", "event_id"} {
		if _, ok := m[k]; ok {
			id, _ := json.Marshal(store.NewID())
			m[k] = id
		}
	}
	return json.MarshalIndent(m, "", "  ")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// sendClient posts the samples; the hub's answer headers are capped like
// every outbound call of this binary.
var sendClient = &http.Client{Transport: netguard.CappedTransport(), Timeout: time.Minute}
