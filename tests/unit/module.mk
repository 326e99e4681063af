# Unit tests: one binary per daemon, so two daemons may both have, say, a
# listen_open() without clashing.  A test file belongs to a daemon by its
# name prefix (below) or by its folder: tests/unit/<daemon>/**/test_*.c
# (xmpp-core's mirror its folders: core/, im/, mam/ ...); every other
# tests/unit/test_*.c tests common/ only.
# Each binary links tests/unit/main.c, its tests, that daemon's non-main
# objects (from UNIT_OBJS, by folder) and libedge.a.
# $(BUILD)/bin/unit-tests runs them all and prints the total
# "N passed, N failed"; `unit-tests NAME` runs the tests whose name
# contains NAME.  Fuzz targets (tests/fuzz/) use the same prefixes.
UNIT_GROUPS := upload-gw turnd portmap dumbclient-redirect xmpp-core
unit_prefix_upload-gw           := upload
unit_prefix_turnd               := stun turnd
unit_prefix_portmap             := portmap
unit_prefix_dumbclient-redirect := redirect
unit_prefix_xmpp-core           := xmpp

UNIT_ALL_SRCS := $(wildcard tests/unit/test_*.c)
# tests in sub-folders include t.h from here
$(BUILD)/tests/unit/%.o: CPPFLAGS += -Itests/unit
unit_srcs = $(filter $(foreach p,$(unit_prefix_$(1)),tests/unit/test_$(p)%),$(UNIT_ALL_SRCS)) \
    $(wildcard tests/unit/$(1)/test_*.c tests/unit/$(1)/*/test_*.c)
UNIT_COMMON_SRCS := $(filter-out $(foreach g,$(UNIT_GROUPS),$(call unit_srcs,$(g))),$(UNIT_ALL_SRCS))
UNIT_BINS :=

# unit_bin NAME, SOURCES, OBJECTS
define unit_bin
$(BUILD)/unit/$(1): $(BUILD)/tests/unit/main.o $(patsubst %.c,$(BUILD)/%.o,$(2)) $(3) $(LIBEDGE)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(UNIT_LIBS) $$(EDGE_LIBS)
UNIT_BINS += $(BUILD)/unit/$(1)
endef

$(eval $(call unit_bin,common,$(UNIT_COMMON_SRCS),))
$(foreach g,$(UNIT_GROUPS),$(if $(call unit_srcs,$(g)),\
    $(eval $(call unit_bin,$(g),$(call unit_srcs,$(g)),$(filter $(BUILD)/$(g)/%,$(UNIT_OBJS))))))

$(BUILD)/bin/unit-tests: tests/unit/run.sh $(UNIT_BINS)
	@mkdir -p $(@D)
	cp tests/unit/run.sh $@
	chmod +x $@
