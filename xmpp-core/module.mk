# xmpp-core: the XMPP server and xmppctl, its admin CLI.
#
# core/ (streams, SASL, routing, dispatch, registry, database, config,
# XML, JIDs) knows no XEP; every feature lives in a module folder and
# plugs in through the registry (core/registry.h).  xmpp-core/README.md
# draws the layout; `make depcheck` (run by `make check`) enforces the
# include direction.
XMPP_CORE_DIRS := xmpp-core/core xmpp-core/core/xml xmpp-core/core/jid \
                  xmpp-core/core/jid/unicode xmpp-core/core/stream \
                  xmpp-core/core/sasl xmpp-core/core/route xmpp-core/core/db
XMPP_MOD_DIRS  := xmpp-core/im xmpp-core/mam xmpp-core/pubsub xmpp-core/push \
                  xmpp-core/services xmpp-core/register xmpp-core/muc \
                  xmpp-core/web \
                  xmpp-core/s2s
XMPP_MOD_DIRS  += xmpp-core/metrics
XMPP_DIRS := $(XMPP_CORE_DIRS) $(XMPP_MOD_DIRS)
# import/: xmppctl's importer and exporter (a tool: linked into xmppctl
# and the unit tests, never into the server)
XMPP_TOOL_DIRS := xmpp-core/import
XMPP_INC  := $(addprefix -I,$(XMPP_DIRS) $(XMPP_TOOL_DIRS)) -I/usr/include/postgresql

XMPP_SRCS := $(filter-out xmpp-core/core/main.c xmpp-core/core/xmppctl.c,\
                 $(foreach d,$(XMPP_DIRS),$(wildcard $(d)/*.c))) xmpp-core/modules.c
XMPP_OBJS := $(XMPP_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/xmpp-core/migrations.o
XMPP_TOOL_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(foreach d,$(XMPP_TOOL_DIRS),$(wildcard $(d)/*.c)))
XMPP_LIBS := -lexpat -lpq -lmicrohttpd -lssl -lcrypto -lm -lresolv
XMPP_SQL  := $(sort $(foreach d,$(XMPP_DIRS),$(wildcard $(d)/sql/*.sql)))

# Headers of the core and modules are found by name; the tests and fuzz
# targets of xmpp-core see the same include path.
$(BUILD)/xmpp-core/%.o: CPPFLAGS += $(XMPP_INC)
$(BUILD)/tests/unit/xmpp-core/%.o $(BUILD)/tests/fuzz/xmpp_%.o: CPPFLAGS += $(XMPP_INC)

$(BUILD)/bin/xmpp-core: $(BUILD)/xmpp-core/core/main.o $(XMPP_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) $(XMPP_LIBS)

$(BUILD)/bin/xmppctl: $(BUILD)/xmpp-core/core/xmppctl.o $(XMPP_TOOL_OBJS) $(XMPP_OBJS) $(LIBEDGE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EDGE_LIBS) $(XMPP_LIBS)

BINS += $(BUILD)/bin/xmpp-core $(BUILD)/bin/xmppctl
INSTALL_SBIN += $(BUILD)/bin/xmpp-core $(BUILD)/bin/xmppctl
UNIT_OBJS += $(XMPP_OBJS) $(XMPP_TOOL_OBJS)
UNIT_LIBS += $(XMPP_LIBS)

# The schema travels inside the binary: every folder's sql/NNN_name.sql,
# applied in the order of their numbers.
$(BUILD)/xmpp-core/migrations.c: $(XMPP_SQL) xmpp-core/core/db/sql/embed.sh
	@mkdir -p $(@D)
	sh xmpp-core/core/db/sql/embed.sh $(XMPP_SQL) > $@

$(BUILD)/xmpp-core/migrations.o: $(BUILD)/xmpp-core/migrations.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The layering rule of xmpp-core (README.md): the core includes no
# module header, a module no other folder's header but the interfaces
# their READMEs name.  Run by `make check`.
.PHONY: depcheck
depcheck:
	@sh xmpp-core/depcheck.sh
