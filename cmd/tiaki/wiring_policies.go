package main

import (
	"net/http"
	"net/url"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/config"
	"github.com/tiaki-nz/tiaki/internal/policy"
	"github.com/tiaki-nz/tiaki/internal/policy/apikey"
	"github.com/tiaki-nz/tiaki/internal/policy/bearer"
	"github.com/tiaki-nz/tiaki/internal/policy/content"
	"github.com/tiaki-nz/tiaki/internal/policy/cors"
	"github.com/tiaki-nz/tiaki/internal/policy/mtls"
	"github.com/tiaki-nz/tiaki/internal/policy/openapi"
	"github.com/tiaki-nz/tiaki/internal/policy/ratelimit"
	"github.com/tiaki-nz/tiaki/internal/policy/scope"
	"github.com/tiaki-nz/tiaki/internal/policy/waf"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// buildPolicies builds an API's pipeline in the order of the gateway request flow
// (ARCHITECTURE.md), cheapest refusals first so abuse costs little: per-IP throttling, then
// authentication, then per-consumer throttling and quotas, then scopes.
func buildPolicies(n *node, cfg *config.Config, key string, api config.API, rs *routeSet) ([]policy.Policy, error) {
	var ps []policy.Policy
	onErr, err := ratelimit.ParseMode(api.RateLimit.OnStoreError)
	if err != nil {
		return nil, cfg.Errorf(key+".rate_limit.on_store_error", "%v", err)
	}
	deps := ratelimit.Deps{Limiter: n.shared.limiter, Fallback: n.shared.fallback, Counter: n.shared.quotas, Logger: n.logger}
	if r := api.RateLimit.PerIP; !r.IsZero() {
		trusted, err := web.ParseTrustedProxies(cfg.Gateway.TrustedProxies)
		if err != nil {
			return nil, cfg.Errorf("gateway.trusted_proxies", "%v", err)
		}
		l, err := ratelimit.New(ratelimit.Config{API: api.Name, By: ratelimit.ByIP, OnStoreError: onErr, TrustedProxies: trusted,
			Limit: tiaki.Limit{Rate: r.N, Per: r.Per, Burst: api.RateLimit.Burst}}, deps)
		if err != nil {
			return nil, cfg.Errorf(key+".rate_limit.per_ip", "%v", err)
		}
		ps = append(ps, l)
	}

	authn, err := buildAuthentication(n, cfg, key, api, rs)
	if err != nil {
		return nil, err
	}
	ps = append(ps, authn...)

	if r := api.RateLimit.PerConsumer; !r.IsZero() {
		l, err := ratelimit.New(ratelimit.Config{API: api.Name, By: ratelimit.ByConsumer, OnStoreError: onErr,
			Limit: tiaki.Limit{Rate: r.N, Per: r.Per, Burst: api.RateLimit.Burst}}, deps)
		if err != nil {
			return nil, cfg.Errorf(key+".rate_limit.per_consumer", "%v", err)
		}
		ps = append(ps, l)
	}
	if q := api.Quota.PerConsumer; !q.IsZero() {
		l, err := ratelimit.NewQuota(ratelimit.QuotaConfig{API: api.Name, Count: int64(q.N), Window: q.Per, OnStoreError: onErr}, deps)
		if err != nil {
			return nil, cfg.Errorf(key+".quota.per_consumer", "%v", err)
		}
		ps = append(ps, l)
	}

	if o := api.Auth.OAuth2; o != nil && len(o.Scopes) > 0 {
		g, err := scope.New(scope.Config{ByMethod: o.Scopes})
		if err != nil {
			return nil, cfg.Errorf(key+".auth.oauth2.scopes", "%v", err)
		}
		ps = append(ps, g)
	}

	validation, err := buildValidation(n, cfg, key, api)
	if err != nil {
		return nil, err
	}
	return append(ps, validation...), nil
}

// buildCORS builds the API's CORS policy, or nil when it has none (no cross-origin access). The
// gateway consults it before the method allow-list and the pipeline, so preflights are answered
// before authentication.
func buildCORS(cfg *config.Config, key string, api config.API) (policy.CrossOrigin, error) {
	c := api.CORS
	if c == nil {
		return nil, nil
	}
	rules, err := cors.New(cors.Config{AllowOrigins: c.AllowOrigins, AllowMethods: c.AllowMethods, AllowHeaders: c.AllowHeaders,
		ExposeHeaders: c.ExposeHeaders, AllowCredentials: c.AllowCredentials, MaxAge: c.MaxAge.Duration})
	if err != nil {
		return nil, cfg.Errorf(key+".cors", "%v", err)
	}
	return rules, nil
}

// buildValidation builds the request checks that read the body, after authentication so that
// anonymous callers cannot make the gateway parse megabytes: content type and Accept (or the
// route's OpenAPI document, which says both per operation), then injection checks on every
// string, reusing the body the first check buffered. Response validation, when asked for, runs
// last, around the upstream call.
func buildValidation(n *node, cfg *config.Config, key string, api config.API) ([]policy.Policy, error) {
	var ps []policy.Policy
	maxBody := int64(api.Limits.MaxBody)
	var responses policy.Policy
	if api.OpenAPI != "" {
		spec, err := openapi.Load(api.OpenAPI)
		if err != nil {
			return nil, cfg.Errorf(key+".openapi", "%v", err)
		}
		mount := openapi.Mount{PathPrefix: api.Match.PathPrefix, StripPrefix: api.StripPrefix}
		if u, err := url.Parse(api.Upstream); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			mount.UpstreamPath = u.Path
		}
		base, err := spec.BasePath(mount)
		if err != nil {
			return nil, cfg.Errorf(key+".openapi", "%v", err)
		}
		v, err := openapi.New(spec, openapi.Config{BasePath: base, NotFound: cfg.Gateway.UnknownRouteStatus, MaxBody: maxBody})
		if err != nil {
			return nil, cfg.Errorf(key+".openapi", "%v", err)
		}
		if fb := v.Fallbacks(); len(fb) > 0 {
			n.logger.Info("OpenAPI operations validated by the generic (slower) validator", "api", api.Name, "operations", fb)
		}
		ps = append(ps, v)
		if api.ValidateResponses {
			responses = v.Responses()
		}
	} else {
		c, err := content.New(content.Config{Consumes: api.Consumes, Produces: api.Produces, MaxBody: maxBody})
		if err != nil {
			return nil, cfg.Errorf(key+".consumes", "%v", err)
		}
		ps = append(ps, c)
	}
	if api.InjectionProtection != "off" {
		wc := waf.Config{Level: waf.Level(api.InjectionProtection), MaxBody: maxBody}
		if h := api.Auth.APIKeyHeader; h != "" {
			wc.SkipHeaders = []string{h}
		}
		g, err := waf.New(wc)
		if err != nil {
			return nil, cfg.Errorf(key+".injection_protection", "%v", err)
		}
		ps = append(ps, g)
	}
	if responses != nil {
		ps = append(ps, responses)
	}
	return ps, nil
}

// buildAuthentication builds the API's authentication mechanisms: with auth.require: all each
// configured mechanism is a policy of its own (a required one refuses requests without its
// credential); with any, one combined policy passes when one mechanism does and none fails.
func buildAuthentication(n *node, cfg *config.Config, key string, api config.API, rs *routeSet) ([]policy.Policy, error) {
	requireAll := api.Auth.Require != "any"
	var auths []policy.Authenticator
	var checks []policy.Policy
	if api.Auth.APIKey != "off" {
		v, err := apikey.New(apikey.Config{Header: api.Auth.APIKeyHeader, API: api.Name,
			Required: requireAll && api.Auth.APIKey == "required", OutageGrace: cfg.Store.OutageGrace.Duration},
			apikey.Deps{Keys: n.store, Hasher: n.hasher, Logger: n.logger})
		if err != nil {
			return nil, cfg.Errorf(key+".auth", "%v", err)
		}
		rs.apiKeys = append(rs.apiKeys, v)
		auths = append(auths, v)
		checks = append(checks, v)
	}
	if api.Auth.MTLS != "off" {
		if n.clientAuth == nil {
			return nil, cfg.Errorf(key+".auth.mtls", "needs tls.client_ca (restart to add it)")
		}
		v, err := mtls.New(mtls.Config{Required: requireAll && api.Auth.MTLS == "required", Consumer: mtls.ConsumerFrom(api.Auth.MTLSConsumer)},
			mtls.Deps{Peers: n.clientAuth})
		if err != nil {
			return nil, cfg.Errorf(key+".auth.mtls", "%v", err)
		}
		auths = append(auths, v)
		checks = append(checks, v)
	}
	if o := api.Auth.OAuth2; o != nil {
		if rs.issuerClients == nil {
			rs.issuerClients = map[string]*http.Client{}
		}
		issuers, err := tokenIssuers(n, cfg, key, o.Issuers, rs.issuerClients)
		if err != nil {
			return nil, err
		}
		leeway := cfg.Gateway.ClockLeeway.Duration
		if o.ClockLeeway.Duration != 0 {
			leeway = o.ClockLeeway.Duration
		}
		v, err := bearer.New(bearer.Config{
			Issuers:   issuers,
			Audience:  o.Audience,
			Required:  requireAll,
			ClockSkew: leeway,
		}, bearer.Deps{Logger: n.logger, Revocations: n.revocations, ReplayCache: n.shared.replay})
		if err != nil {
			return nil, cfg.Errorf(key+".auth.oauth2", "%v", err)
		}
		auths = append(auths, v)
		checks = append(checks, v)
	}
	if requireAll || len(auths) == 0 {
		return checks, nil
	}
	anyOf, err := policy.AnyOf(auths...)
	if err != nil {
		return nil, cfg.Errorf(key+".auth", "%v", err)
	}
	return []policy.Policy{anyOf}, nil
}
