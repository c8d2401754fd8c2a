#!/usr/bin/env bash
# dlockd benchmark suite: `make bench` (or `bash bench/run.sh`). See bench/README.md.
#
# Builds dlockd with -O2 (no sanitizers) into build-bench/, starts private
# redis-server / dlockd / etcd processes on 127.0.0.1 only, runs each workload
# for a few seconds and prints a table; bench/results.json gets every number,
# the ratios and the machine facts. Every process it starts is stopped on exit,
# also on failure or Ctrl-C.
#
# Knobs (environment): BENCH_SECONDS (4) per workload, BENCH_WARMUP (0.5),
# BENCH_CONC (64), BENCH_MEM_CONNS (10000), BENCH_REDIS_REQUESTS (150000, per
# redis-benchmark run), BENCH_RESULTS (bench/results.json), BENCH_SKIP (space-
# separated: etcd node redlock replicas cluster sentinel memory wrk tls seed), BENCH_NO_INSTALL=1 (never apt-get),
# BENCH_DLOCKD (run this dlockd binary instead of the one built into build-bench/).
# Missing Debian packages (tools/deps.sh's bench set) are installed first when run as root.
# bench/plot.py draws the results as an SVG picture beside the JSON (results.svg).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

DUR=${BENCH_SECONDS:-4}
WARM=${BENCH_WARMUP:-0.5}
CONC=${BENCH_CONC:-64}
BIG=${BENCH_MEM_CONNS:-10000}
REDIS_N=${BENCH_REDIS_REQUESTS:-150000}
OUT_JSON=${BENCH_RESULTS:-$ROOT/bench/results.json}
OUT_SVG=${OUT_JSON%.json}.svg
SKIP=" ${BENCH_SKIP:-} "
BUILD=build-bench
BIN=$ROOT/$BUILD/bench
DLOCKD=${BENCH_DLOCKD:-$ROOT/$BUILD/dlockd}
LOADGEN=$BIN/loadgen
T0=$(date +%s.%N)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dlockd-bench.XXXXXX") || exit 1
SHM_DIRS=() # etcd data dirs under /dev/shm
PIDS=()
FAILS=0
NOTES=()

# ---------------------------------------------------------------- cleanup ---

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# Stops one process this script started (by its PID): TERM, then KILL after 5 s.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	forget_pid "$pid"
}

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	rm -rf "$TMP"
	[ ${#SHM_DIRS[@]} -gt 0 ] && rm -rf "${SHM_DIRS[@]}"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'echo "bench: terminated" >&2; exit 143' TERM

# ---------------------------------------------------------------- helpers ---

log() { printf '[%5.1fs] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*" >&2; }
note() { NOTES+=("$*"); log "note: $*"; }
skipped() { [[ "$SKIP" == *" $1 "* ]]; }
have() { command -v "$1" >/dev/null 2>&1; }

# A port below the usual ephemeral range that nothing answers on.
next_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# GET over a fresh HTTP/1.0 connection (no curl needed): prints the response.
http_get() {
	timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3
		cat <&3' "$1" "$2" 2>/dev/null
}

# ready_probe PORT [DLOCKD ARGS...]: /readyz answers 200; over HTTPS (--tls-cert in
# the args) through dlockd's own --healthcheck.
ready_probe() {
	local port=$1
	shift
	if [[ " $* " == *" --tls-cert "* ]]; then
		"$DLOCKD" --healthcheck --listen "127.0.0.1:$port" "$@" >/dev/null 2>&1
	else
		http_get "$port" /readyz | head -1 | grep -q ' 200'
	fi
}

# Value of a flat field from a one-line JSON object in a file.
jget() { grep -o "\"$2\":[^,}]*" "$1" 2>/dev/null | head -1 | cut -d: -f2- | tr -d '"'; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
mib() { awk -v k="$1" 'BEGIN{ if (k == "") print ""; else printf "%.1f", k / 1024 }'; }
ms() { awk -v u="$1" 'BEGIN{ if (u == "" || u < 0) print ""; else printf "%.3f", u / 1000 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.3f", a / b }'; }
num() { [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }

# row KEY LABEL VALUE UNIT [RATIO VS TARGET NOTE]
# TARGET is ">=X" or "<X" applied to RATIO when given, else to VALUE.
ROWS=$TMP/rows
: >"$ROWS"
row() {
	local key=$1 label=$2 value=$3 unit=$4 ratio=${5:-} vs=${6:-} target=${7:-} rnote=${8:-} met=""
	if [ -n "$target" ]; then
		local x=$value
		[ -n "$ratio" ] && x=$ratio
		if num "$x"; then
			met=$(awk -v x="$x" -v t="$target" 'BEGIN{
				op = substr(t, 1, 2); v = substr(t, 3)
				if (op != ">=" && op != "<=") { op = substr(t, 1, 1); v = substr(t, 2) }
				x += 0; v += 0
				ok = (op == ">=") ? x >= v : (op == "<=") ? x <= v : (op == ">") ? x > v : x < v
				print ok ? "met" : "MISS" }')
		fi
	fi
	# fields separated by US (\037), not tabs: `read` would merge empty tab-separated fields
	printf '%s\037%s\037%s\037%s\037%s\037%s\037%s\037%s\037%s\n' "$key" "$label" "$value" "$unit" "$ratio" "$vs" "$target" "$met" "$rnote" >>"$ROWS"
}

RAW=$TMP/raw
mkdir -p "$RAW"

# lg KEY MODE ARGS...: runs the load generator on CPU 1; its JSON goes to $RAW/KEY.json.
lg() {
	local key=$1
	shift
	if ! $GEN "$LOADGEN" "$@" >"$RAW/$key.json" 2>"$TMP/$key.err" || ! grep -q '"mode"' "$RAW/$key.json"; then
		log "FAILED: loadgen $* — $(tail -2 "$TMP/$key.err" | tr '\n' ' ')"
		rm -f "$RAW/$key.json"
		return 1
	fi
	local e
	e=$(jget "$RAW/$key.json" errors)
	[ "${e:-0}" != 0 ] && log "warning: $key: $e errors ($(jget "$RAW/$key.json" statuses))"
	return 0
}

# errnote KEY: "" or "N errors: statuses; 5xx codes" for a row's note.
errnote() {
	local f=$RAW/$1.json e codes
	e=$(jget "$f" errors)
	[ -n "$e" ] && [ "$e" != 0 ] || return 0
	codes=$(grep -o '"code":"[a-z_]*"' "$TMP/$1.err" 2>/dev/null | cut -d'"' -f4 | sort -u | tr '\n' ' ')
	printf '%s errors (answers %s%s)' "$e" "$(jget "$f" statuses)" "${codes:+; 5xx: ${codes% }}"
}
join_notes() { local a=$1 b=$2; if [ -n "$a" ] && [ -n "$b" ]; then echo "$a; $b"; else echo "$a$b"; fi; }

failed_row() {
	FAILS=$((FAILS + 1))
	row "$1" "$2" failed "" "" "" "" "$3"
}

# ---------------------------------------------------------------- CPU per operation ---
# Around one loadgen run: the servers' CPU time from /proc/PID/stat (utime + stime, all
# threads, in clock ticks) and Redis's command time from INFO commandstats (usec).

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# Commands the Lua scripts call: commandstats counts them too, inside their EVALSHA's usec,
# so only the commands a client sent (EVALSHA, EVAL, PING, WAIT, ...) are summed.
SCRIPT_CMDS=$(grep -ohE "redis\.p?call\('[A-Za-z]+" src/redis/scripts.h 2>/dev/null | cut -d"'" -f2 |
	tr 'A-Z' 'a-z' | sort -u | tr '\n' ' ')

# proc_ticks PID...: summed utime+stime in clock ticks; "" if a process is gone.
proc_ticks() {
	local p s fld t=0
	for p in "$@"; do
		read -r s <"/proc/$p/stat" 2>/dev/null || return 1
		# fields after "(comm) ": state is field 3, utime 14, stime 15
		read -r -a fld <<<"${s##*) }"
		t=$((t + fld[11] + fld[12]))
	done
	echo "$t"
}

# cmd_stats PORT...: "USEC EVALSHA_CALLS" summed over the nodes: usec of the commands
# clients sent (not those the scripts called, not INFO), and EVALSHA+EVAL calls.
cmd_stats() {
	local p
	for p in "$@"; do
		redis-cli -p "$p" info commandstats 2>/dev/null || return 1
	done | tr -d '\r' | awk -v skip="$SCRIPT_CMDS info" '
		BEGIN { n = split(skip, a, " "); for (i = 1; i <= n; i++) sk[a[i]] = 1 }
		/^cmdstat_/ {
			split($0, kv, ":"); c = substr(kv[1], 9)
			calls = kv[2]; sub(/^calls=/, "", calls); sub(/,.*/, "", calls)
			us = kv[2]; sub(/.*usec=/, "", us); sub(/,.*/, "", us)
			if (!(c in sk)) u += us
			if (c == "evalsha" || c == "eval") e += calls
		}
		END { printf "%d %d\n", u, e }'
}

# cpu_mark "REDIS_PIDS" "REDIS_PORTS" DLOCKD_PID: remembers the totals before a run.
cpu_mark() {
	CPU_T0=$(date +%s.%N)
	CPU_R0=$(proc_ticks $1)
	read -r CPU_U0 _ < <(cmd_stats $2)
	CPU_D0=$(proc_ticks "$3")
}

# cpu_rows PFX KEY "REDIS_PIDS" "REDIS_PORTS" DLOCKD_PID WHAT: after loadgen run KEY
# (measured since cpu_mark), rows PFX_redis_cmd_us, PFX_redis_proc_us, PFX_dlockd_req_us
# and $RAW/PFX.json with the raw counts. The divisors count every answer of the whole
# loadgen run, warm-up included, as the CPU time does: pairs = 204 answers,
# HTTP requests = all answers. Sets CPU_RP (Redis µs/pair, /proc) and CPU_DR (dlockd µs/request).
cpu_rows() {
	local pfx=$1 key=$2 rpids=$3 rports=$4 dpid=$5 what=$6 f=$RAW/$2.json
	local r1 u1 d1 t1 st pairs reqs el
	CPU_RP="" CPU_DR=""
	sleep 0.2 # the last answers in flight when loadgen stopped
	t1=$(date +%s.%N)
	r1=$(proc_ticks $rpids)
	read -r u1 _ < <(cmd_stats $rports)
	d1=$(proc_ticks "$dpid")
	st=$(jget "$f" statuses)
	pairs=$(awk -v s="$st" 'BEGIN{ n = split(s, a, " "); for (i = 1; i <= n; i++) { split(a[i], b, ":"); if (b[1] == 204) p += b[2] } print p + 0 }')
	reqs=$(awk -v s="$st" 'BEGIN{ n = split(s, a, " "); for (i = 1; i <= n; i++) { split(a[i], b, ":"); r += b[2] } print r + 0 }')
	el=$(awk -v a="$CPU_T0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')
	if ! num "${CPU_R0:-}" || ! num "${r1:-}" || ! num "${CPU_D0:-}" || ! num "${d1:-}" || [ "$pairs" = 0 ]; then
		failed_row "${pfx}_redis_proc_us" "  Redis CPU per pair$what: process" "no CPU figures (a process gone, or no pairs)"
		return 1
	fi
	local rus dus
	rus=$(awk -v a="$CPU_R0" -v b="$r1" -v t="$CLK_TCK" 'BEGIN{printf "%d", (b - a) * 1e6 / t}')
	dus=$(awk -v a="$CPU_D0" -v b="$d1" -v t="$CLK_TCK" 'BEGIN{printf "%d", (b - a) * 1e6 / t}')
	printf '{"cpu":"%s","seconds":%s,"clk_tck":%s,"pairs":%s,"http_requests":%s,"redis_processes":%s,"redis_cpu_us":%s,"redis_command_us":%s,"dlockd_cpu_us":%s}\n' \
		"$key" "$el" "$CLK_TCK" "$pairs" "$reqs" "$(wc -w <<<"$rpids")" "$rus" \
		"$(awk -v a="${CPU_U0:-}" -v b="${u1:-}" 'BEGIN{ if (a == "" || b == "") print "null"; else print b - a }')" "$dus" >"$RAW/$pfx.json"
	if num "${CPU_U0:-}" && num "${u1:-}"; then
		row "${pfx}_redis_cmd_us" "  Redis CPU per pair$what: commands (commandstats)" \
			"$(div "$((u1 - CPU_U0))" "$pairs")" µs "" "" "" "usec of the commands dlockd sent (EVALSHA, ...) over $pairs pairs"
	else
		failed_row "${pfx}_redis_cmd_us" "  Redis CPU per pair$what: commands (commandstats)" "INFO commandstats unreadable"
	fi
	CPU_RP=$(div "$rus" "$pairs")
	CPU_DR=$(div "$dus" "$reqs")
	row "${pfx}_redis_proc_us" "  Redis CPU per pair$what: process (/proc utime+stime)" "$CPU_RP" µs "" "" "" \
		"redis-server $(awk -v u="$rus" -v e="$el" 'BEGIN{printf "%.0f%% of a core", u / e / 1e4}') over ${el}s (loadgen run incl. warm-up)"
	row "${pfx}_dlockd_req_us" "  dlockd CPU per HTTP request$what (/proc utime+stime)" "$CPU_DR" µs "" "" "" \
		"dlockd $(awk -v u="$dus" -v e="$el" 'BEGIN{printf "%.0f%% of a core", u / e / 1e4}') over ${el}s; $reqs requests answered"
	log "CPU per operation${what:-, 1 Redis}: Redis $CPU_RP µs/pair, dlockd $CPU_DR µs/request"
}

# ---------------------------------------------------------------- processes ---

# redis_up PORT [ARGS...]: a redis-server (on CPU 0 when pinned) on 127.0.0.1:PORT with ARGS,
# without persistence; when it answers PING within 5 s sets RPORT/RPID, else stops it and
# returns 1 (e.g. its port was taken meanwhile: the caller tries another).
redis_up() {
	local port=$1 pid i
	shift
	$SRV redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --save "" --appendonly no \
		--daemonize no "$@" &
	pid=$!
	PIDS+=("$pid")
	for ((i = 0; i < 50; i++)); do
		if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
			RPORT=$port
			RPID=$pid
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$pid"
	return 1
}

# start_redis: sets RPORT/RPID.
start_redis() {
	local port attempt
	for ((attempt = 0; attempt < 5; attempt++)); do
		port=$(next_port) || return 1
		redis_up "$port" --dir "$TMP" --dbfilename "dump-$port.rdb" --logfile "$TMP/redis-$port.log" && return 0
	done
	return 1
}

# start_dlockd "REDIS_PORTS" [FLAGS...]: sets DPORT/DPID, or DERR and returns
# 2 if dlockd refused the configuration (exit 2), 1 for other failures. A word
# of REDIS_PORTS with "://" in it is passed as it is (redis+cluster://..., redis+sentinel://...).
start_dlockd() {
	local rports=$1 port pid i attempt rp
	shift
	local rargs=()
	for rp in $rports; do
		if [[ "$rp" == *://* ]]; then rargs+=(--redis "$rp"); else rargs+=(--redis "redis://127.0.0.1:$rp"); fi
	done
	DERR=""
	for ((attempt = 0; attempt < 5; attempt++)); do
		port=$(next_port) || return 1
		# Every load generator here connects from 127.0.0.1 (the memory runs
		# open 10,000 connections): no per-address cap.
		$SRV "$DLOCKD" --listen "127.0.0.1:$port" "${rargs[@]}" --log-level warn --max-connections-per-ip 0 \
			"$@" >"$TMP/dlockd-$port.log" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		for ((i = 0; i < 100; i++)); do
			if ready_probe "$port" "$@"; then
				DPORT=$port
				DPID=$pid
				return 0
			fi
			if ! kill -0 "$pid" 2>/dev/null; then
				wait "$pid"
				local rc=$?
				forget_pid "$pid"
				DERR=$(grep -v '^$' "$TMP/dlockd-$port.log" | tail -1)
				grep -qi 'address already in use' "$TMP/dlockd-$port.log" && continue 2
				[ "$rc" = 2 ] && return 2
				return 1
			fi
			sleep 0.05
		done
		DERR="not ready within 5 s: $(tail -1 "$TMP/dlockd-$port.log")"
		stop_pid "$pid"
		return 1
	done
	return 1
}

# ---------------------------------------------------------------- preflight ---

log "dlockd benchmark suite (results: $OUT_JSON, $OUT_SVG)"
# Debian packages: tools/deps.sh's bench set (dlockd's build and test packages, python3, taskset
# and the peers BENCH_SKIP keeps). As root they are installed unless BENCH_NO_INSTALL; else the
# run names them and goes on: a missing peer is skipped below, a missing essential stops it.
MISSING=$(tools/deps.sh missing bench)
if [ -n "$MISSING" ]; then
	if [ "$(id -u)" = 0 ] && [ -z "${BENCH_NO_INSTALL:-}" ] && have apt-get; then
		log "installing missing packages (apt-get): $MISSING"
		if ! tools/deps.sh install bench >"$TMP/apt.log" 2>&1; then
			# one package that cannot be had fails them all: then at least the build and Redis ones
			note "apt-get install $MISSING failed: $(tail -1 "$TMP/apt.log")"
			tools/deps.sh install >>"$TMP/apt.log" 2>&1 || log "apt-get install failed: $(tail -1 "$TMP/apt.log")"
		fi
	else
		log "missing packages: $MISSING (as root: apt-get install -y $MISSING)"
	fi
fi
for t in redis-server redis-cli redis-benchmark make cc pkg-config awk timeout; do
	have "$t" || {
		echo "bench: '$t' not found (as root: tools/deps.sh install bench; Debian: apt-get install redis-server redis-tools build-essential pkg-config coreutils)" >&2
		exit 1
	}
done
NPROC=$(nproc)
if [ "$NPROC" -ge 2 ] && have taskset; then
	SRV="taskset -c 0"
	GEN="taskset -c 1"
	PINNING="redis-server(s), dlockd and etcd pinned to CPU 0; the load generators (loadgen, wrk, redis-benchmark, node) to CPU 1"
else
	SRV=""
	GEN=""
	PINNING="not pinned (nproc=$NPROC or no taskset): servers and load generators share the CPUs"
fi
log "pinning: $PINNING"

HARD_NOFILE=$(ulimit -Hn)
if [ "$HARD_NOFILE" = unlimited ]; then
	ulimit -n $((BIG * 2 + 1024)) 2>/dev/null
else
	ulimit -n "$HARD_NOFILE" 2>/dev/null
	if [ "$HARD_NOFILE" -lt $((BIG + 256)) ]; then
		newbig=$(((HARD_NOFILE - 256) / 100 * 100))
		note "ulimit -Hn is $HARD_NOFILE: the memory workloads use $newbig connections/waiters instead of $BIG"
		BIG=$newbig
	fi
fi
log "ulimit -n $(ulimit -n) (hard $HARD_NOFILE)"

# ---------------------------------------------------------------- build ---

log "building dlockd (-O2, no sanitizers) and the bench tools"
if ! make --no-print-directory BUILD=$BUILD OPT=-O2 "$BUILD/dlockd" >"$TMP/build.log" 2>&1; then
	cat "$TMP/build.log" >&2
	echo "bench: dlockd build failed" >&2
	exit 1
fi
mkdir -p "$BIN"
CWARN=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wvla)
# shellcheck disable=SC2046
cc "${CWARN[@]}" $(pkg-config --cflags gnutls) -o "$LOADGEN" bench/loadgen.c $(pkg-config --libs gnutls) &&
	cc -std=c11 -O2 -Wall -Wextra -Werror -Wno-unused-const-variable -Isrc -o "$BIN/dump_scripts" bench/dump_scripts.c &&
	cc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o "$BIN/seqrand.so" bench/seqrand.c || {
	echo "bench: building the bench tools failed" >&2
	exit 1
}
"$BIN/dump_scripts" "$TMP" || exit 1

# node-redlock peer: node_modules is git-ignored; install from the lockfile.
NODE_OK=0
if skipped node; then
	note "node-redlock skipped (BENCH_SKIP)"
elif ! have node || ! have npm; then
	note "node-redlock skipped: node/npm not installed (Debian: apt-get install nodejs npm)"
else
	if [ ! -f bench/node/node_modules/.package-lock.json ] ||
		[ bench/node/package-lock.json -nt bench/node/node_modules/.package-lock.json ]; then
		log "npm ci in bench/node"
		(cd bench/node && npm ci --no-audit --no-fund --loglevel=error) >"$TMP/npm.log" 2>&1 ||
			note "npm ci failed: $(grep -v nodedir "$TMP/npm.log" | tail -1)"
	fi
	[ -d bench/node/node_modules/redlock ] && NODE_OK=1
	[ "$NODE_OK" = 1 ] || note "node-redlock skipped: bench/node dependencies missing"
fi

# etcd peer: Debian's etcd-server (installed with the other packages above).
ETCD_OK=0
if skipped etcd; then
	note "etcd skipped (BENCH_SKIP)"
else
	if have etcd; then
		ETCD_OK=1
	else
		note "etcd skipped: etcd-server not installed (as root: apt-get install etcd-server)"
	fi
fi

# Sentinel mode needs Debian's redis-sentinel (installed with the other packages above);
# Cluster mode needs redis-cli --cluster (redis-tools, already required above).
SENTINEL_OK=0
if skipped sentinel; then
	note "Sentinel mode skipped (BENCH_SKIP)"
else
	have redis-sentinel && SENTINEL_OK=1
fi
skipped cluster && note "Redis Cluster mode skipped (BENCH_SKIP)"

# ---------------------------------------------------------------- facts ---

COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain -- src Makefile 2>/dev/null | head -1)
[ -n "$DIRTY" ] && COMMIT="$COMMIT+dirty"
V_REDIS=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
V_ETCD=$( (have etcd && etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}') || true)
V_NODE=$( (have node && node --version) || true)
V_WRK=$( (have wrk && wrk -v 2>&1 | awk 'NR==1 {print $2}') || true)
V_MHD=$(pkg-config --modversion libmicrohttpd 2>/dev/null || true)
V_HIREDIS=$(pkg-config --modversion hiredis 2>/dev/null || true)
V_CC=$(cc --version | head -1)
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
KERNEL=$(uname -r)
MEM_TOTAL=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- single node ---

start_redis || {
	echo "bench: redis-server did not start" >&2
	exit 1
}
R1=$RPORT
R1PID=$RPID
SHA_ACQ=$(redis-cli -p "$R1" -x SCRIPT LOAD <"$TMP/acquire.lua")
SHA_REL=$(redis-cli -p "$R1" -x SCRIPT LOAD <"$TMP/release.lua")
redis-cli -p "$R1" SCRIPT FLUSH >/dev/null

if ! start_dlockd "$R1"; then
	echo "bench: dlockd did not start: $DERR" >&2
	exit 1
fi
D1=$DPORT
D1PID=$DPID
log "redis-server :$R1, dlockd :$D1 (pid $D1PID)"
# dlockd loaded its scripts at startup: the same SHA1s mean the same bytes.
SAME_SCRIPTS=$(redis-cli -p "$R1" SCRIPT EXISTS "$SHA_ACQ" "$SHA_REL" | tr -d '\n ')
if [ "$SAME_SCRIPTS" = 11 ]; then
	SAME_SCRIPTS=yes
else
	SAME_SCRIPTS=no
	note "dlockd did not load the scripts dumped from src/redis/scripts.h (SCRIPT EXISTS: $SAME_SCRIPTS)"
fi

# 1. uncontended pairs
for c in 1 "$CONC"; do
	k=pairs_c$c
	[ "$c" = "$CONC" ] && cpu_mark "$R1PID" "$R1" "$D1PID"
	if lg "$k" pairs --port "$D1" -c "$c" -d "$DUR" --warmup "$WARM" --name "p$c-" --ttl-ms 10000; then
		f=$RAW/$k.json
		row "$k" "dlockd acquire+release pairs, c=$c" "$(jget "$f" rate)" pairs/s "" "" "" "$(errnote "$k")"
		row "${k}_p50" "  pair latency p50, c=$c" "$(ms "$(jget "$f" p50_us)")" ms
		row "${k}_p99" "  pair latency p99, c=$c" "$(ms "$(jget "$f" p99_us)")" ms
		log "pairs c=$c: $(jget "$f" rate) pairs/s"
		if [ "$c" = "$CONC" ] && cpu_rows cpu_single "$k" "$R1PID" "$R1" "$D1PID" ""; then
			CPU_RP_SINGLE=$CPU_RP
			# On paper: what one core of each would carry if nothing else limited it.
			row paper_redis_core "  on paper: pairs/s per Redis core (1e6 / CPU per pair)" \
				"$(div 1000000 "$CPU_RP")" pairs/s "" "" "" "a Redis shard is one thread: this is one shard's ceiling"
			row paper_dlockd_core "  on paper: pairs/s per dlockd core (1e6 / 2 x CPU per req)" \
				"$(div 1000000 "$(awk -v d="$CPU_DR" 'BEGIN{print 2 * d}')")" pairs/s "" "" "" \
				"dlockd scales with --threads and replicas"
		fi
	else
		failed_row "$k" "dlockd acquire+release pairs, c=$c" "loadgen failed"
	fi
done

# HTTP ceiling: GET /healthz under the same load generator (and wrk as a cross-check).
# Its CPU per request is the HTTP floor: what one request costs dlockd (libmicrohttpd,
# the kernel's loopback TCP, routing, metrics) with no lock work at all.
HZ_D0=$(proc_ticks "$D1PID")
if lg healthz healthz --port "$D1" -c "$CONC" -d "$DUR" --warmup "$WARM"; then
	row healthz "HTTP ceiling: GET /healthz, c=$CONC" "$(jget "$RAW/healthz.json" rate)" req/s
	log "healthz: $(jget "$RAW/healthz.json" rate) req/s"
	sleep 0.2
	HZ_D1=$(proc_ticks "$D1PID")
	HZ_REQS=$(jget "$RAW/healthz.json" statuses | tr ' ' '\n' | awk -F: '{r += $2} END {print r + 0}')
	if num "${HZ_D0:-}" && num "${HZ_D1:-}" && [ "${HZ_REQS:-0}" -gt 0 ]; then
		HZ_FLOOR=$(awk -v a="$HZ_D0" -v b="$HZ_D1" -v t="$CLK_TCK" -v n="$HZ_REQS" 'BEGIN{printf "%.2f", (b - a) * 1e6 / t / n}')
		row cpu_http_floor_us "  dlockd CPU per GET /healthz: the HTTP floor (no lock work)" "$HZ_FLOOR" µs "" "" "" \
			"$HZ_REQS requests; compare dlockd CPU per lock request above"
	fi
else
	failed_row healthz "HTTP ceiling: GET /healthz, c=$CONC" "loadgen failed"
fi
if ! skipped wrk && have wrk; then
	if $GEN wrk -t1 -c"$CONC" -d"${DUR}s" --latency "http://127.0.0.1:$D1/healthz" >"$TMP/wrk.txt" 2>&1; then
		WRK_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.txt")
		row healthz_wrk "  same with wrk -t1 (cross-check of loadgen)" "$WRK_RPS" req/s
	else
		row healthz_wrk "  same with wrk -t1 (cross-check of loadgen)" failed "" "" "" "" "$(tail -1 "$TMP/wrk.txt")"
	fi
elif ! skipped wrk; then
	note "wrk not installed (apt-get install wrk): no cross-check of the HTTP ceiling"
fi

# 1b. the same pairs over keep-alive HTTPS: a second dlockd with a throwaway certificate,
# loadgen --tls (one TLS handshake per connection, then keep-alive), beside plain HTTP.
if skipped tls; then
	note "TLS pairs skipped (BENCH_SKIP)"
elif ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/tls.key" \
	-out "$TMP/tls.pem" -days 1 -subj /CN=127.0.0.1 >"$TMP/openssl.log" 2>&1; then
	failed_row pairs_tls "dlockd pairs over keep-alive HTTPS, c=$CONC" "openssl could not make a certificate"
elif start_dlockd "$R1" --tls-cert "$TMP/tls.pem" --tls-key "$TMP/tls.key"; then
	DT=$DPORT
	DTPID=$DPID
	if lg pairs_tls pairs --tls --port "$DT" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "pt-" --ttl-ms 10000; then
		f=$RAW/pairs_tls.json
		row pairs_tls "dlockd pairs over keep-alive HTTPS (TLS 1.3), c=$CONC" "$(jget "$f" rate)" pairs/s \
			"$(div "$(jget "$f" rate)" "$(jget "$RAW/pairs_c$CONC.json" rate)")" "plain HTTP pairs, c=$CONC" "" \
			"$(errnote pairs_tls)"
		row pairs_tls_p50 "  pair latency p50, HTTPS" "$(ms "$(jget "$f" p50_us)")" ms
		row pairs_tls_p99 "  pair latency p99, HTTPS" "$(ms "$(jget "$f" p99_us)")" ms
		log "pairs over TLS c=$CONC: $(jget "$f" rate) pairs/s"
	else
		failed_row pairs_tls "dlockd pairs over keep-alive HTTPS, c=$CONC" "loadgen failed"
	fi
	stop_pid "$DTPID"
else
	failed_row pairs_tls "dlockd pairs over keep-alive HTTPS, c=$CONC" "dlockd with TLS did not start: $DERR"
fi

# 2. renew
if lg renew renew --port "$D1" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "r-"; then
	f=$RAW/renew.json
	row renew "dlockd renew (POST .../renew), c=$CONC" "$(jget "$f" rate)" renews/s "" "" "" "$(errnote renew)"
	row renew_p50 "  renew latency p50" "$(ms "$(jget "$f" p50_us)")" ms
	row renew_p99 "  renew latency p99" "$(ms "$(jget "$f" p99_us)")" ms
	log "renew: $(jget "$f" rate) renews/s"
else
	failed_row renew "dlockd renew, c=$CONC" "loadgen failed"
fi

# 3. contended: wait_ms hand-offs
if lg handoff handoff --port "$D1" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "hot" --ttl-ms 5000 --wait-ms 10000; then
	f=$RAW/handoff.json
	row handoff "contended, wait_ms: $CONC clients, one lock" "$(jget "$f" handoff_rate)" hand-offs/s "" "" "" \
		"$(join_notes "$(jget "$f" ho_201_before_204) next 201 seen before the 204 (counted as 0)" "$(errnote handoff)")"
	row handoff_p50 "  hand-off latency p50 (204 -> next 201)" "$(ms "$(jget "$f" ho_p50_us)")" ms "" "" "<1"
	row handoff_p99 "  hand-off latency p99" "$(ms "$(jget "$f" ho_p99_us)")" ms
	log "hand-offs c=$CONC: $(jget "$f" handoff_rate)/s, p50 $(jget "$f" ho_p50_us) us"
else
	failed_row handoff "contended, wait_ms, c=$CONC" "loadgen failed"
fi
if lg handoff_low handoff --port "$D1" -c 2 -n 500 -d 60 --warmup 0.2 --hold-us 2000 --name "hotlow" --ttl-ms 5000 --wait-ms 10000; then
	f=$RAW/handoff_low.json
	row handoff_low_p50 "low contention, wait_ms: 1 holder + 1 waiter, p50" "$(ms "$(jget "$f" ho_p50_us)")" ms "" "" "<1" \
		"$(jget "$f" handoffs) hand-offs, holder keeps the lock 2 ms"
	row handoff_low_p99 "  hand-off latency p99" "$(ms "$(jget "$f" ho_p99_us)")" ms
	log "hand-offs low contention: p50 $(jget "$f" ho_p50_us) us"
else
	failed_row handoff_low_p50 "low contention, wait_ms" "loadgen failed"
fi

# 4. the same, polling every 100 ms without wait_ms
if lg poll poll --port "$D1" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "hotpoll" --ttl-ms 5000 --poll-ms 100; then
	f=$RAW/poll.json
	row poll "contended, polling 100 ms: $CONC clients, one lock" "$(jget "$f" handoff_rate)" hand-offs/s \
		"$(div "$(jget "$f" handoff_rate)" "$(jget "$RAW/handoff.json" handoff_rate)")" "wait_ms hand-offs/s" "" \
		"$(join_notes "$(jget "$f" req_rate) req/s, $(jget "$f" polls_409) answered 409" "$(errnote poll)")"
	row poll_p50 "  hand-off latency p50" "$(ms "$(jget "$f" ho_p50_us)")" ms
	row poll_p99 "  hand-off latency p99" "$(ms "$(jget "$f" ho_p99_us)")" ms
	log "polling c=$CONC: $(jget "$f" handoff_rate)/s, p50 $(jget "$f" ho_p50_us) us"
else
	failed_row poll "contended, polling, c=$CONC" "loadgen failed"
fi
# Low contention: 16 independent locks, each with one holder and one poller;
# holds of 2..102 ms so releases fall at random points of the poll period.
if lg poll_low poll --port "$D1" -c 32 --locks 16 -d "$((DUR + 1))" --warmup "$WARM" --hold-us 2000 \
	--hold-jitter-us 100000 --name "pollow" --ttl-ms 5000 --poll-ms 100; then
	f=$RAW/poll_low.json
	row poll_low_p50 "low contention, polling 100 ms: p50" "$(ms "$(jget "$f" ho_p50_us)")" ms \
		"$(div "$(jget "$f" ho_p50_us)" "$(jget "$RAW/handoff_low.json" ho_p50_us)")" "wait_ms low-contention p50" "" \
		"$(jget "$f" handoffs) hand-offs on 16 locks"
	row poll_low_p99 "  hand-off latency p99" "$(ms "$(jget "$f" ho_p99_us)")" ms
else
	failed_row poll_low_p50 "low contention, polling" "loadgen failed"
fi

# Ceiling: raw Redis running dlockd's own acquire/release scripts via EVALSHA.
# KEYS/ARGV as documented in src/redis/scripts.h; a fixed token so the release
# needs no reply; seqrand.so makes __rand_int__ count 0,1,2,... so the release
# run hits exactly the locks of the acquire run (checked below).
redis-cli -p "$R1" -x SCRIPT LOAD <"$TMP/acquire.lua" >/dev/null
redis-cli -p "$R1" -x SCRIPT LOAD <"$TMP/release.lua" >/dev/null
# The token as dlockd sends it: "h:" and a 43-character hash.
TOKEN=h:benchtoken0123456789abcdef0123456789abcdef0
# rb NAME PIPELINE: prints "acquire/s p50 p99 release/s p50 p99 created left".
rb() {
	local name=$1 pipe=$2 a r held left
	a=$(rb1 "$pipe" EVALSHA "$SHA_ACQ" 4 "dlock:lock:{${name}__rand_int__}" "dlock:fence:{$name}" \
		"dlock:queue:{$name}" "dlock:waitdl:{$name}" "$TOKEN" 120000 0 "" "" "" "" 0 0 dlock:wake 10000 3000 "")
	held=$(redis-cli -p "$R1" --scan --pattern "dlock:lock:{$name[0-9]*" | wc -l)
	r=$(rb1 "$pipe" EVALSHA "$SHA_REL" 4 "dlock:lock:{${name}__rand_int__}" "dlock:queue:{$name}" \
		"dlock:waitdl:{$name}" "dlock:fence:{$name}" "$TOKEN" "" dlock:wake 10000)
	left=$(redis-cli -p "$R1" --scan --pattern "dlock:lock:{$name[0-9]*" | wc -l)
	echo "${a:-x x x} ${r:-x x x} $held $left"
}
# rb1 PIPELINE COMMAND...: "calls/s p50 p99" of one redis-benchmark run on $R1 (or $RB_PORT).
rb1() {
	local pipe=$1
	shift
	LD_PRELOAD=$BIN/seqrand.so $GEN redis-benchmark -p "${RB_PORT:-$R1}" -c "$CONC" -P "$pipe" -n "$REDIS_N" \
		-r 1000000000 --csv "$@" 2>&1 | awk -F'","' '/^"EVALSHA/ {gsub(/"/, "", $NF); print $2, $5, $7}'
}
# pair_rate ACQUIRES/S RELEASES/S: pairs/s when a pair is one of each, run one after the other.
pair_rate() { awk -v a="$1" -v r="$2" 'BEGIN{printf "%.1f", 1 / (1 / a + 1 / r)}'; }
read -r RB_ACQ RB_ACQ_P50 RB_ACQ_P99 RB_REL RB_REL_P50 RB_REL_P99 RB_HELD RB_LEFT < <(rb rb 1)
if num "${RB_ACQ:-}" && num "${RB_REL:-}"; then
	RB_PAIRS=$(pair_rate "$RB_ACQ" "$RB_REL")
	row redis_acq "raw Redis: acquire script EVALSHA (redis-benchmark), c=$CONC" "$RB_ACQ" calls/s "" "" "" \
		"p50 ${RB_ACQ_P50} ms, p99 ${RB_ACQ_P99} ms; $RB_HELD locks created"
	row redis_rel "raw Redis: release script EVALSHA (redis-benchmark), c=$CONC" "$RB_REL" calls/s "" "" "" \
		"p50 ${RB_REL_P50} ms, p99 ${RB_REL_P99} ms; $RB_LEFT of them left unreleased"
	row redis_pairs "raw Redis ceiling: EVALSHA pairs (1/(1/acq + 1/rel))" "$RB_PAIRS" pairs/s
	[ "$RB_HELD" -ge "$REDIS_N" ] && [ "$RB_LEFT" = 0 ] ||
		note "redis-benchmark pair check: $RB_HELD locks created (want $REDIS_N), $RB_LEFT left after the release run"
	log "raw Redis EVALSHA: acquire $RB_ACQ/s, release $RB_REL/s -> $RB_PAIRS pairs/s"
else
	RB_PAIRS=""
	failed_row redis_pairs "raw Redis ceiling: EVALSHA pairs" "redis-benchmark gave no numbers"
fi
# Redis's Lua capacity with pipelining (dlockd pipelines all its calls on one connection).
read -r RBP_ACQ _ _ RBP_REL _ _ RBP_HELD RBP_LEFT < <(rb rbp 16)
if num "${RBP_ACQ:-}" && num "${RBP_REL:-}"; then
	RBP_PAIRS=$(pair_rate "$RBP_ACQ" "$RBP_REL")
	row redis_pairs_p16 "  same, redis-benchmark -P 16 (Redis's Lua capacity)" "$RBP_PAIRS" pairs/s "" "" "" \
		"acquire $RBP_ACQ/s, release $RBP_REL/s; $RBP_HELD created, $RBP_LEFT left"
	log "raw Redis EVALSHA -P 16: $RBP_PAIRS pairs/s"
else
	RBP_PAIRS=""
fi
# Cross-check: the same two scripts, sequential per connection (as dlockd's clients do).
if lg redis_resp redis-pairs --port "$R1" -c "$CONC" -d "$DUR" --warmup "$WARM" --name rp --sha-acquire "$SHA_ACQ" \
	--sha-release "$SHA_REL" --ttl-ms 10000; then
	row redis_resp "  same pairs from loadgen over RESP (acquire, reply, release)" "$(jget "$RAW/redis_resp.json" rate)" pairs/s
fi
# c=1: what the HTTP hop adds to one request's latency. A pair is two round trips either
# way (EVALSHA acquire, EVALSHA release; or PUT, DELETE), so half the difference of the
# pair p50s is the hop per request.
if lg redis_resp_c1 redis-pairs --port "$R1" -c 1 -d "$DUR" --warmup "$WARM" --name rq --sha-acquire "$SHA_ACQ" \
	--sha-release "$SHA_REL" --ttl-ms 10000 && [ -f "$RAW/pairs_c1.json" ]; then
	RQ1=$(jget "$RAW/redis_resp_c1.json" p50_us)
	D1P=$(jget "$RAW/pairs_c1.json" p50_us)
	row redis_resp_c1_p50 "raw Redis: the same scripts over RESP, c=1, pair p50" "$(ms "$RQ1")" ms
	row hop_c1_us "c=1: the HTTP hop per request, p50 ((dlockd pair p50 - raw Redis pair p50) / 2)" \
		"$(awk -v d="$D1P" -v r="$RQ1" 'BEGIN{printf "%.1f", (d - r) / 2}')" µs "" "" "<60"
fi

# node-redlock on the same single Redis
node_redlock() { # KEY PORTS
	(cd bench/node && $GEN node redlock-bench.js --ports "$2" --conc "$CONC" --seconds "$DUR" --warmup "$WARM" \
		--name "nr$RANDOM") >"$RAW/$1.json" 2>"$TMP/$1.err" && grep -q '"mode"' "$RAW/$1.json"
}
if [ "$NODE_OK" = 1 ]; then
	if node_redlock node1 "$R1"; then
		row node1 "node-redlock, 1 Redis, $CONC async loops" "$(jget "$RAW/node1.json" rate)" pairs/s "" "" "" \
			"p50 $(ms "$(jget "$RAW/node1.json" p50_us)") ms; redlock $(jget "$RAW/node1.json" redlock), ioredis $(jget "$RAW/node1.json" ioredis)"
		log "node-redlock 1 node: $(jget "$RAW/node1.json" rate) pairs/s"
	else
		failed_row node1 "node-redlock, 1 Redis" "$(tail -1 "$TMP/node1.err")"
		rm -f "$RAW/node1.json"
	fi
fi

RSS_AFTER_LOAD=$(rss_kib "$D1PID")
stop_pid "$D1PID"

# ------------------------------------------------ the user's comparison: SET NX ---
# What a user weighs before choosing a lock service over hand-rolled Redis code:
# the two scripts most people write (SET key token NX PX ttl, then INCR of a
# fence counter; GET-compare-DEL) run by redis-benchmark at c=$CONC, beside
# dlockd pairs at c=$CONC with --threads 1 and 2. Nothing is pinned here: Redis,
# dlockd and the load generator share both cores as they would on a user's box.
# Each run's CPU per pair (redis-server, dlockd, load generator) shows where the
# cores go, and so where a next core would.
SEED_ACQ_LUA="if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end return false"
SEED_REL_LUA="if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

# unpinned_pairs KEY THREADS LABEL VS_RATE VS TARGET: dlockd --threads THREADS on $RU,
# loadgen pairs at c=$CONC, all unpinned; row KEY (ratio to VS_RATE) and under it
# KEY_cpu_{redis,dlockd,loadgen}_us. Sets UNPINNED_RATE.
unpinned_pairs() {
	local key=$1 threads=$2 label=$3 vs_rate=$4 vs=$5 target=$6 f=$RAW/$1.json d0 d1 r0 r1 lt pairs
	UNPINNED_RATE=""
	if ! start_dlockd "$RU" --threads "$threads"; then
		failed_row "$key" "dlockd pairs, --threads $threads, unpinned" "dlockd did not start: $DERR"
		return 1
	fi
	d0=$(proc_ticks "$DPID")
	r0=$(proc_ticks "$RUPID")
	# bash's `time` gives the load generator's own CPU (user + system seconds)
	lt=$({ TIMEFORMAT='%U %S'; time "$LOADGEN" pairs --port "$DPORT" -c "$CONC" -d "$DUR" --warmup "$WARM" \
		--name "u$threads-" --ttl-ms 10000 >"$f" 2>"$TMP/$key.err"; } 2>&1 | tail -1)
	sleep 0.2
	d1=$(proc_ticks "$DPID")
	r1=$(proc_ticks "$RUPID")
	stop_pid "$DPID"
	if ! grep -q '"mode"' "$f" 2>/dev/null; then
		failed_row "$key" "dlockd pairs, --threads $threads, unpinned" "loadgen failed: $(tail -1 "$TMP/$key.err")"
		rm -f "$f"
		return 1
	fi
	pairs=$(jget "$f" statuses | tr ' ' '\n' | awk -F: '$1 == 204 {p += $2} END {print p + 0}')
	UNPINNED_RATE=$(jget "$f" rate)
	row "$key" "$label" "$UNPINNED_RATE" pairs/s "$(div "$UNPINNED_RATE" "$vs_rate")" "$vs" "$target" "$(errnote "$key")"
	log "$label: $UNPINNED_RATE pairs/s"
	if [ "$pairs" -gt 0 ] && num "${d0:-}" && num "${d1:-}" && num "${r0:-}" && num "${r1:-}"; then
		row "${key}_cpu_redis_us" "  CPU per pair: redis-server" "$(awk -v a="$r0" -v b="$r1" -v t="$CLK_TCK" -v p="$pairs" 'BEGIN{printf "%.1f", (b - a) * 1e6 / t / p}')" µs
		row "${key}_cpu_dlockd_us" "  CPU per pair: dlockd (2 requests)" "$(awk -v a="$d0" -v b="$d1" -v t="$CLK_TCK" -v p="$pairs" 'BEGIN{printf "%.1f", (b - a) * 1e6 / t / p}')" µs
		row "${key}_cpu_loadgen_us" "  CPU per pair: load generator" "$(awk -v l="$lt" -v p="$pairs" 'BEGIN{split(l, x, " "); printf "%.1f", (x[1] + x[2]) * 1e6 / p}')" µs "" "" "" \
			"all three per pair over the whole run (warm-up included); 2 cores = 2,000,000 µs per second"
	fi
	return 0
}

if skipped seed; then
	note "hand-written SET NX comparison skipped (BENCH_SKIP)"
else
	SRV_PINNED=$SRV
	SRV=""
	if start_redis; then
		RU=$RPORT
		RUPID=$RPID
		SEED_ACQ=$(redis-cli -p "$RU" SCRIPT LOAD "$SEED_ACQ_LUA")
		SEED_REL=$(redis-cli -p "$RU" SCRIPT LOAD "$SEED_REL_LUA")
		# seqrand: the release run deletes exactly the acquire run's keys (the
		# second key of the release is unused: it keeps the counts in step).
		read -r SD_ACQ SD_ACQ_P50 _ < <(RB_PORT=$RU GEN="" rb1 1 EVALSHA "$SEED_ACQ" 2 "seed:lock:{s__rand_int__}" \
			"seed:fence:{s__rand_int__}" "$TOKEN" 10000)
		SD_HELD=$(redis-cli -p "$RU" --scan --pattern 'seed:lock:*' | wc -l)
		read -r SD_REL SD_REL_P50 _ < <(RB_PORT=$RU GEN="" rb1 1 EVALSHA "$SEED_REL" 2 "seed:lock:{s__rand_int__}" \
			"seed:unused:{s__rand_int__}" "$TOKEN")
		SD_LEFT=$(redis-cli -p "$RU" --scan --pattern 'seed:lock:*' | wc -l)
		redis-cli -p "$RU" flushall >/dev/null
		if num "${SD_ACQ:-}" && num "${SD_REL:-}"; then
			SEED_PAIRS=$(pair_rate "$SD_ACQ" "$SD_REL")
			row seed_pairs "hand-written SET NX PX + INCR / GET-compare-DEL (redis-benchmark), c=$CONC, unpinned" \
				"$SEED_PAIRS" pairs/s "" "" "" "acquire $SD_ACQ/s (p50 $SD_ACQ_P50 ms), release $SD_REL/s (p50 $SD_REL_P50 ms); $SD_HELD locks taken, $SD_LEFT left"
			[ "$SD_HELD" -ge "$REDIS_N" ] && [ "$SD_LEFT" = 0 ] ||
				note "hand-written pair check: $SD_HELD locks taken (want $REDIS_N), $SD_LEFT left after the release run"
			log "hand-written SET NX pairs (unpinned): $SEED_PAIRS pairs/s"
		else
			SEED_PAIRS=""
			failed_row seed_pairs "hand-written SET NX pairs (redis-benchmark), unpinned" "redis-benchmark gave no numbers"
		fi
		unpinned_pairs seed_dlockd 1 "dlockd pairs c=$CONC, --threads 1, unpinned" "${SEED_PAIRS:-}" \
			"hand-written SET NX pairs" ">=0.60"
		T1_RATE=$UNPINNED_RATE
		unpinned_pairs threads2 2 "dlockd pairs c=$CONC, --threads 2, unpinned" "$T1_RATE" "--threads 1, unpinned" ""
		stop_pid "$RUPID"
	else
		failed_row seed_pairs "hand-written SET NX pairs, unpinned" "redis-server did not start"
	fi
	SRV=$SRV_PINNED
fi

# ------------------------------------------------ replica-acknowledged grants ---
# A master with one replica (both on CPU 0 like every server here); pairs at c=$CONC
# through dlockd with --redis-wait-replicas 1 beside the same master without WAIT.

# wait_replica MASTER_PORT: the replica is online and has acknowledged a write (a replica
# fresh from its sync may leave the first GETACK unanswered for up to a second).
wait_replica() {
	local m=$1 i info off moff
	redis-cli -p "$m" set bench-replica-probe 1 >/dev/null 2>&1
	for ((i = 0; i < 100; i++)); do
		info=$(redis-cli -p "$m" info replication 2>/dev/null | tr -d '\r')
		off=$(sed -n 's/^slave0:.*state=online,offset=\([0-9]*\).*/\1/p' <<<"$info")
		moff=$(sed -n 's/^master_repl_offset://p' <<<"$info")
		if [ -n "$off" ] && [ -n "$moff" ] && [ "$off" -gt 0 ] && [ "$off" -ge "$moff" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

if ! skipped replicas; then
	if start_redis && RM=$RPORT && redis-cli -p "$RM" config set repl-diskless-sync-delay 0 >/dev/null &&
		start_redis && RR=$RPORT && redis-cli -p "$RR" replicaof 127.0.0.1 "$RM" >/dev/null && wait_replica "$RM"; then
		for w in 0 1; do
			k=$([ "$w" = 0 ] && echo replica_nowait || echo replica_wait1)
			if [ "$w" = 0 ]; then start_dlockd "$RM"; else start_dlockd "$RM" --redis-wait-replicas 1; fi
			if [ $? != 0 ]; then
				failed_row "$k" "dlockd pairs c=$CONC, master + 1 replica, --redis-wait-replicas $w" "dlockd: $DERR"
				continue
			fi
			if lg "$k" pairs --port "$DPORT" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "rw$w-" --ttl-ms 10000; then
				f=$RAW/$k.json
				waits=$(http_get "$DPORT" /metrics | awk '/^dlockd_replica_waits_total / {print $2}')
				answers=$(http_get "$DPORT" /metrics | awk '/^dlockd_replica_waited_answers_total / {print $2}')
				if [ "$w" = 0 ]; then
					row "$k" "dlockd pairs c=$CONC, master + 1 replica, no WAIT" "$(jget "$f" rate)" pairs/s "" "" "" \
						"$(join_notes "p50 $(ms "$(jget "$f" p50_us)") ms, p99 $(ms "$(jget "$f" p99_us)") ms" "$(errnote "$k")")"
				else
					row "$k" "  same with --redis-wait-replicas 1" "$(jget "$f" rate)" pairs/s \
						"$(div "$(jget "$f" rate)" "$(jget "$RAW/replica_nowait.json" rate)")" "no WAIT" "" \
						"$(join_notes "p50 $(ms "$(jget "$f" p50_us)") ms, p99 $(ms "$(jget "$f" p99_us)") ms, $(div "$answers" "$waits") answers per WAIT" "$(errnote "$k")")"
				fi
				log "master + replica, wait $w: $(jget "$f" rate) pairs/s"
			else
				failed_row "$k" "dlockd pairs c=$CONC, master + 1 replica, --redis-wait-replicas $w" "loadgen failed"
			fi
			stop_pid "$DPID"
		done
	else
		failed_row replica_wait1 "dlockd pairs c=$CONC, --redis-wait-replicas 1" "master + replica did not come up"
	fi
fi

# ---------------------------------------------------------------- Redis Cluster ---
# Three masters made by `redis-cli --cluster create` (each a redis-server on CPU 0 like every
# server here, cluster-enabled, its bus on port + 10000), dlockd --redis redis+cluster://...
# and the pairs workload at c=$CONC as for one Redis. loadgen's names <prefix><i> are lock
# names: their keys' hash tag is the whole name, so the $CONC names fall on $CONC slots
# spread over the masters (the note gives the EVALSHA calls each master ran).

# start_cluster_node: a cluster-enabled redis-server on a port whose bus port is free too; sets RPORT/RPID.
start_cluster_node() {
	local port attempt dir
	for ((attempt = 0; attempt < 10; attempt++)); do
		port=$(next_port) || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null && continue
		dir=$TMP/cluster-$port
		mkdir -p "$dir"
		# not up: e.g. its bus port was taken meanwhile; another port
		redis_up "$port" --dir "$dir" --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
			--logfile "$dir/redis.log" && return 0
	done
	return 1
}

if ! skipped cluster; then
	CL_LABEL="dlockd pairs c=$CONC, Redis Cluster of 3 masters"
	if ! have redis-cli || [[ "$(redis-cli --cluster help 2>&1)" != *"create "* ]]; then
		row cluster3 "$CL_LABEL" "skipped: redis-tools missing" "" "" "" "" "redis-cli with --cluster (Debian: apt-get install redis-tools)"
	else
		CLPORTS=()
		CLPIDS=()
		for i in 1 2 3; do
			start_cluster_node || break
			CLPORTS+=("$RPORT")
			CLPIDS+=("$RPID")
		done
		cl_err=""
		if [ "${#CLPORTS[@]}" != 3 ]; then
			cl_err="cluster node ${#CLPORTS[@]} did not start"
		elif ! redis-cli --cluster create "${CLPORTS[@]/#/127.0.0.1:}" --cluster-yes >"$TMP/cluster-create.log" 2>&1; then
			cl_err="redis-cli --cluster create failed: $(grep -v '^$' "$TMP/cluster-create.log" | tail -1)"
		else
			for ((i = 0; i < 150; i++)); do
				ok=0
				for p in "${CLPORTS[@]}"; do
					redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && ok=$((ok + 1))
				done
				[ "$ok" = 3 ] && break
				sleep 0.1
			done
			[ "$ok" = 3 ] || cl_err="cluster_state:ok on only $ok of 3 nodes after 15 s"
		fi
		CL_URL="redis+cluster://$(
			IFS=,
			echo "${CLPORTS[*]/#/127.0.0.1:}"
		)"
		if [ -n "$cl_err" ]; then
			failed_row cluster3 "$CL_LABEL" "$cl_err"
		elif ! start_dlockd "$CL_URL"; then
			failed_row cluster3 "$CL_LABEL" "dlockd: $DERR"
		else
			log "Redis Cluster :${CLPORTS[*]}, dlockd :$DPORT"
			CL_E0=()
			for j in 0 1 2; do
				read -r _ e < <(cmd_stats "${CLPORTS[$j]}")
				CL_E0+=("${e:-0}")
			done
			cpu_mark "${CLPIDS[*]}" "${CLPORTS[*]}" "$DPID"
			if lg cluster3 pairs --port "$DPORT" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "cl$CONC-" --ttl-ms 10000; then
				f=$RAW/cluster3.json
				split=""
				served=0
				for j in 0 1 2; do
					read -r _ e < <(cmd_stats "${CLPORTS[$j]}")
					n=$((${e:-0} - CL_E0[j]))
					[ "$n" -gt 0 ] && served=$((served + 1))
					split+="${split:+ / }$n"
				done
				row cluster3 "$CL_LABEL" "$(jget "$f" rate)" pairs/s \
					"$(div "$(jget "$f" rate)" "$(jget "$RAW/pairs_c$CONC.json" rate)")" "1 Redis pairs, c=$CONC" "" \
					"$(join_notes "p50 $(ms "$(jget "$f" p50_us)") ms, p99 $(ms "$(jget "$f" p99_us)") ms; EVALSHA calls per master $split" "$(errnote cluster3)")"
				[ "$served" = 3 ] || note "Redis Cluster row: only $served of 3 masters ran lock scripts (names: cl$CONC-0..$((CONC - 1)))"
				log "Redis Cluster 3 masters: $(jget "$f" rate) pairs/s (EVALSHA per master: $split)"
				cpu_rows cpu_cluster cluster3 "${CLPIDS[*]}" "${CLPORTS[*]}" "$DPID" ", 3 masters"
			else
				failed_row cluster3 "$CL_LABEL" "loadgen failed"
			fi
			stop_pid "$DPID"
		fi
		for p in "${CLPIDS[@]}"; do stop_pid "$p"; done
	fi
fi

# ---------------------------------------------------------------- Redis Sentinel ---
# A master and a replica (as in the replica rows), three redis-sentinel processes monitoring
# it (all on CPU 0), dlockd --redis redis+sentinel://.../bench and the pairs workload at c=$CONC.

if ! skipped sentinel; then
	SN_LABEL="dlockd pairs c=$CONC, Sentinel (master + replica, 3 sentinels)"
	if [ "$SENTINEL_OK" != 1 ]; then
		row sentinel "$SN_LABEL" "skipped: redis-sentinel missing" "" "" "" "" "as root: apt-get install redis-sentinel (or tools/deps.sh install)"
	else
		SNPIDS=()
		SNPORTS=()
		sn_err=""
		SNR=()
		if start_redis && SNM=$RPORT && SNR+=("$RPID") && redis-cli -p "$SNM" config set repl-diskless-sync-delay 0 >/dev/null &&
			start_redis && SNRR=$RPORT && SNR+=("$RPID") && redis-cli -p "$SNRR" replicaof 127.0.0.1 "$SNM" >/dev/null &&
			wait_replica "$SNM"; then
			for i in 0 1 2; do
				p=$(next_port) || break
				while [[ " ${SNPORTS[*]} " == *" $p "* ]]; do p=$(next_port); done
				SNPORTS+=("$p")
			done
			[ "${#SNPORTS[@]}" = 3 ] || sn_err="no free ports for the sentinels"
			for i in 0 1 2; do
				[ -n "$sn_err" ] && break
				conf=$TMP/sentinel-$i.conf
				{
					printf 'port %s\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir %s\n' "${SNPORTS[$i]}" "$TMP"
					printf 'sentinel myid %040d\n' $((1000 + i))
					# a failover in the middle of a measurement would be a different workload:
					# down-after 30 s (Redis's default) rides out a busy machine
					printf 'sentinel monitor bench 127.0.0.1 %s 2\n' "$SNM"
					printf 'sentinel down-after-milliseconds bench 30000\nsentinel failover-timeout bench 60000\n'
					printf 'sentinel known-replica bench 127.0.0.1 %s\n' "$SNRR"
					for j in 0 1 2; do
						[ "$j" != "$i" ] && printf 'sentinel known-sentinel bench 127.0.0.1 %s %040d\n' "${SNPORTS[$j]}" $((1000 + j))
					done
				} >"$conf"
				$SRV redis-sentinel "$conf" >"$TMP/sentinel-$i.log" 2>&1 &
				SNPIDS+=("$!")
				PIDS+=("$!")
			done
			for i in 0 1 2; do
				[ -n "$sn_err" ] && break
				for ((k = 0; k < 100; k++)); do
					[ "$(redis-cli -p "${SNPORTS[$i]}" sentinel get-master-addr-by-name bench 2>/dev/null | tail -1)" = "$SNM" ] && break
					kill -0 "${SNPIDS[$i]}" 2>/dev/null || k=99 # it exited: no use waiting
					sleep 0.1
				done
				[ "$k" -ge 100 ] && sn_err="sentinel $i (:${SNPORTS[$i]}) does not name the master: $(tail -1 "$TMP/sentinel-$i.log")"
			done
		else
			sn_err="master + replica did not come up"
		fi
		SN_URL="redis+sentinel://$(
			IFS=,
			echo "${SNPORTS[*]/#/127.0.0.1:}"
		)/bench"
		if [ -n "$sn_err" ]; then
			failed_row sentinel "$SN_LABEL" "$sn_err"
		elif ! start_dlockd "$SN_URL"; then
			failed_row sentinel "$SN_LABEL" "dlockd: $DERR"
		else
			log "Sentinel: master :$SNM, replica :$SNRR, sentinels :${SNPORTS[*]}, dlockd :$DPORT"
			sn_w0=$(date +%s.%N)
			sn_t0=$(proc_ticks "${SNPIDS[@]}")
			if lg sentinel pairs --port "$DPORT" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "sn$CONC-" --ttl-ms 10000; then
				f=$RAW/sentinel.json
				sn_t1=$(proc_ticks "${SNPIDS[@]}")
				sn_cpu=""
				num "${sn_t0:-}" && num "${sn_t1:-}" &&
					sn_cpu=$(awk -v a="$sn_t0" -v b="$sn_t1" -v t="$CLK_TCK" -v w0="$sn_w0" -v w1="$(date +%s.%N)" \
						'BEGIN{printf "; the 3 sentinels used %.1f%% of a core", (b - a) / t / (w1 - w0) * 100}')
				vs_rep=""
				[ -f "$RAW/replica_nowait.json" ] &&
					vs_rep="; $(div "$(jget "$f" rate)" "$(jget "$RAW/replica_nowait.json" rate)")x master + replica without sentinels"
				row sentinel "$SN_LABEL" "$(jget "$f" rate)" pairs/s \
					"$(div "$(jget "$f" rate)" "$(jget "$RAW/pairs_c$CONC.json" rate)")" "1 Redis pairs, c=$CONC" "" \
					"$(join_notes "p50 $(ms "$(jget "$f" p50_us)") ms, p99 $(ms "$(jget "$f" p99_us)") ms$vs_rep$sn_cpu" "$(errnote sentinel)")"
				log "Sentinel mode: $(jget "$f" rate) pairs/s"
			else
				failed_row sentinel "$SN_LABEL" "loadgen failed"
			fi
			stop_pid "$DPID"
		fi
		for p in "${SNPIDS[@]}" "${SNR[@]}"; do stop_pid "$p"; done
	fi
fi

# ---------------------------------------------------------------- Redlock ---

if ! skipped redlock; then
	RL=("$R1")
	RLPIDS=()
	for i in 2 3 4 5; do
		start_redis || {
			note "could not start Redis node $i"
			break
		}
		RL+=("$RPORT")
		RLPIDS+=("$RPID")
	done
	for n in 3 5; do
		if [ "${#RL[@]}" -lt "$n" ]; then
			failed_row "redlock$n" "dlockd Redlock, $n Redis nodes, pairs c=$CONC" "not enough Redis nodes"
			continue
		fi
		start_dlockd "${RL[*]:0:$n}"
		rc=$?
		if [ "$rc" = 2 ] && grep -qiE 'redlock|not supported' <<<"$DERR"; then
			row "redlock$n" "dlockd Redlock, $n Redis nodes, pairs c=$CONC" "skipped: Redlock not built" "" "" "" "" "$DERR"
			log "Redlock $n nodes: skipped ($DERR)"
		elif [ "$rc" != 0 ]; then
			failed_row "redlock$n" "dlockd Redlock, $n Redis nodes" "dlockd: $DERR"
		else
			if lg "redlock$n" pairs --port "$DPORT" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "rl$n-" --ttl-ms 10000; then
				f=$RAW/redlock$n.json
				row "redlock$n" "dlockd Redlock, $n Redis nodes, pairs c=$CONC" "$(jget "$f" rate)" pairs/s \
					"$(div "$(jget "$f" rate)" "$(jget "$RAW/pairs_c$CONC.json" rate)")" "single-node pairs" \
					"$([ "$n" = 3 ] && echo '>=0.60')" \
					"$(join_notes "p50 $(ms "$(jget "$f" p50_us)") ms, p99 $(ms "$(jget "$f" p99_us)") ms" "$(errnote "redlock$n")")"
				log "Redlock $n nodes: $(jget "$f" rate) pairs/s"
			else
				failed_row "redlock$n" "dlockd Redlock, $n Redis nodes" "loadgen failed"
			fi
			stop_pid "$DPID"
		fi
	done
	if [ "$NODE_OK" = 1 ] && [ "${#RL[@]}" -ge 3 ]; then
		ports3=$(
			IFS=,
			echo "${RL[*]:0:3}"
		)
		if node_redlock node3 "$ports3"; then
			row node3 "node-redlock, 3 Redis nodes, $CONC async loops" "$(jget "$RAW/node3.json" rate)" pairs/s \
				"$(div "$(jget "$RAW/node3.json" rate)" "$(jget "$RAW/node1.json" rate)")" "node-redlock 1 node" "" \
				"p50 $(ms "$(jget "$RAW/node3.json" p50_us)") ms"
			log "node-redlock 3 nodes: $(jget "$RAW/node3.json" rate) pairs/s"
		else
			failed_row node3 "node-redlock, 3 Redis nodes" "$(tail -1 "$TMP/node3.err")"
			rm -f "$RAW/node3.json"
		fi
	fi
	for p in "${RLPIDS[@]}"; do stop_pid "$p"; done
fi

# ---------------------------------------------------------------- etcd ---

# etcd_run WHERE: one etcd with its data dir on disk (WHERE=disk: fsync on every write, as
# etcd is deployed; rows etcd_disk_*) or on tmpfs (WHERE=tmpfs, /dev/shm: fsync nearly
# free, like Redis without persistence; rows etcd_*), lock+unlock pairs with the lease
# reused and, on tmpfs, granted and revoked per pair.
etcd_run() {
	local where=$1 dir pfx modes ec ep epid ok i m k label
	if [ "$where" = tmpfs ]; then
		[ -d /dev/shm ] && [ -w /dev/shm ] || {
			note "etcd on tmpfs skipped: no writable /dev/shm"
			return 0
		}
		dir=$(mktemp -d /dev/shm/dlockd-bench-etcd.XXXXXX)
		SHM_DIRS+=("$dir")
		pfx=etcd_ modes="reuse lease"
	else
		dir=$(mktemp -d "$TMP/etcd.XXXXXX")
		pfx=etcd_disk_ modes="reuse"
	fi
	ec=$(next_port)
	ep=$(next_port)
	while [ "$ep" = "$ec" ]; do ep=$(next_port); done
	$SRV etcd --name bench --data-dir "$dir/data" --listen-client-urls "http://127.0.0.1:$ec" \
		--advertise-client-urls "http://127.0.0.1:$ec" --listen-peer-urls "http://127.0.0.1:$ep" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ep" --initial-cluster "bench=http://127.0.0.1:$ep" \
		--initial-cluster-state new --logger zap --log-level error >"$TMP/etcd-$where.log" 2>&1 &
	epid=$!
	PIDS+=("$epid")
	ok=0
	for ((i = 0; i < 100; i++)); do
		http_get "$ec" /health | grep -q '"health":"true"' && {
			ok=1
			break
		}
		kill -0 "$epid" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$ok" = 1 ]; then
		log "etcd $V_ETCD on :$ec (data dir on $where)"
		for m in $modes; do
			k=$pfx$m
			label="etcd on $where, lock+unlock pairs, c=$CONC, $([ $m = reuse ] && echo 'lease reused' || echo 'lease granted+revoked per pair')"
			if lg "$k" "etcd-$m" --port "$ec" -c "$CONC" -d "$DUR" --warmup "$WARM" --name "e$where$m-"; then
				row "$k" "$label" "$(jget "$RAW/$k.json" rate)" pairs/s "" "" "" \
					"$(join_notes "p50 $(ms "$(jget "$RAW/$k.json" p50_us)") ms, p99 $(ms "$(jget "$RAW/$k.json" p99_us)") ms" "$(errnote "$k")")"
				log "etcd $where $m: $(jget "$RAW/$k.json" rate) pairs/s"
			else
				failed_row "$k" "$label" "loadgen failed"
			fi
		done
	else
		note "etcd ($where) did not start: $(tail -1 "$TMP/etcd-$where.log")"
		failed_row "${pfx}reuse" "etcd on $where, lock/unlock pairs" "etcd did not start"
	fi
	stop_pid "$epid"
}

if [ "$ETCD_OK" = 1 ]; then
	etcd_run disk
	etcd_run tmpfs
fi

# ---------------------------------------------------------------- memory ---

# mem_run KIND CONN_MEMORY: a fresh dlockd; RSS idle, then with $BIG idle
# keep-alive connections (KIND=conns) or $BIG suspended waiters (KIND=waiters).
mem_run() {
	local kind=$1 cm=$2 tag=${1}_${2} flags=(--max-connections $((BIG * 2)) --max-waiters $((BIG * 2)) --connection-timeout-s 300)
	[ "$cm" != default ] && flags+=(--connection-memory "$cm")
	MEM_IDLE="" MEM_LOADED="" MEM_AFTER="" MEM_ERR=""
	if ! start_dlockd "$R1" "${flags[@]}"; then
		MEM_ERR="dlockd did not start: $DERR"
		return 1
	fi
	sleep 0.2
	MEM_IDLE=$(rss_kib "$DPID")
	local ready=$TMP/ready-$tag lgpid i n=""
	if [ "$kind" = conns ]; then
		$GEN "$LOADGEN" conns --port "$DPORT" -c "$BIG" --ready-file "$ready" --max-seconds 120 >"$RAW/mem_$tag.json" 2>"$TMP/mem_$tag.err" &
	else
		$GEN "$LOADGEN" waiters --port "$DPORT" -c "$BIG" --name "memhold$cm" --ttl-ms 5000 --wait-ms 60000 \
			--ready-file "$ready" --max-seconds 120 >"$RAW/mem_$tag.json" 2>"$TMP/mem_$tag.err" &
	fi
	lgpid=$!
	PIDS+=("$lgpid")
	for ((i = 0; i < 600; i++)); do
		[ -s "$ready" ] && break
		kill -0 "$lgpid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -s "$ready" ]; then
		MEM_ERR="load generator not ready: $(tail -1 "$TMP/mem_$tag.err")"
	elif [ "$kind" = waiters ]; then
		# wait until dlockd counts every waiter as suspended
		# (give up when the count stalls for 5 s: waiters were answered instead)
		local last=-1 stall=0
		for ((i = 0; i < 600 && stall < 50; i++)); do
			n=$(http_get "$DPORT" /metrics | awk '$1 == "dlockd_waiters" {print $2}')
			[ "${n:-0}" -ge "$BIG" ] 2>/dev/null && break
			if [ "${n:-0}" = "$last" ]; then stall=$((stall + 1)); else stall=0; fi
			last=${n:-0}
			sleep 0.1
		done
		[ "${n:-0}" -ge "$BIG" ] 2>/dev/null || MEM_ERR="dlockd_waiters reached only ${n:-?} of $BIG"
	else
		sleep 0.3
	fi
	MEM_LOADED=$(rss_kib "$DPID")
	MEM_OPEN=$(ls "/proc/$DPID/fd" 2>/dev/null | wc -l)
	stop_pid "$lgpid"
	[ -n "$MEM_ERR" ] && MEM_ERR="$MEM_ERR; loadgen: $(jget "$RAW/mem_$tag.json" statuses) $(grep -o '"code":"[a-z_]*"' "$TMP/mem_$tag.err" | sort -u | tr '\n' ' ')"
	sleep 0.5
	MEM_AFTER=$(rss_kib "$DPID")
	stop_pid "$DPID"
	[ -z "$MEM_ERR" ]
}

if ! skipped memory; then
	for cm in default 8192 4096; do
		for kind in conns waiters; do
			key=mem_${kind}_$cm
			what=$([ $kind = conns ] && echo "$BIG idle keep-alive conns" || echo "$BIG suspended waiters")
			cml=$([ $cm = default ] && echo "" || echo ", conn-memory $cm")
			if mem_run "$kind" "$cm"; then
				if [ "$cm" = default ] && [ "$kind" = conns ]; then
					row mem_idle "dlockd RSS idle (fresh process)" "$(mib "$MEM_IDLE")" MiB
				fi
				tgt=""
				[ "$cm" = default ] && tgt="<64"
				row "$key" "dlockd RSS, $what$cml" "$(mib "$MEM_LOADED")" MiB "" "" "$tgt" \
					"$(awk -v a="$MEM_LOADED" -v b="$MEM_IDLE" -v n="$BIG" 'BEGIN{printf "%.1f KiB per connection over idle", (a - b) / n}'); $MEM_OPEN fds; RSS after they closed: $(mib "$MEM_AFTER") MiB"
				log "RSS $kind $cm: idle $(mib "$MEM_IDLE") MiB, loaded $(mib "$MEM_LOADED") MiB, after $(mib "$MEM_AFTER") MiB"
			else
				failed_row "$key" "dlockd RSS, $what$cml" "$MEM_ERR"
			fi
		done
	done
	[ -n "${RSS_AFTER_LOAD:-}" ] && row mem_after_bench "dlockd RSS after the throughput workloads" "$(mib "$RSS_AFTER_LOAD")" MiB
fi

stop_pid "$R1PID"

# ---------------------------------------------------------------- ratios ---

P64=$(jget "$RAW/pairs_c$CONC.json" rate 2>/dev/null)
if num "${P64:-}"; then
	[ -n "${RB_PAIRS:-}" ] && row ratio_redis "dlockd pairs c=$CONC / raw Redis EVALSHA pairs" "$(div "$P64" "$RB_PAIRS")" x \
		"$(div "$P64" "$RB_PAIRS")" "redis-benchmark" ">=0.50"
	[ -n "${RBP_PAIRS:-}" ] && row ratio_redis_p16 "dlockd pairs c=$CONC / raw Redis EVALSHA pairs, -P 16" \
		"$(div "$P64" "$RBP_PAIRS")" x
	[ -f "$RAW/redis_resp.json" ] && row ratio_redis_resp "dlockd pairs c=$CONC / loadgen RESP pairs" \
		"$(div "$P64" "$(jget "$RAW/redis_resp.json" rate)")" x
	[ -f "$RAW/healthz.json" ] && row ratio_http "dlockd pair requests/s / GET /healthz req/s" \
		"$(div "$(awk -v p="$P64" 'BEGIN{print 2 * p}')" "$(jget "$RAW/healthz.json" rate)")" x
	[ -f "$RAW/node1.json" ] && row ratio_node "dlockd pairs c=$CONC / node-redlock 1 node" \
		"$(div "$P64" "$(jget "$RAW/node1.json" rate)")" x "$(div "$P64" "$(jget "$RAW/node1.json" rate)")" "node-redlock" ">=0.75"
	# Why node-redlock is ahead here: its lock logic runs in the load generator's
	# process (CPU 1), while dlockd's HTTP hop shares CPU 0 with Redis. Even an HTTP
	# hop that cost only the floor measured by /healthz would leave CPU 0 this many pairs/s.
	if [ -f "$RAW/node1.json" ] && num "${HZ_FLOOR:-}" && num "${CPU_RP_SINGLE:-}"; then
		FLOOR_PAIRS=$(awk -v r="$CPU_RP_SINGLE" -v f="$HZ_FLOOR" 'BEGIN{printf "%.0f", 1e6 / (r + 2 * f)}')
		row paper_floor_pairs "  on paper: CPU 0 with Redis + an HTTP hop at the floor (1e6 / (Redis/pair + 2 x floor))" \
			"$FLOOR_PAIRS" pairs/s "$(div "$FLOOR_PAIRS" "$(jget "$RAW/node1.json" rate)")" "node-redlock 1 node" "" \
			"the most any HTTP hop on CPU 0 could reach with these scripts: node-redlock runs its lock logic on CPU 1"
	fi
	[ -f "$RAW/etcd_disk_reuse.json" ] && row ratio_etcd "dlockd pairs c=$CONC / etcd on disk (lease reused)" \
		"$(div "$P64" "$(jget "$RAW/etcd_disk_reuse.json" rate)")" x \
		"$(div "$P64" "$(jget "$RAW/etcd_disk_reuse.json" rate)")" "etcd on disk" ">=10"
	[ -f "$RAW/etcd_reuse.json" ] && row ratio_etcd_tmpfs "dlockd pairs c=$CONC / etcd on tmpfs (lease reused)" \
		"$(div "$P64" "$(jget "$RAW/etcd_reuse.json" rate)")" x
	[ -f "$RAW/etcd_lease.json" ] && row ratio_etcd_lease "dlockd pairs c=$CONC / etcd on tmpfs (lease per pair)" \
		"$(div "$P64" "$(jget "$RAW/etcd_lease.json" rate)")" x
fi

# ---------------------------------------------------------------- report ---

T_TOTAL=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo
	echo "dlockd benchmark — commit $COMMIT — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "$NPROC x $CPU_MODEL, kernel $KERNEL, $MEM_TOTAL; redis $V_REDIS, etcd ${V_ETCD:-n/a}, node ${V_NODE:-n/a}, wrk ${V_WRK:-n/a}"
	echo "pinning: $PINNING"
	echo "each workload ${DUR}s after ${WARM}s warm-up, HTTP/1.1 keep-alive, loadgen = bench/loadgen.c (epoll, 1 thread); load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
	echo
	awk -F'\037' '
		function fmt(v) { if (v ~ /^-?[0-9.]+$/) { if (v + 0 >= 1000) return sprintf("%.0f", v); if (v + 0 >= 100) return sprintf("%.1f", v); return sprintf("%.3g", v) } return v }
		BEGIN { printf "%-62s %10s %-11s %-32s %s\n", "workload", "value", "unit", "ratio (vs)", "target"; s = sprintf("%0128d", 0); gsub(/0/, "-", s); print s }
		{
			r = ($5 != "") ? sprintf("%.3g (%s)", $5, $6) : ""
			t = ($7 != "") ? $7 " " $8 : ""
			if ($3 ~ /^(failed|skipped)/) { printf "%-62s %s\n", $2, $3; if ($9 != "") printf "      %s\n", $9; next }
			u = sprintf("%-11s", $4)
			if ($4 == "µs") u = "µs         " # two columns, whatever awk counts (mawk: bytes)
			printf "%-62s %10s %s %-32s %s\n", $2, fmt($3), u, r, t
			if ($9 != "") printf "      %s\n", $9
		}' "$ROWS"
	echo
	for n in "${NOTES[@]}"; do echo "note: $n"; done
	echo "scripts run by redis-benchmark identical to dlockd's (SCRIPT EXISTS): $SAME_SCRIPTS"
	echo "total run time: ${T_TOTAL}s; results: $OUT_JSON, picture: $OUT_SVG"
}

# results.json (built without subshells: forks are slow on a busy machine)
q() { # Q = $1 as a JSON string
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\t'/ }
	s=${s//$'\n'/ }
	Q="\"$s\""
}
qv() { if num "$1"; then Q=$1; elif [ -z "$1" ]; then Q=null; else q "$1"; fi; } # number, null or string
J=""
jf() { # jf SEP NAME VALUE [str]: appends SEP"NAME": VALUE
	if [ "${4:-}" = str ]; then q "$3"; else qv "$3"; fi
	J+="$1\"$2\": $Q"
}
jf $'{\n  ' date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" str
jf $',\n  ' dlockd_commit "$COMMIT" str
jf $',\n  ' build "make BUILD=$BUILD OPT=-O2 $BUILD/dlockd" str
jf $',\n  ' duration_s "$T_TOTAL"
jf $',\n  "machine": {' nproc "$NPROC"
jf ', ' cpu_model "$CPU_MODEL" str
jf ', ' kernel "$KERNEL" str
jf ', ' mem_total "$MEM_TOTAL" str
jf ', ' loadavg_before "$LOAD_BEFORE" str
jf ', ' loadavg_after "$LOAD_AFTER" str
jf ', ' ulimit_n "$(ulimit -n)"
jf $'},\n  "versions": {' redis "$V_REDIS" str
jf ', ' etcd "${V_ETCD:-}" str
jf ', ' node "${V_NODE:-}" str
jf ', ' wrk "${V_WRK:-}" str
jf ', ' libmicrohttpd "$V_MHD" str
jf ', ' hiredis "$V_HIREDIS" str
jf ', ' cc "$V_CC" str
jf ', ' redlock "$(jget "$RAW/node1.json" redlock)" str
jf ', ' ioredis "$(jget "$RAW/node1.json" ioredis)" str
jf $'},\n  "settings": {' seconds "$DUR"
jf ', ' warmup_s "$WARM"
jf ', ' concurrency "$CONC"
jf ', ' memory_connections "$BIG"
jf ', ' redis_benchmark_requests "$REDIS_N"
jf ', ' pinning "$PINNING" str
jf ', ' scripts_identical_to_dlockd "$SAME_SCRIPTS" str
J+=$'},\n  "results": ['
sep=$'\n    {'
while IFS=$'\037' read -r key label value unit ratio vs target met rnote; do
	status=ok
	case "$value" in failed*) status=failed ;; skipped*) status=skipped ;; esac
	[ "$status" = ok ] || {
		rnote="$value${rnote:+: $rnote}"
		value=""
	}
	label=${label#"${label%%[! ]*}"}
	jf "$sep" key "$key" str
	jf ', ' label "$label" str
	jf ', ' value "$value"
	jf ', ' unit "$unit" str
	jf ', ' ratio "$ratio"
	jf ', ' ratio_of "$vs" str
	jf ', ' target "$target" str
	case $met in met) J+=', "target_met": true' ;; MISS) J+=', "target_met": false' ;; *) J+=', "target_met": null' ;; esac
	jf ', ' status "$status" str
	jf ', ' note "$rnote" str
	J+="}"
	sep=$',\n    {'
done <"$ROWS"
J+=$'\n  ],\n  "notes": ['
sep=""
for n in "${NOTES[@]}"; do
	q "$n"
	J+="$sep$Q"
	sep=", "
done
J+='],'$'\n''  "raw": {'
sep=$'\n    '
for f in "$RAW"/*.json; do
	[ -s "$f" ] || continue
	read -r line <"$f"
	b=${f##*/}
	J+="$sep\"${b%.json}\": $line"
	sep=$',\n    '
done
J+=$'\n  }\n}\n'
printf '%s' "$J" >"$OUT_JSON.tmp" && mv "$OUT_JSON.tmp" "$OUT_JSON"

# The picture beside the JSON: throughput bars and latency percentiles (bench/plot.py).
if ! have python3; then
	log "warning: no picture: python3 missing (as root: apt-get install python3)"
elif python3 bench/plot.py "$OUT_JSON" "$OUT_SVG" 2>"$TMP/plot.err"; then
	log "picture: $OUT_SVG"
else
	log "warning: no picture: bench/plot.py failed: $(tail -1 "$TMP/plot.err")"
fi

log "done: table on stdout, $OUT_JSON written"
[ "$FAILS" = 0 ] || {
	echo "bench: $FAILS workload(s) failed (see above)" >&2
	exit 1
}
exit 0
