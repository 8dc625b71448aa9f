package authserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/luikyv/go-oidc/pkg/goidc"
)

// The engine rebuilds its signer, marshals the claims three times and re-derives the keys'
// algorithms on every token it signs or verifies. The fast paths (issueFast, introspectFast)
// do that work once per key set instead: keyIndex is computed when the key cache refreshes,
// and jwtSigner holds a key's precomputed protected header. Everything here produces the same
// bytes the engine would (go-jose's encoder, sorted keys), so the fast paths change cost,
// never output.

// accessTokenType is the typ header of access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// keyIndex is what the fast paths need from one key set, derived once per snapshot.
type keyIndex struct {
	// sigAlgs are the algorithms a token may be signed with: those of every key whose use is
	// signature, as the engine lists them for jwt.ParseSigned.
	sigAlgs []jose.SignatureAlgorithm
	// verifiers maps each key ID to the public half of the first key with that ID (the key the
	// engine would verify with), whatever its use; the caller checks use.
	verifiers map[string]jose.JSONWebKey
	// signers maps an algorithm to the signer of the first key with that algorithm (the key the
	// engine would sign with), or nil when the fast path cannot sign with it.
	signers map[string]*jwtSigner
}

func newKeyIndex(set goidc.JSONWebKeySet) keyIndex {
	idx := keyIndex{verifiers: make(map[string]jose.JSONWebKey), signers: make(map[string]*jwtSigner)}
	for _, key := range set.Keys {
		if keyUsage(key) == string(goidc.KeyUsageSignature) {
			idx.sigAlgs = append(idx.sigAlgs, jose.SignatureAlgorithm(key.Algorithm))
		}
		if _, seen := idx.verifiers[key.KeyID]; !seen {
			idx.verifiers[key.KeyID] = key.Public()
		}
		if _, seen := idx.signers[key.Algorithm]; !seen {
			idx.signers[key.Algorithm] = newJWTSigner(key) // nil unless an ECDSA private key
		}
	}
	return idx
}

// keyUsage is the engine's reading of a key's use: its "use", else what its algorithm implies.
func keyUsage(key jose.JSONWebKey) string {
	if key.Use != "" {
		return key.Use
	}
	switch key.Algorithm {
	case "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "HS256", "HS384", "HS512":
		return string(goidc.KeyUsageSignature)
	case "RSA1_5", "RSA-OAEP", "RSA-OAEP-256":
		return string(goidc.KeyUsageEncryption)
	}
	return ""
}

// verifiable reports whether the index would still verify a token with key ID kid and
// algorithm alg with the public key pub: the checks the engine makes before it verifies, so a
// cached verification stays valid only while its key is still published for signatures.
func (idx keyIndex) verifiable(kid, alg string, pub crypto.PublicKey) bool {
	if !slices.Contains(idx.sigAlgs, jose.SignatureAlgorithm(alg)) {
		return false
	}
	key, ok := idx.verifiers[kid]
	if !ok || key.Use != string(goidc.KeyUsageSignature) {
		return false
	}
	k, ok := key.Key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

// jwtSigner signs compact JWS with one ECDSA key (RFC 7515 §7.1, RFC 7518 §3.4).
type jwtSigner struct {
	key  *ecdsa.PrivateKey
	hash func() hash.Hash
	size int // bytes of each of R and S
	// header is the base64url protected header of an access token, with the trailing dot.
	header string
}

var errNotSigner = errors.New("authserver: not an ECDSA signing key")

func newJWTSigner(key jose.JSONWebKey) *jwtSigner {
	priv, ok := key.Key.(*ecdsa.PrivateKey)
	if !ok {
		return nil
	}
	s := &jwtSigner{key: priv}
	switch {
	case key.Algorithm == "ES256" && priv.Curve.Params().BitSize == 256:
		s.hash, s.size = sha256.New, 32
	case key.Algorithm == "ES384" && priv.Curve.Params().BitSize == 384:
		s.hash, s.size = sha512.New384, 48
	case key.Algorithm == "ES512" && priv.Curve.Params().BitSize == 521:
		s.hash, s.size = sha512.New, 66
	default:
		return nil
	}
	// The header go-jose writes for the engine: alg, the key's kid when it has one, typ; its
	// own encoder, so the bytes are the same.
	h := map[string]any{"alg": key.Algorithm, "typ": accessTokenType}
	if key.KeyID != "" {
		h["kid"] = key.KeyID
	}
	raw, err := josejson.Marshal(h)
	if err != nil {
		return nil
	}
	s.header = base64.RawURLEncoding.EncodeToString(raw) + "."
	return s
}

// sign returns the compact JWS of payload.
func (s *jwtSigner) sign(payload []byte) (string, error) {
	if s == nil {
		return "", errNotSigner
	}
	enc := base64.RawURLEncoding
	sigLen := enc.EncodedLen(2 * s.size)
	out := make([]byte, 0, len(s.header)+enc.EncodedLen(len(payload))+1+sigLen)
	out = append(out, s.header...)
	out = enc.AppendEncode(out, payload)
	h := s.hash()
	h.Write(out)
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, h.Sum(nil))
	if err != nil {
		return "", err
	}
	// RFC 7518 §3.4: R and S as fixed-width big-endian octets, concatenated.
	sig := make([]byte, 2*s.size)
	r.FillBytes(sig[:s.size])
	sv.FillBytes(sig[s.size:])
	out = append(out, '.')
	out = enc.AppendEncode(out, sig)
	return string(out), nil
}

// jwtID returns a random version 4 UUID (RFC 9562 §5.4), the engine's jti.
func jwtID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms (Go 1.24+).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// claimWriter appends a JSON object member by member, encoding strings as go-jose's claims
// builder does (HTML characters, U+2028 and U+2029 escaped; invalid UTF-8 escaped as U+FFFD),
// so a hand-built payload has the bytes go-jose would give the same claims. Members must be
// added in sorted key order, as go-jose sorts them.
type claimWriter struct{ b []byte }

func (w *claimWriter) key(k string) {
	if len(w.b) == 0 {
		w.b = append(w.b, '{')
	} else {
		w.b = append(w.b, ',')
	}
	w.b = appendJoseString(w.b, k)
	w.b = append(w.b, ':')
}

func (w *claimWriter) str(k, v string) {
	w.key(k)
	w.b = appendJoseString(w.b, v)
}

func (w *claimWriter) num(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *claimWriter) strs(k string, vs []string) {
	w.key(k)
	if vs == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendJoseString(w.b, v)
	}
	w.b = append(w.b, ']')
}

func (w *claimWriter) bytes() []byte { return append(w.b, '}') }

const hexDigits = "0123456789abcdef"

// appendJoseString is go-jose's json string encoder (json/encode.go, encodeState.string).
func appendJoseString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 0x20 <= c && c != '\\' && c != '"' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// isJWS reports whether tok has the shape the engine takes for a JWS: three non-empty
// base64url segments, matched by ^[\w-]+\.[\w-]+\.[\w-]+$ (joseutil.IsJWS).
func isJWS(tok string) bool {
	dots, run := 0, 0
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; {
		case base64URLChar[c]:
			run++
		case c == '.' && run > 0:
			dots++
			run = 0
		default:
			return false
		}
	}
	return dots == 2 && run > 0
}

// base64URLChar holds the characters of \w and '-'.
var base64URLChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	return t
}()
