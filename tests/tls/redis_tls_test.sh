#!/bin/sh
# The recipe of docs/redis-tls.md, run for real: dlockd -> a local stunnel client -> TLS ->
# redis-server on its tls-port only (no plain port), as the ACL user of docs/redis-acl.conf.
# Certificates are made here with openssl. Checks that dlockd gets ready and locks through the
# tunnel, that the lock is in that Redis, and that a tunnel which cannot verify the server's
# certificate leaves dlockd not ready. Prints "N passed, N failed" (a skip is "0 passed, 0 failed"
# with the reason above it). Usage: DLOCKD_BIN=build/dlockd tests/tls/redis_tls_test.sh
set -u
bin=${DLOCKD_BIN:-build/dlockd}
stunnel=$(command -v stunnel4 || command -v stunnel || true)
for need in "$stunnel" openssl redis-server redis-cli curl; do
    if [ -z "$need" ] || ! command -v "$need" >/dev/null 2>&1; then
        echo "SKIP redis-tls: ${need:-stunnel} is not installed (as root: tools/deps.sh install tls)"
        echo "0 passed, 0 failed"
        exit 0
    fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dlockd-tls.XXXXXX")
pids=""
cleanup() {
    # tunnel() runs in a command substitution (a subshell): its stunnel PIDs are in a file
    [ -f "$tmp/tunnel.pids" ] && pids="$pids $(cat "$tmp/tunnel.pids")"
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; for f in "$tmp"/*.log; do echo "# --- $f"; tail -n 5 "$f"; done; }

# listening PORT: something accepts connections on 127.0.0.1:PORT (bash's /dev/tcp is not in
# sh, so ask curl: it exits 7 when the connection is refused; a server that waits for the client
# to speak first, as a TLS port does, ends in curl's timeout instead)
listening() {
    curl -s -o /dev/null --max-time 0.3 "telnet://127.0.0.1:$1" </dev/null 2>/dev/null
    [ $? -ne 7 ]
}
# a port nobody listens on, random in 20000..31999: below Linux's ephemeral range (32768 up), where
# a connection's own local port (this test's clients, stunnel's link to Redis) would make a later
# bind fail with "Address already in use" although nothing listens there
port() {
    while :; do
        p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 12000 + 20000 ))
        listening "$p" || { echo "$p"; return; }
    done
}
# wait_ready PORT WANT: /readyz of the dlockd on PORT answers WANT within 10 s
wait_ready() {
    i=0
    while [ $i -lt 100 ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = "$2" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# A CA, and a certificate for 127.0.0.1 / localhost signed by it; another CA that signed nothing.
cd "$tmp" || exit 1
{
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=dlockd-test-ca -keyout ca.key -out ca.crt &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout redis.key -out redis.csr &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext &&
    openssl x509 -req -in redis.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext -out redis.crt &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other-ca -keyout other.key -out other.crt
} >openssl.log 2>&1 || { bad "openssl could not make the certificates"; echo "$pass passed, $fail failed"; exit 1; }
chmod 600 ./*.key
cd - >/dev/null || exit 1

pw='tls-t3st-pw'
sed -n 's/^\(user .*\)>CHANGE-ME\(.*\)$/\1>'"$pw"'\2/p' docs/redis-acl.conf >"$tmp/users.acl"
echo 'user default on nopass resetkeys resetchannels -@all +ping' >>"$tmp/users.acl"

# redis-server on a free TLS port; another port if the one picked was taken meanwhile (other
# test runs share the machine)
tries=0
while :; do
    rport=$(port)
    redis-server --port 0 --tls-port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
        --tls-cert-file "$tmp/redis.crt" --tls-key-file "$tmp/redis.key" --tls-ca-cert-file "$tmp/ca.crt" \
        --tls-auth-clients no --aclfile "$tmp/users.acl" >"$tmp/redis.log" 2>&1 &
    rpid=$!
    i=0
    until listening "$rport" || ! kill -0 "$rpid" 2>/dev/null || [ $i -ge 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    kill -0 "$rpid" 2>/dev/null && break
    tries=$((tries + 1))
    [ $tries -lt 5 ] || break
done
pids="$pids $rpid"

# tunnel NAME CAFILE: a stunnel client on a free port (printed) to the Redis TLS port
tunnel() {
    p=$(port)
    cat >"$tmp/$1.conf" <<CONF
foreground = yes
pid =
output = $tmp/$1.log
[redis]
client = yes
accept = 127.0.0.1:$p
connect = 127.0.0.1:$rport
CAfile = $2
verifyChain = yes
checkHost = localhost
CONF
    "$stunnel" "$tmp/$1.conf" >>"$tmp/$1.log" 2>&1 &
    spid=$!
    echo "$spid" >>"$tmp/tunnel.pids"
    i=0
    until listening "$p" || ! kill -0 "$spid" 2>/dev/null || [ $i -ge 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    echo "$p"
}
sport=$(tunnel good "$tmp/ca.crt")
wport=$(tunnel wrongca "$tmp/other.crt")

i=0
tls_up=no
until redis-cli --tls --cacert "$tmp/ca.crt" -h 127.0.0.1 -p "$rport" ping 2>/dev/null | grep -q PONG; do
    i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
done
[ $i -lt 100 ] && tls_up=yes
if [ $tls_up = no ]; then
    bad "redis-server did not answer PING over TLS on port $rport"
elif redis-cli -h 127.0.0.1 -p "$rport" ping 2>/dev/null | grep -q PONG; then
    bad "redis-server answers plain RESP on its TLS port"
else
    ok "redis-server speaks TLS only"
fi

dport=$(port)
"$bin" --listen "127.0.0.1:$dport" --redis "redis://dlockd:$pw@127.0.0.1:$sport" --log-level warn \
    >"$tmp/dlockd.log" 2>&1 &
pids="$pids $!"
if wait_ready "$dport" 200; then ok "dlockd is ready through stunnel"; else bad "dlockd is not ready through stunnel"; fi

body=$(curl -s -X PUT "http://127.0.0.1:$dport/locks/tls-a?ttl_ms=10000")
token=$(printf '%s' "$body" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
if [ -n "$token" ]; then ok "acquire through the tunnel"; else bad "acquire through the tunnel: $body"; fi
held=$(redis-cli --tls --cacert "$tmp/ca.crt" -h 127.0.0.1 -p "$rport" --user dlockd --pass "$pw" \
    --no-auth-warning EXISTS 'dlock:lock:{tls-a}' 2>&1)
if [ "$held" = 1 ]; then ok "the lock is in the TLS Redis"; else bad "the lock is not in the TLS Redis: $held"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Lock-Token: $token" "http://127.0.0.1:$dport/locks/tls-a")
if [ "$code" = 204 ]; then ok "release through the tunnel"; else bad "release through the tunnel: $code"; fi
if grep -q "$pw" "$tmp/dlockd.log"; then bad "the dlockd log shows the password"; else ok "no password in the log"; fi

# A tunnel that does not trust the server's CA never connects: dlockd stays not ready.
xport=$(port)
"$bin" --listen "127.0.0.1:$xport" --redis "redis://dlockd:$pw@127.0.0.1:$wport" --log-level warn \
    >"$tmp/dlockd-wrongca.log" 2>&1 &
pids="$pids $!"
sleep 1.5
c1=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$xport/readyz")
sleep 1
c2=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$xport/readyz")
if [ "$c1" = 503 ] && [ "$c2" = 503 ] && grep -qi 'verif' "$tmp/wrongca.log"; then
    ok "an unverified server leaves dlockd not ready"
else
    bad "dlockd got ready through a tunnel that cannot verify the server"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
