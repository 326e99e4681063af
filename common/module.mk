# common/ -> libedge.a, linked by every daemon.
#
# Pattern for a daemon folder's module.mk:
#   FOO_SRCS := $(wildcard foo/*.c)
#   FOO_OBJS := $(FOO_SRCS:%.c=$(BUILD)/%.o)
#   $(BUILD)/bin/foo: $(FOO_OBJS) $(LIBEDGE)
#   	@mkdir -p $(@D)
#   	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) -lextra
#   BINS += $(BUILD)/bin/foo
#   INSTALL_SBIN += $(BUILD)/bin/foo
#   UNIT_OBJS += $(filter-out $(BUILD)/foo/main.o,$(FOO_OBJS))
#   UNIT_LIBS += -lextra
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
EDGE_LIBS   := -lssl -lcrypto

$(LIBEDGE): $(COMMON_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^
