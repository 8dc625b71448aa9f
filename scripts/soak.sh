#!/usr/bin/env bash
# Memory under sustained load: runs Tiaki (bench/tiaki-bench.yaml) pinned to CPU 0 and wrk on
# CPU 1 for DURATION against one endpoint, sampling the server's resident memory every
# INTERVAL seconds. Prints one line per sample, then the verdict: flat when no sample after the
# warm-up (the first quarter of the run) exceeds the first sample after it by more than 20%; the
# script exits 1 otherwise. Needs ../shared/bench/run-peers.sh setup (wrk, the backend) to have
# run once; token and opaque need only wrk.
#   scripts/soak.sh token|opaque|introspect|gateway|gateway-full [DURATION_S=60] [INTERVAL_S=5]
# opaque issues opaque access tokens at full rate: they are sealed, not stored, so memory must
# not grow with the number of live tokens (issue 11 item 10; the full check is 300 s).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-token}; duration=${2:-60}; interval=${3:-5}
peers=${PEERS_DIR:-/tmp/peers}
secret=tiaki-bench-secret-0123456789abcdef-0123456789
basic="Basic $(printf '%s:%s' bench-client "$secret" | base64 -w0)"
data=$(mktemp -d)
go build -o "$data/tiaki" ./cmd/tiaki
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
if [[ -x $peers/bin/backend ]]; then taskset -c 0 "$peers/bin/backend" -addr 127.0.0.1:8081 >/dev/null 2>&1 & pids+=($!); fi
TIAKI_BENCH_SECRET=$secret GOGC=400 taskset -c 0 "$data/tiaki" serve --config bench/tiaki-bench.yaml --data "$data/d" >"$data/log" 2>&1 &
srv=$!; pids+=($srv)
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:9091/healthz && break; sleep 0.1; done
ca=$data/d/ca.pem
case $what in
  token) url=https://127.0.0.1:9443/token; lua="wrk.method='POST'; wrk.body='grant_type=client_credentials&scope=api%3Aread'; wrk.headers['Authorization']='$basic'; wrk.headers['Content-Type']='application/x-www-form-urlencoded'" ;;
  opaque)
    obasic="Basic $(printf '%s:%s' bench-opaque "$secret" | base64 -w0)"
    url=https://127.0.0.1:9443/token; lua="wrk.method='POST'; wrk.body='grant_type=client_credentials&scope=api%3Aread'; wrk.headers['Authorization']='$obasic'; wrk.headers['Content-Type']='application/x-www-form-urlencoded'" ;;
  introspect)
    tok=$(curl -s --cacert "$ca" -H "Authorization: $basic" -d grant_type=client_credentials -d scope=api:read https://127.0.0.1:9443/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    url=https://127.0.0.1:9443/introspect; lua="wrk.method='POST'; wrk.body='token=$tok'; wrk.headers['Authorization']='$basic'; wrk.headers['Content-Type']='application/x-www-form-urlencoded'" ;;
  gateway) url=https://127.0.0.1:9444/pass/; lua="" ;;
  gateway-full)
    key=$(TIAKI_BENCH_SECRET=$secret "$data/tiaki" apikey create --config bench/tiaki-bench.yaml --data "$data/d" --api full --name soak 2>/dev/null | grep -o 'tk_[A-Za-z0-9_-]*' | head -1)
    tok=$(curl -s --cacert "$ca" -H "Authorization: $basic" -d grant_type=client_credentials -d scope=api:read -d resource=https://127.0.0.1:9444/full https://127.0.0.1:9443/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    sleep 2 # the key reaches the gateway's cache through the store poller
    body=$(sed "s/'/\\\\'/g" bench/full-body.json)
    url=https://127.0.0.1:9444/full/orders; lua="wrk.method='POST'; wrk.body='$body'; wrk.headers['API-Key']='$key'; wrk.headers['Authorization']='Bearer $tok'; wrk.headers['Content-Type']='application/json'" ;;
  *) echo "usage: $0 token|opaque|introspect|gateway|gateway-full [DURATION_S] [INTERVAL_S]" >&2; exit 2 ;;
esac
echo "$lua" >"$data/req.lua"
taskset -c 1 wrk -t1 -c64 -d"${duration}s" -s "$data/req.lua" "$url" >"$data/wrk.txt" 2>&1 &
load=$!; pids+=($load)
printf 'second\trss_mib\n'
samples=()
for ((t = 0; t <= duration; t += interval)); do
  rss=$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$srv/status")
  printf '%d\t%s\n' "$t" "$rss"
  if ((t >= duration / 4)); then samples+=("$rss"); fi
  sleep "$interval"
done
wait "$load" || true
grep -E 'Requests/sec|Latency|Non-2xx|Socket errors' "$data/wrk.txt"
# Flat: no sample after warm-up more than 20% above the first one after it.
printf '%s\n' "${samples[@]}" | awk 'NR == 1 { first = $1 } { if ($1 > max) max = $1 }
  END { growth = (max - first) / first * 100
        printf "rss after warm-up %.1f MiB, highest %.1f MiB: %+.1f%% (limit +20%%)\n", first, max, growth
        if (growth > 20) { print "NOT FLAT"; exit 1 } else print "flat" }'
