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
# The debug build has the race points (rust/race.rs, Documentation/reliability.rst); the
# benchmark's perf build (bench-build) has none.
PGMOVE_RACE_POINTS ?= $(if $(filter debug,$(FLAVOUR)),y,n)
KMAKE := $(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=-19 RUSTC=$(RUSTC_DEBIAN) HOSTRUSTC=$(RUSTC_DEBIAN) \
	BINDGEN=$(PGMOVE_CACHE)/tools/bin/bindgen PGMOVE_RACE_POINTS=$(PGMOVE_RACE_POINTS)

.PHONY: all deps kernel module selftests cli check stress demo shell fmt clean bench bench-build profile \
	uffd-compat uffd-upstream compact-heap
all: module selftests cli uffd-compat

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

# libpgmove-uffd.so (UFFDIO_MOVE through /dev/pgmove), the test kernel's own uffd-unit-tests
# and the compacting-heap example (Documentation/uffd-compat.rst).
uffd-compat: deps $(KERNEL)
	+$(MAKE) -C tools/uffd-compat KDIR=$(KDIR) all uffd-unit-tests
	+$(MAKE) -C tools/examples KDIR=$(KDIR)

# Upstream's UFFDIO_MOVE tests (uffd-unit-tests -f move), plain and through the library.
uffd-upstream: module uffd-compat
	@tools/vm-run tools/uffd-upstream

# The compacting heap with the kernel's UFFDIO_MOVE and with the library, in the VM.
compact-heap: module uffd-compat
	@tools/vm-run make -C tools/examples run ARGS="$(ARGS)"

check: module selftests cli uffd-compat
	@PGMOVE_RACE_POINTS=$(PGMOVE_RACE_POINTS) tools/check

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
	@cp -u Kbuild $(PERF_BUILD)/ && cp -u include/uapi/linux/pgmove.h $(PERF_BUILD)/include/uapi/linux/
	@# The module's sources (rust/ and its subdirectories), and no source that is gone.
	@cd rust && for f in $$(find . \( -name '*.rs' -o -name 'helpers.[ch]' \) ! -name helpers_generated.rs); do \
		mkdir -p $(PERF_BUILD)/rust/$$(dirname $$f) && cp -u $$f $(PERF_BUILD)/rust/$$f || exit 1; done
	@cd $(PERF_BUILD)/rust && for f in $$(find . -name '*.rs' ! -name helpers_generated.rs); do \
		[ -e $(CURDIR)/rust/$$f ] || rm -f $$f; done
	+$(MAKE) -C $(PERF_KDIR) M=$(PERF_BUILD) LLVM=-19 RUSTC=$(RUSTC_DEBIAN) HOSTRUSTC=$(RUSTC_DEBIAN) \
		BINDGEN=$(PGMOVE_CACHE)/tools/bin/bindgen modules
	+$(MAKE) -C tools/bench KDIR=$(PERF_KDIR)

# Then the compacting-heap example (tools/examples) with the kernel's UFFDIO_MOVE and with
# libpgmove-uffd.so (Documentation/uffd-compat.rst).
bench: bench-build uffd-compat
	@tools/vm-run --kdir $(PERF_KDIR) --module $(PERF_BUILD)/pgmove.ko --memory 3G -- sh -c \
		'tools/bench/pgmove-bench --json $(BENCH_JSON) $(BENCH_ARGS) && make -s -C tools/examples run'

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
	+-$(MAKE) -C tools/uffd-compat clean
	+-$(MAKE) -C tools/examples clean
	rm -rf build
	rm -f rust/helpers_generated.rs
