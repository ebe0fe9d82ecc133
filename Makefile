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

.PHONY: all deps deps-test configure build run test test-asan test-tsan bench-micro format clean

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
