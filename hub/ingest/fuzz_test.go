package ingest_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/connectors/dversum"
	"github.com/switchboardhq/switchboard/hub/api/apitest"
)

// FuzzInbound sends arbitrary requests to the inbound route of a real stack
// (SQLite store, the dVersum connector over gRPC, the shipped mappings):
// whatever the service id, token, headers and body, the hub answers with a
// status the OpenAPI document lists, in the API's shapes, never 500 and
// never a panic; and it answers 2xx only for a correctly signed body on the
// connection's own URL.
func FuzzInbound(f *testing.F) {
	e := newEnv(f)
	for _, s := range []string{
		`{"event":"invoice.paid","timestamp":"2024-01-15T10:30:00Z","data":{"id":"inv_1","total":10,"currency":"EUR"}}`,
		`{"event":"customer.created","data":{"id":"c_1","name":"Acme"}}`,
		`{"event":"no.such.event","data":{}}`,
		`{"event":"invoice.paid","data":null}`,
		`{"event":"invoice.paid","data":{"id":{"nested":[1,2]}}}`,
		`[]`, `null`, `{`, ``,
		// Text neither store can hold as sent, in a body fresh enough to be stored.
		`{"event":"invoice.paid","timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `","data":{"id":"inv_\u0000","invoice_number":"\ud800` + "\xff" + `"}}`,
	} {
		f.Add("dversum", uint8(0), []byte(s), true, "application/json")
		f.Add("dversum", uint8(0), []byte(s), false, "text/plain")
	}
	f.Add("deskera", uint8(0), []byte(`{"event":"invoice.paid"}`), true, "")
	f.Add("dversum", uint8(1), []byte(`{"event":"invoice.paid"}`), true, "application/json")
	f.Add("../admin", uint8(2), []byte(`{}`), true, "application/json; charset=utf-8")

	f.Fuzz(func(t *testing.T, service string, tokenKind uint8, body []byte, sign bool, contentType string) {
		token := e.conn.Token
		switch tokenKind % 3 {
		case 1:
			token += "x"
		case 2:
			token = "sb_" + service
		}
		path := "/webhook/inbound/" + url.PathEscape(service) + "/" + url.PathEscape(token)
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if sign {
			req.Header.Set(dversum.HeaderSignature, dversum.Sign(e.secret, body))
		}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)

		if rec.Code >= 500 && rec.Code != http.StatusBadGateway && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d for %s: %s", rec.Code, path, rec.Body)
		}
		if rec.Code < 300 && !(sign && service == "dversum" && tokenKind%3 == 0) {
			t.Fatalf("status %d for a request that is not correctly signed on the connection's URL (%s): %s", rec.Code, path, rec.Body)
		}
		apitest.Conforms(t, http.MethodPost, path, rec.Code, rec.Header(), rec.Body.Bytes())
	})
}
