package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

// keyRecord is a key as both ways of managing keys (the store, a running
// hub's /admin/api-keys) report it.
type keyRecord struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	ConsumerID *string  `json:"consumer_id"`
	Key        string   `json:"key,omitempty"`
	CreatedAt  string   `json:"created_at"`
	RevokedAt  *string  `json:"revoked_at"`
}

// keyManager is where keys commands act: a running hub's API or the store.
type keyManager interface {
	create(ctx context.Context, name string, scopes []string, consumer string) (*keyRecord, error)
	list(ctx context.Context) ([]keyRecord, error)
	revoke(ctx context.Context, id string) error
	Close() error
}

func newKeysCmd() *cobra.Command {
	var dataDir, databaseURL, masterKeyFile, hubURL, apiKey string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys",
		Long: `Manage API keys through a running hub (--hub-url with an admin key in --api-key
or SWITCHBOARD_API_KEY) or directly in an existing store (--data-dir or
--database-url; the hub may be running).
Scopes: ` + strings.Join(apikey.AllScopes, ", ") + ` (admin implies all).
A key created with --consumer acts for that one consumer only and cannot hold admin.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&dataDir, "data-dir", "./data", "directory of the embedded store")
	pf.StringVar(&databaseURL, "database-url", "", "postgres:// URL of a PostgreSQL store")
	pf.StringVar(&masterKeyFile, "master-key-file", "", "file holding the master key (or SWITCHBOARD_MASTER_KEY); never created here")
	pf.StringVar(&hubURL, "hub-url", "", "base URL of a running hub to manage keys through (env SWITCHBOARD_HUB_URL)")
	pf.StringVar(&apiKey, "api-key", "", "admin API key for --hub-url (env SWITCHBOARD_API_KEY)")

	open := func(c *cobra.Command) (keyManager, error) {
		if err := bindEnv(c, keysFlagEnv); err != nil {
			return nil, err
		}
		if hubURL != "" {
			u, err := url.Parse(hubURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("--hub-url must be an http(s) URL such as http://127.0.0.1:8080, got %q", hubURL)
			}
			if apiKey == "" {
				return nil, errors.New("--hub-url needs an admin key: pass --api-key or set SWITCHBOARD_API_KEY")
			}
			return &hubKeys{base: strings.TrimRight(hubURL, "/"), key: apiKey, client: &http.Client{Timeout: 30 * time.Second}}, nil
		}
		st, _, err := hub.OpenStore(c.Context(), hub.StoreOptions{
			DataDir: dataDir, DatabaseURL: databaseURL, Existing: true,
			MasterKey: os.Getenv("SWITCHBOARD_MASTER_KEY"), MasterKeyFile: masterKeyFile,
		})
		if err != nil {
			return nil, err
		}
		return storeKeys{st}, nil
	}

	var name, consumer string
	var scopes []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key and print it once",
		RunE: func(c *cobra.Command, _ []string) error {
			if strings.TrimSpace(name) == "" {
				return errors.New("--name is required: say what the key is for, e.g. --name billing-app")
			}
			// Checked before anything is opened, so a typo changes nothing.
			if _, err := apikey.CheckScopes(scopes, consumer != ""); err != nil {
				return fmt.Errorf("--scopes: %w", err)
			}
			m, err := open(c)
			if err != nil {
				return err
			}
			defer m.Close()
			k, err := m.create(c.Context(), name, scopes, consumer)
			if err != nil {
				return err
			}
			bound := ""
			if k.ConsumerID != nil {
				bound = ", bound to consumer " + *k.ConsumerID
			}
			fmt.Fprintf(c.ErrOrStderr(), "Created key %s (%s) with scopes %s%s. It is shown once:\n", k.ID, k.Name, strings.Join(k.Scopes, ","), bound)
			fmt.Fprintln(c.OutOrStdout(), k.Key)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the key is for (required)")
	create.Flags().StringVar(&consumer, "consumer", "", "bind the key to this consumer id")
	create.Flags().StringSliceVar(&scopes, "scopes", []string{apikey.ScopeWebhooksRead, apikey.ScopeWebhooksWrite, apikey.ScopeEventsWrite}, "comma-separated scopes")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secret part)",
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := open(c)
			if err != nil {
				return err
			}
			defer m.Close()
			keys, err := m.list(c.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tSCOPES\tCONSUMER\tCREATED\tSTATUS")
			for _, k := range keys {
				status, bound := "active", "-"
				if k.RevokedAt != nil {
					status = "revoked " + *k.RevokedAt
				}
				if k.ConsumerID != nil {
					bound = *k.ConsumerID
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Scopes, ","), bound, k.CreatedAt, status)
			}
			return w.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke <key-id>",
		Short: "Revoke a key and its sessions; requests with them get 401 from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, err := open(c)
			if err != nil {
				return err
			}
			defer m.Close()
			if err := m.revoke(c.Context(), args[0]); err != nil {
				return fmt.Errorf("revoking key %s: %w", args[0], err)
			}
			fmt.Fprintf(c.OutOrStdout(), "Revoked key %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// keysFlagEnv are the environment twins of the keys commands' flags.
var keysFlagEnv = map[string]string{
	"data-dir":     "SWITCHBOARD_DATA_DIR",
	"database-url": "SWITCHBOARD_DATABASE_URL",
	"hub-url":      "SWITCHBOARD_HUB_URL",
	"api-key":      "SWITCHBOARD_API_KEY",
}

// storeKeys manages keys in the store itself.
type storeKeys struct{ st store.Store }

func (s storeKeys) Close() error { return s.st.Close() }

func (s storeKeys) create(ctx context.Context, name string, scopes []string, consumer string) (*keyRecord, error) {
	plain, k, err := apikey.Generate(name, scopes, consumer)
	if err != nil {
		return nil, err
	}
	if err := s.st.CreateAPIKey(ctx, k); err != nil {
		return nil, fmt.Errorf("storing key: %w", err)
	}
	r := recordOf(k)
	r.Key = plain
	return &r, nil
}

func (s storeKeys) list(ctx context.Context) ([]keyRecord, error) {
	keys, err := s.st.ListAPIKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]keyRecord, len(keys))
	for i, k := range keys {
		out[i] = recordOf(k)
	}
	return out, nil
}

func (s storeKeys) revoke(ctx context.Context, id string) error {
	return s.st.RevokeAPIKey(ctx, id, time.Now().UTC())
}

func recordOf(k *store.APIKey) keyRecord {
	r := keyRecord{ID: k.ID, Name: k.Name, Scopes: k.Scopes, CreatedAt: k.CreatedAt.Format(time.RFC3339)}
	if k.ConsumerID != "" {
		r.ConsumerID = &k.ConsumerID
	}
	if k.RevokedAt != nil {
		at := k.RevokedAt.Format(time.RFC3339)
		r.RevokedAt = &at
	}
	return r
}

// hubKeys manages keys through a running hub's /admin/api-keys.
type hubKeys struct {
	base, key string
	client    *http.Client
	// consumer, when set, is sent as x-consumer-id (routes that act for
	// one consumer need it from an unbound key).
	consumer string
}

func (h *hubKeys) Close() error { return nil }

func (h *hubKeys) create(ctx context.Context, name string, scopes []string, consumer string) (*keyRecord, error) {
	body := map[string]any{"name": name, "scopes": scopes}
	if consumer != "" {
		body["consumer_id"] = consumer
	}
	var k keyRecord
	if err := h.call(ctx, http.MethodPost, "/admin/api-keys", body, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

func (h *hubKeys) list(ctx context.Context) ([]keyRecord, error) {
	var keys []keyRecord
	err := h.call(ctx, http.MethodGet, "/admin/api-keys", nil, &keys)
	return keys, err
}

func (h *hubKeys) revoke(ctx context.Context, id string) error {
	return h.call(ctx, http.MethodDelete, "/admin/api-keys/"+url.PathEscape(id), nil, nil)
}

// call makes one API request and decodes the envelope's data into out; an
// error answer becomes an error quoting the hub's message.
func (h *hubKeys) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.key)
	if h.consumer != "" {
		req.Header.Set("x-consumer-id", h.consumer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("calling the hub at %s: %w", h.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("reading the hub's answer: %w", err)
	}
	var env struct {
		Data    json.RawMessage `json:"data"`
		Message string          `json:"message"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("the hub at %s answered %s with no JSON envelope", h.base, resp.Status)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("the hub answered %s: %s", resp.Status, env.Message)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Data, out)
}
