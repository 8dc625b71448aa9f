package storetest

import (
	"testing"
	"time"

	"github.com/tiaki-nz/tiaki"
)

// newSigningKey returns a key with every field set; its sealed bytes cover every byte value,
// so a store that treats them as text corrupts them visibly.
func newSigningKey(id string, created time.Time) *tiaki.SigningKey {
	sealed := make([]byte, 512)
	for i := range sealed {
		sealed[i] = byte(i * 7)
	}
	return &tiaki.SigningKey{
		ID:            id,
		Algorithm:     "ES256",
		PublicJWK:     []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `","x":"MKBC","y":"4Etl"}`),
		SealedPrivate: sealed,
		CreatedAt:     created,
		ActiveAt:      created.Add(time.Hour),
		RetiredAt:     created.Add(90 * 24 * time.Hour),
		ExpiresAt:     created.Add(91 * 24 * time.Hour),
	}
}

func wantSigningKey(k *tiaki.SigningKey) tiaki.SigningKey {
	w := *k
	w.PublicJWK = nilIfEmpty(k.PublicJWK)
	w.SealedPrivate = nilIfEmpty(k.SealedPrivate)
	w.CreatedAt = stored(k.CreatedAt)
	w.ActiveAt = stored(k.ActiveAt)
	w.RetiredAt = stored(k.RetiredAt)
	w.ExpiresAt = stored(k.ExpiresAt)
	return w
}

func checkSigningKeys(t *testing.T, s tiaki.Store, want ...*tiaki.SigningKey) {
	t.Helper()
	got, err := s.SigningKeys(ctx(t))
	mustNot(t, "SigningKeys", err)
	var w []tiaki.SigningKey
	for _, k := range want {
		w = append(w, wantSigningKey(k))
	}
	diff(t, "SigningKeys", nilIfEmpty(got), w)
	for _, k := range got {
		checkUTC(t, "SigningKey "+k.ID, k.CreatedAt, k.ActiveAt, k.RetiredAt, k.ExpiresAt)
	}
}

var signingKeyTests = []test{
	{"RoundTripOldestFirst", func(t *testing.T, s tiaki.Store) {
		checkSigningKeys(t, s)
		// IDs sort in another order than creation times, so ordering by ID fails.
		newest := newSigningKey("a-newest", at(30*24*time.Hour))
		oldest := newSigningKey("z-oldest", at(-30*24*time.Hour))
		middle := newSigningKey("m-middle", at(0))
		middle.RetiredAt, middle.ExpiresAt = time.Time{}, time.Time{}
		twin := newSigningKey("m-middle2", at(0)) // same creation time: ordered by ID
		twin.Algorithm = "PS256"
		twin.PublicJWK, twin.SealedPrivate = []byte{}, nil
		for _, k := range []*tiaki.SigningKey{newest, twin, oldest, middle} {
			mustNot(t, "PutSigningKey "+k.ID, s.PutSigningKey(ctx(t), k))
		}
		checkSigningKeys(t, s, oldest, middle, twin, newest)
	}},
	{"PutReplaces", func(t *testing.T, s tiaki.Store) {
		k := newSigningKey("k1", at(0))
		k.RetiredAt, k.ExpiresAt = time.Time{}, time.Time{}
		mustNot(t, "PutSigningKey", s.PutSigningKey(ctx(t), k))
		k.RetiredAt = at(time.Hour)
		k.ExpiresAt = at(2 * time.Hour)
		mustNot(t, "PutSigningKey (retire)", s.PutSigningKey(ctx(t), k))
		checkSigningKeys(t, s, k)
	}},
	{"Delete", func(t *testing.T, s tiaki.Store) {
		wantErr(t, "DeleteSigningKey of a missing key", s.DeleteSigningKey(ctx(t), "ghost"), tiaki.ErrNotFound)
		a, b := newSigningKey("a", at(0)), newSigningKey("b", at(time.Hour))
		mustNot(t, "PutSigningKey", s.PutSigningKey(ctx(t), a))
		mustNot(t, "PutSigningKey", s.PutSigningKey(ctx(t), b))
		mustNot(t, "DeleteSigningKey", s.DeleteSigningKey(ctx(t), "a"))
		wantErr(t, "second DeleteSigningKey", s.DeleteSigningKey(ctx(t), "a"), tiaki.ErrNotFound)
		checkSigningKeys(t, s, b)
	}},
	{"Copies", func(t *testing.T, s tiaki.Store) {
		k := newSigningKey("k1", at(0))
		want := *k
		want.SealedPrivate = append([]byte(nil), k.SealedPrivate...)
		mustNot(t, "PutSigningKey", s.PutSigningKey(ctx(t), k))
		k.SealedPrivate[0] ^= 0xff
		got, err := s.SigningKeys(ctx(t))
		mustNot(t, "SigningKeys", err)
		got[0].SealedPrivate[1] ^= 0xff
		got[0].PublicJWK[0] = '['
		checkSigningKeys(t, s, &want)
	}},
	{"Invalid", func(t *testing.T, s tiaki.Store) {
		wantErr(t, "PutSigningKey(nil)", s.PutSigningKey(ctx(t), nil), tiaki.ErrInvalid)
		for _, bad := range badKeys {
			wantErr(t, "PutSigningKey with "+bad.name+" ID", s.PutSigningKey(ctx(t), newSigningKey(bad.s, at(0))), tiaki.ErrInvalid)
			wantErr(t, "DeleteSigningKey with "+bad.name+" ID", s.DeleteSigningKey(ctx(t), bad.s), tiaki.ErrNotFound)
		}
		for _, bad := range badText {
			k := newSigningKey("k1", at(0))
			k.Algorithm = bad.s
			wantErr(t, "PutSigningKey with "+bad.name+" algorithm", s.PutSigningKey(ctx(t), k), tiaki.ErrInvalid)
		}
		k := newSigningKey("k1", time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC))
		wantErr(t, "PutSigningKey created before year 1", s.PutSigningKey(ctx(t), k), tiaki.ErrInvalid)
		checkSigningKeys(t, s)
	}},
}
