# xmpp-core: the XMPP server (c2s, SASL, roster, presence, messages,
# offline storage, registration) on PostgreSQL, and xmppctl, its admin CLI.
XMPP_SRCS := $(filter-out xmpp-core/main.c xmpp-core/xmppctl.c,$(wildcard xmpp-core/*.c))
XMPP_OBJS := $(XMPP_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/xmpp-core/migrations.o
XMPP_LIBS := -lexpat -lpq -lssl -lcrypto -lm
CPPFLAGS  += -I/usr/include/postgresql

$(BUILD)/bin/xmpp-core: $(BUILD)/xmpp-core/main.o $(XMPP_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) $(XMPP_LIBS)

$(BUILD)/bin/xmppctl: $(BUILD)/xmpp-core/xmppctl.o $(XMPP_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) $(XMPP_LIBS)

BINS += $(BUILD)/bin/xmpp-core $(BUILD)/bin/xmppctl
INSTALL_SBIN += $(BUILD)/bin/xmpp-core $(BUILD)/bin/xmppctl
UNIT_OBJS += $(XMPP_OBJS)
UNIT_LIBS += $(XMPP_LIBS)

# The schema travels inside the binary.
$(BUILD)/xmpp-core/migrations.c: $(sort $(wildcard xmpp-core/sql/*.sql)) xmpp-core/sql/embed.sh
	@mkdir -p $(@D)
	sh xmpp-core/sql/embed.sh $(sort $(wildcard xmpp-core/sql/*.sql)) > $@

$(BUILD)/xmpp-core/migrations.o: $(BUILD)/xmpp-core/migrations.c
	$(CC) $(CPPFLAGS) -Ixmpp-core $(CFLAGS) -c -o $@ $<
