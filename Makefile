# The two commands of README.md, and the benchmarks.
#
#   make build   install what compiling needs (no Python environment), build
#   make demo    install what the demo needs, build, run the demo (the
#                MIDA paper's use case: Dask, PyTorch, MLflow, TensorBoard
#                and a shell step observed in one campaign) on SQLite
#   make demo-capi  the C API example (examples/demo.c)
#   make test    install what the tests need (services, the test venv),
#                build, then the whole suite (C unit and integration tests,
#                Python tests, ASan+UBSan and TSan builds), ending in
#                "N passed, N failed"
#   make bench   the benchmarks, on an optimized build, one JSON line each
.PHONY: all deps deps-build deps-demo build demo demo-capi test bench fuzz \
  clean

BUILD ?= build
MESON_OPTS ?= -Dwerror=true

all: build

deps:
	@scripts/install-deps.sh test

deps-build:
	@scripts/install-deps.sh build

deps-demo:
	@scripts/install-deps.sh demo

define compile
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) $(MESON_OPTS) >/dev/null
	@ninja -C $(BUILD) >/dev/null
endef

build: deps-build
	$(compile)

demo: deps-demo
	$(compile)
	@examples/demo.sh $(BUILD)

demo-capi: deps-demo
	$(compile)
	@examples/demo-capi.sh $(BUILD)

test: deps
	$(compile)
	@scripts/run-tests.sh $(BUILD)

bench: deps
	@[ -f build-release/build.ninja ] || meson setup build-release \
	  --buildtype=release >/dev/null
	@ninja -C build-release >/dev/null
	@scripts/run-bench.sh build-release

clean:
	rm -rf build build-asan build-tsan build-release build-fuzz demo-out \
	  demo-capi-out bench-out
