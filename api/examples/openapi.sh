#!/bin/sh
# The API description: GET /openapi.yaml -> 200 application/yaml (this repo's openapi.yaml).
. "$(dirname "$0")/_common.sh"

call 200 GET /openapi.yaml
head -n 3 "$tmp/body"
case $(header Content-Type) in application/yaml*) ;; *) echo "not application/yaml" >&2; exit 1 ;; esac
head -n 1 "$tmp/body" | grep -q '^openapi: 3\.1'
