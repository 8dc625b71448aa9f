package demo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEchoReflectsRequestButNotCredentials(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest("POST", "/things?x=1", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer secret-token")
	req.Header.Set("API-Key", "tk_secret")
	req.Header.Set("Request-Transaction-Id", "abc")
	rec := httptest.NewRecorder()
	Echo().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if b := rec.Body.String(); strings.Contains(b, "secret-token") || strings.Contains(b, "tk_secret") {
		t.Fatalf("echo reflected a credential: %s", b)
	}
	var got struct {
		Method, Path, Query, Body string
		Headers                   map[string]string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.Path != "/things" || got.Query != "x=1" || got.Body != `{"a":1}` ||
		got.Headers["Request-Transaction-Id"] != "abc" {
		t.Fatalf("echo = %+v", got)
	}
}

func TestEchoHeadHasNoBody(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	Echo().ServeHTTP(rec, httptest.NewRequest("HEAD", "/", nil))
	if rec.Body.Len() != 0 {
		t.Fatalf("HEAD body = %q", rec.Body.String())
	}
}
