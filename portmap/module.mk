# portmap: boot-time nftables port forwards on the XMPP host.
PORTMAP_SRCS := $(wildcard portmap/*.c)
PORTMAP_OBJS := $(PORTMAP_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/bin/portmap: $(PORTMAP_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) -lnftnl -lmnl

BINS += $(BUILD)/bin/portmap
INSTALL_SBIN += $(BUILD)/bin/portmap
UNIT_OBJS += $(filter-out $(BUILD)/portmap/main.o,$(PORTMAP_OBJS))
UNIT_LIBS += -lnftnl -lmnl
