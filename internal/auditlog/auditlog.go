// Package auditlog records security events: who did what, when, and how it ended, never with a
// secret in them. The gateway emits one Event per request (catalogue LOG-01, LOG-03, LOG-05);
// a BurstDetector watches those events for bursts of authentication failures and emits a
// security event when it sees one (LOG-04).
//
// Start with Event and Sink below. json.go is the production sink (one JSON object per line,
// on a stream of its own), memory.go the sink tests read, burst.go the burst detector.
package auditlog

import (
	"slices"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// Event types. A SIEM can route on them without parsing anything else.
const (
	// TypeRequest is a request the gateway forwarded to its upstream.
	TypeRequest = "gateway.request"
	// TypeDenial is a request the gateway refused (Rule and Reason say why).
	TypeDenial = "gateway.denial"
	// TypeUpstreamError is a request the gateway forwarded whose upstream failed or timed out.
	TypeUpstreamError = "gateway.upstream_error"
	// TypeAuthFailuresBurst is a burst of authentication failures from one client IP or one
	// consumer (LOG-04), emitted by BurstDetector.
	TypeAuthFailuresBurst = "security.auth_failures_burst"
)

// Event is one security event. It names who acted by identifiers only: the consumer, the
// subject and the credential's ID, never the credential itself. The zero value of a field means
// "not known" and sinks leave it out.
type Event struct {
	Type string
	// Time is when the request arrived (for bursts, when the last failure was seen).
	Time time.Time
	// RequestID is the correlation ID the caller and the upstream also see (LOG-02, LOG-05).
	RequestID string

	// Who.
	ClientIP     string
	Consumer     string
	Subject      string
	CredentialID string
	// Credentials lists the mechanisms that authenticated the request.
	Credentials []tiaki.CredentialKind

	// What.
	Route  string
	Method string
	// Path is the request path without its query string, which may carry credentials a
	// caller misplaced.
	Path    string
	Status  int
	Latency time.Duration
	// Rule is the problem type of a denial ("invalid-api-key"), the rule that decided.
	Rule string
	// Reason says why, in words; never a secret (see policy.Denial.Reason).
	Reason string

	// Count and Window describe a burst: Count events within Window.
	Count  int
	Window time.Duration
}

// Sink receives events. Emit is called on the request path after the response has been
// written: it must be quick, must not keep e or anything e points to after it returns (copy
// what it needs), and must be safe for concurrent use.
type Sink interface {
	Emit(e *Event)
}

// Discard is a Sink that drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(*Event) {}

// Tee returns a Sink that hands every event to each of sinks in order.
func Tee(sinks ...Sink) Sink { return tee(slices.Clone(sinks)) }

type tee []Sink

func (t tee) Emit(e *Event) {
	for _, s := range t {
		s.Emit(e)
	}
}
