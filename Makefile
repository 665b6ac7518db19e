# Thin wrapper over CMake. `make demo` and `make test` install what is missing
# (as root; otherwise they print the apt-get line), configure, build and run.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-cluster test-asan test-tsan valgrind fuzz-build test-fuzz fuzz-seeds fuzz-long clean

all: build

deps:
	@sh .ci/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash cluster/demo.sh $(BUILD)/fedmeta

test: build
	@cd $(BUILD) && ctest --output-on-failure -j 1 -LE cluster

# Slurm, several hosts (network namespaces) and pilot mode: needs root, installs
# Slurm and munge when missing, starts and stops daemons (tests/cluster/, minutes).
test-cluster: build
	@cd $(BUILD) && ctest --output-on-failure -j 1 -L cluster

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CMAKE_FLAGS="-DFEDMETA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

# The whole suite under ThreadSanitizer (the helper threads: masks, unmask,
# ranking), Open MPI's own threads suppressed (tests/tsan.supp).
test-tsan:
	@$(MAKE) --no-print-directory build BUILD=build-tsan CMAKE_FLAGS="-DFEDMETA_TSAN=ON"
	@rm -rf build-tsan/tsan-report && mkdir -p build-tsan/tsan-report
	@prefix=$$(sh tests/tsan-prefix.sh build-tsan/fedmeta) && cd build-tsan && $$prefix ctest --output-on-failure -j 1 -LE cluster
	@if ls build-tsan/tsan-report/report.* > /dev/null 2>&1; then \
	  cat build-tsan/tsan-report/report.*; echo "test-tsan: ThreadSanitizer reports above (build-tsan/tsan-report/)" >&2; exit 1; fi

# libFuzzer harnesses (clang, ASan + UBSan) in build-fuzz/; docs/TESTING.md.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 12
FUZZ_TIME ?= 600

fuzz-build:
	@sh .ci/deps.sh fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDMETA_FUZZ=ON \
	  -DFEDMETA_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_FLAGS) > /dev/null
	@cmake --build $(FUZZ_BUILD) --target fuzz -j $(JOBS)

# Each harness fuzzes FUZZ_SECONDS (default 12) and replays its kept crash inputs.
test-fuzz: fuzz-build
	@cd $(FUZZ_BUILD) && ctest -L fuzz --output-on-failure -j 1

# Regenerates the committed seed corpora tests/fuzz/corpus/ from the unit-test fixtures.
fuzz-seeds: fuzz-build
	@rm -rf tests/fuzz/corpus
	@OPENBLAS_NUM_THREADS=1 $(FUZZ_BUILD)/fuzz_seeds tests/fuzz/corpus

# A long session of one harness: make fuzz-long FUZZ=import_csv FUZZ_TIME=3600
fuzz-long: fuzz-build
	@bash tests/fuzz/long.sh $(FUZZ) $(FUZZ_TIME) $(FUZZ_BUILD)

# A short sealed, secure, DP training run with every rank under valgrind memcheck
# (minutes; not part of `make test`): fails on leaks allocated by fedmeta's code.
valgrind: build
	@bash tests/valgrind.sh $(BUILD)/fedmeta

clean:
	rm -rf build build-asan build-fuzz
