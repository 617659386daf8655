# profiled -- top-level entry points. `make run` and `make test` are the
# quick start; each installs missing Debian packages, configures and builds.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_DB    ?= demo.db
LISTEN     ?= 127.0.0.1:8080
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan test test-fast test-asan run demo bench format clean

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPROFILED_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null

build-asan: deps $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The whole suite, then the whole suite again under ASan+UBSan.
test: test-fast test-asan

test-fast: build
	cd $(BUILD) && ctest --output-on-failure

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure

demo: build
	@sh scripts/demo.sh $(BUILD)/profiled $(DEMO_DB) $(LISTEN) prepare

run: build
	@sh scripts/demo.sh $(BUILD)/profiled $(DEMO_DB) $(LISTEN) serve

bench:
	@sh scripts/bench.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
