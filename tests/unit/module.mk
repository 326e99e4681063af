# One unit-test binary: every tests/unit/test_*.c plus every daemon's
# non-main objects and libedge.a.  Tests register themselves (see t.h).
UNIT_SRCS += $(wildcard tests/unit/*.c)
UNIT_TOBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/bin/unit-tests: $(UNIT_TOBJS) $(UNIT_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(UNIT_LIBS) $(EDGE_LIBS)
