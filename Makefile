# sked: plain GNU make. `make` builds build/sked; `make check` runs every test;
# `make checkdeps` checks the modules' dependency rules (docs/internals/README.md),
# `make checksize` the length of the source files and functions;
# `make asan` runs them under AddressSanitizer + UBSan; `make valgrind` runs the
# unit tests under valgrind; `make fuzz` builds the libFuzzer targets,
# `make fuzz-smoke` runs each for FUZZ_SMOKE_SECONDS (CI) and `make fuzz-run`
# for FUZZ_SECONDS; `make bench` runs the benchmarks
# (the daemon ones for BENCH_SECONDS each, scale with BENCH_SCALE_JOBS jobs idle for
# BENCH_IDLE seconds, the API one with 10,000 jobs and 1,000,000 runs); `make
# bench-quick` runs them all briefly, as a smoke check; `make faults` runs the fault
# suite (tests/faults/faults.py) and prints its table.

.DEFAULT_GOAL := all
.SUFFIXES:

BUILD ?= build
CC ?= cc
PYTHON ?= /usr/bin/python3
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 25
BENCH_SECONDS ?= 60
BENCH_SCALE_JOBS ?= 100000
BENCH_IDLE ?= 20

PKGS := libuv yaml-0.1 sqlite3 jansson libcurl libmicrohttpd libpq libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla -Wno-format-nonliteral
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Isrc -MMD -MP
ALL_LDFLAGS := $(LDFLAGS)
LIBS := $(PKG_LIBS) -lm -pthread

SRC := $(sort $(shell find src -name '*.c' ! -name main.c))
# The web dashboard's files, embedded into the binary by tools/embed.c.
WEB := $(sort $(wildcard src/http/web/*))
WEB_C := $(BUILD)/gen/web_assets.c
OBJ := $(SRC:%.c=$(BUILD)/%.o) $(WEB_C:%.c=%.o)
LIB := $(BUILD)/libsked.a
BIN := $(BUILD)/sked

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

.PHONY: all check checkdeps checksize unit unit-pg e2e e2e-pg e2e-pg-san chaos bench-cluster asan \
        valgrind fuzz fuzz-lib fuzz-run fuzz-smoke bench bench-quick clean deps example faults

all: $(BIN)

$(BUILD)/.deps-ok: scripts/install-deps
	@scripts/install-deps --check
	@mkdir -p $(BUILD) && touch $@

deps:
	scripts/install-deps

$(BUILD)/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 $(WARN) -o $@ $<

$(WEB_C): $(BUILD)/tools/embed $(WEB)
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed $@ $(WEB)

$(WEB_C:%.c=%.o): $(WEB_C)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) -o $@ $< $(LIB) $(UNIT_LIBS) $(LIBS)

# test_runner runs twice: the second time a child's exit is watched the way
# kernels without pidfds need (a waitpid timer).
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $(TEST_WRAP) $$t; done
	@echo "== $(BUILD)/tests/test_runner (SKED_TEST_NO_PIDFD=1)"
	@SKED_TEST_NO_PIDFD=1 $(TEST_WRAP) $(BUILD)/tests/test_runner

# The store tests again, against a throwaway PostgreSQL server (tests/pg.sh).
unit-pg: $(BUILD)/tests/test_store
	tests/pg.sh run $(TEST_WRAP) $(BUILD)/tests/test_store

# The end-to-end tests mostly wait for daemons and their jobs: E2E_JOBS
# pytest workers (pytest-xdist) run them side by side. Each test has its own
# folder, port and (on PostgreSQL) schema; E2E_JOBS=1 runs them one by one.
E2E_JOBS ?= 3
PYTEST := $(PYTHON) -m pytest -q -p no:cacheprovider $(if $(filter-out 1,$(E2E_JOBS)),-n $(E2E_JOBS))

# tests/tools: the build and check tools' own tests (tools/checkdeps.py,
# tools/checksize.py).
e2e: $(BIN)
	SKED_BIN=$(abspath $(BIN)) $(PYTEST) tests/e2e tests/tools

# The end-to-end tests that touch the store, again with the daemon on
# PostgreSQL (each daemon gets its own schema; see tests/e2e/harness.py).
# test_daemon_faults.py is about the SQLite file and the clock: once is enough.
E2E_PG_TESTS := $(addprefix tests/e2e/,test_daemon_basic.py test_daemon_policies.py \
                test_workflow.py test_workflow_edges.py test_api.py test_alerts.py test_ha.py \
                test_cluster.py test_nodes.py test_events.py test_webhook.py)
e2e-pg: $(BIN)
	SKED_BIN=$(abspath $(BIN)) tests/pg.sh run $(PYTEST) \
		$(E2E_PG_TESTS)

# The fault suite: the real daemon through kill -9 loops, a full disk, clock
# jumps, a second daemon, hostile HTTP clients and more, one scenario after
# the other; prints a table and `N passed, N failed` (exit 1 if any failed).
# The disk-full scenarios need root (a tmpfs), the clock ones libfaketime:
# without, they say SKIP. FAULTS_ARGS: -k TEXT (only those), --keep, --list.
faults: $(BIN)
	SKED_BIN=$(abspath $(BIN)) $(PYTHON) tests/faults/faults.py $(FAULTS_ARGS)

# Three nodes on one PostgreSQL store, the leader killed every 20 s and the
# database restarted once; checks every instant fired once (CHAOS_ARGS:
# --seconds N --nodes N --jobs N). Long: not part of `make check`.
chaos: $(BIN)
	SKED_BIN=$(abspath $(BIN)) tests/pg.sh run $(PYTHON) tests/chaos/ha_chaos.py $(CHAOS_ARGS)

# Fires per second with 1, 2 and 3 nodes on one PostgreSQL store (and SQLite
# as the baseline), and the failover time: bench/out/cluster.json.
bench-cluster: $(BIN)
	tests/pg.sh run $(PYTHON) bench/cluster.py --build $(BUILD)

# Under `make asan` (SKED_SANITIZED set) only the cluster's end-to-end
# tests run on PostgreSQL (its code runs nowhere else), to keep CI short;
# the store's PostgreSQL unit tests still run.
E2E_PG_SAN_TESTS := $(addprefix tests/e2e/,test_ha.py test_cluster.py test_nodes.py)
e2e-pg-san: $(BIN)
	SKED_BIN=$(abspath $(BIN)) tests/pg.sh run $(PYTEST) \
		$(E2E_PG_SAN_TESTS)

# The modules' dependency rules, read from docs/internals/README.md (the
# checkdeps block): includes and the library's calls across modules go one
# way, and no doc or comment names a source file that does not exist.
# V=1 prints the module graph.
checkdeps: $(LIB)
	$(PYTHON) tools/checkdeps.py --lib $(LIB) $(if $(V),-v)

# No .c file in src/ over 1,200 lines and no function over 120 (from the
# `{` of its body to its `}`), unless a `long: REASON` line in its comment
# says why (for a file, in the comment it opens with). It reads the layout
# .clang-format gives: a function's braces at column 0. V=1 lists what the
# `long:` comments allow. Part of `make check`.
checksize:
	$(PYTHON) tools/checksize.py $(if $(V),-v)

# The C sources as .clang-format lays them out: `make format` rewrites them,
# `make format-check` (part of make check) fails on any difference.
FORMAT_SRC = $(shell git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'tests/fuzz/*.c' 'tools/*.c' 2>/dev/null)
CLANG_FORMAT ?= clang-format

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRC) || \
		{ echo "format-check: run \`make format\` (clang-format, .clang-format)"; exit 1; }

check: all checkdeps checksize format-check unit unit-pg e2e $(if $(SKED_SANITIZED),e2e-pg-san,e2e-pg)

# The README's first command: a Python job in a venv, run in the foreground.
examples/.venv/bin/python:
	$(PYTHON) -m venv --without-pip examples/.venv

example: $(BIN) examples/.venv/bin/python
	$(BIN) validate -c examples/sked.yaml
	$(BIN) run -c examples/sked.yaml

SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	SKED_SANITIZED=1 $(MAKE) BUILD=build-asan CC=clang CFLAGS="$(SAN_FLAGS)" \
		LDFLAGS="-fsanitize=address,undefined" \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 check

valgrind:
	$(MAKE) BUILD=build-valgrind CFLAGS="-O1 -g -DSK_POOL_EACH_MALLOC" \
		TEST_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all" unit unit-pg

# The fuzz targets link build-fuzz/libsked.a: every source file and the
# embedded web files, compiled by clang with coverage for libFuzzer
# (fuzzer-no-link) and ASan + UBSan, by this Makefile itself with
# BUILD=build-fuzz.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Wno-missing-prototypes -O1 -g -Isrc \
               $(PKG_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN)

fuzz-lib:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="$(FUZZ_LIB_CFLAGS)" \
		build-fuzz/libsked.a

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c fuzz-lib
	clang $(FUZZ_CFLAGS) -o $@ $< build-fuzz/libsked.a $(LIBS)

fuzz: $(FUZZ_BIN)

# Runs each target over a working corpus (build-fuzz/corpus-NAME) seeded
# from tests/fuzz/corpus/NAME (and tests/fuzz/NAME.dict when there is one),
# one process on one core; prints libFuzzer's final figures. A crash stops
# here with libFuzzer's report, its input saved as build-fuzz/crash-*.
# Inputs up to 512 bytes; 4096 for HTTP requests with their bodies.
define fuzz_each
	@set -e; for n in $(FUZZ_NAMES); do \
		mkdir -p build-fuzz/corpus-$$n; \
		echo "== fuzz_$$n for $(1) s"; \
		case $$n in http) len=4096;; *) len=512;; esac; \
		dict=; if [ -f tests/fuzz/$$n.dict ]; then dict=-dict=tests/fuzz/$$n.dict; fi; \
		if ! build-fuzz/fuzz_$$n -max_total_time=$(1) -max_len=$$len $$dict \
			-print_final_stats=1 -artifact_prefix=build-fuzz/ \
			build-fuzz/corpus-$$n tests/fuzz/corpus/$$n >build-fuzz/fuzz_$$n.log 2>&1; then \
			tail -n 60 build-fuzz/fuzz_$$n.log; exit 1; \
		fi; \
		grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' build-fuzz/fuzz_$$n.log; \
	done
endef

fuzz-run: $(FUZZ_BIN)
	$(call fuzz_each,$(FUZZ_SECONDS))

fuzz-smoke: $(FUZZ_BIN)
	$(call fuzz_each,$(FUZZ_SMOKE_SECONDS))

# Small standalone programs the daemon benchmarks measure against (no sked code).
BENCH_HELPERS := $(BUILD)/stamp $(BUILD)/limit_loop $(BUILD)/forkexec_limit

# Every bench in turn, then every target line of all of them (bench/all.sh).
bench: $(BIN) $(BUILD)/bench_cron $(BUILD)/bench_store $(BENCH_HELPERS)
	sh bench/all.sh $(BUILD) $(PYTHON) $(BENCH_SECONDS) $(BENCH_SCALE_JOBS) $(BENCH_IDLE) \
		"$(BENCH_API_FLAGS)"

bench-quick:
	$(MAKE) --no-print-directory bench BENCH_SECONDS=10 BENCH_SCALE_JOBS=20000 BENCH_IDLE=5 \
		BENCH_API_FLAGS=--quick

$(BENCH_HELPERS): $(BUILD)/%: bench/%.c | $(BUILD)/.deps-ok
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

$(BUILD)/bench_cron: bench/bench_cron.c $(LIB)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -O2 -o $@ $< $(LIB) $(LIBS)

$(BUILD)/bench_store: bench/bench_store.c $(LIB)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -O2 -o $@ $< $(LIB) $(LIBS)

clean:
	rm -rf build build-asan build-valgrind build-fuzz

-include $(OBJ:.o=.d) $(BUILD)/src/main.d
