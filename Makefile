# dlockd — one GNU Makefile. `make help` lists the targets.
# Dependencies come from pkg-config; sanitizer and bench builds live in their own directories.

PKGS      := libmicrohttpd hiredis jansson gnutls
TEST_PKGS := libcurl jansson
CC        ?= cc
PKG_CONFIG ?= pkg-config
WERROR    ?= 1
V         ?= 0

CSTD      := -std=c11 -D_GNU_SOURCE
WARN      := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wvla
ifeq ($(WERROR),1)
WARN      += -Werror
endif
OPT       ?= -O2 -g
BASE_CFLAGS = $(CSTD) $(WARN) $(OPT) -Isrc -MMD -MP -DSPEC_PATH='"openapi.yaml"' \
              -DDLOCKD_VERSION='"$(VERSION)"'
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(V),0)
Q := @
E := @printf '  %-6s %s\n'
else
Q :=
E := @true
endif

BUILD     ?= build
# src/cli/ is dlock, the command-line client: its own binary, never linked into dlockd.
CLI_SRCS  := $(wildcard src/cli/*.c)
SRCS      := $(filter-out $(CLI_SRCS),$(wildcard src/*.c src/*/*.c))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
BB_SRCS   := $(wildcard tests/blackbox/*.c)

DEPS_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEPS_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread
TEST_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   = $(shell $(PKG_CONFIG) --libs $(TEST_PKGS) 2>/dev/null) -lpthread

OBJS      = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJS  = $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
CLI_OBJS  = $(CLI_SRCS:src/%.c=$(BUILD)/obj/%.o)
# dlock's pure modules (no curl), which the unit tests link too.
CLI_PURE_OBJS = $(BUILD)/obj/cli/timing.o
CLI_LIBS    = $(shell $(PKG_CONFIG) --libs libcurl jansson 2>/dev/null)

# libFuzzer targets: tests/fuzz/fuzz_NAME.c each define LLVMFuzzerTestOneInput.
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
REPLAY_BINS  = $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_BINS    = $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
# They link the modules the parsers live in: not the libmicrohttpd glue, nor the Redis
# connections and Redlock (which clang would also have to compile warning-free).
FUZZ_LIB_SRCS := $(filter-out src/server/http.c src/server/healthcheck.c src/server/spec.c src/server/tls.c src/redis/adapter.c \
                   src/redis/conn.c src/redis/redlock.c src/redis/store.c src/redis/sentinel.c \
                   src/redis/cluster.c,$(LIB_SRCS))
FUZZ_LIB_OBJS  = $(FUZZ_LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)

.PHONY: all help deps run test unit blackbox check fuzz fuzz-bins bench format format-check clean
all: $(BUILD)/dlockd $(BUILD)/dlock

help:
	@echo 'make          build build/dlockd and build/dlock, the client (-Werror; WERROR=0 to relax)'
	@echo 'make run      start a private redis-server and dlockd on 127.0.0.1:8080'
	@echo 'make test     build and run unit + black-box tests, and the API contract checks when npm'
	@echo '              is present (prints "N passed, N failed")'
	@echo 'make check    the same suite built with AddressSanitizer + UBSan'
	@echo '              (both also replay every fuzz seed and regression input)'
	@echo 'make fuzz     build the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and run each'
	@echo '              for FUZZ_SECONDS (default 60), one at a time; fails on any crash'
	@echo '              FUZZ_SAN=0: plain -fsanitize=fuzzer, for throughput (build-fuzz-plain/)'
	@echo 'make valgrind the black-box suite with dlockd under valgrind'
	@echo 'make api-test  API contract: spec lint, generated client, curl examples, conformance'
	@echo 'make bench    benchmarks: bench/results.json and a picture of it, results.svg (not part of test)'
	@echo 'make chaos-unit  unit tests of the chaos checker and report (Python 3, no build)'
	@echo 'make deps     install missing Debian packages (as root)'
	@echo 'make chaos    faults against 3 dlockd replicas and real Redis, checked (~5 min; results/)'
	@echo 'make chaos-smoke  the CI subset of make chaos (<= 90 s)'

$(BUILD)/dlockd: $(OBJS)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(DEPS_LIBS)

# dlock shares dlockd's pure modules for `dlock keygen` (the auth file's rules, SHA-256).
CLI_SHARED_OBJS = $(BUILD)/obj/server/auth.o $(BUILD)/obj/locks/lock.o $(BUILD)/obj/base/digest.o \
                  $(BUILD)/obj/base/text.o
$(BUILD)/dlock: $(CLI_OBJS) $(CLI_SHARED_OBJS)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(CLI_SHARED_OBJS) $(CLI_LIBS)

$(BUILD)/obj/cli/%.o: src/cli/%.c | deps-check
	@mkdir -p $(dir $@)
	$(E) CC $<
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(TEST_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: src/%.c | deps-check
	@mkdir -p $(dir $@)
	$(E) CC $<
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(DEPS_CFLAGS) -c -o $@ $<

# The spec is embedded with .incbin: rebuild when it changes.
$(BUILD)/obj/server/spec.o: openapi.yaml

# Unit-test programs link every library object and the test helpers in
# tests/unit/ (each NAME.c there that is not a test_*.c, e.g. the fake backend).
UNIT_HELPER_SRCS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJS  = $(UNIT_HELPER_SRCS:tests/unit/%.c=$(BUILD)/unit/obj/%.o)
.SECONDARY: $(UNIT_HELPER_OBJS)

$(BUILD)/unit/obj/%.o: tests/unit/%.c | deps-check
	@mkdir -p $(dir $@)
	$(E) CC $<
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(DEPS_CFLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJS) $(UNIT_HELPER_OBJS) $(CLI_PURE_OBJS)
	@mkdir -p $(dir $@)
	$(E) CC $<
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(DEPS_CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_HELPER_OBJS) $(LIB_OBJS) $(CLI_PURE_OBJS) $(DEPS_LIBS)

# The suite links digest.c to check what dlockd stores in place of a token. Beside it, an
# LD_PRELOAD shim whose getaddrinfo() stalls (a DNS server that does not answer); built
# without sanitizers: it is preloaded into dlockd, whatever dlockd was built with.
$(BUILD)/test_blackbox: $(BB_SRCS) $(wildcard tests/blackbox/*.h) src/base/digest.c src/base/digest.h \
                        $(BUILD)/slow_dns.so
	@mkdir -p $(dir $@)
	$(E) CC $@
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $(BB_SRCS) src/base/digest.c $(TEST_LIBS)

$(BUILD)/slow_dns.so: tests/blackbox/shim/slow_dns.c
	@mkdir -p $(dir $@)
	$(E) CC $@
	$(Q)$(CC) -std=c11 -Wall -Wextra -Werror -O1 -shared -fPIC -o $@ $< -ldl

# Fails early with the exact install line when a dependency is missing.
.PHONY: deps-check
deps-check:
	@./tools/deps.sh check

deps:
	@./tools/deps.sh install

unit: $(UNIT_BINS)
	$(Q)./tools/run-unit.sh $(UNIT_BINS)

# The chaos checker's and report's unit tests: Python programs, each printing "N passed, N failed".
.PHONY: chaos-unit
chaos-unit:
	$(Q)PYTHONDONTWRITEBYTECODE=1 ./tools/run-unit.sh tests/chaos/test_*.py

blackbox: $(BUILD)/dlockd $(BUILD)/dlock $(BUILD)/test_blackbox
	$(Q)DLOCKD_BIN=$(BUILD)/dlockd DLOCK_BIN=$(BUILD)/dlock $(BUILD)/test_blackbox

# The fuzz targets' objects (-DFUZZ_ROOT: where replay finds the corpora).
.PRECIOUS: $(BUILD)/fuzz/obj/%.o
$(BUILD)/fuzz/obj/%.o: tests/fuzz/%.c | deps-check
	@mkdir -p $(dir $@)
	$(E) CC $<
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(DEPS_CFLAGS) -DFUZZ_ROOT='"$(CURDIR)/tests/fuzz"' -c -o $@ $<

# replay_NAME: fuzz_NAME's LLVMFuzzerTestOneInput over its seeds and
# regression inputs, with the normal compiler; part of `make test`.
$(BUILD)/fuzz/replay_%: $(BUILD)/fuzz/obj/fuzz_%.o $(BUILD)/fuzz/obj/replay.o $(FUZZ_LIB_OBJS)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

# fuzz_NAME: the libFuzzer binary (built by `make fuzz` with clang).
$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

# `make test`: unit tests and fuzz replays, then the black-box suite against the real
# binary and real redis-server.
test: all $(UNIT_BINS) $(REPLAY_BINS) $(BUILD)/test_blackbox
	$(Q)./tools/run-tests.sh $(BUILD)

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
check:
	$(Q)API_TESTS=0 $(MAKE) --no-print-directory BUILD=build-asan OPT='-O1 -g' \
	  CFLAGS='$(SAN_FLAGS)' LDFLAGS='$(SAN_FLAGS)' test

# `make fuzz`: every target under clang + libFuzzer, each run for FUZZ_SECONDS on one core
# (tools/fuzz.sh) over a copy of its seeds in $(FUZZ_DIR)/corpus/NAME. Needs clang and
# libclang-rt-dev (tools/deps.sh installs them as root).
FUZZ_SECONDS ?= 60
FUZZ_SAN     ?= 1
ifeq ($(FUZZ_SAN),0)
FUZZ_DIR     := build-fuzz-plain
FUZZ_FLAGS   := -fno-omit-frame-pointer
FUZZ_OPT     := -O2 -g
else
FUZZ_DIR     := build-fuzz
FUZZ_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OPT     := -O1 -g
endif
FUZZ_CFLAGS  := -fsanitize=fuzzer-no-link $(FUZZ_FLAGS)
fuzz:
	$(Q)./tools/deps.sh check fuzz
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=clang OPT='$(FUZZ_OPT)' \
	  CFLAGS='$(FUZZ_CFLAGS)' LDFLAGS='-fsanitize=fuzzer $(FUZZ_FLAGS)' fuzz-bins
	$(Q)./tools/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-bins: $(FUZZ_BINS)

valgrind: all $(BUILD)/test_blackbox
	$(Q)DLOCKD_WRAPPER='valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite' \
	  DLOCKD_START_TIMEOUT_S=30 DLOCKD_BIN=$(BUILD)/dlockd $(BUILD)/test_blackbox

run: all
	$(Q)./tools/run-local.sh $(BUILD)/dlockd

bench:
	$(Q)./bench/run.sh

# Jepsen-style runs (issue 13; tests/chaos/, docs/chaos-runner.md): real redis-server and dlockd
# processes under faults, every history checked. Each run keeps its histories, logs and report
# in results/chaos-<timestamp>/ (CHAOS_OUT to choose); CHAOS_ARGS passes more options, e.g.
# CHAOS_ARGS='--only always_kill --seed 7'. Needs python3 (installed like the other packages).
CHAOS_OUT ?= results/chaos-$(shell date +%Y%m%d-%H%M%S)
.PHONY: chaos chaos-smoke chaos-deps
chaos: all chaos-deps
	$(Q)PYTHONDONTWRITEBYTECODE=1 python3 tests/chaos/chaos.py --dlockd $(BUILD)/dlockd --out $(CHAOS_OUT) $(CHAOS_ARGS)

chaos-smoke: all chaos-deps
	$(Q)PYTHONDONTWRITEBYTECODE=1 python3 tests/chaos/chaos.py --smoke --dlockd $(BUILD)/dlockd --out $(CHAOS_OUT) $(CHAOS_ARGS)

chaos-deps:
	@./tools/deps.sh check chaos

FORMAT_FILES = $(wildcard src/*.c src/*/*.[ch] tests/unit/*.[ch] tests/blackbox/*.[ch] tests/fuzz/*.[ch])

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf build build-asan build-bench build-fuzz build-fuzz-plain

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(BUILD)/unit/*.d $(BUILD)/unit/obj/*.d $(BUILD)/fuzz/obj/*.d)

# Container image + compose deployments, tested with docker (if its engine works) or podman.
# Not part of `make test`: it builds images and needs root or a container engine.
.PHONY: container-test
container-test:
	$(Q)bash tests/container/run.sh

# API contract (tools/api-tests.sh; needs npm, else it says so and passes): Redocly lint of
# openapi.yaml, a TypeScript client generated from it and tested against a live dlockd, the
# curl examples in api/examples/, and the black-box suite's recorded traffic validated
# against the spec. Pass an existing recording with API_RECORD=file.jsonl.
.PHONY: api-test
api-test: all $(BUILD)/test_blackbox
	$(Q)./tools/api-tests.sh $(if $(API_RECORD),--record $(API_RECORD)) $(BUILD)
