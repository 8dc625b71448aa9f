# shellcheck shell=bash
# Tiaki's cases for ../shared/bench/run-peers.sh: source this directory with
#   CASES_DIR=bench/cases.d ../shared/bench/run-peers.sh
# Builds ./cmd/tiaki, runs it pinned like every peer, and measures the token endpoint,
# introspection and the gateway (pass-through and the full policy stack).
TIAKI_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TIAKI_SECRET=tiaki-bench-secret-0123456789abcdef-0123456789
TIAKI_BASIC="Basic $(printf '%s:%s' bench-client "$TIAKI_SECRET" | base64 -w0)"
TIAKI_BASIC_OPAQUE="Basic $(printf '%s:%s' bench-opaque "$TIAKI_SECRET" | base64 -w0)"
CASES+=(tiaki_authserver tiaki_gateway tiaki_interleaved)

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

# tiaki_full_ready: makes an API key and a token for the full-stack route and checks one
# request; sets TIAKI_FULL_HEADERS and TIAKI_FULL_BODY for measure.
tiaki_full_ready() {
  local key tok
  key=$(TIAKI_BENCH_SECRET="$TIAKI_SECRET" "$BIN/tiaki" apikey create --config "$TIAKI_SRC/bench/tiaki-bench.yaml" --data "$PEERS/tiaki-data" --api full --name bench 2>/dev/null | grep -o 'tk_[A-Za-z0-9_-]*' | head -1)
  tok=$(tiaki_token "$TIAKI_BASIC" -d resource=https://127.0.0.1:9444/full)
  TIAKI_FULL_BODY=$(cat "$TIAKI_SRC/bench/full-body.json")
  TIAKI_FULL_HEADERS="API-Key: $key|Authorization: Bearer $tok|Content-Type: application/json"
  [[ -n $key && -n $tok ]] && expect_2xx tiaki-full --cacert "$TIAKI_CA" -H "API-Key: $key" -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' --data-binary "@$TIAKI_SRC/bench/full-body.json" https://127.0.0.1:9444/full/orders
}

TIAKI_FULL_NOTES="API key + per-consumer rate limit + bearer JWT + scopes + OpenAPI 1 KiB JSON + injection checks"

case_tiaki_gateway() {
  want tiaki-gw-pass-tls13 tiaki-gw-full-tls13 || return 0
  start_srv backend "$BIN/backend" -addr 127.0.0.1:8081; wait_port 127.0.0.1 8081
  tiaki_start || { stop_srv tiaki; stop_srv backend; return 0; }
  if expect_2xx tiaki-pass --cacert "$TIAKI_CA" https://127.0.0.1:9444/pass/; then
    measure tiaki-gw-pass-tls13 proxy tiaki "pass-through route, TLS 1.3 termination, plain upstream" https://127.0.0.1:9444/pass/
  fi
  if tiaki_full_ready; then
    WRK_METHOD=POST WRK_BODY="$TIAKI_FULL_BODY" WRK_HEADERS="$TIAKI_FULL_HEADERS" \
      measure tiaki-gw-full-tls13 gateway tiaki "$TIAKI_FULL_NOTES" https://127.0.0.1:9444/full/orders
  fi
  stop_srv tiaki; stop_srv backend
}

# case_tiaki_interleaved runs nginx, Caddy and Tiaki side by side (all pinned to the server
# CPU, idle but for the one under load) and measures them in turn, one run each per round, the
# order rotating from round to round. This machine's speed drifts by tens of percent within
# minutes, so a ratio taken inside one round is steadier than one between cases measured
# minutes apart. IL_ROUNDS rounds (default 5); bench/ratios.sh prints each round's ratios and
# their medians.
case_tiaki_interleaved() {
  want il-nginx-tls13 il-caddy-tls13 il-tiaki-gw-pass-tls13 il-tiaki-gw-full-tls13 || return 0
  write_proxy_configs
  start_srv backend "$BIN/backend" -addr 127.0.0.1:8081; wait_port 127.0.0.1 8081
  start_srv nginx nginx -p "$OUT/run" -e "$OUT/run/nginx-error.log" -c "$OUT/run/nginx.conf"
  start_srv caddy env HOME="$OUT/run/caddy" XDG_DATA_HOME="$OUT/run/caddy" XDG_CONFIG_HOME="$OUT/run/caddy" \
    caddy run --adapter caddyfile --config "$OUT/run/Caddyfile"
  if wait_port 127.0.0.1 8442 && wait_port 127.0.0.1 8443 && tiaki_start &&
    expect_2xx il-nginx --tlsv1.3 https://127.0.0.1:8442/ && expect_2xx il-caddy --tlsv1.3 https://127.0.0.1:8443/ &&
    expect_2xx il-tiaki-pass --cacert "$TIAKI_CA" https://127.0.0.1:9444/pass/ && tiaki_full_ready; then
    local round i k
    local -a order=(nginx caddy pass full)
    for ((round = 0; round < ${IL_ROUNDS:-5}; round++)); do
      log "== interleaved round $((round + 1)) of ${IL_ROUNDS:-5}"
      for ((i = 0; i < 4; i++)); do
        k=${order[(i + round) % 4]}
        case $k in
        nginx) RUNS=1 measure il-nginx-tls13 proxy nginx "interleaved; TLS 1.3 termination, plain upstream" https://127.0.0.1:8442/ ;;
        caddy) RUNS=1 measure il-caddy-tls13 proxy caddy "interleaved; TLS 1.3 termination, plain upstream" https://127.0.0.1:8443/ ;;
        pass) RUNS=1 measure il-tiaki-gw-pass-tls13 proxy tiaki "interleaved; pass-through route" https://127.0.0.1:9444/pass/ ;;
        full) RUNS=1 WRK_METHOD=POST WRK_BODY="$TIAKI_FULL_BODY" WRK_HEADERS="$TIAKI_FULL_HEADERS" \
          measure il-tiaki-gw-full-tls13 gateway tiaki "interleaved; $TIAKI_FULL_NOTES" https://127.0.0.1:9444/full/orders ;;
        esac
      done
    done
  fi
  stop_srv tiaki; stop_srv caddy; stop_srv nginx; stop_srv backend
}
