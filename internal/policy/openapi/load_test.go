package openapi

import "testing"

// TestLoadYAML12: issue #11 item 2. Descriptions are read by yamldoc, the reader of the
// configuration and the probe: a %YAML 1.2 directive is accepted, a plain scalar may hold "?"
// and ":" inside a flow sequence, "yes" is a string, and 0777 is the decimal 777 (YAML 1.2),
// not the octal 511 (YAML 1.1).
func TestLoadYAML12(t *testing.T) {
	t.Parallel()
	v := newValidator(t, "yaml12.yaml", Config{})
	for _, body := range []string{`{"kind":"a?b"}`, `{"kind":"c:d"}`, `{"kind":"yes"}`, `{"count":700}`} {
		if d := v.Check(newRequest("POST", "/permits", body, ct("application/json")), nil); d != nil {
			t.Errorf("%s refused: %s", body, d.Detail)
		}
	}
	for _, body := range []string{`{"kind":"a"}`, `{"count":778}`, `{"kind":true}`} {
		if d := v.Check(newRequest("POST", "/permits", body, ct("application/json")), nil); d == nil {
			t.Errorf("%s accepted", body)
		}
	}
}
