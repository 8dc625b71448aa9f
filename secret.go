package tiaki

import "log/slog"

// Secret is a string that must never reach a log line, an error message or a JSON document by
// accident: every formatting path prints a placeholder. Call Reveal where the value is needed.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value. Call it only where the value is used, never to log it.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer with a placeholder, so %s and %v never print the value.
func (s Secret) String() string { return redacted }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps encoders (JSON, YAML) from writing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// IsZero reports whether no secret was given.
func (s Secret) IsZero() bool { return s == "" }
