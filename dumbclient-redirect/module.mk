# dumbclient-redirect: web-host redirect of XMPP ports to the XMPP host.
REDIRECT_SRCS := $(wildcard dumbclient-redirect/*.c)
REDIRECT_OBJS := $(REDIRECT_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/bin/dumbclient-redirect: $(REDIRECT_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(EDGE_LIBS) -lnftnl -lmnl -lresolv -lmicrohttpd

BINS += $(BUILD)/bin/dumbclient-redirect
INSTALL_SBIN += $(BUILD)/bin/dumbclient-redirect
UNIT_OBJS += $(filter-out $(BUILD)/dumbclient-redirect/main.o,$(REDIRECT_OBJS))
UNIT_LIBS += -lnftnl -lmnl -lresolv -pthread
