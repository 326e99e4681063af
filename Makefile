# edge — one top-level, non-recursive build.
#
#   make                 build every daemon into $(BUILD)/bin
#   make check           install test deps, build, run unit + integration tests
#   make check SAN=1     the same with ASan + UBSan (separate build dir)
#   make run             install deps, build, run the local stack under ./run/
#   make bench           benchmarks against the programs a user would otherwise run
#   make fuzz            libFuzzer targets (clang), FUZZ_SECONDS each
#   make install PREFIX=/usr/local DESTDIR=
#
# Each daemon folder contributes a module.mk; see common/module.mk for the
# pattern.  BUILD=dir lets several trees build side by side.

SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build-san
else
BUILD   ?= build
endif
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN     := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
            -Wformat=2 -Wno-format-nonliteral
CPPFLAGS := -D_GNU_SOURCE -DEDGE_VERSION='"$(VERSION)"' -Icommon
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARN) -fstack-protector-strong -fPIE -MMD -MP
LDFLAGS  += -pie -Wl,-z,relro,-z,now -Wl,--as-needed

ifeq ($(FUZZ),1)
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
else ifeq ($(SAN),1)
CFLAGS   := $(filter-out -O2,$(CFLAGS)) -O1 -fno-omit-frame-pointer \
            -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
CPPFLAGS += -D_FORTIFY_SOURCE=2
endif

BINS       :=
UNIT_SRCS  :=
UNIT_OBJS  :=
UNIT_LIBS  :=
INSTALL_SBIN :=

LIBEDGE := $(BUILD)/libedge.a

.PHONY: all
all: bins

include common/module.mk
include $(filter-out common/module.mk,$(wildcard */module.mk))
include tests/unit/module.mk
include tests/fuzz/module.mk

.PHONY: bins
bins: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The packages each target needs (deploy/deps.sh: run < check < bench).
.PHONY: deps deps-run deps-bench
deps:
	@bash deploy/deps.sh check
deps-run:
	@bash deploy/deps.sh run
deps-bench:
	@bash deploy/deps.sh bench

.PHONY: unit
unit: $(BUILD)/bin/unit-tests
	$(BUILD)/bin/unit-tests

.PHONY: integration
integration: bins
	EDGE_BUILD=$(abspath $(BUILD)) EDGE_SAN=$(SAN) /usr/bin/python3 -m pytest \
	    -q -c tests/integration/pytest.ini tests/integration $(PYTEST_ARGS); \
	    rc=$$?; [ $$rc = 5 ] && echo "integration: no tests collected" && rc=0; exit $$rc

# check = deps + build + every test.  The unit runner prints
# "N passed, N failed"; pytest prints its own summary.
.PHONY: check
check: deps
	$(MAKE) --no-print-directory depcheck
	$(MAKE) --no-print-directory bins $(BUILD)/bin/unit-tests
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory fuzz-replay
	$(MAKE) --no-print-directory integration

.PHONY: run
run: deps-run
	$(MAKE) --no-print-directory bins
	EDGE_BUILD=$(abspath $(BUILD)) bash deploy/run-stack.sh

.PHONY: bench
bench: deps-bench
	$(MAKE) --no-print-directory bins
	EDGE_BUILD=$(abspath $(BUILD)) bash tests/bench/run.sh $(BENCH)

.PHONY: install
install: bins
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(INSTALL_SBIN) $(DESTDIR)$(PREFIX)/sbin/

.PHONY: clean
clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
