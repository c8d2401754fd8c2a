#!/bin/sh
# Prometheus metrics: GET /metrics -> 200 text/plain; version=0.0.4.
. "$(dirname "$0")/_common.sh"

call 200 GET /metrics
grep '^dlockd_http_requests_total' "$tmp/body" | head -n 5
case $(header Content-Type) in text/plain*) ;; *) echo "not text/plain" >&2; exit 1 ;; esac
grep -q '^# TYPE dlockd_http_requests_total counter' "$tmp/body"
