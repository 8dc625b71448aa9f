package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

// BenchmarkCheck tokenizes a 1 KiB JSON document; encoding/json's Valid is the yardstick.
func BenchmarkCheck(b *testing.B) {
	doc := []byte(`{"customer":{"name":"Aroha Ngata","email":"aroha.ngata@example.co.nz","phone":"+64 21 555 0199"},"items":[` +
		strings.Repeat(`{"sku":"KTE-0001","name":"Harakeke kete, medium","quantity":2,"unitPrice":89.95,"currency":"NZD","tags":["gift","handmade"]},`, 6) +
		`{}],"notes":"Please leave at the door \"fragile\"","giftWrap":true,"payment":null}`)
	b.Run("strictjson", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		var d Decoder
		for b.Loop() {
			d.Reset(doc, 0)
			if err := d.Skip(true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-valid", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if !json.Valid(doc) {
				b.Fatal("invalid")
			}
		}
	})
}
