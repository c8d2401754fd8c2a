#!/bin/sh
# make run: a private redis-server (own port and data dir under .run/) and dlockd
# on 127.0.0.1:8080 (override with DLOCKD_LISTEN). Ctrl-C stops both.
set -eu
bin=${1:-build/dlockd}
dir=$(pwd)/.run
port=${REDIS_PORT:-6390}
mkdir -p "$dir"
if ! command -v redis-server >/dev/null; then
    echo "redis-server is missing: run 'make deps' as root" >&2
    exit 1
fi
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly yes \
    --daemonize no --logfile "$dir/redis.log" &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null' EXIT INT TERM
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 50 ] && { echo "redis-server did not start; see $dir/redis.log" >&2; exit 1; }
    sleep 0.1
done
echo "redis-server on 127.0.0.1:$port (data in $dir); dlockd on ${DLOCKD_LISTEN:-127.0.0.1:8080}" >&2
"$bin" --listen "${DLOCKD_LISTEN:-127.0.0.1:8080}" --redis "redis://127.0.0.1:$port"
