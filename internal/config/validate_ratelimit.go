package config

// rateLimits checks the settings of the rate limits that per_consumer, burst and per_ip do
// not cover (those are checked with the rest of each API in validate_apis.go).
func (v *checker) rateLimits() {
	for i, a := range v.c.APIs {
		v.oneOf(indexKey("apis", i)+".rate_limit.on_store_error", a.RateLimit.OnStoreError, "fail_open", "fail_closed")
	}
}
