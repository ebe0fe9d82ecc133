# strata's two commands (see README.md):
#   make run    install missing Debian packages, build the library and the `strata` tool only,
#               run the main job (`strata bench`) on the embedded default (SQLite + the
#               in-process cache; no server needed)
#   make test   install, build, start real Redis / Redis Cluster / PostgreSQL on loopback, run
#               every test, stop the servers (also when tests fail)
# `make test` (with the default preset) runs, one phase after the other, each timed:
#   0. the formatting check (scripts/check-format.sh: clang-format --dry-run -Werror);
#   1. the whole suite (unit, integration, fault, cli, example, package) on the default build;
#   2. the `concurrency` suites under ThreadSanitizer (test-concurrency-tsan);
#   3. the `unit` and `integration` suites under AddressSanitizer + UBSan (test-sanitized-asan),
#      less the benchmark-style tests (ASAN_EXCLUDE);
#   4. every libFuzzer target for FUZZ_SECONDS each (fuzz-short; clang).
# Also: make build, make test-asan (the whole suite under AddressSanitizer+UBSan), make test-tsan
#       (ThreadSanitizer), make fuzz (FUZZ_SECONDS=300 by default), make bench-micro,
#       make format, make clean.
PRESET ?= default
BUILD_DIR := $(if $(filter default,$(PRESET)),build,build-$(PRESET))
RUN_ARGS ?=
# Benchmark-style tests left out of the ASan+UBSan phase of `make test` (they time loops and
# run the full suite's copy anyway; under ASan they take minutes and prove nothing more).
ASAN_EXCLUDE ?= Bench
FUZZ_SECONDS ?= 5
TIMED := scripts/timed.sh
# ccache, when installed, keeps the four builds of `make test` (default, tsan, asan, fuzz) cheap
# on a machine that built strata before; the base directory makes hits independent of the clone.
CCACHE := $(if $(shell command -v ccache),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
export CCACHE_BASEDIR ?= $(CURDIR)

.PHONY: all deps deps-test configure build run test check-format test-asan test-tsan test-concurrency-tsan \
        test-sanitized-asan fuzz-short fuzz bench-micro format clean

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

$(BUILD_DIR)/build.ninja:
	cmake --preset $(PRESET) $(CCACHE)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR)

# Builds only what it runs: the library and the `strata` tool (not the tests, benchmarks or
# examples), then runs the main job.
run: deps configure
	@echo "make run: building the strata library and the strata tool in $(BUILD_DIR)/ (target strata_cli)"
	cmake --build $(BUILD_DIR) --target strata_cli
	@echo "make run: running ./$(BUILD_DIR)/strata bench $(RUN_ARGS)"
	./$(BUILD_DIR)/strata bench $(RUN_ARGS)

test: deps-test configure
	@start=$$(date +%s); \
	$(TIMED) "format check" scripts/check-format.sh && \
	$(TIMED) "build ($(PRESET))" cmake --build $(BUILD_DIR) && \
	$(TIMED) "tests ($(PRESET))" scripts/run-tests.sh $(BUILD_DIR) && \
	if [ "$(PRESET)" = default ]; then \
	  $(MAKE) --no-print-directory test-concurrency-tsan && \
	  $(MAKE) --no-print-directory test-sanitized-asan && \
	  $(MAKE) --no-print-directory fuzz-short; \
	fi; \
	status=$$?; echo "make test: total $$(( $$(date +%s) - start ))s (status $$status)"; exit $$status

# The suites labelled `concurrency` (stress tests of threads and locks), built and run under
# ThreadSanitizer; part of `make test`.
test-concurrency-tsan:
	test -f build-tsan/build.ninja || cmake --preset tsan $(CCACHE)
	$(TIMED) "build (tsan, concurrency suites)" cmake --build build-tsan --target concurrency_tests
	$(TIMED) "tests (tsan, concurrency suites)" scripts/run-tests.sh build-tsan -L concurrency

# The suites labelled `unit` and `integration`, built and run under AddressSanitizer +
# UndefinedBehaviorSanitizer (any report fails the test); part of `make test`.
test-sanitized-asan:
	test -f build-asan/build.ninja || cmake --preset asan $(CCACHE)
	$(TIMED) "build (asan+ubsan, unit+integration suites)" \
	  cmake --build build-asan --target unit_integration_tests
	$(TIMED) "tests (asan+ubsan, unit+integration suites)" \
	  scripts/run-tests.sh build-asan -L '^(unit|integration)$$' -E '$(ASAN_EXCLUDE)'

# Every libFuzzer target (fuzz/) for FUZZ_SECONDS each, from its seed corpus; part of `make test`.
fuzz-short:
	test -f build-fuzz/build.ninja || cmake --preset fuzz $(CCACHE)
	$(TIMED) "build (fuzzers)" cmake --build build-fuzz --target fuzzers
	$(TIMED) "fuzz ($(FUZZ_SECONDS)s per target)" scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

# The longer run: FUZZ_SECONDS (default 300) per target; prints executions, coverage, crashes.
fuzz: FUZZ_SECONDS = 300
fuzz: fuzz-short

test-asan:
	$(MAKE) test PRESET=asan

test-tsan:
	$(MAKE) test PRESET=tsan

bench-micro: build
	./$(BUILD_DIR)/bench/strata_micro

# clang-format every tracked C++ file; `make test` fails on any difference (check-format).
format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

check-format:
	@scripts/check-format.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz
