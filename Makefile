# softpr: SCSI persistent reservations emulated in sqlite, behind QEMU's
# pr-helper protocol.
#
#   make                  build build/softprd and build/softpr
#   make check            check-layers, then the unit and integration tests
#                         (CHECK_FILTER=glob)
#   make check-layers     SQL only in the store, sockets only in the transport,
#                         no I/O in the engine (tests/check-layers.sh)
#   make check-functions  list the C functions over 80 lines in src/ and tools/
#   make check-asan       the same under AddressSanitizer and UBSan
#   make check-valgrind   the same under valgrind
#   make check-soak       the crash and power-cut tests with SOAK_KILLS kill
#                         points and SOAK_POWERCUTS cut points
#   make check-e2e        real guests through QEMU, LIO passthrough, NFS (root)
#   make check-docs       man pages, systemd units, install/uninstall
#   make bench            latency and throughput against the baselines
#   make fuzz             libFuzzer on the codec and engine (FUZZ_SECONDS)
#   make install          honours PREFIX and DESTDIR

VERSION := 0.1.0

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/softpr
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR ?= /etc
DESTDIR    ?=

BUILD      ?= build
CC         ?= cc
PKG_CONFIG ?= pkg-config
INSTALL    ?= install
CFLAGS     ?= -O2 -g
GLIB_COMPILE_RESOURCES ?= glib-compile-resources

PKGS      := glib-2.0 gio-2.0 sqlite3 libpq
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))
# Only softpr builds JSON (tools/tojson.c).
JSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags json-glib-1.0)
JSON_LIBS   := $(shell $(PKG_CONFIG) --libs json-glib-1.0)
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

WARNINGS := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wwrite-strings -Wpointer-arith -Wvla \
	-Wno-unused-parameter -Wno-missing-field-initializers
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
endif

# Our flags come after the user's CFLAGS and never replace them.
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -DG_LOG_USE_STRUCTURED=1 \
	-DGLIB_VERSION_MIN_REQUIRED=GLIB_VERSION_2_74 \
	-DSOFTPR_VERSION=\"$(VERSION)\" -DSOFTPR_SYSCONFDIR=\"$(SYSCONFDIR)\" \
	$(WARNINGS) $(CFLAGS) $(SAN_FLAGS) -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) \
	-MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)

# Every module in src/ but the daemon's main and the preload library's
# entry point, so that a new module needs no edit here.
LIB_SRCS := $(filter-out src/softprd.c src/preload.c,$(sort $(wildcard src/*.c)))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema-resources.o \
	$(BUILD)/gen/pg-schema-resources.o

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,\
	$(wildcard tests/unit/test_*.c))
INTEGRATION_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,\
	$(wildcard tests/integration/test_*.c))
TESTS := $(UNIT_TESTS) $(INTEGRATION_TESTS)
BENCH_OBJS := $(BUILD)/tests/bench/bench.o $(BUILD)/tests/bench/bench_pg.o \
	$(BUILD)/tests/support/pgserver.o $(BUILD)/tests/support/testutil.o
TEST_SUPPORT := $(patsubst tests/support/%.c,$(BUILD)/tests/support/%.o,$(wildcard tests/support/*.c))

# The objects of the test programs are reached only through pattern rules,
# so make would treat them as intermediates and delete them after every
# build, recompiling all of them on the next make check: keep them.
TEST_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/unit/test_*.c) \
	$(wildcard tests/integration/test_*.c)) $(TEST_SUPPORT) \
	$(BUILD)/tests/tools/prpeer.o $(BENCH_OBJS)
.SECONDARY: $(TEST_OBJS)

TOOL_SRCS := $(wildcard tools/*.c)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(BUILD)/%.o)

PROGRAMS := $(BUILD)/softprd $(BUILD)/softpr
PRELOAD := $(BUILD)/libsoftpr-preload.so

.PHONY: all bench check check-layers check-functions check-asan check-valgrind check-soak check-e2e check-docs fuzz tests install uninstall clean

all: $(PROGRAMS) $(PRELOAD)

$(BUILD)/gen/schema-resources.c: schema/schema.gresource.xml $(wildcard schema/*.sql)
	@mkdir -p $(dir $@)
	$(GLIB_COMPILE_RESOURCES) --sourcedir=schema --generate-source \
		--c-name softpr_schema --target=$@ $<

$(BUILD)/gen/schema-resources.h: schema/schema.gresource.xml
	@mkdir -p $(dir $@)
	$(GLIB_COMPILE_RESOURCES) --sourcedir=schema --generate-header \
		--c-name softpr_schema --target=$@ $<

$(BUILD)/gen/schema-resources.o: $(BUILD)/gen/schema-resources.c
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

# The PostgreSQL backend's migrations (schema/pg), compiled in apart.
$(BUILD)/gen/pg-schema-resources.c: schema/pg/pg.gresource.xml $(wildcard schema/pg/*.sql)
	@mkdir -p $(dir $@)
	$(GLIB_COMPILE_RESOURCES) --sourcedir=schema/pg --generate-source \
		--c-name softpr_pg_schema --target=$@ $<

$(BUILD)/gen/pg-schema-resources.h: schema/pg/pg.gresource.xml
	@mkdir -p $(dir $@)
	$(GLIB_COMPILE_RESOURCES) --sourcedir=schema/pg --generate-header \
		--c-name softpr_pg_schema --target=$@ $<

$(BUILD)/gen/pg-schema-resources.o: $(BUILD)/gen/pg-schema-resources.c
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD)/src/%.o: src/%.c $(BUILD)/gen/schema-resources.h $(BUILD)/gen/pg-schema-resources.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DG_LOG_DOMAIN=\"softprd\" -c -o $@ $<

$(BUILD)/libsoftpr.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/softprd: $(BUILD)/src/softprd.o $(BUILD)/libsoftpr.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tools/%.o: tools/%.c $(BUILD)/gen/schema-resources.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(JSON_CFLAGS) -DG_LOG_DOMAIN=\"softpr\" -Itools \
		-c -o $@ $<

$(BUILD)/softpr: $(TOOL_OBJS) $(BUILD)/libsoftpr.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(JSON_LIBS) $(PKG_LIBS)

$(BUILD)/tests/%.o: tests/%.c $(BUILD)/gen/schema-resources.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DG_LOG_DOMAIN=\"softpr-test\" $(CMOCKA_CFLAGS) \
		-Itests/support -c -o $@ $<

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(TEST_SUPPORT) $(BUILD)/libsoftpr.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/integration/test_%.o $(TEST_SUPPORT) $(BUILD)/libsoftpr.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS)

# Helper programs the integration tests run.
TEST_TOOLS := $(BUILD)/tests/prpeer $(PRELOAD)

$(BUILD)/tests/prpeer: $(BUILD)/tests/tools/prpeer.o $(BUILD)/libsoftpr.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# libsoftpr-preload.so runs inside programs that have no sanitizer runtime
# (sg_persist, python3 for fence_scsi): it is built without SAN_FLAGS,
# even in check-asan, links only GLib, and exports ioctl() alone (every
# other symbol is hidden, so none can interpose on the host program's).
PRELOAD_SRCS := src/preload.c src/preload_match.c src/preload_pr.c \
	src/preload_scsi.c src/vpd.c src/identity.c src/sgio.c src/client.c \
	src/wire.c src/tid.c src/scsi.c src/error.c src/defaults.c
PRELOAD_OBJS := $(PRELOAD_SRCS:%.c=$(BUILD)/preload/%.o)
PRELOAD_CFLAGS = $(filter-out $(SAN_FLAGS),$(ALL_CFLAGS)) -fPIC \
	-fvisibility=hidden -DG_LOG_DOMAIN=\"softpr-preload\"

$(BUILD)/preload/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -c -o $@ $<

$(PRELOAD): $(PRELOAD_OBJS)
	$(CC) $(LDFLAGS) -shared -Wl,-z,defs -Wl,-soname,libsoftpr-preload.so \
		-o $@ $^ $(shell $(PKG_CONFIG) --libs glib-2.0) -ldl

tests: $(PROGRAMS) $(TEST_TOOLS) $(TESTS)

# The load generator (tests/bench/bench.c, its PostgreSQL part in
# bench_pg.c on the tests' throwaway server, pgserver.c): make bench runs
# it, with BENCH_ARGS (--quick for a smoke run, --seconds, --dir, --luns,
# --idle, --backend).
BENCH := $(BUILD)/bench/softpr-bench
$(BENCH): $(BENCH_OBJS) $(BUILD)/libsoftpr.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS)

bench: $(PROGRAMS) $(BENCH)
	$(BENCH) --softprd $(BUILD)/softprd $(BENCH_ARGS)

# CHECK_FILTER (a test-name glob), CHECK_TIMEOUT (seconds per program)
# and CHECK_ALLOWED_SKIPS (the skips that may happen, "none" in CI) go to
# tests/run-tests.sh, which ends with "N passed, N failed, N skipped".
check: check-layers tests
	@tests/run-tests.sh $(BUILD) $(TESTS)

# The layering rules of docs/architecture.md; make check runs it first.
check-layers:
	@tests/check-layers.sh .

# The functions a reader cannot hold at once (over FUNCTION_LINES lines);
# a measure, not part of make check.
FUNCTION_LINES ?= 80
check-functions:
	@tests/check-functions.sh $(FUNCTION_LINES) src/*.c tools/*.c

check-asan:
	$(MAKE) BUILD=build/asan SANITIZE=1 check

VALGRIND_SUPP := $(shell $(PKG_CONFIG) --variable=prefix glib-2.0)/share/glib-2.0/valgrind/glib.supp
# The tests that skip under valgrind by design, and only there (make check
# and check-asan run them): valgrind keeps descriptors of its own near the
# limit, so descriptor limits cannot be seen or exhausted through it, and
# its own exit work is what a stop-time measurement would time.  Any other
# skip still fails a run that sets CHECK_ALLOWED_SKIPS (CI: "none").
VALGRIND_SKIPS := test_startup:test_fd_limit_raised \
	test_startup:test_fd_limit_low_warned test_startup:test_stop_prompt \
	test_limits:test_out_of_descriptors
check-valgrind: tests
	@if [ -n "$${CHECK_ALLOWED_SKIPS+set}" ]; then \
	     CHECK_ALLOWED_SKIPS="$$CHECK_ALLOWED_SKIPS $(VALGRIND_SKIPS)"; \
	     export CHECK_ALLOWED_SKIPS; \
	 fi; \
	 SOFTPR_VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --track-fds=no \
		--suppressions=$(VALGRIND_SUPP) \
		--suppressions=tests/support/valgrind.supp" \
	 G_SLICE=always-malloc G_DEBUG=gc-friendly SOFTPR_CRASH_KILLS=20 \
	 SOFTPR_POWERCUT_POINTS=10 tests/run-tests.sh $(BUILD) $(TESTS)

# The crash test with many more kill points (SOAK_KILLS, on each
# backend; 2000 PostgreSQL kills took 150 s, so PostgreSQL needs no count
# of its own) and PostgreSQL server restarts (SOAK_RESTARTS; 20 took
# 16 s), and the power-cut test with many more cut points (SOAK_POWERCUTS).
SOAK_KILLS ?= 2000
SOAK_RESTARTS ?= 200
SOAK_POWERCUTS ?= 1000
check-soak: tests
	@SOFTPR_CRASH_KILLS=$(SOAK_KILLS) SOFTPR_CRASH_RESTARTS=$(SOAK_RESTARTS) \
	 SOFTPR_POWERCUT_POINTS=$(SOAK_POWERCUTS) \
	 CHECK_TIMEOUT=$${CHECK_TIMEOUT:-3600} tests/run-tests.sh $(BUILD) \
		$(BUILD)/tests/test_crash $(BUILD)/tests/test_powercut

# Nested guests under TCG (tests/e2e/run.sh): sg_persist, fence_scsi,
# a restart and iscsi-test-cu in VMs whose QEMU uses softprd, the
# passthrough mode against LIO, and two hosts sharing the database on a
# kernel NFS server (Debian's fence_scsi across them, a host stopped or
# cut off holding the lock, cloned hostnames, refused mounts).  Installs
# its Debian packages as root.  E2E_SCENARIOS="NAME ..." runs only those.
check-e2e: tests
	@tests/e2e/run.sh $(BUILD)

MANPAGES := docs/softprd.8 docs/softpr.1
DOCS := README.md docs/emulation.md docs/identity.md docs/deployment.md \
	docs/persist.md docs/qemu-libvirt.md docs/performance.md docs/preload.md \
	docs/softprd.conf.example

# libFuzzer on the wire codec and the engine (clang): FUZZ_SECONDS each run.
FUZZ_SECONDS ?= 30
FUZZ_SRCS := tests/fuzz/fuzz_wire.c src/wire.c src/engine.c \
	src/engine_state.c src/engine_ua.c src/engine_params.c src/engine_in.c \
	src/engine_out.c src/engine_access.c src/tid.c src/scsi.c src/error.c
build/fuzz/fuzz_wire: $(FUZZ_SRCS) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -D_GNU_SOURCE -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Isrc $(PKG_CFLAGS) -o $@ $(FUZZ_SRCS) $(PKG_LIBS)

# New inputs go to build/fuzz/corpus; the committed seeds (tests/fuzz/
# seeds.sh) and the dictionary lead into the handshake and the engine.
fuzz: build/fuzz/fuzz_wire
	@mkdir -p build/fuzz/corpus
	build/fuzz/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-dict=tests/fuzz/fuzz_wire.dict -print_final_stats=1 \
		build/fuzz/corpus tests/fuzz/corpus

# The man pages name installed paths as a default install has them
# (/usr/local/bin, /usr/share/doc/softpr, ...): the real ones go in.
MAN_PATHS = -e 's|/usr/share/doc/softpr|$(DOCDIR)|g' \
	-e 's|/usr/local/bin/softprd|$(BINDIR)/softprd|g' \
	-e 's|/usr/lib/sysusers\.d|$(SYSUSERSDIR)|g' \
	-e 's|/etc/softpr/|$(SYSCONFDIR)/softpr/|g' \
	-e 's|/usr/local/lib/libsoftpr|$(LIBDIR)/libsoftpr|g'

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0755 $(BUILD)/softprd $(DESTDIR)$(BINDIR)/softprd
	$(INSTALL) -m 0755 $(BUILD)/softpr $(DESTDIR)$(BINDIR)/softpr
	$(INSTALL) -d $(DESTDIR)$(LIBDIR)
	$(INSTALL) -m 0644 $(PRELOAD) $(DESTDIR)$(LIBDIR)/libsoftpr-preload.so
	sed $(MAN_PATHS) docs/softprd.8 > $(DESTDIR)$(MANDIR)/man8/softprd.8
	sed $(MAN_PATHS) docs/softpr.1 > $(DESTDIR)$(MANDIR)/man1/softpr.1
	chmod 0644 $(DESTDIR)$(MANDIR)/man8/softprd.8 \
		$(DESTDIR)$(MANDIR)/man1/softpr.1
	sed -e 's|@BINDIR@|$(BINDIR)|g' systemd/softprd.service.in \
		> $(DESTDIR)$(UNITDIR)/softprd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/softprd.service
	$(INSTALL) -m 0644 systemd/softprd.socket $(DESTDIR)$(UNITDIR)/
	$(INSTALL) -m 0644 systemd/softpr.sysusers \
		$(DESTDIR)$(SYSUSERSDIR)/softpr.conf
	$(INSTALL) -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	@# The user softpr, for user = softpr in softprd.conf (not when
	@# staging into DESTDIR: a package does it when installed).
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/softpr.conf; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/softprd $(DESTDIR)$(BINDIR)/softpr
	rm -f $(DESTDIR)$(LIBDIR)/libsoftpr-preload.so
	rm -f $(DESTDIR)$(MANDIR)/man8/softprd.8 $(DESTDIR)$(MANDIR)/man1/softpr.1
	rm -f $(DESTDIR)$(UNITDIR)/softprd.service $(DESTDIR)$(UNITDIR)/softprd.socket
	rm -f $(DESTDIR)$(SYSUSERSDIR)/softpr.conf
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	-rmdir $(DESTDIR)$(DOCDIR)

# Man pages render without warnings; the units pass systemd-analyze;
# install and uninstall into a scratch DESTDIR leave nothing behind.
check-docs:
	@for m in $(MANPAGES); do \
		out=$$(LC_ALL=C.UTF-8 groff -man -ww -z $$m 2>&1); \
		if [ -n "$$out" ]; then echo "$$m: $$out"; exit 1; fi; \
		echo "ok   $$m"; \
	done
	@if command -v systemd-analyze >/dev/null; then \
		d=$$(mktemp -d) && \
		sed 's|@BINDIR@|/bin|; s|/bin/softprd|/bin/true|' systemd/softprd.service.in > $$d/softprd.service && \
		cp systemd/softprd.socket $$d/ && \
		systemd-analyze verify --man=no $$d/softprd.socket $$d/softprd.service && \
		echo "ok   systemd units" && rm -rf $$d || { rm -rf $$d; exit 1; }; \
	else echo "systemd-analyze not installed"; exit 1; fi
	@d=$$(mktemp -d) && \
	$(MAKE) -s install DESTDIR=$$d PREFIX=/usr >/dev/null && \
	test -x $$d/usr/bin/softprd && test -f $$d/usr/share/man/man8/softprd.8 && \
	test -x $$d/usr/bin/softpr && test -f $$d/usr/share/man/man1/softpr.1 && \
	test -f $$d/usr/lib/libsoftpr-preload.so && \
	grep -q '^ExecStart=/usr/bin/softprd' $$d/usr/lib/systemd/system/softprd.service && \
	test -f $$d/usr/lib/sysusers.d/softpr.conf && \
	grep -q '/usr/share/doc/softpr/emulation.md' $$d/usr/share/man/man8/softprd.8 && \
	grep -q 'pr_helper = \\(dq/usr/bin/softprd' $$d/usr/share/man/man8/softprd.8 && \
	! grep -q '/usr/local' $$d/usr/share/man/man8/softprd.8 && \
	$(MAKE) -s install DESTDIR=$$d/local PREFIX=/usr/local >/dev/null && \
	grep -q '/usr/local/share/doc/softpr/emulation.md' $$d/local/usr/local/share/man/man8/softprd.8 && \
	$(MAKE) -s uninstall DESTDIR=$$d/local PREFIX=/usr/local >/dev/null && \
	$(MAKE) -s uninstall DESTDIR=$$d PREFIX=/usr >/dev/null && \
	test -z "$$(find $$d -type f)" && echo "ok   install and uninstall" && rm -rf $$d

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
