# Top-level wrapper. Every target does its own set-up on a fresh Debian 12
# machine: installs missing packages (scripts/install-deps.sh), provides the
# assets (scripts/fetch-assets.sh), configures and builds.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
# A test that failed is run once more before the suite fails: a few tests time
# real processes (netem links, server deadlines, restarts) and can miss their
# bounds on a machine shared with other work; a bug fails both runs.
CTEST_REPEAT ?= --repeat until-pass:2
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
TSAN_BUILD ?= build-tsan
CMAKE ?= cmake

.PHONY: all deps assets build build-asan build-tsan test tsan fuzz demo bench valgrind format format-check lint tidy clean

all: build

deps:
	@scripts/install-deps.sh

assets: deps
	@if [ -x scripts/fetch-assets.sh ]; then scripts/fetch-assets.sh; fi

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPECX_SANITIZE=ON

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	$(CMAKE) --build $(ASAN_BUILD) -j $(JOBS)

# The test command: the whole suite under ASan + UBSan.
test: assets build-asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_REPEAT) $(CTEST_ARGS)

$(TSAN_BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPECX_TSAN=ON

build-tsan: deps $(TSAN_BUILD)/CMakeCache.txt
	$(CMAKE) --build $(TSAN_BUILD) -j $(JOBS)

# ThreadSanitizer: the tests labelled `tsan` (core, rpc, the pipeline engine
# and its uplink), with their time bounds stretched for TSan's slowdown;
# tests/tsan.supp says what is left out (uninstrumented libraries only).
# Every process (test, or `specx serve` child) writes its reports to
# $(TSAN_BUILD)/tsan-reports/: any report there fails the target and is
# printed. TSAN_CTEST_ARGS narrows the selection (e.g.
# TSAN_CTEST_ARGS="-R '^core[.]'").
TSAN_TIMEOUT_SCALE ?= 3
tsan: assets build-tsan
	rm -rf $(TSAN_BUILD)/tsan-reports && mkdir -p $(TSAN_BUILD)/tsan-reports
	cd $(TSAN_BUILD) || exit 1; rc=0; SPECX_TEST_TIMEOUT_SCALE=$(TSAN_TIMEOUT_SCALE) \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_REPEAT) -L tsan $(TSAN_CTEST_ARGS) || rc=$$?; \
	  n=$$(ls tsan-reports | wc -l); \
	  if [ $$n -gt 0 ]; then \
	    echo "ThreadSanitizer: reports from $$n process(es) in $(TSAN_BUILD)/tsan-reports:"; \
	    cat tsan-reports/* | head -n 2000; \
	  fi; \
	  [ $$rc -eq 0 ] && [ $$n -eq 0 ]

# libFuzzer harnesses (fuzz/), each run FUZZ_SECONDS from its seed corpus;
# clang with ASan + UBSan, every module instrumented for coverage.
$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang CXX=clang++ $(CMAKE) -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSPECX_SANITIZE=ON -DSPECX_FUZZ=ON -DSPECX_WITH_XNN=OFF

fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	$(CMAKE) --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

demo: assets build
	$(BUILD)/specx demo $(DEMO_ARGS)

bench: assets build
	$(BUILD)/specx bench operator
	-$(BUILD)/specx bench rpc
	-$(BUILD)/specx bench detect
	-$(BUILD)/specx bench pipeline
	-$(BUILD)/specx bench metrics

valgrind: assets build
	scripts/valgrind.sh $(BUILD)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

# cppcheck, and no function over 150 lines (scripts/long-functions.sh lists
# those over 100).
lint: build
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -I include \
	  $$(git ls-files 'src/*.c' 'apps/*.c' 'bench/*.c' 'examples/*.c')
	scripts/long-functions.sh

# clang-tidy with the checks in .clang-tidy; any finding fails.
# TIDY_EXCLUDE: files to leave out (none today).
TIDY_EXCLUDE ?=
tidy: build
	clang-tidy -p $(BUILD) --quiet --warnings-as-errors='*' \
	  $$(git ls-files 'src/*.c' 'apps/*.c' 'bench/*.c' 'examples/*.c' $(foreach f,$(TIDY_EXCLUDE),':!$(f)'))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
