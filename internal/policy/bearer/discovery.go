package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tiaki-nz/tiaki/internal/oauth"
)

const (
	// maxMetadataAge: endpoints found in an issuer's metadata are looked up again after this
	// long, so an issuer that moves its key set is followed without a restart.
	maxMetadataAge  = time.Hour
	maxMetadataSize = 256 << 10
)

// discovery finds a remote issuer's jwks_uri and introspection_endpoint in its metadata:
// RFC 8414 §3 first, then OpenID Connect Discovery 1.0 §4, the two places an issuer of either
// kind (Keycloak, Entra ID, another Tiaki) publishes them. The key set and the introspector ask
// it each time they need an endpoint; it fetches at most once per minRefresh.
type discovery struct {
	issuer string
	urls   []string // the well-known URLs, in the order tried
	client *http.Client

	mu      sync.Mutex
	meta    oauth.Metadata
	have    bool
	fetched time.Time
	tried   time.Time
}

func newDiscovery(issuer string, client *http.Client) (*discovery, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// RFC 8414 §2: an https URL with no query or fragment.
		return nil, errors.New("the issuer must be an https URL without query or fragment to be discovered (RFC 8414 §2)")
	}
	rfc8414, openid, err := oauth.MetadataURLs(issuer)
	if err != nil {
		return nil, err
	}
	return &discovery{issuer: issuer, urls: []string{rfc8414, openid}, client: client}, nil
}

// endpoints returns the issuer's metadata, fetching it when it is missing or older than
// maxMetadataAge (at most once per minRefresh). A fetch that fails keeps the last good copy.
func (d *discovery) endpoints(ctx context.Context, now time.Time) (oauth.Metadata, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	stale := !d.have || now.Sub(d.fetched) >= maxMetadataAge
	if stale && (d.tried.IsZero() || now.Sub(d.tried) >= minRefresh) {
		d.tried = now
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		m, err := d.fetch(fctx)
		cancel()
		if err != nil && !d.have {
			return oauth.Metadata{}, err
		}
		if err == nil {
			d.meta, d.have, d.fetched = m, true, now
		}
	}
	if !d.have {
		return oauth.Metadata{}, errors.New("issuer metadata not yet available")
	}
	return d.meta, nil
}

// fetch tries each well-known URL in turn and returns the first document that names this
// issuer exactly: RFC 8414 §3.3 and OpenID Connect Discovery §4.3 forbid using metadata whose
// issuer differs, which is what stops one issuer impersonating another.
func (d *discovery) fetch(ctx context.Context) (oauth.Metadata, error) {
	var errs []error
	for _, u := range d.urls {
		m, err := d.get(ctx, u)
		if err == nil && m.Issuer != d.issuer {
			err = fmt.Errorf("metadata names issuer %q, not %q (RFC 8414 §3.3)", m.Issuer, d.issuer)
		}
		if err == nil {
			return m, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	return oauth.Metadata{}, errors.Join(errs...)
}

func (d *discovery) get(ctx context.Context, u string) (oauth.Metadata, error) {
	var m oauth.Metadata
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return m, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err != nil {
		return m, err
	}
	if len(body) > maxMetadataSize {
		return m, fmt.Errorf("metadata larger than %d bytes", maxMetadataSize)
	}
	err = json.Unmarshal(body, &m)
	return m, err
}

// httpsEndpoint checks an endpoint URL found in metadata as a configured one is checked.
func httpsEndpoint(name, s string) (string, error) {
	u, err := url.Parse(s)
	if s == "" || err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("metadata %s %q is not an https URL", name, s)
	}
	return s, nil
}
