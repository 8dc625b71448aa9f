package bearer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/policy"
)

// Introspection cache lifetimes and bounds.
const (
	// DefaultIntrospectionTTL is how long an "active" answer is trusted. Five seconds is the
	// catalogue's bound on revocation (KEY-03, issue 4: revoked tokens refused within 5 s): an
	// opaque token revoked at the issuer stops working here within it even when the response
	// carries no jti for the revocation list. At a thousand requests a second with one token,
	// that is one introspection call per five thousand requests.
	DefaultIntrospectionTTL = 5 * time.Second
	// negativeTTL is how long an inactive or unacceptable answer is remembered, so a client
	// retrying a dead token does not turn each retry into a call to the issuer. A token never
	// becomes active again, so this may be longer than the positive TTL.
	negativeTTL = 30 * time.Second

	maxIntrospectionBody = 64 << 10
	introspectTimeout    = 5 * time.Second
)

// introspector asks one issuer about tokens (RFC 7662), one call per distinct token at a time.
type introspector struct {
	issuer string
	url    string
	// authorization is the client_secret_basic header value; a Secret so that no formatting
	// of the struct prints it.
	authorization tiaki.Secret
	local         func(ctx context.Context, token string) ([]byte, error)
	disc          *discovery // finds url in the issuer's metadata when it is empty
	client        *http.Client
	flight        singleflight.Group
}

func newIntrospector(is Issuer, client *http.Client, disc *discovery) (*introspector, error) {
	if is.Introspect != nil && (is.IntrospectionURL != "" || disc != nil) || is.Introspect == nil && is.IntrospectionURL == "" && disc == nil {
		return nil, fmt.Errorf("bearer: issuer %q: set exactly one of Introspect and IntrospectionURL (or Discover): %w", is.Issuer, tiaki.ErrInvalid)
	}
	i := &introspector{issuer: is.Issuer, local: is.Introspect, client: client}
	if is.Introspect != nil {
		return i, nil
	}
	if is.IntrospectionURL != "" {
		u, err := url.Parse(is.IntrospectionURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("bearer: issuer %q: introspection URL must be https without credentials: %w", is.Issuer, tiaki.ErrInvalid)
		}
	} else {
		i.disc = disc
	}
	if is.ClientID == "" || is.ClientSecret.IsZero() {
		return nil, fmt.Errorf("bearer: issuer %q: introspection needs a client ID and secret (RFC 7662 §2.1): %w", is.Issuer, tiaki.ErrInvalid)
	}
	// RFC 6749 §2.3.1: both halves are form-encoded before they are joined and base64-encoded.
	pair := url.QueryEscape(is.ClientID) + ":" + url.QueryEscape(is.ClientSecret.Reveal())
	i.url = is.IntrospectionURL
	i.authorization = tiaki.Secret("Basic " + base64.StdEncoding.EncodeToString([]byte(pair)))
	return i, nil
}

// introspection is an RFC 7662 §2.2 response, as much of it as the gateway reads.
type introspection struct {
	Active    bool             `json:"active"`
	Scope     string           `json:"scope"`
	ClientID  string           `json:"client_id"`
	Subject   string           `json:"sub"`
	Issuer    string           `json:"iss"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ID        string           `json:"jti"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	GrantID   string           `json:"grant_id"`
	TokenType string           `json:"token_type"`
	Cnf       *confirmation    `json:"cnf"`
}

// outcome is what one introspection produced, shared by every caller waiting on it.
type outcome struct {
	info tokenInfo
	d    *policy.Denial
}

// introspect asks i about token and caches the answer: active ones for the introspection TTL
// (never past exp), refusals for negativeTTL, failures of the issuer not at all. Concurrent
// requests with one token wait for a single call.
func (v *Verifier) introspect(ctx context.Context, i *introspector, token string, fp [sha256.Size]byte, now time.Time) (tokenInfo, *policy.Denial) {
	res, _, _ := i.flight.Do(string(fp[:]), func() (any, error) {
		// The call outlives the request that started it, so a client that gives up cannot
		// fail the others waiting on the same token.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), introspectTimeout)
		defer cancel()
		body, err := i.call(cctx, token, now)
		if err != nil {
			v.log.Warn("bearer: introspection failed", "issuer", i.issuer, "err", err)
			return outcome{d: v.unavailable}, nil
		}
		info, d := v.judge(i, body, now)
		switch {
		case d == v.unavailable:
			v.log.Warn("bearer: introspection response does not parse", "issuer", i.issuer)
		case d == deniedNotYet: // becomes valid later: not remembered
		case d != nil:
			v.refused.Put(fp, d, now.Add(negativeTTL), now)
		default:
			until := now.Add(v.introspectTTL)
			if info.exp.Before(until) {
				until = info.exp
			}
			v.cache.Put(fp, info, until, now)
		}
		return outcome{info, d}, nil
	})
	o := res.(outcome)
	return o.info, o.d
}

// call returns the issuer's response document for token.
func (i *introspector) call(ctx context.Context, token string, now time.Time) ([]byte, error) {
	if i.local != nil {
		body, err := i.local(ctx, token)
		if err == nil && len(body) > maxIntrospectionBody {
			err = errors.New("introspection response too large")
		}
		return body, err
	}
	endpoint := i.url
	if i.disc != nil {
		m, err := i.disc.endpoints(ctx, now)
		if err != nil {
			return nil, err
		}
		if endpoint, err = httpsEndpoint("introspection_endpoint", m.IntrospectionEndpoint); err != nil {
			return nil, err
		}
	}
	// RFC 7662 §2.1: POST, form-encoded; the hint saves the issuer a refresh-token lookup.
	form := "token=" + url.QueryEscape(token) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", i.authorization.Reveal())
	resp, err := i.client.Do(req)
	if err != nil {
		return nil, err // a *url.Error names the URL, never the form body
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxIntrospectionBody))
		return nil, fmt.Errorf("introspection endpoint answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxIntrospectionBody {
		return nil, errors.New("introspection response too large")
	}
	return body, nil
}

// judge applies the route's rules to an introspection response: the issuer's "active" is
// necessary, not sufficient.
func (v *Verifier) judge(i *introspector, body []byte, now time.Time) (tokenInfo, *policy.Denial) {
	var in introspection
	if err := json.Unmarshal(body, &in); err != nil {
		return tokenInfo{}, v.unavailable
	}
	switch {
	case !in.Active:
		return tokenInfo{}, deniedInactive
	// RFC 7662 §2.2 token_type: a refresh token or an ID token must not pass as an access
	// token; absent means the issuer did not say.
	case in.TokenType != "" && !strings.EqualFold(in.TokenType, "Bearer") && !strings.EqualFold(in.TokenType, "DPoP"):
		return tokenInfo{}, deniedType
	case in.Issuer != "" && in.Issuer != i.issuer:
		return tokenInfo{}, deniedIssuer
	// As for JWTs (RFC 9068 §2.2), exp bounds the cache and client_id names the consumer;
	// both are optional in RFC 7662, and required here.
	case in.Expiry == nil || in.ClientID == "":
		return tokenInfo{}, deniedClaims
	case !now.Before(in.Expiry.Time().Add(v.skew)):
		return tokenInfo{}, deniedExpired
	case in.NotBefore != nil && in.NotBefore.Time().After(now.Add(v.skew)):
		return tokenInfo{}, deniedNotYet
	// RFC 9068 §4 and RFC 8707: the token must be meant for this API. An issuer that leaves
	// aud out cannot say so, so its tokens are refused.
	case !in.Audience.Contains(v.audience):
		return tokenInfo{}, deniedAudience
	case in.Cnf != nil && !in.Cnf.known():
		return tokenInfo{}, deniedBinding
	}
	info := tokenInfo{
		consumer: in.ClientID,
		jti:      in.ID,
		grant:    in.GrantID,
		scopes:   slices.Clip(strings.Fields(in.Scope)),
		exp:      in.Expiry.Time(),
	}
	if in.IssuedAt != nil {
		info.iat = in.IssuedAt.Time()
	}
	if in.Subject != in.ClientID {
		info.subject = in.Subject
	}
	if in.Cnf != nil {
		info.jkt, info.x5t = in.Cnf.JKT, in.Cnf.X5T
	}
	return info, nil
}
