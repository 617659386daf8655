# profiled -- top-level entry points. `make run` and `make test` are the
# quick start; each installs missing Debian packages, configures and builds.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_DB    ?= demo.db
LISTEN     ?= 127.0.0.1:8080
CMAKE_FLAGS ?=
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_WORK  ?=
BASELINE   ?= HEAD~1

.PHONY: all deps build build-asan test test-fast test-pg test-asan test-fuzz fuzz run demo bench bench-pg bench-ab format clean

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

# The API reference /docs serves ($(BUILD)/docs: api.html, openapi.json,
# rendered from docs/openapi.yaml with the npm tools of tools/npm) is built
# when Node.js and npm are there; without them the server answers /docs 404.
# DOCS=0 skips it (offline, say).
DOCS       ?= 1
build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)
	@[ "$(DOCS)" = 0 ] || sh scripts/build-docs.sh --optional $(BUILD)/docs

$(ASAN_BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPROFILED_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null

build-asan: deps $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The whole suite, the database suites again on a throwaway PostgreSQL
# cluster, the whole suite again under ASan+UBSan, then every fuzz target
# over its corpus (a regression run of seconds).
test: test-fast test-pg test-asan test-fuzz

test-fast: build
	cd $(BUILD) && ctest --output-on-failure

# The suites that speak to a database, on PostgreSQL (tests/support/pg-run.sh).
test-pg: build
	@sh tests/support/pg-run.sh $(BUILD)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure

# libFuzzer targets (fuzz/, clang, ASan+UBSan) built in $(FUZZ_BUILD).
test-fuzz: deps
	@sh tests/fuzz/run.sh --build $(FUZZ_BUILD)

# Fuzzes each target FUZZ_SECONDS; new inputs and crashes go to FUZZ_WORK
# (default: a new scratch dir), never into fuzz/corpus.
fuzz: deps
	@sh tests/fuzz/run.sh --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS) $(if $(FUZZ_WORK),--work $(FUZZ_WORK))

demo: build
	@sh scripts/demo.sh $(BUILD)/profiled $(DEMO_DB) $(LISTEN) prepare

run: build
	@sh scripts/demo.sh $(BUILD)/profiled $(DEMO_DB) $(LISTEN) serve

bench:
	@sh scripts/bench.sh
	@sh scripts/bench-pg.sh

# SQLite against PostgreSQL alone (also the last part of `make bench`)
bench-pg:
	@sh scripts/bench-pg.sh

# This checkout against BASELINE (a commit, default HEAD~1), side by side.
bench-ab:
	@BASELINE=$(BASELINE) sh scripts/bench-ab.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
