# Sourced by tools/api-tests.sh and tools/api-examples.sh (bash): start a private
# redis-server (unix socket only, no TCP port) and dlockd on a free 127.0.0.1 port.
#
#   . tools/live-dlockd.sh
#   trap live_stop EXIT
#   live_start build/dlockd [extra dlockd flags...]   # sets DLOCK_URL, LIVE_DIR
#   ...
#   live_stop
#
# live_start returns non-zero (with the logs' tails on stderr) if either process
# does not come up. Only the processes started here are stopped, by their pids.

LIVE_DIR= LIVE_REDIS_PID= LIVE_DLOCKD_PID= DLOCK_URL=${DLOCK_URL-}

live_port_in_use() { # PORT: something already accepts connections there
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

live_start() {
    local bin=$1
    shift
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "live_start: redis-server is missing (make deps)" >&2
        return 1
    fi
    [ -x "$bin" ] || { echo "live_start: $bin is not built" >&2; return 1; }
    LIVE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dlockd-live.XXXXXX") || return 1
    redis-server --port 0 --unixsocket "$LIVE_DIR/redis.sock" --unixsocketperm 700 \
        --save '' --appendonly no --dir "$LIVE_DIR" --daemonize no \
        --logfile "$LIVE_DIR/redis.log" &
    LIVE_REDIS_PID=$!
    local i=0
    until [ -S "$LIVE_DIR/redis.sock" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$LIVE_REDIS_PID" 2>/dev/null; then
            echo "live_start: redis-server did not start:" >&2
            tail -n 20 "$LIVE_DIR/redis.log" >&2
            return 1
        fi
        sleep 0.05
    done
    local try port
    for try in 1 2 3 4 5 6 7 8; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        live_port_in_use "$port" && continue
        "$bin" --listen "127.0.0.1:$port" --redis "unix://$LIVE_DIR/redis.sock" \
            --log-level warn "$@" >>"$LIVE_DIR/dlockd.log" 2>&1 &
        LIVE_DLOCKD_PID=$!
        DLOCK_URL="http://127.0.0.1:$port"
        i=0
        while kill -0 "$LIVE_DLOCKD_PID" 2>/dev/null; do
            if curl -fsS -o /dev/null --max-time 1 "$DLOCK_URL/readyz" 2>/dev/null; then
                export DLOCK_URL
                return 0
            fi
            i=$((i + 1))
            if [ $i -gt 200 ]; then
                echo "live_start: dlockd on port $port did not become ready in 10 s:" >&2
                tail -n 20 "$LIVE_DIR/dlockd.log" >&2
                return 1
            fi
            sleep 0.05
        done
        wait "$LIVE_DLOCKD_PID" 2>/dev/null # exited: most likely the port was taken meanwhile
        LIVE_DLOCKD_PID=
    done
    echo "live_start: dlockd did not start:" >&2
    tail -n 20 "$LIVE_DIR/dlockd.log" >&2
    return 1
}

live_stop() {
    local rc=0
    if [ -n "$LIVE_DLOCKD_PID" ]; then
        kill -TERM "$LIVE_DLOCKD_PID" 2>/dev/null
        wait "$LIVE_DLOCKD_PID" 2>/dev/null || rc=$?
        LIVE_DLOCKD_PID=
    fi
    if [ -n "$LIVE_REDIS_PID" ]; then
        kill -TERM "$LIVE_REDIS_PID" 2>/dev/null
        wait "$LIVE_REDIS_PID" 2>/dev/null
        LIVE_REDIS_PID=
    fi
    if [ -n "$LIVE_DIR" ]; then
        rm -rf "$LIVE_DIR"
        LIVE_DIR=
    fi
    return $rc
}
