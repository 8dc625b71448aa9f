package ratelimit

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

// Response field names, in canonical form (draft-ietf-httpapi-ratelimit-headers §4, §5).
const (
	policyField = "Ratelimit-Policy"
	stateField  = "Ratelimit"
)

// fields writes one policy's RateLimit-Policy and RateLimit fields. Each is a Structured Field
// list (RFC 9651) whose members name the policy, so several policies on one route add a member
// each: RateLimit-Policy: "ip";q=1020;w=60 and RateLimit: "ip";r=1019;t=1.
type fields struct {
	name string
	// policy is the whole RateLimit-Policy member, built once. The slice has len == cap, so
	// whoever appends to the header field copies it rather than writing into it.
	policy []string
}

// newFields describes a policy of quota units per window (the draft's "q" and "w" parameters).
func newFields(name string, quota int64, window time.Duration) fields {
	v := `"` + name + `";q=` + strconv.FormatInt(quota, 10) + ";w=" + strconv.FormatInt(ceilSeconds(window), 10)
	return fields{name: name, policy: []string{v}}
}

// fieldBuf holds everything one add needs in one allocation: the RateLimit value's bytes and
// room for both fields' slices when earlier policies already set them.
type fieldBuf struct {
	policies [3]string
	states   [3]string
	b        [64]byte
}

// add writes the policy's fields into h: r ("remaining") quota units left, and t ("reset")
// seconds until the quota is whole again (§5.1, §5.2). It allocates once.
func (f *fields) add(h http.Header, remaining int64, reset time.Duration) {
	buf := new(fieldBuf)
	b := append(buf.b[:0], '"')
	b = append(b, f.name...)
	b = append(b, `";r=`...)
	b = strconv.AppendInt(b, max(remaining, 0), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(reset), 10)
	var state string
	if len(b) <= len(buf.b) && &b[0] == &buf.b[0] {
		// buf.b is never written again, so a string may share its bytes.
		state = unsafe.String(&buf.b[0], len(b))
	} else {
		state = string(b)
	}
	if old := h[policyField]; len(old) == 0 {
		h[policyField] = f.policy
	} else {
		h[policyField] = appendInto(buf.policies[:], old, f.policy[0])
	}
	h[stateField] = appendInto(buf.states[:], h[stateField], state)
}

// appendInto returns old with v appended, built in spare when it fits; the result has
// len == cap, so later appends by anyone copy it.
func appendInto(spare, old []string, v string) []string {
	if len(old) >= len(spare) {
		return append(old[:len(old):len(old)], v)
	}
	n := copy(spare, old)
	spare[n] = v
	return spare[: n+1 : n+1]
}

// ceilSeconds rounds d up to whole seconds, never below zero.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// refusals hands out the 429 denial for a Retry-After, reusing one per whole second: a denial
// must not change once returned, and building one per refused request would make floods cost
// an allocation each. Distinct values share a small direct-mapped cache.
type refusals struct {
	proto policy.Denial
	cache [64]atomic.Pointer[policy.Denial]
}

// get returns the refusal with Retry-After of retry rounded up to whole seconds (at least 1).
func (rs *refusals) get(retry time.Duration) *policy.Denial {
	secs := max(ceilSeconds(retry), 1)
	after := time.Duration(secs) * time.Second
	slot := &rs.cache[secs%int64(len(rs.cache))]
	if d := slot.Load(); d != nil && d.RetryAfter == after {
		return d
	}
	d := rs.proto
	d.RetryAfter = after
	slot.Store(&d)
	return &d
}
