# Convenience wrapper around CMake: no build logic lives here.
#   make            build (build/)
#   make run        the main job on the embedded default
#   make test       build and run every test (ctest)
#   make sanitize   the tests under ASan + UBSan (build-asan/)
#   make install    PREFIX=/usr/local DESTDIR=
#   make bench      the benchmarks in bench/
BUILD ?= build
PREFIX ?= /usr/local
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60

.PHONY: all deps build run test sanitize install bench fuzz clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt:
	@scripts/install-deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# A random-weight model of llama2.c's stories15M shape (synthesized once,
# cached under ~/.cache/joule) through the quick-test preset.
run: build
	$(BUILD)/joule run --preset quick-test -m synth:stories15m:q8_0

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

sanitize:
	@scripts/install-deps
	cmake -S . -B build-asan -DJOULE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	$(BUILD)/bench/bench_meter

fuzz:
	@scripts/install-deps --fuzz
	CC=clang cmake -S . -B build-fuzz -DJOULE_FUZZ=ON -DJOULE_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-fuzz -j $(JOBS)
	scripts/fuzz-all build-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
