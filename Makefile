# mod_remoteassist: build with apxs, test with Check and pytest.
# `make run` and `make test` are the two set-up commands (see README.md);
# `make check` is the quick tier to run while developing.

APXS      ?= apxs
PYTHON    ?= /usr/bin/python3
PORT      ?= 8080
TLS_PORT  ?= 8443
# make run's database, keys, certificate and logs, which make token reads
# (tests/integration/test_make_run.py gives each run its own)
VAR       ?= var
PKGS      := apr-1 apr-util-1 jansson cjose openssl sqlite3 libxml-2.0 libpq
# what the module links besides httpd's own APR (libcurl: keys from a URL,
# in the httpd glue only; libpq: PostgreSQL connection strings read without
# their secrets; libxml2: the writer of $metadata's CSDL XML)
LIBS      := jansson cjose openssl sqlite3 libcurl libpq libxml-2.0
WARN      := -std=gnu11 -Wall -Wextra -Werror
SANITIZE  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# httpd-free core units (unit-tested with Check) and the httpd glue
UNITS     := src/ra_jose.c src/ra_keyset.c src/ra_token.c src/ra_url_keys.c \
             src/ra_entity.c src/ra_route.c src/ra_query.c src/ra_commit.c src/ra_commit_shared.c src/ra_token_cache.c \
             src/ra_odata.c src/ra_dbd.c src/ra_schema.c src/ra_store.c src/ra_sql.c \
             src/ra_metrics.c src/ra_json_writer.c src/ra_csdl.c src/ra_audit.c \
             src/ra_watchdog.c src/ra_throttle.c src/ra_batch.c
GLUE      := src/mod_ra_config.c src/mod_ra_startup.c src/mod_ra_request.c \
             src/mod_ra_dispatch.c src/mod_ra_create.c src/mod_ra_read.c \
             src/mod_ra_update.c src/mod_ra_delete.c src/mod_ra_actions.c \
             src/mod_ra_keys.c src/mod_ra_observe.c src/mod_ra_service.c src/mod_ra_audit.c \
             src/mod_ra_throttle.c src/mod_ra_batch.c
SCHEMAS   := build/ra_schema_pgsql.h build/ra_schema_sqlite.h build/ra_schema_steps.h
HEADERS   := $(wildcard include/*.h) $(SCHEMAS)
MODULE    := .libs/mod_remoteassist.so
UNIT_SRC  := $(wildcard tests/unit/*.c)
UNIT_HDRS := $(wildcard tests/unit/*.h) tests/fuzz/jw_oracle.h

pkg_cflags = $(shell pkg-config --cflags $(1))
pkg_libs   = $(shell pkg-config --libs $(1))

.PHONY: schema all deps patroni run token test check unit asan integration install uninstall deb clean bench

all: $(MODULE)

deps-%:
	@tools/deps.sh $*

# The schema is compiled in from sql/ so the two never drift: schema.sql is
# level 2, and each sql/step-NNN.sql one additive step to level NNN (the
# schema-compatibility rule, docs/operations.md). The SQLite form is the
# PostgreSQL one without COLLATE "C" (SQLite's default). build/schema-*.sql
# is a fresh database's whole schema (schema.sql, then every step), and
# build/step-NNN-*.sql each step alone, as the package installs them for an
# administrator; the module holds schema.sql and the steps as C strings.
SCHEMA_STEPS := $(sort $(wildcard sql/step-[0-9][0-9][0-9].sql))
SQL_FORM_pgsql  := cat
# (and SQLite's random bytes for PostgreSQL's random UUIDs: step 4's key)
SQL_FORM_sqlite := sed -e 's/ COLLATE "C"//' \
    -e "s/gen_random_uuid()::text || gen_random_uuid()::text/hex(randomblob(32))/"
# a SQL file (comment lines dropped) as the lines of a C string literal
SQL_AS_C := grep -v '^--' | sed -e 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$$/\\n"/'
build/schema-%.sql: sql/schema.sql $(SCHEMA_STEPS)
	@mkdir -p build
	cat $^ | $(SQL_FORM_$*) > $@
build/step-%-pgsql.sql build/step-%-sqlite.sql: sql/step-%.sql
	@mkdir -p build
	$(SQL_FORM_pgsql) < $< > build/step-$*-pgsql.sql
	$(SQL_FORM_sqlite) < $< > build/step-$*-sqlite.sql
build/ra_schema_%.h: sql/schema.sql
	@mkdir -p build
	$(SQL_FORM_$*) < $< | $(SQL_AS_C) > $@
# one RA_SCHEMA_STEP(level, PostgreSQL text, SQLite text) per step file
build/ra_schema_steps.h: $(SCHEMA_STEPS)
	@mkdir -p build
	for f in $(SCHEMA_STEPS); do \
	    n=$${f#sql/step-}; n=$${n%.sql}; \
	    echo "RA_SCHEMA_STEP($$(expr $$n + 0),"; $(SQL_FORM_pgsql) < $$f | $(SQL_AS_C); \
	    echo ","; $(SQL_FORM_sqlite) < $$f | $(SQL_AS_C); echo ")"; \
	done > $@
schema: build/schema-pgsql.sql build/schema-sqlite.sql \
	$(foreach f,$(SCHEMA_STEPS),$(patsubst sql/%.sql,build/%-pgsql.sql,$(f)))

$(MODULE): mod_remoteassist.c $(UNITS) $(GLUE) $(HEADERS) | schema
	$(APXS) -c $(addprefix -Wc$(comma),$(WARN)) -I include -I build \
	    $(call pkg_cflags,$(LIBS)) -o mod_remoteassist.la \
	    mod_remoteassist.c $(UNITS) $(GLUE) $(call pkg_libs,$(LIBS))

comma := ,

# The same module with AddressSanitizer and UBSan, which tools/run-tests.sh
# loads with RA_MODULE=build/asan/mod_remoteassist.so and libasan preloaded.
build/asan/mod_remoteassist.so: mod_remoteassist.c $(UNITS) $(GLUE) $(HEADERS)
	@mkdir -p build/asan
	gcc -shared -fPIC $(WARN) $(SANITIZE) -g -O1 -I include -I build \
	    -I$(shell $(APXS) -q INCLUDEDIR) $(shell $(APXS) -q EXTRA_CPPFLAGS) \
	    $(call pkg_cflags,$(PKGS) $(LIBS)) -o $@ mod_remoteassist.c $(UNITS) $(GLUE) \
	    $(call pkg_libs,$(LIBS))

build/unit_tests: $(UNITS) $(HEADERS) $(UNIT_SRC) $(UNIT_HDRS) | schema
	@mkdir -p build
	gcc $(WARN) -g -O1 -I include -I build $(call pkg_cflags,$(PKGS) check) \
	    -o $@ $(UNITS) $(UNIT_SRC) $(call pkg_libs,$(PKGS) check) -lm

build/asan/unit_tests: $(UNITS) $(HEADERS) $(UNIT_SRC) $(UNIT_HDRS) | schema
	@mkdir -p build/asan
	gcc $(WARN) $(SANITIZE) -g -O1 -I include -I build $(call pkg_cflags,$(PKGS) check) \
	    -o $@ $(UNITS) $(UNIT_SRC) $(call pkg_libs,$(PKGS) check) -lm

# The unit tests under ThreadSanitizer: the group-commit queue and the token
# cache are shared by a child's threads, and their tests run real threads.
build/tsan/unit_tests: $(UNITS) $(HEADERS) $(UNIT_SRC) $(UNIT_HDRS) | schema
	@mkdir -p build/tsan
	gcc $(WARN) -fsanitize=thread -g -O1 -I include -I build $(call pkg_cflags,$(PKGS) check) \
	    -o $@ $(UNITS) $(UNIT_SRC) $(call pkg_libs,$(PKGS) check) -lm

# the Check suites, and the guard that every configuration member is merged
unit: build/unit_tests
	build/unit_tests
	$(PYTHON) tools/check-config-members.py

asan: build/asan/unit_tests build/asan/mod_remoteassist.so
	ASAN_OPTIONS=detect_leaks=1 build/asan/unit_tests

integration: $(MODULE)
	$(PYTHON) -m pytest -p no:cacheprovider tests/integration

# Everything CI runs (.ci/run): the include-cycle check, unit tests (plain
# and sanitized), the integration suite against a real httpd on SQLite and
# PostgreSQL with its slow tests, its SQLite half again with the sanitized
# module, and fuzz smoke. tools/run-tests.sh prints each stage's seconds and
# counts and the closing line.
test: deps-test
	$(MAKE) -j2 all build/unit_tests build/asan/unit_tests build/tsan/unit_tests \
	    build/asan/mod_remoteassist.so
	tools/run-tests.sh

# The tier to run every few minutes: the include-cycle check, the plain unit
# tests and the integration suite on SQLite without the tests marked slow.
check: deps-test
	$(MAKE) all build/unit_tests
	tools/run-tests.sh --check

# One etcd and two Patroni-managed PostgreSQL instances, a leader crash under
# load (tests/integration/test_patroni.py; docs/operations.md, "Patroni and
# etcd"): a minute or two, too heavy for make test.
patroni: deps-patroni all
	RA_PATRONI=1 $(PYTHON) -m pytest -p no:cacheprovider -s -rA tests/integration/test_patroni.py

run: deps-run all
	tools/run-dev.sh --var $(VAR) $(PORT) $(TLS_PORT)

token:
	@test -f $(VAR)/dev-key.pem || { echo "run make run first: it creates $(VAR)/dev-key.pem" >&2; exit 1; }
	@$(PYTHON) tools/mint_token.py --key $(VAR)/dev-key.pem

bench: deps-bench all
	bench/run.sh

# What `make install` puts into the live system (DESTDIR: under another
# root); `make uninstall` takes exactly that away again.
LIBEXECDIR := $(shell $(APXS) -q LIBEXECDIR)
MODS_AVAILABLE := $(DESTDIR)/etc/apache2/mods-available
DATA_DIR := $(DESTDIR)/var/lib/remoteassist

install: all
	install -d $(DESTDIR)$(LIBEXECDIR) $(MODS_AVAILABLE)
	$(APXS) -i -S LIBEXECDIR=$(DESTDIR)$(LIBEXECDIR) -n remoteassist mod_remoteassist.la
	install -m 644 conf/remoteassist.load $(MODS_AVAILABLE)/remoteassist.load
	test -e $(MODS_AVAILABLE)/remoteassist.conf || \
	    install -m 644 conf/remoteassist.conf $(MODS_AVAILABLE)/remoteassist.conf
	install -d -o www-data -g www-data -m 750 $(DATA_DIR)

# Refuses while the module is enabled (Apache would fail to start without
# it); keeps an edited remoteassist.conf and a database, and says so.
uninstall:
	@if [ -e $(DESTDIR)/etc/apache2/mods-enabled/remoteassist.load ]; then \
	    echo "remoteassist is enabled: a2dismod remoteassist, reload Apache, then make uninstall" >&2; \
	    exit 1; fi
	rm -f $(DESTDIR)$(LIBEXECDIR)/mod_remoteassist.so $(MODS_AVAILABLE)/remoteassist.load
	@if cmp -s conf/remoteassist.conf $(MODS_AVAILABLE)/remoteassist.conf; then \
	    rm -f $(MODS_AVAILABLE)/remoteassist.conf; \
	elif [ -e $(MODS_AVAILABLE)/remoteassist.conf ]; then \
	    echo "kept $(MODS_AVAILABLE)/remoteassist.conf: it has your changes"; fi
	@rmdir $(DATA_DIR) 2>/dev/null || { [ ! -e $(DATA_DIR) ] || \
	    echo "kept $(DATA_DIR): it holds the database"; }

# The Debian package (debian/), built in a copy of the tree so that the
# package build's clean step leaves this one alone:
# build/deb/libapache2-mod-remoteassist_<version>_<arch>.deb, then lintian.
DEB_STAGE := build/deb/libapache2-mod-remoteassist
deb: deps-deb
	rm -rf build/deb
	mkdir -p $(DEB_STAGE)
	tar -c --exclude=./build --exclude=./var --exclude=./.git --exclude=./.libs \
	    --exclude=node_modules --exclude=__pycache__ --exclude='*.o' --exclude='*.lo' \
	    --exclude='*.slo' --exclude='*.la' . | tar -x -C $(DEB_STAGE)
	cd $(DEB_STAGE) && dpkg-buildpackage -b -us -uc
	lintian --fail-on error,warning --display-info build/deb/*.changes
	@ls build/deb/*.deb

clean:
	rm -rf build .libs *.la *.lo *.slo *.o src/*.lo src/*.slo src/*.o src/.libs

include tests/reliability/reliability.mk
include tests/fuzz/fuzz.mk
