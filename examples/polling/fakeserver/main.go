// Command fakeserver runs the Tasklist provider of the poll-only example
// connector (examples/polling) for trying it by hand:
//
//	go run ./examples/polling/fakeserver -addr 127.0.0.1:9090 -token t0k3n
//	curl -H 'authorization: Bearer t0k3n' -d '{"id":"t1","title":"Call back"}' 127.0.0.1:9090/tasks
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/switchboardhq/switchboard/examples/polling/tasklistfake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	token := flag.String("token", "t0k3n", "the bearer token it accepts")
	flag.Parse()
	log.Printf("fake Tasklist on http://%s (token %s)", *addr, *token)
	srv := &http.Server{Addr: *addr, Handler: tasklistfake.NewHandler(*token), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
