// Command testplugin stands in for `switchboard connector <id>` in the host
// tests: it serves the built-in connectors, plus "testkit", a connector whose
// behaviour a request picks (sleep, panic, exit, log, print) so the tests can
// drive a real plugin process into each failure.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/switchboardhq/switchboard/connectors"
	"github.com/switchboardhq/switchboard/plugins"
)

func main() {
	all := connectors.Builtin()
	all["testkit"] = func() plugins.Connector { return testkit{} }
	if len(os.Args) != 3 || os.Args[1] != "connector" || all[os.Args[2]] == nil {
		fmt.Fprintln(os.Stderr, "usage: testplugin connector <id>")
		os.Exit(2)
	}
	plugins.Serve(all[os.Args[2]]())
}

type testkit struct{}

func (testkit) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID: "testkit", Name: "Test kit", Version: "0",
		Webhook: plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedManual},
	}, nil
}

func (testkit) HandleInbound(ctx context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	switch req.Headers.Get("X-Testkit") {
	case "sleep":
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Minute):
		}
	case "panic":
		panic("testkit panic")
	case "exit":
		os.Exit(3)
	case "log":
		slog.WarnContext(ctx, "testkit handled", "connection", req.Connection, "marker", "m-42")
	case "print":
		fmt.Println("testkit printed to stdout")
	}
	return &plugins.InboundResult{Events: []plugins.NativeEvent{{Type: "ping", Payload: req.Body, IdempotencyKey: "k"}}}, nil
}

func (testkit) Subscribe(context.Context, *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	return &plugins.SubscribeResult{}, nil
}

func (testkit) Unsubscribe(context.Context, *plugins.UnsubscribeRequest) error { return nil }
