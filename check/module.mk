# edge-check: reads every daemon's config on this host and reports what
# would break, each with a fix (check/README.md).  It links the config
# loaders of turnd, upload-gw, portmap and dumbclient-redirect (their own
# parsers and defaults, never a second copy); xmpp-core's config is read
# with common/conf after `xmpp-core -t` has judged it.
CHECK_SRCS := $(wildcard check/*.c)
CHECK_OBJS := $(CHECK_SRCS:%.c=$(BUILD)/%.o)
CHECK_LOADERS := $(BUILD)/turnd/config.o $(BUILD)/turnd/policy.o \
                 $(BUILD)/upload-gw/config.o $(BUILD)/portmap/forward.o \
                 $(BUILD)/dumbclient-redirect/config.o

$(BUILD)/check/%.o: CPPFLAGS += -I/usr/include/postgresql

$(BUILD)/bin/edge-check: $(CHECK_OBJS) $(CHECK_LOADERS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) -lpq -lresolv -lnftnl -lmnl

BINS += $(BUILD)/bin/edge-check
INSTALL_SBIN += $(BUILD)/bin/edge-check
