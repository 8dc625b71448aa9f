package authserver

import (
	"context"
	"net/http"

	"github.com/tiaki-nz/tiaki"
)

// exchange is what Tiaki's hooks learn while the engine serves one request, carried in the
// request context: the error the engine reported, the version of every stored record the
// request read (so its writes are compare-and-set against what it read), and facts about the
// request that the engine's hooks cannot see themselves. One request is served by one
// goroutine, so an exchange needs no lock.
type exchange struct {
	// cause is the first error the engine reported through its error hook.
	cause error
	// internal is a dependency's failure the engine would misreport as the client's fault.
	internal error
	// lostRace is set when a compare-and-set write lost to another request.
	lostRace bool
	// grantType is the token request's grant_type.
	grantType string
	// clientID names the client the request says it is (not yet authenticated).
	clientID string
	// revokedToken is the access token presented at the revocation or introspection endpoint:
	// a JWT's claims parsed without verification, trusted only once the engine has verified
	// the token; an opaque token's once opened. Its jti is recorded only once the engine has
	// revoked its grant, and a shared grant is rebuilt from it (sharedGrantOf).
	revokedToken *jwtClaims
	// placeholder and sealed are the engine's value of the opaque access token issued in this
	// request and the sealed token that replaces it in the response (opaque.go).
	placeholder, sealed string
	// records holds what this request read from the session store, by kind and ID.
	records map[recordKey]*readRecord
}

// recordKey names a stored record.
type recordKey struct {
	kind tiaki.SessionKind
	id   string
}

// readRecord is what a request read of a record: the version its update must match, the
// index values it must keep, and the state a change is measured against.
type readRecord struct {
	version    int64
	indexes    map[string]string
	revoked    bool
	refreshExp int // the refresh token's expiry (Unix seconds) when read
}

type exchangeKey struct{}

func newExchange(r *http.Request) *exchange {
	x := &exchange{grantType: r.PostForm.Get("grant_type"), clientID: clientID(r)}
	if x.clientID == "" {
		x.clientID = assertionIssuer(r.PostForm.Get("client_assertion"))
	}
	return x
}

func withExchange(ctx context.Context, x *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, x)
}

// exchangeFrom returns the exchange of the request ctx belongs to, or nil outside one.
func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// read returns what the request read of a record, or nil.
func (x *exchange) read(kind tiaki.SessionKind, id string) *readRecord {
	if x == nil {
		return nil
	}
	return x.records[recordKey{kind, id}]
}

// remember notes what the request read or wrote of a record, so a later write in the same
// request updates exactly that version.
func (x *exchange) remember(kind tiaki.SessionKind, id string, rr *readRecord) {
	if x == nil {
		return
	}
	if x.records == nil {
		x.records = make(map[recordKey]*readRecord, 2)
	}
	x.records[recordKey{kind, id}] = rr
}
