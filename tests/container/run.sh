#!/usr/bin/env bash
# Container test for dlockd: builds docker/Dockerfile and docker/redis.Dockerfile, checks the image,
# brings up docker/compose.yaml and drives it over HTTP on 127.0.0.1, then the Redlock deployment
# (docker/compose.redlock.yaml), or SKIPs it while dlockd is built without Redlock mode, then
# compose.auth.yaml, compose.tls.yaml, compose.sentinel.yaml (the master killed: failover within
# down-after-milliseconds + failover-timeout, fences rise) and compose.cluster.yaml (locks on all
# three masters, a second `up` keeps the cluster).
#
#   make container-test        (or: bash tests/container/run.sh)
#
# Engine: `docker` + `docker compose` when `docker info` works, else podman + podman-compose with a
# private CONTAINERS_CONF (runtime runc, fixed ulimits; see shared/CONTAINERS.md). As root, missing
# podman/podman-compose/runc/debootstrap are installed with apt-get, and when there is no
# debian:bookworm-slim image it is built once with debootstrap and `podman import` (kept in
# podman's image store; nothing is cached in the repository).
#
# Environment: CONTAINER_ENGINE=docker|podman forces the engine; DLOCKD_CT_KEEP=1 leaves the
# deployments and test images in place for debugging; DEBOOTSTRAP_MIRROR picks the mirror.
# Ends with "N passed, N failed" (", N skipped" when something was skipped); exit 1 on failure.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1

T0=$(date +%s)
RUN_ID="$(date +%s)$$"
PROJ="dlockdct${RUN_ID}"            # compose project of compose.yaml
PROJ_RL="dlockdctrl${RUN_ID}"       # compose project of compose.redlock.yaml
PROJ_AUTH="dlockdctauth${RUN_ID}"   # compose project of compose.auth.yaml
PROJ_TLS="dlockdcttls${RUN_ID}"     # compose project of compose.tls.yaml
PROJ_SEN="dlockdctsen${RUN_ID}"     # compose project of compose.sentinel.yaml
PROJ_CL="dlockdctcl${RUN_ID}"       # compose project of compose.cluster.yaml
DLOCKD_IMAGE="localhost/dlockd:ct-${RUN_ID}"
REDIS_IMAGE="localhost/dlockd-redis:ct-${RUN_ID}"
BASE_IMAGE="docker.io/library/debian:bookworm-slim"
VERSION=$(cat VERSION 2>/dev/null || echo 0.0.0)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dlockd-ct.XXXXXX")
ROOTFS_DIR=""
PROBE_CTR="dlockdct${RUN_ID}_redlockprobe"
UP_MAIN=0
UP_RL=0
UP_AUTH=0
UP_TLS=0
UP_SEN=0
UP_CL=0
BUILT_IMAGES=()

PASSED=0
FAILED=0
SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP: $*"; }
note() { echo "  .. $*"; }
# check DESCRIPTION COMMAND...: PASS when the command succeeds.
check() {
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
now_ms() { date +%s%3N; }

summary() {
	local line="$PASSED passed, $FAILED failed"
	[ "$SKIPPED" -gt 0 ] && line="$line, $SKIPPED skipped"
	echo "container test: total time $(($(date +%s) - T0)) s"
	echo "$line"
}

# Stops here: the summary still comes last, and the trap cleans up.
die() {
	fail "$*"
	exit 1
}

# ------------------------------------------------------------------------------------- engine
as_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
	as_root || return 1
	echo "  .. installing: $*"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$WORK/apt.log" 2>&1 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$WORK/apt.log" 2>&1 ||
		{ tail -20 "$WORK/apt.log"; return 1; }
}

ENGINE=""
COMPOSE=()
choose_engine() {
	local want=${CONTAINER_ENGINE:-}
	if [ "$want" != podman ] && command -v docker >/dev/null 2>&1 &&
		timeout 20 docker info >/dev/null 2>&1; then
		ENGINE=docker
		if docker compose version >/dev/null 2>&1; then
			COMPOSE=(docker compose)
		elif command -v docker-compose >/dev/null 2>&1; then
			COMPOSE=(docker-compose)
		else
			die "docker works but neither 'docker compose' nor docker-compose is installed"
		fi
		return
	fi
	[ "$want" = docker ] && die "CONTAINER_ENGINE=docker but 'docker info' fails"
	local missing=()
	command -v podman >/dev/null 2>&1 || missing+=(podman)
	command -v podman-compose >/dev/null 2>&1 || missing+=(podman-compose)
	command -v runc >/dev/null 2>&1 || missing+=(runc)
	if ! podman image exists "$BASE_IMAGE" >/dev/null 2>&1; then
		command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
	fi
	command -v curl >/dev/null 2>&1 || missing+=(curl)
	if [ ${#missing[@]} -gt 0 ]; then
		as_root || die "no working docker; install: sudo apt-get install -y ${missing[*]}"
		apt_install "${missing[@]}" || die "apt-get install ${missing[*]}"
	fi
	ENGINE=podman
	COMPOSE=(podman-compose)
	# crun fails on this kernel's cgroup setup and raising rlimits is not permitted: runc and
	# fixed ulimits (shared/CONTAINERS.md). A CONTAINERS_CONF already set is respected.
	if [ -z "${CONTAINERS_CONF:-}" ]; then
		cat >"$WORK/containers.conf" <<-'EOF'
			[containers]
			default_ulimits = ["nofile=20000:20000", "nproc=4000:4000"]
			[engine]
			runtime = "runc"
		EOF
		export CONTAINERS_CONF="$WORK/containers.conf"
	fi
	# OCI (podman's default image format) has no HEALTHCHECK; docker format keeps it.
	export BUILDAH_FORMAT=docker
}

E() { "$ENGINE" "$@"; }
compose() { # compose PROJECT FILE ARGS...
	local p=$1 f=$2
	shift 2
	"${COMPOSE[@]}" -p "$p" -f "$f" "$@"
}
# Container id of a compose service (works with docker compose and podman-compose labels).
ctr_of() { # ctr_of PROJECT SERVICE
	E ps -a -q --filter "label=com.docker.compose.project=$1" \
		--filter "label=com.docker.compose.service=$2" | head -1
}

# ------------------------------------------------------------------------------------- cleanup
cleanup() {
	local rc=$?
	trap - EXIT
	trap "" INT TERM # cleaning up: not interrupted by a second signal
	if [ "${DLOCKD_CT_KEEP:-0}" = 1 ]; then
		echo "  .. DLOCKD_CT_KEEP=1: leaving projects $PROJ $PROJ_RL $PROJ_AUTH $PROJ_TLS $PROJ_SEN $PROJ_CL and images ${BUILT_IMAGES[*]:-}"
	elif [ -n "$ENGINE" ]; then
		echo "  .. cleaning up"
		[ "$UP_MAIN" = 1 ] && compose "$PROJ" docker/compose.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
		[ "$UP_RL" = 1 ] && compose "$PROJ_RL" docker/compose.redlock.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
		[ "$UP_AUTH" = 1 ] && compose "$PROJ_AUTH" docker/compose.auth.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
		[ "$UP_TLS" = 1 ] && compose "$PROJ_TLS" docker/compose.tls.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
		[ "$UP_SEN" = 1 ] && compose "$PROJ_SEN" docker/compose.sentinel.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
		[ "$UP_CL" = 1 ] && compose "$PROJ_CL" docker/compose.cluster.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
		E rm -f "$PROBE_CTR" >/dev/null 2>&1
		# Leftovers (a failed `up`, podman-compose leaving networks): by project label.
		local p id
		for p in "$PROJ" "$PROJ_RL" "$PROJ_AUTH" "$PROJ_TLS" "$PROJ_SEN" "$PROJ_CL"; do
			for id in $(E ps -a -q --filter "label=com.docker.compose.project=$p" 2>/dev/null); do
				E rm -f "$id" >/dev/null 2>&1
			done
			for id in $(E volume ls -q --filter "label=com.docker.compose.project=$p" 2>/dev/null); do
				E volume rm -f "$id" >/dev/null 2>&1
			done
			for id in $(E network ls -q --filter "label=com.docker.compose.project=$p" 2>/dev/null); do
				E network rm "$id" >/dev/null 2>&1
			done
		done
		for id in "${BUILT_IMAGES[@]}"; do
			E rmi "$id" >/dev/null 2>&1
		done
	fi
	[ -n "$ROOTFS_DIR" ] && rm -rf "$ROOTFS_DIR"
	rm -rf "$WORK"
	summary
	[ "$FAILED" -gt 0 ] && rc=1
	[ "$rc" = 0 ] && [ "$PASSED" = 0 ] && rc=1
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted"; FAILED=$((FAILED + 1)); exit 130' INT TERM

# ------------------------------------------------------------------------------------- base image
# debian:bookworm-slim without a registry: debootstrap a minbase rootfs, make it look like the
# published slim image (deb822 sources with updates and security, no docs/man/locales, no apt
# lists), import it under the name FROM uses.
build_base() {
	as_root || die "no $BASE_IMAGE image and not root: cannot debootstrap one"
	command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap || die "install debootstrap"
	ROOTFS_DIR=$(mktemp -d /var/tmp/dlockd-rootfs.XXXXXX)
	local r="$ROOTFS_DIR/rootfs" t=$SECONDS
	echo "  .. building $BASE_IMAGE with debootstrap (once; about a minute)"
	if ! debootstrap --variant=minbase bookworm "$r" "${DEBOOTSTRAP_MIRROR:-http://deb.debian.org/debian}" \
		>"$WORK/debootstrap.log" 2>&1; then
		tail -20 "$WORK/debootstrap.log"
		die "debootstrap bookworm"
	fi
	rm -f "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/log/apt/* "$r"/var/log/dpkg.log "$r"/var/log/bootstrap.log
	rm -f "$r"/etc/apt/sources.list
	cat >"$r"/etc/apt/sources.list.d/debian.sources <<-'EOF'
		Types: deb
		URIs: http://deb.debian.org/debian
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: http://deb.debian.org/debian-security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	# As the published slim image: later package installs skip docs, man pages and locales.
	cat >"$r"/etc/dpkg/dpkg.cfg.d/docker <<-'EOF'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/info/*
		path-exclude /usr/share/man/*
		path-exclude /usr/share/locale/*
		path-exclude /usr/share/groff/*
		path-exclude /usr/share/lintian/*
		path-exclude /usr/share/linda/*
	EOF
	find "$r"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null
	find "$r"/usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null
	rm -rf "$r"/usr/share/info/* "$r"/usr/share/man/* "$r"/usr/share/locale/* \
		"$r"/usr/share/groff/* "$r"/usr/share/lintian/*
	tar --numeric-owner -C "$r" -c . |
		podman import \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null ||
		die "podman import of the debootstrapped rootfs"
	rm -rf "$ROOTFS_DIR"
	ROOTFS_DIR=""
	note "base image built in $((SECONDS - t)) s"
}

image_size() { E image inspect --format '{{.Size}}' "$1" 2>/dev/null; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }

# ------------------------------------------------------------------------------------- HTTP
# http METHOD URL [curl args...]: sets CODE, BODY, HDRS (CODE=000 when nothing answered).
CODE=""
BODY=""
HDRS=""
http() {
	local m=$1 u=$2
	shift 2
	CODE=$(curl -s -o "$WORK/body" -D "$WORK/hdrs" -w '%{http_code}' --max-time 5 -X "$m" "$@" "$u" 2>/dev/null)
	[ -n "$CODE" ] || CODE=000
	BODY=$(cat "$WORK/body" 2>/dev/null)
	HDRS=$(cat "$WORK/hdrs" 2>/dev/null)
}
# wait_code URL WANT SECONDS: polls GET URL until it answers WANT; sets WAITED_MS.
WAITED_MS=0
wait_code() {
	local u=$1 want=$2 limit_ms=$(($3 * 1000)) t0
	t0=$(now_ms)
	while :; do
		http GET "$u"
		WAITED_MS=$(($(now_ms) - t0))
		[ "$CODE" = "$want" ] && return 0
		[ "$WAITED_MS" -ge "$limit_ms" ] && return 1
		sleep 0.2
	done
}
json_str() { # json_str KEY: a string field of BODY (tokens are base64url, no escapes)
	sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$BODY"
}
json_num() { sed -n "s/.*\"$1\":\\([0-9][0-9]*\\).*/\\1/p" <<<"$BODY"; }

# A free TCP port on 127.0.0.1 (nothing answers a connect there).
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + (RANDOM % 20000)))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# Runs the container's healthcheck now (podman has no systemd timers here) and says whether it
# passed. Docker runs checks by itself: wait for its verdict instead.
health_now() { # health_now CTR WANT(healthy|unhealthy)
	local c=$1 want=$2 s
	if [ "$ENGINE" = podman ]; then
		if podman healthcheck run "$c" >"$WORK/hc.out" 2>&1; then s=healthy; else s=unhealthy; fi
		[ "$s" = "$want" ] && return 0
		note "healthcheck run said: $(tr '\n' ' ' <"$WORK/hc.out")"
		return 1
	fi
	if [ "$want" = unhealthy ]; then
		# Three failed checks 10 s apart would take half a minute: run the same command.
		! docker exec "$c" /usr/local/bin/dlockd --healthcheck >/dev/null 2>&1
		return
	fi
	for _ in $(seq 1 60); do
		s=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>/dev/null)
		[ "$s" = healthy ] && return 0
		sleep 1
	done
	note "health status: ${s:-none}"
	return 1
}

# stop_check CTR NAME: `stop -t 10` ends within a few seconds with exit code 0 (SIGTERM handled).
stop_check() {
	local c=$1 n=$2 t0 ms code
	t0=$(now_ms)
	E stop -t 10 "$c" >/dev/null 2>&1
	ms=$(($(now_ms) - t0))
	code=$(E inspect --format '{{.State.ExitCode}}' "$c" 2>/dev/null)
	note "$n: stop took $ms ms, exit code ${code:-?}"
	check "$n: stop (timeout 10) finishes within 5 s" test "$ms" -lt 5000
	check "$n: exits 0 on SIGTERM (not 137)" test "${code:-x}" = 0
}

dump_logs() { # dump_logs PROJECT FILE: last lines of every container, on failure
	local p=$1 id
	for id in $(E ps -a -q --filter "label=com.docker.compose.project=$p" 2>/dev/null); do
		echo "  ---- logs of $(E inspect --format '{{.Name}}' "$id" 2>/dev/null) (last 15 lines)"
		E logs --tail 15 "$id" 2>&1 | sed 's/^/  | /'
	done
}

# ===================================================================================== main
echo "== dlockd container test (version $VERSION)"
choose_engine
echo "  .. engine: $ENGINE, compose: ${COMPOSE[*]}"
note "$("$ENGINE" --version 2>/dev/null | head -1); $("${COMPOSE[@]}" version 2>/dev/null | grep -i -m1 'compose.* version')"

# ---- static checks of the compose files (no engine needed)
if command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
	check "compose files publish ports on 127.0.0.1 only, Redlock uses 3 nodes" python3 - <<-'EOF'
		import re, sys, yaml
		ok = True
		for f, want in (("docker/compose.yaml", {"redis", "dlockd"}),
		                ("docker/compose.redlock.yaml", {"redis1", "redis2", "redis3", "dlockd1", "dlockd2"}),
		                ("docker/compose.auth.yaml", None), ("docker/compose.tls.yaml", None),
		                ("docker/compose.sentinel.yaml", {"redis-master", "redis-replica", "sentinel1",
		                                                  "sentinel2", "sentinel3", "dlockd"}),
		                ("docker/compose.cluster.yaml", {"redis1", "redis2", "redis3", "cluster-init", "dlockd"})):
		    svcs = yaml.safe_load(open(f))["services"]
		    if want is not None and set(svcs) != want:
		        print("  ..", f, "services", sorted(svcs)); ok = False
		    for name, s in svcs.items():
		        for p in s.get("ports", []):
		            if not str(p).startswith("127.0.0.1:"):
		                print("  ..", f, name, "publishes", p); ok = False
		        red = (s.get("environment") or {}).get("DLOCKD_REDIS")
		        if f.endswith("redlock.yaml") and name.startswith("dlockd") and len(red.split(",")) != 3:
		            print("  ..", f, name, "DLOCKD_REDIS", red); ok = False
		sys.exit(0 if ok else 1)
	EOF
	# docs/redlock.md: nodes that restart at once need appendfsync always; no Redis may evict a lock.
	check "compose Redis runs noeviction everywhere and appendfsync always on the Redlock nodes" python3 - <<-'EOF'
		import sys, yaml
		ok = True
		for f in ("docker/compose.yaml", "docker/compose.redlock.yaml", "docker/compose.sentinel.yaml",
		          "docker/compose.cluster.yaml"):
		    for name, s in yaml.safe_load(open(f))["services"].items():
		        if not name.startswith("redis"):
		            continue
		        cmd = " ".join(s.get("command") or [])
		        if "--maxmemory-policy noeviction" not in cmd:
		            print("  ..", f, name, "has no --maxmemory-policy noeviction:", cmd); ok = False
		        if f.endswith("redlock.yaml") and "--appendfsync always" not in cmd and s.get("restart", "no") != "no":
		            print("  ..", f, name, "restarts at once without appendfsync always:", cmd); ok = False
		sys.exit(0 if ok else 1)
	EOF
fi
grep -q "^ARG VERSION=${VERSION}\$" docker/Dockerfile
check "docker/Dockerfile's default VERSION build arg is the VERSION file's ($VERSION)" test $? = 0

# ---- images
if [ "$ENGINE" = podman ] && ! podman image exists "$BASE_IMAGE"; then
	build_base
fi
BUILD_ARGS=(--build-arg "VERSION=$VERSION")
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	BUILD_ARGS+=(--build-arg "REVISION=$(git rev-parse HEAD)")
	src=$(git remote get-url origin 2>/dev/null) && BUILD_ARGS+=(--build-arg "SOURCE=$src")
fi
FORMAT=()
[ "$ENGINE" = podman ] && FORMAT=(--format docker)

echo "== build"
t=$(now_ms)
if E build "${FORMAT[@]}" "${BUILD_ARGS[@]}" -f docker/Dockerfile -t "$DLOCKD_IMAGE" . >"$WORK/build.log" 2>&1; then
	BUILT_IMAGES+=("$DLOCKD_IMAGE")
	BUILD_S=$(awk -v ms=$(($(now_ms) - t)) 'BEGIN { printf "%.1f", ms / 1000 }')
	pass "build docker/Dockerfile ($BUILD_S s)"
else
	tail -30 "$WORK/build.log"
	die "build docker/Dockerfile"
fi
t=$(now_ms)
if E build "${FORMAT[@]}" -f docker/redis.Dockerfile -t "$REDIS_IMAGE" docker >"$WORK/build-redis.log" 2>&1; then
	BUILT_IMAGES+=("$REDIS_IMAGE")
	pass "build docker/redis.Dockerfile ($(awk -v ms=$(($(now_ms) - t)) 'BEGIN { printf "%.1f", ms / 1000 }') s)"
else
	tail -30 "$WORK/build-redis.log"
	die "build docker/redis.Dockerfile"
fi

# ---- the image itself
echo "== image"
size=$(image_size "$DLOCKD_IMAGE")
base=$(image_size "$BASE_IMAGE")
if [ -n "$size" ] && [ -n "$base" ]; then
	echo "  .. image size: $(mb "$size") ($size bytes); base $BASE_IMAGE $(mb "$base"); dlockd's layers add $(mb $((size - base)))"
else
	echo "  .. image size: $(mb "${size:-0}")"
fi
# The layers dlockd's Dockerfile adds (the ones with content).
E history --format '{{.Size}}	{{.CreatedBy}}' "$DLOCKD_IMAGE" 2>/dev/null | grep -v '^0 *B' |
	head -n 2 | cut -c1-110 | sed 's/^/  .. layer: /'
fmt='{{index .Config.Labels "org.opencontainers.image.version"}}|{{index .Config.Labels "org.opencontainers.image.licenses"}}|{{index .Config.Labels "org.opencontainers.image.title"}}'
labels=$(E image inspect --format "$fmt" "$DLOCKD_IMAGE")
check "OCI labels: version=$VERSION licenses=MIT title=dlockd (got $labels)" test "$labels" = "$VERSION|MIT|dlockd"
desc=$(E image inspect --format '{{index .Config.Labels "org.opencontainers.image.description"}}' "$DLOCKD_IMAGE")
check "OCI label description is set" test -n "$desc"
src=$(E image inspect --format '{{index .Config.Labels "org.opencontainers.image.source"}}' "$DLOCKD_IMAGE")
[ -n "$src" ] || note "org.opencontainers.image.source is empty (no git remote 'origin'; pass --build-arg SOURCE=URL)"
user=$(E image inspect --format '{{.Config.User}}' "$DLOCKD_IMAGE")
check "runs as non-root user 10001 (User=$user)" test "$user" = "10001:10001"
hc=$(E image inspect --format '{{if .Config.Healthcheck}}{{join .Config.Healthcheck.Test " "}}{{end}}' "$DLOCKD_IMAGE")
check "HEALTHCHECK is dlockd --healthcheck (got: ${hc:-none})" test "$hc" = "CMD /usr/local/bin/dlockd --healthcheck"
cfg=$(E image inspect --format '{{.Config.StopSignal}}|{{join .Config.Entrypoint " "}}|{{range $k, $v := .Config.ExposedPorts}}{{$k}}{{end}}' "$DLOCKD_IMAGE")
check "STOPSIGNAL SIGTERM, ENTRYPOINT dlockd, EXPOSE 8080 (got $cfg)" test "$cfg" = "SIGTERM|/usr/local/bin/dlockd|8080/tcp"
env=$(E image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$DLOCKD_IMAGE")
check "ENV DLOCKD_LISTEN=:8080" grep -qx 'DLOCKD_LISTEN=:8080' <<<"$env"
# One-off containers: --no-healthcheck (podman would try to set up a systemd timer for it).
RUN1=(run --rm --network none --no-healthcheck)
out=$(E "${RUN1[@]}" "$DLOCKD_IMAGE" --version 2>/dev/null)
check "dlockd --version in the image says $VERSION (got: $out)" grep -q -- "$VERSION" <<<"$out"
out=$(E "${RUN1[@]}" --entrypoint /bin/sh "$DLOCKD_IMAGE" -c \
	'id -u; for t in cc gcc make ld as pkg-config; do command -v $t; done; ls /var/lib/apt/lists | grep -v -e "^partial$" -e "^lock$"; ls /var/cache/apt/archives/*.deb 2>/dev/null; true' 2>/dev/null)
check "container user is 10001, no compiler or build tools, no apt lists or .debs (got: $(tr "\n" " " <<<"$out"))" test "$out" = 10001
out=$(E "${RUN1[@]}" --entrypoint /bin/sh "$DLOCKD_IMAGE" -c \
	'ldd /usr/local/bin/dlockd | grep -c "not found"' 2>/dev/null)
check "every shared library of dlockd resolves in the runtime image" test "$out" = 0
out=$(E "${RUN1[@]}" --entrypoint /bin/sh "$DLOCKD_IMAGE" -c \
	'ldd /usr/local/bin/dlock | grep -c "not found"; /usr/local/bin/dlock --help >/dev/null; echo $?' 2>/dev/null)
check "dlock is in the image: its libraries resolve, --help exits 0 (got: $(tr "\n" " " <<<"$out"))" test "$out" = "0
0"

# ---- single-Redis deployment (docker/compose.yaml)
echo "== compose.yaml (project $PROJ)"
PORT=$(free_port) || die "no free port on 127.0.0.1"
export DLOCKD_IMAGE REDIS_IMAGE DLOCKD_PORT=$PORT
URL="http://127.0.0.1:$PORT"
UP_MAIN=1
t=$(now_ms)
compose "$PROJ" docker/compose.yaml up -d --no-build >"$WORK/compose.log" 2>&1 ||
	{ tail -20 "$WORK/compose.log"; die "compose up"; }
if wait_code "$URL/readyz" 200 90; then
	pass "compose up: /readyz 200 on 127.0.0.1:$PORT after $(($(now_ms) - t)) ms"
else
	dump_logs "$PROJ"
	die "compose up: /readyz not 200 within 90 s (last $CODE)"
fi
DL=$(ctr_of "$PROJ" dlockd)
RS=$(ctr_of "$PROJ" redis)
[ -n "$DL" ] && [ -n "$RS" ] || die "cannot find the compose containers by label"

LOCK="ct-${RUN_ID}"
http PUT "$URL/locks/$LOCK?ttl_ms=30000&owner=container-test"
TOKEN=$(json_str token)
FENCE1=$(json_num fence)
check "acquire: PUT /locks/$LOCK -> 201 with a token (got $CODE)" test "$CODE" = 201 -a -n "$TOKEN"
http PUT "$URL/locks/$LOCK?ttl_ms=30000"
check "second acquire -> 409 lock_held (got $CODE)" test "$CODE" = 409
grep -qi '^Retry-After:' <<<"$HDRS"
check "409 carries Retry-After" test $? = 0
http POST "$URL/locks/$LOCK/renew?ttl_ms=30000" -H "Lock-Token: $TOKEN"
check "renew with Lock-Token -> 200 (got $CODE)" test "$CODE" = 200
http DELETE "$URL/locks/$LOCK" -H "Lock-Token: $TOKEN"
check "release with Lock-Token -> 204 (got $CODE)" test "$CODE" = 204
http GET "$URL/locks/$LOCK"
check "released lock is gone: GET -> 404 (got $CODE)" test "$CODE" = 404

check "container healthcheck: healthy" health_now "$DL" healthy
logline=$(E logs "$DL" 2>&1 | grep -m1 .)
check "logs are JSON lines (DLOCKD_LOG_FORMAT=json)" grep -q '^{' <<<"$logline"
uid=$(E exec "$DL" id -u 2>/dev/null)
check "dlockd runs as uid 10001 in the deployment (got $uid)" test "$uid" = 10001
E exec "$DL" dlock --url http://127.0.0.1:8080 run "$LOCK-cli" --ttl 3s -- sh -c 'test -n "$DLOCK_FENCE" && exit 7' \
	>/dev/null 2>&1
rc=$?
check "dlock run in the container passes the command's exit status 7 (got $rc)" test "$rc" = 7

# A lock that must survive a Redis restart (AOF on a named volume).
http PUT "$URL/locks/$LOCK-persist?ttl_ms=600000"
PTOKEN=$(json_str token)
PFENCE=$(json_num fence)
check "acquire a long lease before stopping Redis -> 201 (got $CODE)" test "$CODE" = 201

echo "== Redis outage"
compose "$PROJ" docker/compose.yaml stop redis >>"$WORK/compose.log" 2>&1
if wait_code "$URL/readyz" 503 5; then
	pass "redis stopped: /readyz 503 after $WAITED_MS ms"
else
	fail "redis stopped: /readyz not 503 within 5 s (last $CODE)"
fi
http PUT "$URL/locks/$LOCK-down"
check "acquire while Redis is down -> 503 backend_unavailable (got $CODE)" \
	test "$CODE" = 503 -a -n "$(grep -o backend_unavailable <<<"$BODY")"
check "container healthcheck fails while Redis is down" health_now "$DL" unhealthy

compose "$PROJ" docker/compose.yaml start redis >>"$WORK/compose.log" 2>&1
if wait_code "$URL/readyz" 200 30; then
	pass "redis started again: /readyz 200 after $WAITED_MS ms"
else
	dump_logs "$PROJ"
	fail "redis started again: /readyz not 200 within 30 s (last $CODE)"
fi
http PUT "$URL/locks/$LOCK-after?ttl_ms=5000"
check "acquire after recovery -> 201 (got $CODE)" test "$CODE" = 201
http GET "$URL/locks/$LOCK-persist"
check "lock taken before the outage survived the Redis restart (AOF volume): GET -> 200 (got $CODE)" test "$CODE" = 200
http DELETE "$URL/locks/$LOCK-persist" -H "Lock-Token: $PTOKEN"
check "and its token still releases it -> 204 (got $CODE)" test "$CODE" = 204
http PUT "$URL/locks/$LOCK?ttl_ms=5000"
FENCE2=$(json_num fence)
check "fence keeps growing across the restart ($FENCE1 < ${FENCE2:-?})" \
	test -n "$FENCE1" -a -n "$FENCE2" -a "${FENCE2:-0}" -gt "${FENCE1:-0}"
check "container healthcheck: healthy again" health_now "$DL" healthy
: "$PFENCE"

echo "== stop"
stop_check "$DL" dlockd
compose "$PROJ" docker/compose.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
UP_MAIN=0
left=$(E ps -a -q --filter "label=com.docker.compose.project=$PROJ" | wc -l)
check "compose down -v removes the containers" test "$left" = 0

# ---- Redlock deployment (docker/compose.redlock.yaml)
echo "== compose.redlock.yaml (project $PROJ_RL)"
# Does this build do Redlock? A build without it exits 2 at once with a one-line reason.
E run -d --name "$PROBE_CTR" --network none --no-healthcheck \
	-e DLOCKD_REDIS=redis://redis1:6379,redis://redis2:6379,redis://redis3:6379 \
	"$DLOCKD_IMAGE" >/dev/null 2>&1
state=running
for _ in $(seq 1 25); do
	state=$(E inspect --format '{{.State.Status}}' "$PROBE_CTR" 2>/dev/null)
	[ "$state" = exited ] && break
	sleep 0.2
done
probe_code=$(E inspect --format '{{.State.ExitCode}}' "$PROBE_CTR" 2>/dev/null)
probe_log=$(E logs "$PROBE_CTR" 2>&1)
E rm -f "$PROBE_CTR" >/dev/null 2>&1
if [ "$state" = exited ] && [ "$probe_code" = 2 ] && grep -q 'Redlock mode' <<<"$probe_log"; then
	skip "Redlock mode not built (dlockd exits 2: $(grep -m1 'Redlock' <<<"$probe_log"))"
else
	P1=$(free_port) && P2=$(free_port) || die "no free ports"
	[ "$P1" = "$P2" ] && P2=$(free_port)
	export DLOCKD_PORT1=$P1 DLOCKD_PORT2=$P2
	U1="http://127.0.0.1:$P1"
	U2="http://127.0.0.1:$P2"
	UP_RL=1
	t=$(now_ms)
	compose "$PROJ_RL" docker/compose.redlock.yaml up -d --no-build >>"$WORK/compose.log" 2>&1 ||
		{ tail -20 "$WORK/compose.log"; die "compose up (Redlock)"; }
	if wait_code "$U1/readyz" 200 90 && wait_code "$U2/readyz" 200 30; then
		pass "Redlock: both replicas ready (127.0.0.1:$P1, :$P2) after $(($(now_ms) - t)) ms"
	else
		dump_logs "$PROJ_RL"
		die "Redlock: replicas not ready within 90 s (last $CODE)"
	fi
	RL="ctrl-${RUN_ID}"
	http PUT "$U1/locks/$RL?ttl_ms=30000"
	RT=$(json_str token)
	check "Redlock: acquire on replica 1 -> 201 (got $CODE)" test "$CODE" = 201 -a -n "$RT"
	http PUT "$U2/locks/$RL?ttl_ms=30000"
	check "Redlock: same lock on replica 2 -> 409 (got $CODE)" test "$CODE" = 409
	http POST "$U2/locks/$RL/renew?ttl_ms=30000" -H "Lock-Token: $RT"
	check "Redlock: renew through replica 2 -> 200 (got $CODE)" test "$CODE" = 200
	compose "$PROJ_RL" docker/compose.redlock.yaml stop redis3 >>"$WORK/compose.log" 2>&1
	http PUT "$U1/locks/$RL-minority?ttl_ms=30000"
	check "Redlock: one of three nodes down, acquire still -> 201 (got $CODE)" test "$CODE" = 201
	http PUT "$U2/locks/$RL?ttl_ms=30000"
	check "Redlock: one node down, held lock still -> 409 (got $CODE)" test "$CODE" = 409
	compose "$PROJ_RL" docker/compose.redlock.yaml stop redis2 >>"$WORK/compose.log" 2>&1
	http PUT "$U1/locks/$RL-noquorum?ttl_ms=30000"
	check "Redlock: two of three nodes down, acquire -> 503 (got $CODE)" test "$CODE" = 503
	compose "$PROJ_RL" docker/compose.redlock.yaml start redis2 redis3 >>"$WORK/compose.log" 2>&1
	if wait_code "$U1/readyz" 200 30 && wait_code "$U2/readyz" 200 30; then
		pass "Redlock: nodes back, both replicas ready"
	else
		fail "Redlock: not ready after the nodes came back (last $CODE)"
	fi
	http DELETE "$U2/locks/$RL" -H "Lock-Token: $RT"
	check "Redlock: release through replica 2 -> 204 (got $CODE)" test "$CODE" = 204
	http PUT "$U2/locks/$RL?ttl_ms=30000"
	check "Redlock: acquire again on replica 2 -> 201 (got $CODE)" test "$CODE" = 201
	check "Redlock: replica 1 healthcheck healthy" health_now "$(ctr_of "$PROJ_RL" dlockd1)" healthy
	stop_check "$(ctr_of "$PROJ_RL" dlockd1)" "Redlock dlockd1"
	stop_check "$(ctr_of "$PROJ_RL" dlockd2)" "Redlock dlockd2"
	[ "$FAILED" -gt 0 ] && dump_logs "$PROJ_RL"
	compose "$PROJ_RL" docker/compose.redlock.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
	UP_RL=0
fi

# ---- API keys (docker/compose.auth.yaml): the auth file as a compose secret, reloaded on SIGHUP
echo "== compose.auth.yaml (project $PROJ_AUTH)"
newkey() { echo "dlk_ct_$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; }
keyline() { printf '%s sha256:%s * admin\n' "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-64)"; }
KEY1=$(newkey)
KEY2=$(newkey)
keyline ct-one "$KEY1" >"$WORK/keys"
chmod 644 "$WORK/keys" # the container's uid 10001 reads it
PA=$(free_port) || die "no free port"
export DLOCKD_PORT=$PA DLOCKD_KEYS_FILE="$WORK/keys"
UA="http://127.0.0.1:$PA"
UP_AUTH=1
compose "$PROJ_AUTH" docker/compose.auth.yaml up -d --no-build >>"$WORK/compose.log" 2>&1 ||
	{ tail -20 "$WORK/compose.log"; die "compose up (auth)"; }
if wait_code "$UA/readyz" 200 90; then
	pass "auth: /readyz 200 without a key after $WAITED_MS ms"
else
	dump_logs "$PROJ_AUTH"
	die "auth: not ready within 90 s (last $CODE)"
fi
http PUT "$UA/locks/ct-auth?ttl_ms=30000"
check "auth: acquire without a key -> 401 with WWW-Authenticate (got $CODE)" \
	test "$CODE" = 401 -a -n "$(grep -i '^WWW-Authenticate: Bearer' <<<"$HDRS")"
http PUT "$UA/locks/ct-auth?ttl_ms=30000" -H "Authorization: Bearer $KEY1"
check "auth: acquire with the key from the secret -> 201 (got $CODE)" test "$CODE" = 201
DA=$(ctr_of "$PROJ_AUTH" dlockd)
check "auth: container healthcheck healthy (/readyz needs no key)" health_now "$DA" healthy
keyline ct-two "$KEY2" >"$WORK/keys" # in place: the secret is the same file
E kill --signal HUP "$DA" >/dev/null 2>&1
t=$(now_ms)
while http GET "$UA/locks" -H "Authorization: Bearer $KEY2" && [ "$CODE" != 200 ] && [ $(($(now_ms) - t)) -lt 10000 ]; do
	sleep 0.2
done
check "auth: after SIGHUP the new key works (got $CODE)" test "$CODE" = 200
http GET "$UA/locks" -H "Authorization: Bearer $KEY1"
check "auth: and the removed one is refused -> 401 (got $CODE)" test "$CODE" = 401
audit=$(E logs "$DA" 2>&1 | grep -c '"msg":"audit"')
check "auth: audit lines in the container's log ($audit)" test "$audit" -ge 2
stop_check "$DA" "auth dlockd"
[ "$FAILED" -gt 0 ] && dump_logs "$PROJ_AUTH"
compose "$PROJ_AUTH" docker/compose.auth.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
UP_AUTH=0

# ---- HTTPS (docker/compose.tls.yaml): a CA and a certificate made here; the HEALTHCHECK over TLS
echo "== compose.tls.yaml (project $PROJ_TLS)"
if ! command -v openssl >/dev/null 2>&1; then
	skip "HTTPS: openssl is missing (tools/deps.sh installs it)"
else
	mkdir -p "$WORK/tls"
	(
		cd "$WORK/tls" &&
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=ct-ca \
				-keyout ca.key -out ca.pem &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
				-keyout key.pem -out srv.csr &&
			printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext &&
			openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext \
				-out cert.pem
	) >"$WORK/openssl.log" 2>&1 || { tail -5 "$WORK/openssl.log"; die "openssl: test certificates"; }
	chmod 644 "$WORK/tls/key.pem" # read by uid 10001; a throwaway key
	PT=$(free_port) || die "no free port"
	export DLOCKD_PORT=$PT DLOCKD_TLS_DIR="$WORK/tls"
	UT="https://127.0.0.1:$PT"
	UP_TLS=1
	compose "$PROJ_TLS" docker/compose.tls.yaml up -d --no-build >>"$WORK/compose.log" 2>&1 ||
		{ tail -20 "$WORK/compose.log"; die "compose up (tls)"; }
	t=$(now_ms)
	while http GET "$UT/readyz" --cacert "$WORK/tls/ca.pem" && [ "$CODE" != 200 ] && [ $(($(now_ms) - t)) -lt 90000 ]; do
		sleep 0.3
	done
	if [ "$CODE" = 200 ]; then
		pass "HTTPS: /readyz 200 over TLS (our CA) after $(($(now_ms) - t)) ms"
	else
		dump_logs "$PROJ_TLS"
		die "HTTPS: not ready within 90 s (last $CODE)"
	fi
	http PUT "$UT/locks/ct-tls?ttl_ms=30000" --cacert "$WORK/tls/ca.pem"
	check "HTTPS: acquire -> 201 (got $CODE)" test "$CODE" = 201
	http GET "$UT/readyz"
	check "HTTPS: a client without our CA is refused (got $CODE)" test "$CODE" = 000
	http GET "http://127.0.0.1:$PT/readyz"
	check "HTTPS: plain HTTP to the TLS port gets no answer (got $CODE)" test "$CODE" = 000
	DT=$(ctr_of "$PROJ_TLS" dlockd)
	check "HTTPS: container healthcheck healthy (dlockd --healthcheck speaks TLS)" health_now "$DT" healthy
	stop_check "$DT" "tls dlockd"
	[ "$FAILED" -gt 0 ] && dump_logs "$PROJ_TLS"
	compose "$PROJ_TLS" docker/compose.tls.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
	UP_TLS=0
fi

# ---- Redis Sentinel (docker/compose.sentinel.yaml): master + replica + 3 sentinels; kill the master
echo "== compose.sentinel.yaml (project $PROJ_SEN)"
# The failover bound comes from the file: down-after-milliseconds, plus failover-timeout (a failed
# election is retried after it), plus 10 s of slack (a sentinel's info refresh, a busy machine).
DOWN_MS=$(sed -n 's/.*sentinel down-after-milliseconds dlockd \([0-9][0-9]*\).*/\1/p' docker/compose.sentinel.yaml)
FTO_MS=$(sed -n 's/.*sentinel failover-timeout dlockd \([0-9][0-9]*\).*/\1/p' docker/compose.sentinel.yaml)
[ -n "$DOWN_MS" ] && [ -n "$FTO_MS" ] || die "Sentinel: no down-after-milliseconds / failover-timeout in the compose file"
FAILOVER_S=$(((DOWN_MS + FTO_MS) / 1000 + 10))
PS=$(free_port) || die "no free port"
export DLOCKD_PORT=$PS
US="http://127.0.0.1:$PS"
UP_SEN=1
t=$(now_ms)
compose "$PROJ_SEN" docker/compose.sentinel.yaml up -d --no-build >>"$WORK/compose.log" 2>&1 ||
	{ tail -20 "$WORK/compose.log"; die "compose up (Sentinel)"; }
if wait_code "$US/readyz" 200 90; then
	pass "Sentinel: /readyz 200 after $(($(now_ms) - t)) ms"
else
	dump_logs "$PROJ_SEN"
	die "Sentinel: not ready within 90 s (last $CODE)"
fi
DS=$(ctr_of "$PROJ_SEN" dlockd)
SM=$(ctr_of "$PROJ_SEN" redis-master)
SR=$(ctr_of "$PROJ_SEN" redis-replica)
[ -n "$DS" ] && [ -n "$SM" ] && [ -n "$SR" ] || die "Sentinel: cannot find the compose containers by label"
uid=$(E exec "$DS" id -u 2>/dev/null)
check "Sentinel: dlockd runs as uid 10001 (got $uid)" test "$uid" = 10001
SL="ctsen-${RUN_ID}"
http PUT "$US/locks/$SL?ttl_ms=600000"
STOK=$(json_str token)
SF1=$(json_num fence)
check "Sentinel: acquire -> 201 (got $CODE)" test "$CODE" = 201 -a -n "$STOK" -a -n "$SF1"
# Let the replica catch up as it normally does (it is asked, not forced: replication is asynchronous).
sleep 1
E kill "$SM" >/dev/null 2>&1
t=$(now_ms)
if wait_code "$US/readyz" 503 10; then
	pass "Sentinel: master killed: /readyz 503 after $WAITED_MS ms"
else
	fail "Sentinel: master killed: /readyz not 503 within 10 s (last $CODE)"
fi
if wait_code "$US/readyz" 200 "$FAILOVER_S"; then
	pass "Sentinel: serves again $(($(now_ms) - t)) ms after the kill (bound ${FAILOVER_S} s: down-after $DOWN_MS ms + failover-timeout $FTO_MS ms + 10 s)"
else
	fail "Sentinel: /readyz not 200 within $FAILOVER_S s of the kill (last $CODE)"
fi
http PUT "$US/locks/$SL-after?ttl_ms=30000"
check "Sentinel: acquire after the failover -> 201 (got $CODE)" test "$CODE" = 201
role=$(E exec "$SR" redis-cli role 2>/dev/null | head -n 1)
check "Sentinel: the replica was promoted (ROLE: ${role:-?})" test "$role" = master
# The lock granted before the kill: replication is asynchronous, so the docs (README, "Redis
# Sentinel: failover") promise only that fences rise; the lock itself may or may not be there.
# Either way its state must be coherent, and the next grant of that name has a higher fence.
http GET "$US/locks/$SL"
if [ "$CODE" = 200 ]; then
	check "Sentinel: the lock from before the failover survived with its fence ($SF1)" test "$(json_num fence)" = "$SF1"
	http PUT "$US/locks/$SL?ttl_ms=30000"
	check "Sentinel: it is still held: acquire -> 409 (got $CODE)" test "$CODE" = 409
	http DELETE "$US/locks/$SL" -H "Lock-Token: $STOK"
	check "Sentinel: its token releases it on the new master -> 204 (got $CODE)" test "$CODE" = 204
elif [ "$CODE" = 404 ]; then
	note "Sentinel: the lock from before the failover was lost (asynchronous replication; documented)"
else
	fail "Sentinel: GET of the lock from before the failover -> $CODE (want 200 or 404)"
fi
http PUT "$US/locks/$SL?ttl_ms=30000"
SF2=$(json_num fence)
check "Sentinel: grant after the failover -> 201 with a higher fence ($SF1 < ${SF2:-?})" \
	test "$CODE" = 201 -a -n "$SF2" -a "${SF2:-0}" -gt "$SF1"
# The old master comes back (restart policy, `start`): it asks the sentinels and rejoins as a replica.
E start "$SM" >/dev/null 2>&1
t=$(now_ms)
rep=""
while [ $(($(now_ms) - t)) -lt 30000 ]; do
	rep=$(E exec "$SM" redis-cli info replication 2>/dev/null | tr -d '\r')
	grep -q '^role:slave' <<<"$rep" && grep -q '^master_link_status:up' <<<"$rep" && break
	sleep 0.5
done
check "Sentinel: the old master, started again, is a replica of the new one within 30 s ($(grep -E '^(role|master_link_status):' <<<"$rep" | tr '\n' ' '))" \
	grep -q '^master_link_status:up' <<<"$rep"
check "Sentinel: container healthcheck healthy" health_now "$DS" healthy
stop_check "$DS" "Sentinel dlockd"
[ "$FAILED" -gt 0 ] && dump_logs "$PROJ_SEN"
compose "$PROJ_SEN" docker/compose.sentinel.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
UP_SEN=0

# ---- Redis Cluster (docker/compose.cluster.yaml): 3 masters made by a one-shot init container
echo "== compose.cluster.yaml (project $PROJ_CL)"
PCL=$(free_port) || die "no free port"
export DLOCKD_PORT=$PCL
UC="http://127.0.0.1:$PCL"
UP_CL=1
t=$(now_ms)
compose "$PROJ_CL" docker/compose.cluster.yaml up -d --no-build >>"$WORK/compose.log" 2>&1 ||
	{ tail -20 "$WORK/compose.log"; die "compose up (cluster)"; }
if wait_code "$UC/readyz" 200 120; then
	pass "cluster: /readyz 200 (every slot served) after $(($(now_ms) - t)) ms"
else
	dump_logs "$PROJ_CL"
	die "cluster: not ready within 120 s (last $CODE)"
fi
# init_done: waits for cluster-init to exit; says whether it exited 0.
init_done() {
	local c s
	c=$(ctr_of "$PROJ_CL" cluster-init)
	for _ in $(seq 1 150); do
		s=$(E inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$c" 2>/dev/null)
		[ "${s% *}" = exited ] && break
		sleep 0.2
	done
	[ "$s" = "exited 0" ] && return 0
	note "cluster-init ${c:-(no container)}: status and exit code: ${s:-?}"
	return 1
}
check "cluster: cluster-init made the cluster and exited 0" init_done
DC=$(ctr_of "$PROJ_CL" dlockd)
declare -A NODE
for n in redis1 redis2 redis3; do
	NODE[$n]=$(ctr_of "$PROJ_CL" "$n")
	[ -n "${NODE[$n]}" ] || die "cluster: no container for $n"
done
# where NAMES...: "name node" for each name, the node being the one that serves the slot of the
# name's lock key (the others answer MOVED), and the key's EXISTS there.
where() {
	local n
	for n in redis1 redis2 redis3; do
		# shellcheck disable=SC2016
		E exec "${NODE[$n]}" sh -c 'for k; do printf "%s %s\n" "$k" "$(redis-cli exists "dlock:lock:{$k}")"; done' sh "$@" \
			2>/dev/null | awk -v node="$n" '$2 ~ /^[01]$/ { print $1, node, $2 }'
	done
}
cands=()
for i in $(seq 1 24); do cands+=("ctcl-${RUN_ID}-$i"); done
declare -A PICK # node -> name
while read -r name node _; do
	[ -n "${PICK[$node]:-}" ] || PICK[$node]=$name
done < <(where "${cands[@]}")
check "cluster: names on all three masters found (${PICK[redis1]:-none} ${PICK[redis2]:-none} ${PICK[redis3]:-none})" \
	test -n "${PICK[redis1]:-}" -a -n "${PICK[redis2]:-}" -a -n "${PICK[redis3]:-}"
declare -A CTOK
ok=1
for node in redis1 redis2 redis3; do
	name=${PICK[$node]:-}
	[ -n "$name" ] || continue
	http PUT "$UC/locks/$name?ttl_ms=600000"
	CTOK[$name]=$(json_str token)
	[ "$CODE" = 201 ] && [ -n "${CTOK[$name]}" ] || { ok=0; note "acquire $name -> $CODE"; }
done
check "cluster: acquire one name per master -> 201 each" test "$ok" = 1
got=$(where "${PICK[redis1]:-x}" "${PICK[redis2]:-x}" "${PICK[redis3]:-x}" | sort | tr '\n' ' ')
want=$(for node in redis1 redis2 redis3; do echo "${PICK[$node]:-x} $node 1"; done | sort | tr '\n' ' ')
check "cluster: each lock's key lives on the master of its slot, one per master (got: $got)" test "$got" = "$want"
# The list walks the masters one after another: follow next_cursor to the end.
listed=""
cur=""
pages=0
while [ "$pages" -lt 30 ]; do
	pages=$((pages + 1))
	http GET "$UC/locks?prefix=ctcl-${RUN_ID}&limit=100${cur:+&cursor=$cur}"
	[ "$CODE" = 200 ] || break
	listed="$listed $(grep -o '"name":"[^"]*"' <<<"$BODY" | tr '\n' ' ')"
	cur=$(json_str next_cursor)
	[ -n "$cur" ] || break
done
ok=1
for node in redis1 redis2 redis3; do grep -q "\"${PICK[$node]:-x}\"" <<<"$listed" || ok=0; done
check "cluster: GET /locks (following next_cursor, $pages page(s)) lists the locks of all three masters (last $CODE)" \
	test "$CODE" = 200 -a "$ok" = 1 -a -z "$cur"
# `down` without -v, then `up` again: new containers (often new addresses) on the kept volumes.
# cluster-init runs again, finds the cluster, tells the nodes where the others are now; the
# locks (AOF, clean stop) are still there.
node_ips() {
	local n
	for n in redis1 redis2 redis3; do
		E inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(ctr_of "$PROJ_CL" "$n")" 2>/dev/null
	done | tr '\n' ' '
}
ips1=$(node_ips)
compose "$PROJ_CL" docker/compose.cluster.yaml down -t 5 >>"$WORK/compose.log" 2>&1
t=$(now_ms)
compose "$PROJ_CL" docker/compose.cluster.yaml up -d --no-build >>"$WORK/compose.log" 2>&1 ||
	{ tail -20 "$WORK/compose.log"; die "compose up (cluster, second time)"; }
# (grep reads all of the log: with pipefail, `grep -q` quitting at its match could make podman's
# next write fail with SIGPIPE, and the check with it, though the line was there)
check "cluster: down and up again: cluster-init finds the cluster and exits 0" \
	eval 'init_done && E logs "$(ctr_of "$PROJ_CL" cluster-init)" 2>&1 | grep "the cluster exists" >/dev/null'
note "node addresses before: ${ips1}after: $(node_ips)"
if wait_code "$UC/readyz" 200 60; then
	pass "cluster: ready again $(($(now_ms) - t)) ms after the second up"
else
	fail "cluster: not ready within 60 s of the second up (last $CODE)"
fi
DC=$(ctr_of "$PROJ_CL" dlockd)
for n in redis1 redis2 redis3; do NODE[$n]=$(ctr_of "$PROJ_CL" "$n"); done
ok=1
for node in redis1 redis2 redis3; do
	http GET "$UC/locks/${PICK[$node]:-x}"
	[ "$CODE" = 200 ] || { ok=0; note "GET ${PICK[$node]:-x} -> $CODE"; }
done
check "cluster: after down and up the locks on all three masters are still held" test "$ok" = 1
ok=1
for node in redis1 redis2 redis3; do
	name=${PICK[$node]:-}
	[ -n "$name" ] || continue
	http DELETE "$UC/locks/$name" -H "Lock-Token: ${CTOK[$name]}"
	[ "$CODE" = 204 ] || { ok=0; note "release $name -> $CODE"; }
	http GET "$UC/locks/$name"
	[ "$CODE" = 404 ] || { ok=0; note "GET $name after release -> $CODE"; }
done
check "cluster: release each -> 204, then GET -> 404" test "$ok" = 1
uid=$(E exec "$DC" id -u 2>/dev/null)
check "cluster: dlockd runs as uid 10001 (got $uid)" test "$uid" = 10001
check "cluster: container healthcheck healthy (every slot served)" health_now "$DC" healthy
stop_check "$DC" "cluster dlockd"
[ "$FAILED" -gt 0 ] && dump_logs "$PROJ_CL"
compose "$PROJ_CL" docker/compose.cluster.yaml down -v -t 5 >>"$WORK/compose.log" 2>&1
UP_CL=0
exit 0
