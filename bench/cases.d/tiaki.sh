# shellcheck shell=bash
# Tiaki's cases for ../shared/bench/run-peers.sh: source this directory with
#   CASES_DIR=bench/cases.d ../shared/bench/run-peers.sh
# Builds ./cmd/tiaki, runs it pinned like every peer, and measures the token endpoint,
# introspection and the gateway (pass-through and the full policy stack).
TIAKI_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TIAKI_SECRET=tiaki-bench-secret-0123456789abcdef-0123456789
TIAKI_BASIC="Basic $(printf '%s:%s' bench-client "$TIAKI_SECRET" | base64 -w0)"
TIAKI_BASIC_OPAQUE="Basic $(printf '%s:%s' bench-opaque "$TIAKI_SECRET" | base64 -w0)"
CASES+=(tiaki_authserver tiaki_gateway)

tiaki_start() {
  log "building tiaki from $TIAKI_SRC"
  (cd "$TIAKI_SRC" && go build -o "$BIN/tiaki" ./cmd/tiaki) || return 1
  local data=$PEERS/tiaki-data
  rm -rf "$data"
  start_srv tiaki env TIAKI_BENCH_SECRET="$TIAKI_SECRET" GOGC="${TIAKI_GOGC:-400}" \
    "$BIN/tiaki" serve --config "$TIAKI_SRC/bench/tiaki-bench.yaml" --data "$data"
  wait_port 127.0.0.1 9443 && wait_port 127.0.0.1 9444
  TIAKI_CA=$data/ca.pem
}

tiaki_token() { # CLIENT_BASIC EXTRA_CURL_ARGS...
  local basic=$1; shift
  curl -s --cacert "$TIAKI_CA" -H "Authorization: $basic" -d grant_type=client_credentials -d scope=api:read "$@" \
    https://127.0.0.1:9443/token | jq -r .access_token
}

case_tiaki_authserver() {
  want tiaki-token-jwt tiaki-token-jwt-c1 tiaki-token-opaque tiaki-introspect-jwt tiaki-introspect-opaque || return 0
  tiaki_start || { stop_srv tiaki; return 0; }
  if expect_2xx tiaki-token --cacert "$TIAKI_CA" -H "Authorization: $TIAKI_BASIC" -d grant_type=client_credentials -d scope=api:read https://127.0.0.1:9443/token; then
    WRK_METHOD=POST WRK_BODY='grant_type=client_credentials&scope=api%3Aread' WRK_HEADERS="Authorization: $TIAKI_BASIC|$FORM" \
      measure tiaki-token-jwt token-endpoint tiaki "client_credentials+client_secret_basic, JWT ES256, TLS 1.3" https://127.0.0.1:9443/token
    WRK_METHOD=POST WRK_BODY='grant_type=client_credentials&scope=api%3Aread' WRK_HEADERS="Authorization: $TIAKI_BASIC|$FORM" CONNS=1 \
      measure tiaki-token-jwt-c1 token-endpoint tiaki "same, 1 connection (service time)" https://127.0.0.1:9443/token
    WRK_METHOD=POST WRK_BODY='grant_type=client_credentials&scope=api%3Aread' WRK_HEADERS="Authorization: $TIAKI_BASIC_OPAQUE|$FORM" \
      measure tiaki-token-opaque token-endpoint tiaki "client_credentials+client_secret_basic, opaque token, TLS 1.3" https://127.0.0.1:9443/token
    local jwt opaque
    jwt=$(tiaki_token "$TIAKI_BASIC")
    opaque=$(tiaki_token "$TIAKI_BASIC_OPAQUE")
    if expect_2xx tiaki-introspect --cacert "$TIAKI_CA" -H "Authorization: $TIAKI_BASIC" -d "token=$jwt" https://127.0.0.1:9443/introspect; then
      WRK_METHOD=POST WRK_BODY="token=$jwt" WRK_HEADERS="Authorization: $TIAKI_BASIC|$FORM" \
        measure tiaki-introspect-jwt introspection tiaki "client_secret_basic auth, JWT access token, TLS 1.3" https://127.0.0.1:9443/introspect
      WRK_METHOD=POST WRK_BODY="token=$opaque" WRK_HEADERS="Authorization: $TIAKI_BASIC_OPAQUE|$FORM" \
        measure tiaki-introspect-opaque introspection tiaki "client_secret_basic auth, opaque token, TLS 1.3" https://127.0.0.1:9443/introspect
    fi
  fi
  stop_srv tiaki
}

case_tiaki_gateway() {
  want tiaki-gw-pass-tls13 tiaki-gw-full-tls13 || return 0
  start_srv backend "$BIN/backend" -addr 127.0.0.1:8081; wait_port 127.0.0.1 8081
  tiaki_start || { stop_srv tiaki; stop_srv backend; return 0; }
  if expect_2xx tiaki-pass --cacert "$TIAKI_CA" https://127.0.0.1:9444/pass/; then
    measure tiaki-gw-pass-tls13 proxy tiaki "pass-through route, TLS 1.3 termination, plain upstream" https://127.0.0.1:9444/pass/
  fi
  if [[ -x $BIN/tiaki ]] && "$BIN/tiaki" apikey --help >/dev/null 2>&1; then
    local key tok body
    key=$(TIAKI_BENCH_SECRET="$TIAKI_SECRET" "$BIN/tiaki" apikey create --config "$TIAKI_SRC/bench/tiaki-bench.yaml" --data "$PEERS/tiaki-data" --api full --name bench 2>/dev/null | grep -o 'tk_[A-Za-z0-9_-]*' | head -1)
    tok=$(tiaki_token "$TIAKI_BASIC" -d resource=https://127.0.0.1:9444/full)
    body=$(cat "$TIAKI_SRC/bench/full-body.json")
    if [[ -n $key && -n $tok ]] && expect_2xx tiaki-full --cacert "$TIAKI_CA" -H "API-Key: $key" -H "Authorization: Bearer $tok" \
        -H 'Content-Type: application/json' --data-binary "@$TIAKI_SRC/bench/full-body.json" https://127.0.0.1:9444/full/orders; then
      WRK_METHOD=POST WRK_BODY="$body" WRK_HEADERS="API-Key: $key|Authorization: Bearer $tok|Content-Type: application/json" \
        measure tiaki-gw-full-tls13 gateway tiaki "API key + per-consumer rate limit + bearer JWT + scopes + OpenAPI 1 KiB JSON + injection checks" https://127.0.0.1:9444/full/orders
    fi
  fi
  stop_srv tiaki; stop_srv backend
}
