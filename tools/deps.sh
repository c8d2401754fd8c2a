#!/bin/sh
# Checks (and with `install`, installs as root) the Debian packages dlockd needs to build,
# test and run; with `fuzz`, also those `make fuzz` needs (clang and its libFuzzer runtime);
# with `chaos`, those `make chaos` needs (python3); with `tls`, those the Redis-over-TLS test needs;
# with `bench`, those `make bench` needs (bench/run.sh asks with `missing`, which only prints them).
# As root, `check` installs what is missing too.
# Usage: tools/deps.sh check|install|missing [fuzz|chaos|tls|bench]
set -eu
# redis-sentinel: the black-box suite's Sentinel tests run real sentinels (they fail, never skip, without it)
PKGS="build-essential pkg-config libmicrohttpd-dev libgnutls28-dev libhiredis-dev libjansson-dev libcurl4-openssl-dev redis-server redis-sentinel redis-tools openssl"
# the Redis-over-TLS test (tests/tls) needs stunnel and openssl; without them it skips
[ "${2:-}" = tls ] && PKGS="$PKGS stunnel4"
[ "${2:-}" = fuzz ] && PKGS="$PKGS clang libclang-rt-dev"
[ "${2:-}" = chaos ] && PKGS="$PKGS python3"
# make bench: python3 draws the picture, util-linux has taskset; then the peers it measures
# beside dlockd (etcd, node-redlock, wrk), less those BENCH_SKIP leaves out. nodejs and npm
# only when there is no npm yet: NodeSource's nodejs brings its own and conflicts with Debian's.
if [ "${2:-}" = bench ]; then
    PKGS="$PKGS python3 util-linux"
    case " ${BENCH_SKIP:-} " in *" etcd "*) ;; *) PKGS="$PKGS etcd-server" ;; esac
    case " ${BENCH_SKIP:-} " in *" wrk "*) ;; *) PKGS="$PKGS wrk" ;; esac
    case " ${BENCH_SKIP:-} " in
    *" node "*) ;;
    *) command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm" ;;
    esac
fi

missing() {
    for p in $PKGS; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s ' "$p"
    done
}

m=$(missing)
if [ "${1:-check}" = missing ]; then
    echo "${m% }"
    exit 0
fi
[ -z "$m" ] && exit 0
if [ "${1:-check}" = install ] || [ "$(id -u)" = 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "dlockd: missing packages: $m" >&2
        echo "run: sudo apt-get install -y $m" >&2
        exit 1
    fi
    echo "dlockd: installing missing packages: $m" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $m >&2
    exit 0
fi
echo "dlockd: missing packages: $m" >&2
echo "run: sudo apt-get install -y $m" >&2
exit 1
