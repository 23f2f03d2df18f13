# The two commands of README.md, and the benchmarks.
#
#   make build   install what compiling needs (no Python environment), build
#   make demo    install what the demo needs, build, run the demo on SQLite
#   make test    install what the tests need (services, the test venv), then
#                the whole suite (C unit and integration tests, Python tests,
#                ASan+UBSan and TSan builds), ending in "N passed, N failed"
#   make bench   the benchmarks, on an optimized build, one JSON line each
.PHONY: all deps build build-only demo test bench fuzz clean

BUILD ?= build
MESON_OPTS ?= -Dwerror=true

all: build

deps:
	@scripts/install-deps.sh test

build:
	@scripts/install-deps.sh build
	@$(MAKE) --no-print-directory build-only

build-only:
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) $(MESON_OPTS) >/dev/null
	@ninja -C $(BUILD) >/dev/null

demo:
	@scripts/install-deps.sh demo
	@$(MAKE) --no-print-directory build-only
	@scripts/demo.sh $(BUILD)

test:
	@scripts/install-deps.sh test
	@$(MAKE) --no-print-directory build-only
	@scripts/run-tests.sh $(BUILD)

bench:
	@scripts/install-deps.sh test
	@[ -f build-release/build.ninja ] || meson setup build-release \
	  --buildtype=release >/dev/null
	@ninja -C build-release >/dev/null
	@scripts/run-bench.sh build-release

clean:
	rm -rf build build-asan build-tsan build-release build-fuzz demo-out bench-out
