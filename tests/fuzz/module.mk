# libFuzzer targets: tests/fuzz/*_fuzz.c, each linked with every daemon's
# non-main objects (like the unit tests).  Built only by `make fuzz`, with
# clang into build-fuzz/, then each target runs for $(FUZZ_SECONDS).
FUZZ_SRCS    := $(wildcard tests/fuzz/*_fuzz.c)
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 30

# A target links the objects of the daemon its name starts with (the unit
# tests' prefixes, see tests/unit/module.mk); others only libedge.a.
fuzz_group = $(firstword $(foreach g,$(UNIT_GROUPS),$(if $(filter $(addsuffix _%,$(unit_prefix_$(g))),$(1)),$(g))))
define fuzz_bin
$(BUILD)/fuzz/$(1): $(BUILD)/tests/fuzz/$(1).o $(if $(call fuzz_group,$(1)),$(filter $(BUILD)/$(call fuzz_group,$(1))/%,$(UNIT_OBJS))) $(LIBEDGE)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(UNIT_LIBS) $$(EDGE_LIBS)
endef
$(foreach f,$(FUZZ_SRCS:tests/fuzz/%.c=%),$(eval $(call fuzz_bin,$(f))))

# Inputs larger than libFuzzer's default 4 KiB where the code's limits
# are larger: the stream parser's header and stanza limits (256 KiB),
# the record layer's 16 KiB records.
fuzz_max_len_xmpp_stream_fuzz := 300000
fuzz_max_len_tls_record_fuzz  := 70000
rparen := )

# fuzz-replay (run by make check, with the build's own compiler and
# sanitizers): every target linked with tests/fuzz/replay.c instead of
# libFuzzer, run over its corpus and FUZZ_REPLAY_RUNS inputs mutated from
# it with a fixed seed.  A failure leaves the input as
# $(BUILD)/fuzz-replay/crash-<target>.
FUZZ_REPLAY_RUNS ?= 2000
FUZZ_REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)
define fuzz_replay_bin
$(BUILD)/fuzz-replay/$(1): $(BUILD)/tests/fuzz/$(1).o $(BUILD)/tests/fuzz/replay.o $(if $(call fuzz_group,$(1)),$(filter $(BUILD)/$(call fuzz_group,$(1))/%,$(UNIT_OBJS))) $(LIBEDGE)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(UNIT_LIBS) $$(EDGE_LIBS)
endef
$(foreach f,$(FUZZ_SRCS:tests/fuzz/%.c=%),$(eval $(call fuzz_replay_bin,$(f))))

# one run target a binary; sequential (make check runs without -j)
define fuzz_replay_run
.PHONY: fuzz-replay-$(1)
fuzz-replay-$(1): $(BUILD)/fuzz-replay/$(1)
	@REPLAY_CRASH_DIR=$(BUILD)/fuzz-replay $$< -runs=$(FUZZ_REPLAY_RUNS) \
	    -max_len=$(or $(fuzz_max_len_$(1)),4096) tests/fuzz/corpus/$(1) || \
	    { echo "fuzz-replay: $(1) failed; the input is $(BUILD)/fuzz-replay/crash-$(1)"; exit 1; }
endef
$(foreach f,$(FUZZ_SRCS:tests/fuzz/%.c=%),$(eval $(call fuzz_replay_run,$(f))))

.PHONY: fuzz-replay
fuzz-replay: $(FUZZ_SRCS:tests/fuzz/%.c=fuzz-replay-%)

.PHONY: fuzz fuzz-bins
fuzz-bins: $(FUZZ_BINS)
ifeq ($(FUZZ),1)
fuzz: fuzz-bins
	@for f in $(FUZZ_BINS); do \
	    n=$$(basename $$f); mkdir -p $(BUILD)/corpus/$$n; \
	    echo "== $$n ($(FUZZ_SECONDS)s)"; \
	    seeds=; [ -d tests/fuzz/corpus/$$n ] && seeds=tests/fuzz/corpus/$$n; \
	    $$f -max_total_time=$(FUZZ_SECONDS) $$(case $$n in $(foreach f,$(FUZZ_SRCS:tests/fuzz/%.c=%),$(if $(fuzz_max_len_$(f)),$(f)$(rparen) echo -max_len=$(fuzz_max_len_$(f));;)) esac) \
	        $(BUILD)/corpus/$$n $$seeds \
	        > $(BUILD)/fuzz/$$n.log 2>&1 || { tail -n 40 $(BUILD)/fuzz/$$n.log; exit 1; }; \
	    tail -n 1 $(BUILD)/fuzz/$$n.log; \
	done
else
fuzz:
	@command -v clang >/dev/null || apt-get install -y -qq clang libclang-rt-14-dev
	$(MAKE) --no-print-directory FUZZ=1 BUILD=build-fuzz CC=clang fuzz
endif
