# SPDX-License-Identifier: GPL-2.0
# pgmove: build the test kernel, the module and the kselftests; run them in a VM.
#   make              module + selftests (the debug test kernel is built first, cached)
#   make check        the test suite in the VM, ending with "N passed, N failed"
#   make demo         what pgmove does, in the VM
#   make stress N=... the model-checked stress test with N operations (SEED=, THREADS= too)
#   make bench        the benchmark on the perf kernel (JSON to BENCH_JSON, default bench.json)
#   make profile      where MOVE's time goes: perf profile of one benchmark case
#   make shell        a shell in the VM with the module loaded
#   make kernel       only the test kernel
#   make deps         only install what is missing
# KDIR=/path/to/linux builds against your own Rust-enabled 6.12 tree instead of the cached one.
PGMOVE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pgmove
export PGMOVE_CACHE
FLAVOUR ?= debug

ifeq ($(KDIR),)
KDIR := $(PGMOVE_CACHE)/kernel-$(FLAVOUR)
KERNEL := kernel
else
KERNEL :=
endif
export KDIR

RUSTC_DEBIAN := /usr/bin/rustc
KMAKE := $(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=-19 RUSTC=$(RUSTC_DEBIAN) HOSTRUSTC=$(RUSTC_DEBIAN) \
	BINDGEN=$(PGMOVE_CACHE)/tools/bin/bindgen

.PHONY: all deps kernel module selftests cli check stress demo shell fmt clean bench bench-build profile
all: module selftests cli

deps:
	@tools/setup-deps

kernel: deps
	@tools/kernel/build $(FLAVOUR) >/dev/null

module: deps $(KERNEL)
	+$(KMAKE) modules

selftests: deps $(KERNEL)
	+$(MAKE) -C selftests KDIR=$(KDIR)

cli: deps $(KERNEL)
	+$(MAKE) -C tools/cli KDIR=$(KDIR)

check: module selftests cli
	@tools/check

# The model-checked stress test alone, any number of operations (selftests/model_stress_test.c;
# a mismatch prints its seed: SEED=<seed> replays each thread's sequence of operations).
N ?= 100000
stress: module selftests
	@tools/vm-run --kmemleak --timeout $$(( $(N) / 100 + 900 )) -- env PGMOVE_STRESS_OPS=$(N) \
		$(if $(SEED),PGMOVE_STRESS_SEED=$(SEED)) $(if $(THREADS),PGMOVE_STRESS_THREADS=$(THREADS)) \
		selftests/model_stress_test

demo: module cli
	@tools/vm-run tools/demo

shell: module
	@tools/vm-run --shell

# The benchmark runs on the perf flavour of the test kernel (no debug options), with the module
# built for that kernel in build/perf (a copy of the sources, so the debug build stays as is).
PERF_KDIR := $(PGMOVE_CACHE)/kernel-perf
PERF_BUILD := $(CURDIR)/build/perf
BENCH_JSON ?= bench.json
BENCH_ARGS ?=
bench-build: deps
	@tools/kernel/build perf >/dev/null
	@mkdir -p $(PERF_BUILD)/rust $(PERF_BUILD)/include/uapi/linux
	@cp -u Kbuild $(PERF_BUILD)/ && cp -u $(filter-out rust/helpers_generated.rs,$(wildcard rust/*.rs)) rust/helpers.c rust/helpers.h $(PERF_BUILD)/rust/ \
		&& mkdir -p $(PERF_BUILD)/rust/mm && cp -u rust/mm/*.rs $(PERF_BUILD)/rust/mm/ \
		&& cp -u include/uapi/linux/pgmove.h $(PERF_BUILD)/include/uapi/linux/
	+$(MAKE) -C $(PERF_KDIR) M=$(PERF_BUILD) LLVM=-19 RUSTC=$(RUSTC_DEBIAN) HOSTRUSTC=$(RUSTC_DEBIAN) \
		BINDGEN=$(PGMOVE_CACHE)/tools/bin/bindgen modules
	+$(MAKE) -C tools/bench KDIR=$(PERF_KDIR)

bench: bench-build
	@tools/vm-run --kdir $(PERF_KDIR) --module $(PERF_BUILD)/pgmove.ko --memory 3G -- \
		tools/bench/pgmove-bench --json $(BENCH_JSON) $(BENCH_ARGS)

# A perf profile of one benchmark case on the perf kernel (see tools/bench/profile).
PROFILE_CASE ?= move-4k/pgmove-MOVE
# e.g. PROFILE_CASE="pingpong --thp" for the move alone (tools/bench/profile)
profile: bench-build
	@tools/vm-run --kdir $(PERF_KDIR) --module $(PERF_BUILD)/pgmove.ko --memory 3G -- \
		tools/bench/profile $(PROFILE_CASE)

# Format the module's Rust with the kernel's rustfmt settings.
fmt:
	rustfmt --edition 2021 --config-path $(KDIR)/.rustfmt.toml rust/pgmove.rs

clean:
	+-$(KMAKE) clean 2>/dev/null
	+-$(MAKE) -C selftests KDIR=$(KDIR) clean 2>/dev/null
	+-$(MAKE) -C tools/cli clean
	+-$(MAKE) -C tools/bench clean
	rm -rf build
	rm -f rust/helpers_generated.rs
