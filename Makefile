# containers from scratch, in C
#
#   make              build every stage and the default root filesystem
#   make test         run the bats suites (as root, in a sandbox)
#   make check        lint, docs-check and test
#   make exercise     write the course's skeletons into exercises/
#   make grade STAGE=N score a student's stage with its tests
#   make help         list every target, from the "## " comments below

# The stages, in teaching order: scripts/stages.txt, one directory a line,
# is the one list that the Makefile, the scripts and the suites all read.
STAGES   := $(shell cat scripts/stages.txt)
# BUILD=DIR puts the stages under DIR/ (DIR/stage1-uts/container, ...) with
# a link DIR/rootfs to the default image, and leaves the normal build alone:
# `make STATIC=1 BUILD=build/static` (as make bench does).
BUILD    ?=
OUT      := $(if $(BUILD),$(BUILD:%/=%)/)
BINS     := $(patsubst %/main.c,$(OUT)%/container,$(wildcard $(STAGES:%=%/main.c)))
COMMON_C := $(wildcard common/*.c)
COMMON_H := $(wildcard common/*.h)
PROGS    := $(patsubst tests/progs/%.c,tests/progs/bin/%,$(wildcard tests/progs/*.c))
# LD_PRELOAD shims that widen a race window on purpose, for the suites.
SHIMS    := $(patsubst tests/shims/%.c,tests/shims/bin/%.so,$(wildcard tests/shims/*.c))
# The extensions past the last stage: docs/extensions/NAME.patch, applied to
# it, builds build/ext-NAME/container (scripts/ext.sh says more).
EXTS     := $(patsubst docs/extensions/%.patch,%,$(wildcard docs/extensions/*.patch))
EXT_BASE := $(lastword $(STAGES))
EXT_BINS := $(EXTS:%=$(OUT)build/ext-%/container)

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
SOAK_KILLS    ?= 200

PREFIX   ?= /usr/local
DESTDIR  ?=
LIBEXEC  := $(PREFIX)/libexec/containers-from-scratch
C_FILES  = $(COMMON_C) $(COMMON_H) $(wildcard $(STAGES:%=%/*.[ch]) tests/progs/*.c tests/shims/*.c scripts/*.c)
SHELL_FILES := $(wildcard scripts/*.sh tests/*.bash tests/run .ci/run) $(wildcard tests/*.bats tests/*.fixture)

.PHONY: all rootfs test check lint format clean install uninstall diff help \
	bench bench-vm soak compare doctor docs-check docs-check-vm docs-update docs-update-vm test-vm cross \
	exercise grade grade-all handout exercise-check import oracle

all: $(BINS) $(EXT_BINS) $(if $(EXTS),$(OUT)build/rootfs) rootfs $(SHIMS) $(if $(BUILD),$(OUT)rootfs) ## build every stage and the default rootfs (plain make)

# make cross ARCH=arm64 (below) builds the same files under build/ARCH/
# with CROSS_CC: one set of rules serves both, BUILD_CC being the compiler.
CROSS_PREFIX_arm64 := aarch64-linux-gnu-
CROSS_DIR := build/$(ARCH)
CROSS_CC  ?= $(CROSS_PREFIX_$(ARCH))gcc
CROSS_BINS  := $(BINS:%=$(CROSS_DIR)/%)
CROSS_PROGS := $(PROGS:%=$(CROSS_DIR)/%)
CROSS_SHIMS := $(SHIMS:%=$(CROSS_DIR)/%)
CROSS_EXT_BINS := $(EXT_BINS:%=$(CROSS_DIR)/%)
CROSS_OUT := $(CROSS_BINS) $(CROSS_EXT_BINS) $(if $(EXTS),$(CROSS_DIR)/$(OUT)build/rootfs) $(CROSS_PROGS) $(CROSS_SHIMS)
BUILD_CC = $(CC)
$(CROSS_OUT): BUILD_CC = $(CROSS_CC)

# A stage is its main.c, plus any other .c beside it (stage 5's
# cgroup_life.c); the stage's source directory is the last part of $*.
.SECONDEXPANSION:
$(BINS) $(CROSS_BINS): %/container: $$(wildcard $$(notdir $$*)/*.c $$(notdir $$*)/*.h) $(COMMON_C) $(COMMON_H)
	@mkdir -p $(@D)
	$(BUILD_CC) $(ALL_CFLAGS) -I$(notdir $*) -o $@ $(wildcard $(notdir $*)/*.c) $(COMMON_C) $(LDFLAGS)

# An extension: the last stage's sources copied to DIR/tree/, the patch
# applied there (a patch that no longer applies stops the build), and the
# result built as a stage is.  $* is DIR, .../build/ext-NAME.
$(EXT_BINS) $(CROSS_EXT_BINS): %/container: docs/extensions/$$(subst ext-,,$$(notdir $$*)).patch \
		$$(wildcard $(EXT_BASE)/*.c $(EXT_BASE)/*.h) $(COMMON_C) $(COMMON_H) scripts/ext.sh
	scripts/ext.sh tree $(patsubst ext-%,%,$(notdir $*)) $*/tree
	$(BUILD_CC) $(ALL_CFLAGS) -I$*/tree/$(EXT_BASE) -o $@ $*/tree/$(EXT_BASE)/*.c $(COMMON_C) $(LDFLAGS)

# An extension looks for the default image next to its directory too: a
# relative link, which holds under BUILD=DIR, in build/ARCH/ and in the VM.
$(OUT)build/rootfs $(CROSS_DIR)/$(OUT)build/rootfs:
	@mkdir -p $(@D)
	ln -sfn ../rootfs $@

# Stages 4 and 5 look for the default image next to their own directory.
ifneq ($(BUILD),)
$(OUT)rootfs:
	@mkdir -p $(@D)
	ln -sfn $(CURDIR)/rootfs $@
endif

# Small static programs the tests and the "Break it" exercises run inside
# the container, where no libraries need to be present for them.
# The shims too, for ARCH: an x86-64 one in an arm64 guest would not load,
# and the race window it widens would stay closed.
$(PROGS) $(CROSS_PROGS): tests/progs/$$(notdir $$@).c
	@mkdir -p $(@D)
	$(BUILD_CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -static -o $@ $<

$(SHIMS) $(CROSS_SHIMS): tests/shims/$$(basename $$(notdir $$@)).c
	@mkdir -p $(@D)
	$(BUILD_CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -shared -fPIC -o $@ $< -ldl

# make cross ARCH=arm64: every stage, test program and shim for another
# architecture, with Debian's cross compiler (gcc-aarch64-linux-gnu) and the
# same warnings, into build/ARCH/ so that the host's binaries stay as they
# are.  make test-vm ARCH=arm64 boots them; CROSS_CC=... picks the compiler.
cross: ## build every stage and test program for ARCH=arm64 into build/ARCH/
	@test -n "$(ARCH)" || { echo "make cross: say which one: make cross ARCH=arm64" >&2; exit 2; }
	@test -n "$(CROSS_PREFIX_$(ARCH))$(filter command line,$(origin CROSS_CC))" || \
		{ echo "make cross: ARCH=$(ARCH): no cross compiler known; try ARCH=arm64, or set CROSS_CC" >&2; exit 2; }
	@$(MAKE) --no-print-directory $(CROSS_OUT)

# The default image: the host's own programs and the libraries they need.
# ADD="vim strace" adds host programs too, and always rebuilds it; the next
# rebuild without ADD leaves them out again.
ADD      ?=
rootfs: rootfs/.built ## (re)build the default image; ADD="prog..." adds host programs
rootfs/.built: scripts/mkrootfs.sh scripts/lib.sh $(PROGS) $(if $(ADD),FORCE)
	scripts/mkrootfs.sh $(addprefix --add ,$(ADD)) rootfs $(PROGS)

FORCE:

test: all ## run the bats suites in a sandbox (root)
	tests/run

check: lint docs-check test ## lint, docs-check and test

lint: ## shellcheck and clang-format
	shellcheck -x $(SHELL_FILES)
	clang-format --dry-run --Werror $(C_FILES)
	scripts/ext.sh lint
	scripts/check-copies.sh

format: ## clang-format the C files in place
	clang-format -i $(C_FILES)

# The step from one stage to the next, as the docs show it (through a
# pager at a terminal).
diff: ## the step from each stage to the next; STAGE=N for one
	@scripts/stage-diff.sh $(STAGE)

bench: all ## start-up cost per stage against unshare(1)
	scripts/bench.sh

soak: all ## long reliability run (SOAK_RUNS, SOAK_PARALLEL, SOAK_KILLS)
	SOAK_RUNS=$(SOAK_RUNS) SOAK_PARALLEL=$(SOAK_PARALLEL) SOAK_KILLS=$(SOAK_KILLS) scripts/soak.sh

compare: all ## run one probe in every stage, print a table
	scripts/compare.sh

oracle: all ## stage 5 next to runc on a real Debian image: a Markdown table
	scripts/oracle.sh

doctor: ## check that this machine can run and build every stage
	scripts/doctor.sh

# A course (docs/README.md, "Using the kit in a course"): the skeletons go
# to exercises/, which is not tracked and which make clean never touches.
exercise: ## write the course's skeletons to exercises/ (STAGE=N, STAGE=rootless or EXT=NAME, FORCE=1)
	@scripts/exercise.sh write $(if $(filter 1,$(FORCE)),--force) $(if $(EXT),--ext $(EXT)) $(STAGE)

# A root filesystem tarball (docker export, mmdebstrap, Alpine's
# minirootfs, an OCI layer) as an image for --rootfs, owned so that it works
# for whoever runs this: see scripts/import.sh and docs/04-rootfs.md.
import: ## unpack a root filesystem tarball into an image: TAR=FILE DEST=DIR
	@scripts/import.sh "$(TAR)" "$(DEST)"

# The student's build keeps the project's warnings but not -Werror.
grade: all ## score exercises/stageN-*/main.c or SRC=file in a sandbox (STAGE=N, STAGE=rootless or EXT=NAME; JUNIT=, FILTER=, VM=1 for 5, TRUSTED=1)
	@CC="$(CC)" STUDENT_CFLAGS="$(filter-out -Werror,$(ALL_CFLAGS:-Icommon=))" \
		scripts/grade.sh $(if $(JUNIT),--junit "$(JUNIT)") $(if $(filter 1,$(TRUSTED)),--trusted) $(if $(filter 1,$(VM)),--vm) \
		$(if $(FILTER),--filter "$(FILTER)") \
		$(if $(EXT),--ext $(EXT),$(if $(STAGE),$(STAGE),$(error give STAGE=N or EXT=NAME))) $(SRC)

grade-all: all ## grade every DIR/*.c and DIR/*/main.c: a table, DIR/grades/grades.csv and JUnit (STAGE=N DIR=...)
	@CC="$(CC)" STUDENT_CFLAGS="$(filter-out -Werror,$(ALL_CFLAGS:-Icommon=))" \
		scripts/grade-all.sh $(if $(filter 1,$(TRUSTED)),--trusted) $(if $(filter 1,$(VM)),--vm) \
		$(if $(STAGE),$(STAGE),$(error give STAGE=N)) $(if $(DIR),$(DIR),$(error give DIR=submissions/))

# A course's handout of stage N: the kit with stage N's skeleton and no
# answer to it anywhere (scripts/handout.sh says what it leaves out).
handout: ## a tarball of the kit that hands out stage N's exercise (STAGE=N, OUT=FILE)
	@scripts/handout.sh $(if $(STAGE),$(STAGE),$(error give STAGE=N)) $(OUT)

# CI: every skeleton builds and fails, every reference scores full marks,
# and every hole alone fails at least one test.
exercise-check: all ## check that every exercise is gradable (CI)
	scripts/exercise-check.sh

docs-check: all ## fail if the docs drifted from the code, or a diagram does not parse
	scripts/docs.sh check
	scripts/mermaid-check.sh

docs-update: all ## regenerate diffs and captured output in docs/
	scripts/docs.sh update

# make bench's table 1 inside the same v2 VM: stage 5 against stage 4 on a
# cgroup v2 kernel, where clone3(CLONE_INTO_CGROUP) is what stage 5 uses.
bench-vm: all ## make bench in the cgroup v2 VM; ends "v2: stage5/stage4=R" (BENCH_RUNS)
	TEST_VM_MODE=bench BENCH_RUNS=$(or $(BENCH_RUNS),20) scripts/test-vm.sh

# The transcripts that only a cgroup v2 machine can re-run (if=cgroup-v2),
# re-run in the same v2 VM with the real sudo: a hybrid host leaves them.
docs-check-vm: all ## re-run chapter 5's cgroup v2 transcripts in the v2 VM (DOCS_VM_FILES)
	TEST_VM_MODE=docs scripts/test-vm.sh

# The same transcripts regenerated there, and written back into docs/.
docs-update-vm: all ## regenerate chapter 5's cgroup v2 transcripts in the v2 VM (DOCS_VM_FILES)
	TEST_VM_MODE=docs-update scripts/test-vm.sh

# ARCH=arm64 boots Debian's arm64 kernel with the make cross build, and runs
# the tests tagged smoke; FULL=1 runs them all.
test-vm: $(if $(filter arm64,$(ARCH)),cross,all) ## run the suite in a cgroup v2 VM under qemu (ARCH=arm64, FULL=1)
	TEST_VM_ARCH=$(or $(ARCH),amd64) scripts/test-vm.sh

install: all ## install under PREFIX (default /usr/local), honours DESTDIR
	install -d $(DESTDIR)$(LIBEXEC) $(DESTDIR)$(PREFIX)/bin
	for s in $(STAGES); do \
		install -d $(DESTDIR)$(LIBEXEC)/$$s && \
		install -m 755 $(OUT)$$s/container $(DESTDIR)$(LIBEXEC)/$$s/container && \
		ln -sf ../libexec/containers-from-scratch/$$s/container \
			$(DESTDIR)$(PREFIX)/bin/container-$${s%%-*} || exit 1; \
	done
	rm -rf $(DESTDIR)$(LIBEXEC)/rootfs
	cp -a rootfs $(DESTDIR)$(LIBEXEC)/rootfs

uninstall: ## remove what make install put there
	rm -rf $(DESTDIR)$(LIBEXEC)
	for s in $(STAGES); do rm -f $(DESTDIR)$(PREFIX)/bin/container-$${s%%-*}; done

clean: ## remove the builds, the image and the Debian test image
	rm -f $(BINS)
	rm -rf rootfs tests/progs/bin tests/shims/bin build .cache/images

help: ## list every target (this)
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / { printf "make %-12s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))
	@echo "Settings, with any target:"
	@echo "  STATIC=1     link the stages statically"
	@echo "  BUILD=DIR    build the stages under DIR, not beside their sources"
	@echo "  SANITIZE=1   build with UBSan"
