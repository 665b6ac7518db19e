# Thin wrapper over CMake. `make demo` and `make test` install what is missing
# (as root; otherwise they print the apt-get line), configure, build and run.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-asan clean

all: build

deps:
	@sh .ci/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash cluster/demo.sh $(BUILD)/fedmeta

test: build
	@cd $(BUILD) && ctest --output-on-failure -j 1

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CMAKE_FLAGS="-DFEDMETA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

clean:
	rm -rf build build-asan
