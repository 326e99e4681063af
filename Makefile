# edge — one top-level, non-recursive build.
#
#   make                 build every daemon into $(BUILD)/bin
#   make check           install test deps, build, run unit + integration tests
#   make check SAN=1     the same with ASan + UBSan (separate build dir)
#   make run             install deps, build, run the local stack under ./run/
#   make bench           benchmarks against the programs a user would otherwise run
#   make fuzz            libFuzzer targets (clang), FUZZ_SECONDS each
#   make install         the FHS layout (deploy/README.md): PREFIX=/usr, DESTDIR=
#   make deb             Debian packages (debian/, dpkg-buildpackage) into $(BUILD)/deb
#
# Each daemon folder contributes a module.mk; see common/module.mk for the
# pattern.  BUILD=dir lets several trees build side by side.

SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build-san
else
BUILD   ?= build
endif
PREFIX  ?= /usr
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR  ?= $(PREFIX)/share/doc/edge
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
# integration test files run side by side (pytest-xdist, by file): the
# tests mostly wait on daemons and peers, and each file has its own
# PostgreSQL, ports and namespaces.  ITEST_JOBS=1 runs them one by one.
ITEST_JOBS ?= 2
CC      ?= cc
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN     := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
            -Wformat=2 -Wno-format-nonliteral
CPPFLAGS := -D_GNU_SOURCE -DEDGE_VERSION='"$(VERSION)"' -Icommon
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARN) -fstack-protector-strong -fPIE -MMD -MP
LDFLAGS  += -pie -Wl,-z,relro,-z,now -Wl,--as-needed

ifeq ($(FUZZ),1)
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
else ifeq ($(SAN),1)
CFLAGS   := $(filter-out -O2,$(CFLAGS)) -O1 -fno-omit-frame-pointer \
            -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
CPPFLAGS += -D_FORTIFY_SOURCE=2
endif

BINS       :=
UNIT_SRCS  :=
UNIT_OBJS  :=
UNIT_LIBS  :=
INSTALL_SBIN :=

LIBEDGE := $(BUILD)/libedge.a

.PHONY: all
all: bins

include common/module.mk
include $(filter-out common/module.mk,$(wildcard */module.mk))
include tests/unit/module.mk
include tests/fuzz/module.mk

.PHONY: bins
bins: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The packages each target needs (deploy/deps.sh: run < check < bench).
.PHONY: deps deps-run deps-bench
deps:
	@bash deploy/deps.sh check
deps-run:
	@bash deploy/deps.sh run
deps-bench:
	@bash deploy/deps.sh bench

.PHONY: unit
unit: $(BUILD)/bin/unit-tests
	$(BUILD)/bin/unit-tests

# The man pages are built first: the deploy tests `make install` this
# build from files running side by side, and must find nothing to make.
# Files in conftest.py's SERIAL_FILES run after the rest, alone.
.PHONY: integration
integration: bins man
	@set -u; run() { local r; EDGE_BUILD=$(abspath $(BUILD)) EDGE_SAN=$(SAN) \
	    /usr/bin/python3 -m pytest -q --durations=25 \
	    -c tests/integration/pytest.ini "$$@" tests/integration $(PYTEST_ARGS); \
	    r=$$?; [ $$r = 5 ] && r=0; return $$r; }; \
	if [ "$(ITEST_JOBS)" -gt 1 ] && /usr/bin/python3 -c 'import xdist' 2>/dev/null; then \
	    echo "integration: test files side by side, $(ITEST_JOBS) at a time"; \
	    run -n $(ITEST_JOBS) --dist loadfile -m 'not serial'; side=$$?; \
	    echo "integration: the files that must run alone"; \
	    run -m serial; alone=$$?; \
	    echo "integration: side by side rc=$$side, alone rc=$$alone"; \
	    [ $$side = 0 ] && [ $$alone = 0 ]; \
	else run; fi

# check = deps + build + every test.  The unit runner prints
# "N passed, N failed"; pytest prints its own summary.
.PHONY: check
check: deps
	$(MAKE) --no-print-directory depcheck
	$(MAKE) --no-print-directory bins $(BUILD)/bin/unit-tests
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory fuzz-replay
	$(MAKE) --no-print-directory integration

.PHONY: run
run: deps-run
	$(MAKE) --no-print-directory bins
	EDGE_BUILD=$(abspath $(BUILD)) bash deploy/run-stack.sh

.PHONY: bench
bench: deps-bench
	$(MAKE) --no-print-directory bins
	EDGE_BUILD=$(abspath $(BUILD)) bash tests/bench/run.sh $(BENCH)

# The install layout (one for make install and the Debian package):
#   $(SBINDIR)                      the daemons and xmppctl
#   $(UNITDIR)                      the systemd units (their paths follow SBINDIR)
#   $(PREFIX)/lib/sysusers.d        users xmpp-core, turnd, upload-gw and the
#   $(PREFIX)/lib/tmpfiles.d        groups of the shared secrets; /etc/edge, /var/lib/edge
#   $(SYSCONFDIR)/edge/<daemon>.toml  the example configs, never over an existing file
#   $(DOCDIR)                       the references; examples/ (configs, nginx site)
#   $(MANDIR)/man5, man8            the man pages (deploy/man)
# The SQL migrations are compiled into xmpp-core (xmpp-core/core/db/sql/embed.sh).
# Nothing is enabled or started: that is the sysadmin's step (deploy/README.md).
DEPLOY_UNITS := xmpp-core turnd upload-gw portmap dumbclient-redirect
# deploy/ name -> installed name under $(SYSCONFDIR)/edge
DEPLOY_CONFS := xmpp-core.toml:xmpp-core.toml turnd.toml.example:turnd.toml \
                upload-gw.toml.example:upload-gw.toml portmap.toml:portmap.toml \
                dumbclient-redirect.toml:dumbclient-redirect.toml
DEPLOY_DOCS  := README.md XMPP-CORE.md UPLOAD-GW.md TURND.md PORTMAP.md REDIRECT.md MIGRATION.md
DEPLOY_DOCS  += METRICS.md

# Man pages (section 8: the daemons and xmppctl, 5: their configs), each
# from deploy/man/NAME.SECTION.md by our own deploy/man/mkman.awk.  Dated
# by SOURCE_DATE_EPOCH (dpkg-buildpackage sets it) or the VERSION file.
MAN_SRCS  := $(wildcard deploy/man/*.md)
MAN_PAGES := $(patsubst deploy/man/%.md,$(BUILD)/man/%,$(MAN_SRCS))
MAN_DATE  ?= $(shell date -u -d @$${SOURCE_DATE_EPOCH:-$$(stat -c %Y VERSION)} +%F)

.PHONY: man
man: $(MAN_PAGES)

$(BUILD)/man/%: deploy/man/%.md deploy/man/mkman.awk VERSION
	@mkdir -p $(@D)
	awk -v version=$(VERSION) -v date=$(MAN_DATE) -f deploy/man/mkman.awk $< > $@.tmp
	mv $@.tmp $@

# A section-5 page takes its keys from its daemon's reference (@keys).
$(BUILD)/man/xmpp-core.toml.5: deploy/XMPP-CORE.md
$(BUILD)/man/turnd.toml.5: deploy/TURND.md
$(BUILD)/man/upload-gw.toml.5: deploy/UPLOAD-GW.md
$(BUILD)/man/portmap.toml.5: deploy/PORTMAP.md
$(BUILD)/man/dumbclient-redirect.toml.5: deploy/REDIRECT.md

.PHONY: install
install: bins man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(SYSCONFDIR)/edge
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/edge/secrets
	install -m 0755 $(INSTALL_SBIN) $(DESTDIR)$(SBINDIR)/
	for u in $(DEPLOY_UNITS); do \
	    sed 's|/usr/sbin/|$(SBINDIR)/|g; s|/usr/share/doc/edge/|$(DOCDIR)/|g' deploy/$$u.service > $(DESTDIR)$(UNITDIR)/$$u.service.tmp && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service.tmp && \
	    mv $(DESTDIR)$(UNITDIR)/$$u.service.tmp $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 deploy/edge-sysusers.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/edge.conf
	install -m 0644 deploy/edge-tmpfiles.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/edge.conf
	for c in $(DEPLOY_CONFS); do \
	    src=$${c%%:*}; dst=$${c##*:}; \
	    install -m 0644 deploy/$$src $(DESTDIR)$(DOCDIR)/examples/$$dst || exit 1; \
	    [ -e $(DESTDIR)$(SYSCONFDIR)/edge/$$dst ] || \
	        install -m 0644 deploy/$$src $(DESTDIR)$(SYSCONFDIR)/edge/$$dst || exit 1; \
	done
	install -m 0644 deploy/nginx-upload.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 deploy/nginx-xmpp.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 deploy/grafana-edge.json $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 $(addprefix deploy/,$(DEPLOY_DOCS)) $(DESTDIR)$(DOCDIR)/
	for m in $(MAN_PAGES); do \
	    d=$(DESTDIR)$(MANDIR)/man$${m##*.}; \
	    install -d $$d && install -m 0644 $$m $$d/ || exit 1; \
	done

# Debian packages with Debian's tooling (debian/, debhelper), built from a
# copy of the tree in $(BUILD)/deb so nothing is written beside the
# checkout; the .debs land in $(BUILD)/deb.  The copy keeps the files'
# times and builds into this $(BUILD), so objects already made are reused.
DEB_SRC := $(BUILD)/deb/edge-$(VERSION)
.PHONY: deb
deb: bins
	rm -rf $(BUILD)/deb && mkdir -p $(DEB_SRC)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -co --exclude-standard -z | \
	    xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
	    tar --null -T - -cf - | tar -C $(DEB_SRC) -xpf -; \
	else \
	    tar --exclude=./.git --exclude='./build*' --exclude=./run \
	        --exclude=./tests/integration/xmppjs/node_modules -cf - . | \
	    tar -C $(DEB_SRC) -xpf -; \
	fi
	cd $(DEB_SRC) && DEB_BUILD_DIR=$(abspath $(BUILD)) \
	    dpkg-buildpackage -b -us -uc --no-pre-clean
	@ls $(BUILD)/deb/*.deb

.PHONY: clean
clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
