package authserver

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestUnknownPathsAnswerJSON(t *testing.T) {
	t.Parallel()
	s := newEnv(t).srv
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/no/such/endpoint", 404, ""},
		{"GET", PathToken, 405, "POST"},
		{"DELETE", PathJWKS, 405, "GET"},
	} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var body map[string]string
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != "application/json" ||
			json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] == "" || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %q Allow %q %s", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Allow"), rec.Body)
		}
	}
}
