package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// BenchmarkValidate1KiB compares the compiled validator with kin-openapi's openapi3filter on
// the same description and the same realistic 1 KiB order:
//
//   - body: the JSON body alone (kin-openapi: decode into map[string]any, then walk the schema;
//     compiled: one pass over the bytes);
//   - request: everything a request costs (route lookup, parameters, Content-Type, reading the
//     body, the body).
//
// go test -run XXX -bench Validate1KiB -benchmem ./internal/policy/openapi/
func BenchmarkValidate1KiB(b *testing.B) {
	v := newValidator(b, "orders.yaml", Config{BasePath: "/v1"})
	body := []byte(order)
	var values [maxPathParams]string
	op, _, _ := v.lookup(newRequest("POST", "/v1/orders", "", nil), &values)
	node := op.body.media[0].node
	if err := validateJSON(node, body, 32, modeRequest, "body"); err != nil {
		b.Fatal(err)
	}
	if err := kinBody(b, newValidator(b, "orders.yaml", Config{}), body); err != nil {
		b.Fatal(err)
	}

	b.Run("body/compiled", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := validateJSON(node, body, 32, modeRequest, "body"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("body/kin-openapi", func(b *testing.B) {
		plain := newValidator(b, "orders.yaml", Config{})
		r := newRequest("POST", "/orders", "", ct("application/json"))
		op, n, _ := plain.lookup(r, &values)
		in := plain.kinInput(op, r, values[:n], nil)
		rb := op.route.Operation.RequestBody.Value
		rd := bytes.NewReader(body)
		ctx := context.Background()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(body)
			in.Request.Body = io.NopCloser(rd)
			in.Request.ContentLength = int64(len(body))
			if err := openapi3filter.ValidateRequestBody(ctx, in, rb); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request/compiled", func(b *testing.B) {
		r := httptest.NewRequest("POST", "https://api.example.govt.nz/v1/orders?limit=5", nil)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json")
		rd := bytes.NewReader(body)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(body)
			r.Body, r.ContentLength = io.NopCloser(rd), int64(len(body))
			if d := v.Check(r, nil); d != nil {
				b.Fatal(d.Detail)
			}
			_ = r.Body.Close() // the gateway's request end returns the buffer
		}
	})
	b.Run("request/kin-openapi", func(b *testing.B) {
		router, err := gorillamux.NewRouter(v.spec.doc)
		if err != nil {
			b.Fatal(err)
		}
		r := httptest.NewRequest("POST", "https://api.example.govt.nz/v1/orders?limit=5", nil)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json")
		rd := bytes.NewReader(body)
		ctx := context.Background()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(body)
			r.Body, r.ContentLength = io.NopCloser(rd), int64(len(body))
			route, params, err := router.FindRoute(r)
			if err != nil {
				b.Fatal(err)
			}
			in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: v.kin.opts}
			if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzValidateBody feeds arbitrary bodies to the compiled validator for POST /orders. It must
// never panic, accept only strict JSON, and agree with kin-openapi: whatever it accepts kin-openapi
// accepts, and whatever it refuses on schema grounds kin-openapi refuses too. (It refuses more
// on JSON grounds: duplicate keys, depth.)
func FuzzValidateBody(f *testing.F) {
	v := newValidator(f, "orders.yaml", Config{})
	var values [maxPathParams]string
	op, _, _ := v.lookup(newRequest("POST", "/orders", "", nil), &values)
	node := op.body.media[0].node
	for _, s := range differentialCorpus() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ours := validateJSON(node, data, 32, modeRequest, "body")
		if ours == nil && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if _, ok := ours.(*syntaxError); ok {
			return
		}
		theirs := kinBody(t, v, data)
		if (ours == nil) != (theirs == nil) {
			t.Fatalf("compiled: %v; kin-openapi: %v\nbody: %q", ours, theirs, data)
		}
	})
}

// FuzzCheck sends arbitrary paths, queries and headers through Check; it must never panic and
// answer only with a client error.
func FuzzCheck(f *testing.F) {
	v := newValidator(f, "orders.yaml", Config{BasePath: "/v1"})
	f.Add("GET", "/v1/orders?limit=5&tags=a,b", "text/csv", "")
	f.Add("GET", "/v1/orders/7c4a8d09-ca37-4c2b-9f44-2d6f1a0e6b1e/items/2", "*/*", "")
	f.Add("POST", "/v1/orders", "application/json", order)
	f.Add("GET", "/v1/orders/%zz/items/x", "", "")
	f.Fuzz(func(t *testing.T, method, target, accept, body string) {
		r, err := http.NewRequest(method, "http://h"+target, bytes.NewReader([]byte(body)))
		if err != nil {
			return
		}
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Request-Id", accept)
		if d := v.Check(r, nil); d != nil && (d.Status < 400 || d.Status > 501) {
			t.Fatalf("%s %s: status %d", method, target, d.Status)
		}
	})
}
