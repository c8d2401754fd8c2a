# dlockd — one GNU Makefile. `make help` lists the targets.
# Dependencies come from pkg-config; sanitizer and bench builds live in their own directories.

PKGS      := libmicrohttpd hiredis jansson
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
SRCS      := $(wildcard src/*.c src/*/*.c)
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

.PHONY: all help deps run test unit blackbox check bench format format-check clean
all: $(BUILD)/dlockd

help:
	@echo 'make          build build/dlockd (-Werror; WERROR=0 to relax)'
	@echo 'make run      start a private redis-server and dlockd on 127.0.0.1:8080'
	@echo 'make test     build and run unit + black-box tests, and the API contract checks when npm'
	@echo '              is present (prints "N passed, N failed")'
	@echo 'make check    the same suite built with AddressSanitizer + UBSan'
	@echo 'make valgrind the black-box suite with dlockd under valgrind'
	@echo 'make api-test  API contract: spec lint, generated client, curl examples, conformance'
	@echo 'make bench    benchmarks (not part of test)'
	@echo 'make chaos-unit  unit tests of the chaos checker and report (Python 3, no build)'
	@echo 'make deps     install missing Debian packages (as root)'
	@echo 'make chaos    faults against 3 dlockd replicas and real Redis, checked (<= 5 min; results/)'
	@echo 'make chaos-smoke  the CI subset of make chaos (<= 90 s)'

$(BUILD)/dlockd: $(OBJS)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(DEPS_LIBS)

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

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJS) $(UNIT_HELPER_OBJS)
	@mkdir -p $(dir $@)
	$(E) CC $<
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(DEPS_CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_HELPER_OBJS) $(LIB_OBJS) $(DEPS_LIBS)

# The suite links digest.c to check what dlockd stores in place of a token.
$(BUILD)/test_blackbox: $(BB_SRCS) $(wildcard tests/blackbox/*.h) src/base/digest.c src/base/digest.h
	@mkdir -p $(dir $@)
	$(E) CC $@
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $(BB_SRCS) src/base/digest.c $(TEST_LIBS)

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

blackbox: $(BUILD)/dlockd $(BUILD)/test_blackbox
	$(Q)DLOCKD_BIN=$(BUILD)/dlockd $(BUILD)/test_blackbox

# `make test`: unit tests, then the black-box suite against the real binary and real redis-server.
test: all $(UNIT_BINS) $(BUILD)/test_blackbox
	$(Q)./tools/run-tests.sh $(BUILD)

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
check:
	$(Q)API_TESTS=0 $(MAKE) --no-print-directory BUILD=build-asan OPT='-O1 -g' \
	  CFLAGS='$(SAN_FLAGS)' LDFLAGS='$(SAN_FLAGS)' test

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
	@DEPS_EXTRA=python3 ./tools/deps.sh check

FORMAT_FILES = $(wildcard src/*.c src/*/*.[ch] tests/unit/*.[ch] tests/blackbox/*.[ch])

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf build build-asan build-bench

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(BUILD)/unit/*.d $(BUILD)/unit/obj/*.d)

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
