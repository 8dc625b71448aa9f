package openapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

func TestResponses(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "orders.yaml", Config{MaxResponse: 2048})
	fb := newValidator(t, "fallback.yaml", Config{})
	const id = "7c4a8d09-ca37-4c2b-9f44-2d6f1a0e6b1e"
	const good = `{"id":"` + id + `","status":"open","customer":{"name":"A","email":"a@b.nz"},"items":[{"sku":"ABC-0001","quantity":1,"unitPrice":1}]}`
	problem := func(w http.ResponseWriter, r *http.Request) {
		policy.Render(w, r, &policy.Denial{Status: 504, Type: "gateway-timeout", Detail: "The upstream did not answer in time."})
	}
	tests := []struct {
		name       string
		v          *Validator
		method     string
		target     string
		status     int
		ctype      string
		body       string
		handler    http.HandlerFunc // instead of status, ctype, body
		wantReason string           // "" passes
	}{
		{name: "valid", method: "POST", target: "/orders", status: 201, ctype: "application/json", body: good},
		{name: "declared 4XX problem", method: "POST", target: "/orders", status: 422, ctype: "application/problem+json", body: `{"title":"no"}`},
		{name: "the gateway's own error", method: "POST", target: "/orders", handler: problem},
		{name: "HEAD", method: "HEAD", target: "/orders", status: 200, ctype: "application/json"},
		{name: "no body declared, none sent", method: "DELETE", target: "/orders/" + id, status: 204},
		{name: "undeclared path is the request policy's business", method: "GET", target: "/elsewhere", status: 500, ctype: "text/html", body: "<pre>trace</pre>"},
		{name: "undeclared status", method: "POST", target: "/orders", status: 500, ctype: "text/html", body: "<pre>panic: at main.go:12</pre>",
			wantReason: "openapi POST /orders: status 500 is not in the description"},
		{name: "missing required", method: "POST", target: "/orders", status: 201, ctype: "application/json", body: strings.Replace(good, `"status":"open",`, "", 1),
			wantReason: "openapi POST /orders: response.status: is required"},
		{name: "writeOnly returned", method: "POST", target: "/orders", status: 201, ctype: "application/json", body: strings.Replace(good, `{"id"`, `{"secret":"hunter2","id"`, 1),
			wantReason: "openapi POST /orders: response.secret: is write-only and must not be returned"},
		{name: "wrong content type", method: "POST", target: "/orders", status: 201, ctype: "text/html", body: "<html></html>",
			wantReason: "openapi POST /orders: Content-Type text/html is not declared for status 201"},
		{name: "no content type", method: "POST", target: "/orders", status: 201, body: good,
			wantReason: "openapi POST /orders: Content-Type missing or malformed"},
		{name: "malformed JSON", method: "POST", target: "/orders", status: 201, ctype: "application/json", body: `{"id":`,
			wantReason: "openapi POST /orders: not valid JSON: json: unexpected end of JSON at byte 6"},
		{name: "body where none declared", method: "DELETE", target: "/orders/" + id, status: 204, body: "x",
			wantReason: "openapi DELETE /orders/{orderId}: a body where status 204 declares none"},
		{name: "too large", method: "POST", target: "/orders", status: 201, ctype: "application/json", body: `"` + strings.Repeat("x", 3000) + `"`,
			wantReason: "openapi POST /orders: response larger than 2048 bytes"},
		{name: "fallback operation", v: fb, method: "POST", target: "/labels", status: 500, ctype: "text/plain", body: "boom",
			wantReason: "openapi POST /labels: response: does not match the API description"},
		{name: "fallback operation, valid", v: fb, method: "POST", target: "/labels", status: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			val := v
			if tt.v != nil {
				val = tt.v
			}
			next := tt.handler
			if next == nil {
				next = func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Upstream", "yes")
					if tt.ctype != "" {
						w.Header().Set("Content-Type", tt.ctype)
					}
					w.WriteHeader(tt.status)
					_, _ = w.Write([]byte(tt.body))
				}
			}
			rec := httptest.NewRecorder()
			rec.Header().Set("Strict-Transport-Security", "max-age=63072000")
			r := newRequest(tt.method, tt.target, "", nil)
			err := val.Responses().Enforce(rec, r, next)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tt.handler == nil && (rec.Code != tt.status || tt.method != "HEAD" && rec.Body.String() != tt.body || rec.Header().Get("X-Upstream") != "yes") {
					t.Errorf("passed on %d %q %v", rec.Code, rec.Body, rec.Header())
				}
				return
			}
			d, ok := err.(*policy.Denial)
			if !ok || d.Status != 502 || d.Type != "invalid-response" || d.Reason != tt.wantReason {
				t.Fatalf("got %v\nwant 502 with reason %q", err, tt.wantReason)
			}
			policy.Render(rec, r, d)
			if rec.Code != 502 || strings.Contains(rec.Body.String(), tt.body) || rec.Header().Get("X-Upstream") != "" {
				t.Errorf("the client saw the upstream's response: %d %s %v", rec.Code, rec.Body, rec.Header())
			}
			if rec.Header().Get("Strict-Transport-Security") == "" {
				t.Error("the gateway's own headers were lost")
			}
		})
	}
}
