# strata's two commands (see README.md):
#   make run    install missing Debian packages, build, run the main job (`strata bench`) on the
#               embedded default (SQLite + the in-process cache; no server needed)
#   make test   install, build, start real Redis / Redis Cluster / PostgreSQL on loopback, run
#               every test, stop the servers (also when tests fail)
# Also: make build, make test-asan (AddressSanitizer+UBSan), make test-tsan (ThreadSanitizer),
#       make bench-micro, make format, make clean.
PRESET ?= default
BUILD_DIR := $(if $(filter default,$(PRESET)),build,build-$(PRESET))
RUN_ARGS ?=

.PHONY: all deps deps-test configure build run test test-asan test-tsan test-concurrency-tsan bench-micro format clean

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

$(BUILD_DIR)/build.ninja:
	cmake --preset $(PRESET)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR)

run: build
	./$(BUILD_DIR)/strata bench $(RUN_ARGS)

test: deps-test configure
	cmake --build $(BUILD_DIR)
	scripts/run-tests.sh $(BUILD_DIR)
ifeq ($(PRESET),default)
	$(MAKE) test-concurrency-tsan
endif

# The suites labelled `concurrency` (stress tests of threads and locks), built and run under
# ThreadSanitizer; part of `make test`.
test-concurrency-tsan:
	test -f build-tsan/build.ninja || cmake --preset tsan
	cmake --build build-tsan --target concurrency_tests
	scripts/run-tests.sh build-tsan -L concurrency

test-asan:
	$(MAKE) test PRESET=asan

test-tsan:
	$(MAKE) test PRESET=tsan

bench-micro: build
	./$(BUILD_DIR)/bench/strata_micro

format:
	find include src tools tests bench examples -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build build-asan build-tsan
