# libFuzzer targets for the parsers that see outside bytes; tests/fuzz/README.md.
# Included from the Makefile (after its PKGS, WARN and pkg_* helpers).
#   make fuzz          FUZZ_SECONDS per target, new inputs kept in build/fuzz/corpus
#   make fuzz-smoke    FUZZ_SMOKE_SECONDS per target, part of make test
# Both replay every committed corpus and regression input afterwards and fail
# on any crash, assert, sanitizer report, leak or timeout.

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 300
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_TARGETS       ?= fuzz_token fuzz_keyset fuzz_entity fuzz_odata fuzz_query fuzz_json_writer \
                      fuzz_batch
FUZZ_BUILD         := build/fuzz
FUZZ_UNITS         := src/ra_jose.c src/ra_keyset.c src/ra_token.c src/ra_url_keys.c \
                      src/ra_entity.c src/ra_route.c src/ra_query.c src/ra_odata.c \
                      src/ra_dbd.c src/ra_schema.c src/ra_store.c src/ra_sql.c src/ra_token_cache.c \
                      src/ra_json_writer.c src/ra_audit.c src/ra_watchdog.c src/ra_batch.c
FUZZ_OBJS          := $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_UNITS))
FUZZ_BINS          := $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

# No -DNDEBUG: an assert() in our code or a library must abort the run.
# -fno-sanitize-recover: a UBSan report is a crash, not a line in a log.
FUZZ_CFLAGS := $(WARN) -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
    -fno-sanitize-recover=all -I include $(call pkg_cflags,$(PKGS))

.PHONY: fuzz fuzz-smoke fuzz-build

fuzz-build: $(FUZZ_BINS)

# The units get coverage instrumentation; only the targets link libFuzzer's main.
$(FUZZ_BUILD)/obj/%.o: src/%.c $(wildcard include/*.h) $(SCHEMAS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I build -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BINS): $(FUZZ_BUILD)/%: tests/fuzz/%.c tests/fuzz/fuzz.h tests/fuzz/jw_oracle.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    -DFUZZ_KEYS_DIR='"$(CURDIR)/tests/fuzz/keys"' -o $@ $< $(FUZZ_OBJS) \
	    $(call pkg_libs,$(PKGS)) -lm

# tests/fuzz/run.sh prints one "fuzz <target>: passed|failed" line per target;
# every target runs even when one fails.
fuzz: $(FUZZ_BINS)
	@rc=0; for t in $(FUZZ_TARGETS); do \
	    tests/fuzz/run.sh $$t $(FUZZ_SECONDS) $(FUZZ_BUILD)/corpus/$$t || rc=1; \
	done; exit $$rc

# The smoke runs FUZZ_SMOKE_JOBS targets at a time, two by default (the
# machines have two cores, and a target fuzzes on one): each target keeps its
# seconds, the stage takes half as long. make test runs it with one beside
# other tests (tools/run-tests.sh). xargs fails when any target failed.
FUZZ_SMOKE_JOBS ?= 2
fuzz-smoke: $(FUZZ_BINS)
	@rm -rf $(FUZZ_BUILD)/smoke
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_SMOKE_JOBS) -I{} \
	    tests/fuzz/run.sh {} $(FUZZ_SMOKE_SECONDS) $(FUZZ_BUILD)/smoke/{}
