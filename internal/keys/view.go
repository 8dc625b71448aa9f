package keys

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/tiaki-nz/tiaki"
)

// loadedKey is a stored key with its private half opened.
type loadedKey struct {
	rec    tiaki.SigningKey
	jwk    jose.JSONWebKey // private
	public []byte          // public JWK JSON, as published
}

// openKey opens a stored record into a loadedKey.
func openKey(mk *MasterKey, rec tiaki.SigningKey) (loadedKey, error) {
	jwk, err := openJWK(mk, &rec)
	if err != nil {
		return loadedKey{}, err
	}
	public, err := json.Marshal(jwk.Public())
	if err != nil {
		return loadedKey{}, err
	}
	return loadedKey{rec: rec, jwk: jwk, public: public}, nil
}

// keySet is the keys as last read from the store, oldest first. It is never modified.
type keySet struct {
	keys []loadedKey
}

func (s *keySet) find(kid string) *loadedKey {
	for i := range s.keys {
		if s.keys[i].rec.ID == kid {
			return &s.keys[i]
		}
	}
	return nil
}

// records returns copies of the records of alg's keys, ordered by activation.
func (s *keySet) records(alg string) []tiaki.SigningKey {
	var out []tiaki.SigningKey
	for _, k := range s.keys {
		if k.rec.Algorithm == alg {
			out = append(out, k.rec)
		}
	}
	slices.SortFunc(out, compareActivation)
	return out
}

// view is what the Manager serves between two key events: which keys are published and which
// one signs for each algorithm. It is immutable, so readers share it without locks.
type view struct {
	set         *keySet
	from, until time.Time // the view holds for from <= now < until; zero means unbounded
	jwks        []byte
	private     jose.JSONWebKeySet
	signing     map[string]jose.JSONWebKey
}

func (v *view) covers(now time.Time) bool {
	return (v.from.IsZero() || !now.Before(v.from)) && (v.until.IsZero() || now.Before(v.until))
}

// buildView computes the view of set at time now. algs orders the signing keys at the head of
// the private set; signing keys of other algorithms follow, then the rest in store order.
func buildView(set *keySet, now time.Time, algs []string) *view {
	v := &view{set: set, signing: map[string]jose.JSONWebKey{}}
	signer := map[string]*loadedKey{} // newest by activation among keys that sign now
	var published []*loadedKey
	for i := range set.keys {
		k := &set.keys[i]
		for _, t := range []time.Time{k.rec.ActiveAt, k.rec.RetiredAt, k.rec.ExpiresAt} {
			switch {
			case t.IsZero():
			case !now.Before(t):
				if v.from.IsZero() || t.After(v.from) {
					v.from = t
				}
			case v.until.IsZero() || t.Before(v.until):
				v.until = t
			}
		}
		if !k.rec.Published(now) {
			continue
		}
		published = append(published, k)
		if k.rec.Signs(now) {
			if cur := signer[k.rec.Algorithm]; cur == nil || compareActivation(k.rec, cur.rec) > 0 {
				signer[k.rec.Algorithm] = k
			}
		}
	}
	// Signers of configured algorithms first, in configured order, then any others.
	order := slices.Clone(algs)
	for _, k := range published {
		if signer[k.rec.Algorithm] == k && !slices.Contains(order, k.rec.Algorithm) {
			order = append(order, k.rec.Algorithm)
		}
	}
	var first []*loadedKey
	for _, alg := range order {
		if k := signer[alg]; k != nil {
			first = append(first, k)
			v.signing[alg] = k.jwk
		}
	}
	for _, k := range published {
		if !slices.Contains(first, k) {
			first = append(first, k)
		}
	}
	v.private.Keys = make([]jose.JSONWebKey, 0, len(first))
	v.jwks = append(make([]byte, 0, 64+300*len(first)), `{"keys":[`...)
	for i, k := range first {
		v.private.Keys = append(v.private.Keys, k.jwk)
		if i > 0 {
			v.jwks = append(v.jwks, ',')
		}
		v.jwks = append(v.jwks, k.public...)
	}
	v.jwks = append(v.jwks, "]}"...)
	return v
}
