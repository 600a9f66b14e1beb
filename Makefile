# containers from scratch, in C
#
#   make              build every stage and the default root filesystem
#   make test         run the bats suites (as root, in a sandbox)
#   make check        lint, docs-check and test
#   make help         list every target

STAGES   := stage1-uts stage2-pid stage3-mount stage4-rootfs stage5-cgroups
BINS     := $(patsubst %/main.c,%/container,$(wildcard $(STAGES:%=%/main.c)))
COMMON_C := $(wildcard common/*.c)
COMMON_H := $(wildcard common/*.h)
PROGS    := $(patsubst tests/progs/%.c,tests/progs/bin/%,$(wildcard tests/progs/*.c))

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Werror
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Icommon $(CFLAGS)
# STATIC=1 links statically: no dynamic loader at start-up (see docs/performance.md).
ifeq ($(STATIC),1)
LDFLAGS  += -static
endif
# SANITIZE=1 builds with UBSan; ASan does not cope with clone(2) on a
# private stack, so it is not offered.
ifeq ($(SANITIZE),1)
ALL_CFLAGS += -fsanitize=undefined -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=undefined
endif

SOAK_RUNS     ?= 1000
SOAK_PARALLEL ?= 32

PREFIX   ?= /usr/local
DESTDIR  ?=
LIBEXEC  := $(PREFIX)/libexec/containers-from-scratch
C_FILES  = $(COMMON_C) $(COMMON_H) $(wildcard $(STAGES:%=%/main.c) tests/progs/*.c)
SHELL_FILES := $(wildcard scripts/*.sh tests/*.bash tests/run .ci/run) $(wildcard tests/*.bats)

.PHONY: all rootfs test check lint format clean install uninstall diff help \
	bench soak compare doctor docs-check docs-update test-vm cross

all: $(BINS) rootfs

$(BINS): %/container: %/main.c $(COMMON_C) $(COMMON_H)
	$(CC) $(ALL_CFLAGS) -o $@ $*/main.c $(COMMON_C) $(LDFLAGS)

# Small static programs the tests and the "Break it" exercises run inside
# the container, where no libraries need to be present for them.
tests/progs/bin/%: tests/progs/%.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -static -o $@ $<

# make cross ARCH=arm64: every stage and test program for another
# architecture, with Debian's cross compiler (gcc-aarch64-linux-gnu) and the
# same warnings, into build/ARCH/ so that the host's binaries stay as they
# are.  make test-vm ARCH=arm64 boots them; CROSS_CC=... picks the compiler.
CROSS_PREFIX_arm64 := aarch64-linux-gnu-
CROSS_DIR := build/$(ARCH)
CROSS_CC  ?= $(CROSS_PREFIX_$(ARCH))gcc
CROSS_OUT := $(BINS:%=$(CROSS_DIR)/%) $(PROGS:%=$(CROSS_DIR)/%)

cross:
	@test -n "$(ARCH)" || { echo "make cross: say which one: make cross ARCH=arm64" >&2; exit 2; }
	@test -n "$(CROSS_PREFIX_$(ARCH))$(filter command line,$(origin CROSS_CC))" || \
		{ echo "make cross: ARCH=$(ARCH): no cross compiler known; try ARCH=arm64, or set CROSS_CC" >&2; exit 2; }
	@$(MAKE) --no-print-directory $(CROSS_OUT)

$(CROSS_DIR)/%/container: %/main.c $(COMMON_C) $(COMMON_H)
	@mkdir -p $(@D)
	$(CROSS_CC) $(ALL_CFLAGS) -o $@ $*/main.c $(COMMON_C) $(LDFLAGS)

$(CROSS_DIR)/tests/progs/bin/%: tests/progs/%.c
	@mkdir -p $(@D)
	$(CROSS_CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -static -o $@ $<

# The default image: the host's own programs and the libraries they need.
rootfs: rootfs/.built
rootfs/.built: scripts/mkrootfs.sh $(PROGS)
	scripts/mkrootfs.sh rootfs $(PROGS)

test: all
	tests/run

check: lint docs-check test

lint:
	shellcheck -x $(SHELL_FILES)
	clang-format --dry-run --Werror $(C_FILES)

format:
	clang-format -i $(C_FILES)

# The step from one stage to the next, as the docs show it.
diff:
	@scripts/stage-diff.sh

bench: all
	scripts/bench.sh

soak: all
	SOAK_RUNS=$(SOAK_RUNS) SOAK_PARALLEL=$(SOAK_PARALLEL) scripts/soak.sh

compare: all
	scripts/compare.sh

doctor:
	scripts/doctor.sh

docs-check: all
	scripts/docs.sh check

docs-update: all
	scripts/docs.sh update

# ARCH=arm64 boots Debian's arm64 kernel with the make cross build, and runs
# the tests tagged smoke; FULL=1 runs them all.
test-vm: $(if $(filter arm64,$(ARCH)),cross,all)
	TEST_VM_ARCH=$(or $(ARCH),amd64) scripts/test-vm.sh

install: all
	install -d $(DESTDIR)$(LIBEXEC) $(DESTDIR)$(PREFIX)/bin
	for s in $(STAGES); do \
		install -d $(DESTDIR)$(LIBEXEC)/$$s && \
		install -m 755 $$s/container $(DESTDIR)$(LIBEXEC)/$$s/container && \
		ln -sf ../libexec/containers-from-scratch/$$s/container \
			$(DESTDIR)$(PREFIX)/bin/container-$${s%%-*}; \
	done
	rm -rf $(DESTDIR)$(LIBEXEC)/rootfs
	cp -a rootfs $(DESTDIR)$(LIBEXEC)/rootfs

uninstall:
	rm -rf $(DESTDIR)$(LIBEXEC)
	for s in $(STAGES); do rm -f $(DESTDIR)$(PREFIX)/bin/container-$${s%%-*}; done

clean:
	rm -f $(BINS)
	rm -rf rootfs tests/progs/bin build

help:
	@echo "make            build every stage and the default rootfs"
	@echo "make test       run the bats suites in a sandbox (root)"
	@echo "make check      lint, docs-check and test"
	@echo "make lint       shellcheck and clang-format"
	@echo "make diff       show the step from each stage to the next"
	@echo "make compare    run one probe in every stage, print a table"
	@echo "make doctor     check that this machine can run every stage"
	@echo "make bench      start-up cost per stage against unshare(1)"
	@echo "make soak       long reliability run (SOAK_RUNS, SOAK_PARALLEL)"
	@echo "make test-vm    run the suite in a cgroup v2 VM under qemu"
	@echo "make test-vm ARCH=arm64 [FULL=1]  the same on arm64, emulated (smoke tests unless FULL=1)"
	@echo "make docs-check fail if the docs drifted from the code"
	@echo "make docs-update regenerate diffs and captured output in docs/"
	@echo "make install    install under PREFIX (default /usr/local), honours DESTDIR"
	@echo "make cross ARCH=arm64  build every stage and test program for arm64 into build/arm64"
	@echo "make STATIC=1   link the stages statically"
