# The two commands of README.md, and the benchmarks.
#
#   make demo    install what is missing, build, run the demo on SQLite
#   make test    the whole suite (C unit and integration tests, Python tests,
#                ASan+UBSan and TSan builds), ending in "N passed, N failed"
#   make bench   the benchmarks, on an optimized build, one JSON line each
.PHONY: all deps build demo test bench fuzz clean

BUILD ?= build
MESON_OPTS ?= -Dwerror=true

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) $(MESON_OPTS) >/dev/null
	@ninja -C $(BUILD) >/dev/null

demo: build
	@scripts/demo.sh $(BUILD)

test: build
	@scripts/run-tests.sh $(BUILD)

bench: deps
	@[ -f build-release/build.ninja ] || meson setup build-release \
	  --buildtype=release >/dev/null
	@ninja -C build-release >/dev/null
	@scripts/run-bench.sh build-release

clean:
	rm -rf build build-asan build-tsan build-release build-fuzz demo-out bench-out
