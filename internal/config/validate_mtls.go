package config

// mtlsConsumers checks apis[].auth.mtls_consumer: which client-certificate field names the
// consumer (internal/policy/mtls), meaningful only where client certificates are accepted.
func (v *checker) mtlsConsumers() {
	for i, a := range v.c.APIs {
		key := indexKey("apis", i) + ".auth.mtls_consumer"
		switch {
		case a.Auth.MTLS == "off" && a.Auth.MTLSConsumer != "":
			v.errorf(key, "is set but mtls is off")
		case a.Auth.MTLS != "off":
			v.oneOf(key, a.Auth.MTLSConsumer, "subject_cn", "san_dns", "san_uri")
		}
	}
}
