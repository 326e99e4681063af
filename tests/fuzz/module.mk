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

.PHONY: fuzz fuzz-bins
fuzz-bins: $(FUZZ_BINS)
ifeq ($(FUZZ),1)
fuzz: fuzz-bins
	@for f in $(FUZZ_BINS); do \
	    n=$$(basename $$f); mkdir -p $(BUILD)/corpus/$$n; \
	    echo "== $$n ($(FUZZ_SECONDS)s)"; \
	    seeds=; [ -d tests/fuzz/corpus/$$n ] && seeds=tests/fuzz/corpus/$$n; \
	    $$f -max_total_time=$(FUZZ_SECONDS) $(BUILD)/corpus/$$n $$seeds \
	        > $(BUILD)/fuzz/$$n.log 2>&1 || { tail -n 40 $(BUILD)/fuzz/$$n.log; exit 1; }; \
	    tail -n 1 $(BUILD)/fuzz/$$n.log; \
	done
else
fuzz:
	@command -v clang >/dev/null || apt-get install -y -qq clang libclang-rt-14-dev
	$(MAKE) --no-print-directory FUZZ=1 BUILD=build-fuzz CC=clang fuzz
endif
