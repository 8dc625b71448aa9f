package waf

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// body1KiB is a realistic 1 KiB JSON order: names with apostrophes, free text, prices, a URL,
// macrons, an email, dates and identifiers.
const body1KiB = `{"orderId":"ord_8f14e45fceea167a5a36dedd4bea2543","createdAt":"2026-03-01T10:15:00+13:00",` +
	`"customer":{"id":"cus_1234","givenName":"Aroha","familyName":"O'Brien","email":"aroha.obrien@example.co.nz",` +
	`"phone":"+64 21 555 0123","loyaltyTier":"GOLD"},"items":[{"sku":"KETE_01","description":"Harakeke kete, hand woven",` +
	`"quantity":2,"unitPrice":49.95,"currency":"NZD"},{"sku":"PNMU_7","description":"Pounamu pendant (small)",` +
	`"quantity":1,"unitPrice":120,"currency":"NZD"},{"sku":"TEA_250","description":"Kawakawa tea, 250g",` +
	`"quantity":3,"unitPrice":12.5,"currency":"NZD"}],"shippingAddress":{"line1":"12 Queen Street","line2":"Level 3",` +
	`"suburb":"Auckland Central","city":"Tamaki Makaurau","postcode":"1010","country":"NZ"},"billingSameAsShipping":true,` +
	`"notes":"Please leave at the door if nobody's home; ring twice.",` +
	`"channel":"web","campaign":"SPRING_SALE","referrer":"https://www.example.co.nz/promo?utm_source=newsletter",` +
	`"consents":{"marketing":false,"terms":true},"paymentMethod":"card","tags":["gift","express"],` +
	`"deliverBy":"2026-03-03T17:00:00+13:00"}`

// benchRequest is a POST of body1KiB whose body another policy has already buffered, as in the
// gateway's full pipeline (content checks and OpenAPI validation read it first).
func benchRequest(b *testing.B) *http.Request {
	if len(body1KiB) < 1000 || len(body1KiB) > 1100 {
		b.Fatalf("the benchmark body is %d bytes, want about 1 KiB", len(body1KiB))
	}
	r := httptest.NewRequest(http.MethodPost, "/orders/v1/orders?dryRun=false", bytes.NewReader([]byte(body1KiB)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig")
	if _, err := ReadBody(r, 1<<20); err != nil {
		b.Fatal(err)
	}
	return r
}

func benchmarkLevel(b *testing.B, g *Guard) {
	r := benchRequest(b)
	if d := g.Check(r, nil); d != nil {
		b.Fatalf("the benchmark request is refused: %v", d)
	}
	b.SetBytes(int64(len(body1KiB)))
	b.ReportAllocs()
	for b.Loop() {
		if d := g.Check(r, nil); d != nil {
			b.Fatal(d)
		}
	}
}

func BenchmarkStandard1KiB(b *testing.B) { benchmarkLevel(b, mustNew(b, Config{Level: Standard})) }

func BenchmarkStrict1KiB(b *testing.B) { benchmarkLevel(b, mustStrict(b)) }

// BenchmarkStandard1KiBUnread includes reading the body from the request, as when the filter
// is the first policy that needs it.
func BenchmarkStandard1KiBUnread(b *testing.B) {
	g := mustNew(b, Config{Level: Standard})
	r := benchRequest(b)
	body := &rewindBody{}
	r.Body = body
	b.SetBytes(int64(len(body1KiB)))
	b.ReportAllocs()
	for b.Loop() {
		body.Reset([]byte(body1KiB))
		r.Body = body
		if d := g.Check(r, nil); d != nil {
			b.Fatal(d)
		}
	}
}

type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

var _ io.ReadCloser = (*rewindBody)(nil)
