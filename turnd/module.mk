# turnd: STUN/TURN/TURNS relay.
TURND_SRCS := $(wildcard turnd/*.c)
TURND_OBJS := $(TURND_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/bin/turnd: $(TURND_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) -lmicrohttpd

BINS += $(BUILD)/bin/turnd
INSTALL_SBIN += $(BUILD)/bin/turnd
UNIT_OBJS += $(filter-out $(BUILD)/turnd/main.o,$(TURND_OBJS))
