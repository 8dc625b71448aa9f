package bearer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tiaki-nz/tiaki"
)

const (
	// minRefresh: a remote key set is fetched at most once per this interval, however many
	// tokens name an unknown kid, so forged kids cannot turn the gateway against the issuer.
	minRefresh = 30 * time.Second
	// maxKeySetAge: a remote set this old is fetched again on the next verification, so keys
	// the issuer withdrew stop verifying.
	maxKeySetAge = 10 * time.Minute
	maxJWKSSize  = 1 << 20
	fetchTimeout = 10 * time.Second
)

// keySource is one issuer's key set, local or fetched.
type keySource struct {
	issuer string
	local  func() []byte
	url    string
	disc   *discovery // finds url in the issuer's metadata when it is empty
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	raw     []byte // local: the bytes set was parsed from
	set     jose.JSONWebKeySet
	have    bool
	fetched time.Time // remote: when set was loaded
	tried   time.Time // remote: the last fetch attempt
}

func newKeySource(is Issuer, client *http.Client, disc *discovery, log *slog.Logger) (*keySource, error) {
	if is.Issuer == "" {
		return nil, fmt.Errorf("bearer: issuer: the issuer identifier is required: %w", tiaki.ErrInvalid)
	}
	if is.JWKS != nil && (is.JWKSURL != "" || disc != nil) || is.JWKS == nil && is.JWKSURL == "" && disc == nil {
		return nil, fmt.Errorf("bearer: issuer %q: set exactly one of JWKS and JWKSURL (or Discover): %w", is.Issuer, tiaki.ErrInvalid)
	}
	if is.JWKSURL != "" {
		u, err := url.Parse(is.JWKSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("bearer: issuer %q: jwks_url must be an https URL without credentials: %w", is.Issuer, tiaki.ErrInvalid)
		}
	}
	ks := &keySource{issuer: is.Issuer, local: is.JWKS, url: is.JWKSURL, client: client, log: log}
	if ks.url == "" {
		ks.disc = disc
	}
	return ks, nil
}

// keys returns the public signing keys that may have signed a token whose header names kid
// (every key when kid is empty). It refreshes a remote set when kid is unknown or the set is
// old, at most once per minRefresh. It fails only when no key set has ever been had.
func (s *keySource) keys(ctx context.Context, kid string, now time.Time) ([]jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.local != nil {
		if b := s.local(); !s.have || !bytes.Equal(b, s.raw) {
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(b, &set); err != nil {
				s.log.Error("bearer: local key set does not parse", "issuer", s.issuer, "err", err)
				if !s.have {
					return nil, err
				}
			} else {
				s.set, s.raw, s.have = set, bytes.Clone(b), true
			}
		}
		return s.match(kid), nil
	}
	found := s.match(kid)
	stale := !s.have || now.Sub(s.fetched) >= maxKeySetAge
	if (len(found) == 0 || stale) && (s.tried.IsZero() || now.Sub(s.tried) >= minRefresh) {
		s.tried = now
		// The fetch outlives a caller that goes away, so one impatient client cannot leave
		// the set unrefreshed for minRefresh.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		set, err := s.fetch(fctx, now)
		cancel()
		if err != nil {
			s.log.Warn("bearer: fetching key set failed", "issuer", s.issuer, "url", s.url, "err", err)
		} else {
			s.set, s.have, s.fetched = set, true, now
			found = s.match(kid)
		}
	}
	if !s.have {
		return nil, errors.New("bearer: no key set")
	}
	return found, nil
}

// match returns the public signature keys with the given kid (all of them if kid is empty).
func (s *keySource) match(kid string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range s.set.Keys {
		if kid != "" && k.KeyID != kid || k.Use != "" && k.Use != "sig" {
			continue
		}
		// A set that (wrongly) publishes private or symmetric keys yields only public halves.
		pub := k.Public()
		if !pub.Valid() || !pub.IsPublic() {
			continue
		}
		out = append(out, pub)
	}
	return out
}

func (s *keySource) fetch(ctx context.Context, now time.Time) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	u := s.url
	if s.disc != nil {
		m, err := s.disc.endpoints(ctx, now)
		if err != nil {
			return set, err
		}
		if u, err = httpsEndpoint("jwks_uri", m.JWKSURI); err != nil {
			return set, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return set, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return set, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return set, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return set, err
	}
	if len(body) > maxJWKSSize {
		return set, fmt.Errorf("key set larger than %d bytes", maxJWKSSize)
	}
	err = json.Unmarshal(body, &set)
	return set, err
}

// defaultClient fetches key sets with every step bounded in time and no redirect away from
// https.
func defaultClient() *http.Client { return NewHTTPClient(nil) }

// NewHTTPClient is the client the policy talks to issuers with (metadata, key sets,
// introspection): every step bounded in time, TLS 1.2 or later (issuers are not all on 1.3),
// no redirect away from https. roots are the CAs to trust; nil means the system roots.
func NewHTTPClient(roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: fetchTimeout,
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
			TLSHandshakeTimeout:    5 * time.Second,
			ResponseHeaderTimeout:  5 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
			IdleConnTimeout:        90 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || req.URL.Scheme != "https" {
				return errors.New("bearer: refused key set redirect")
			}
			return nil
		},
	}
}
