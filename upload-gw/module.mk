# upload-gw: the HTTP upload/download gateway (Prosody Filer protocol).
UPLOAD_SRCS := $(wildcard upload-gw/*.c)
UPLOAD_OBJS := $(UPLOAD_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/bin/upload-gw: $(UPLOAD_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) -lmicrohttpd -lpthread

BINS += $(BUILD)/bin/upload-gw
INSTALL_SBIN += $(BUILD)/bin/upload-gw
UNIT_OBJS += $(filter-out $(BUILD)/upload-gw/main.o,$(UPLOAD_OBJS))
UNIT_LIBS += -lmicrohttpd -lpthread
