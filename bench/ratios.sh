#!/usr/bin/env bash
# Prints the gateway ratios from an interleaved run (case tiaki_interleaved in
# bench/cases.d/tiaki.sh): one line per round, each ratio taken between runs of the same
# round, then the median of each ratio over the rounds.
#   bench/ratios.sh [RESULTS_DIR]     (default: the newest /tmp/peers/results/*)
set -euo pipefail
dir=${1:-$(ls -d /tmp/peers/results/*/ | tail -1)}
runs=${dir%/}/runs.tsv
[[ -f $runs ]] || { echo "ratios: no $runs" >&2; exit 2; }
awk -F'\t' '
  $1 ~ /^il-/ { n[$1]++; rps[$1, n[$1]] = $6; p99[$1, n[$1]] = $8 }
  function median(a, k,   i, j, t) {
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    ng = "il-nginx-tls13"; cd = "il-caddy-tls13"; ps = "il-tiaki-gw-pass-tls13"; fl = "il-tiaki-gw-full-tls13"
    k = n[ng]; if (n[cd] < k) k = n[cd]; if (n[ps] < k) k = n[ps]; if (n[fl] < k) k = n[fl]
    if (k == 0) { print "ratios: no complete interleaved round in " FILENAME > "/dev/stderr"; exit 2 }
    printf "| round | nginx req/s | Caddy req/s | pass req/s | full req/s | pass ÷ Caddy (≥ 1.3) | pass ÷ nginx (≥ 0.45) | pass p99 ÷ nginx p99 (≤ 2) | full ÷ Caddy (≥ 1.0) |\n"
    printf "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for (r = 1; r <= k; r++) {
      a[r] = rps[ps, r] / rps[cd, r]; b[r] = rps[ps, r] / rps[ng, r]
      c[r] = p99[ps, r] / p99[ng, r]; d[r] = rps[fl, r] / rps[cd, r]
      printf "| %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |\n", r, rps[ng, r], rps[cd, r], rps[ps, r], rps[fl, r], a[r], b[r], c[r], d[r]
    }
    printf "| median | | | | | %.2f | %.2f | %.2f | %.2f |\n", median(a, k), median(b, k), median(c, k), median(d, k)
  }' "$runs"
