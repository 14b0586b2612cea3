# appconfig-extension — one readable Makefile, no configure step.
#
#   make run        local development mode over examples/local (builds the static binary)
#   make test       every test; ends with one line "N passed, N failed"
#   make release    static musl binaries for x86_64 and arm64 (build/release/<arch>/)
#   make size       release sizes; fails above 1 MiB
#   make layer      Lambda layer zips (build/layer/)
#   make native     a build with $(CXX)/$(CXXFLAGS) for vendoring into other images
#   make install    DESTDIR=/opt -> /opt/extensions/appconfig-extension
#   make dist       build/dist/: both binaries and layer zips, SHA256SUMS, an SPDX 2.3 SBOM (reproducible)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS each
#   make bench      benchmarks (bench/*.sh)
#
# Honours CXX, CXXFLAGS, LDFLAGS, DESTDIR, PREFIX, MBEDTLS_SRC, SOURCE_DATE_EPOCH.
#
# Every user-facing target first installs the packages it needs (.ci/deps.sh <profile>) and fetches mbedTLS
# (src/mbedtls/fetch.sh), then runs a sub-make: that sub-make reads the Makefile only after the compilers exist,
# so nothing below asks a compiler for its paths before deps ran (docs/building.md).

NAME      := appconfig-extension
VERSION   := 0.1.0
PREFIX    ?=
DESTDIR   ?=
BUILD     := build
FUZZ_SECONDS ?= 60
HOST_ARCH := $(shell uname -m | sed -e 's/aarch64/arm64/')

SRCS      := $(wildcard src/*/*.cpp)
LIB_SRCS  := $(filter-out src/program/main.cpp src/core/runtime.cpp,$(SRCS))
TEST_SRCS := $(wildcard test/unit/*_test.cpp)
FUZZ_SRCS := $(wildcard test/fuzz/*_fuzz.cpp)

# Messages are bounded on purpose: snprintf truncation is the intended behaviour.
# clang has no -Wformat-truncation: it must not turn that name into an error (gcc ignores the extra -Wno-).
WARN      := -Wall -Wextra -Werror -Wno-format-truncation -Wno-unknown-warning-option
CXXLANG   := -std=c++20 -fno-exceptions -fno-rtti
# The commit the binaries are built from (--version); "unknown" outside a git checkout. A fixed length, so
# the same commit gives the same bytes whatever the size of the clone.
GIT_COMMIT := $(or $(shell git -C $(CURDIR) rev-parse --short=12 HEAD 2>/dev/null),unknown)
DEFS      := -DAPPCONFIG_VERSION='"$(VERSION)"' -DAPPCONFIG_GIT_COMMIT='"$(GIT_COMMIT)"'
INCS      := -Iinclude
# Reproducible objects: no absolute build path in any object (__FILE__, debug info).
REPRO     := -ffile-prefix-map=$(CURDIR)/=
# Objects whose source uses the commit are rebuilt when it changes: the stamp is rewritten only then.
COMMIT_STAMP := $(BUILD)/git-commit
$(shell mkdir -p $(BUILD); [ "$$(cat $(COMMIT_STAMP) 2>/dev/null)" = "$(GIT_COMMIT)" ] || echo "$(GIT_COMMIT)" > $(COMMIT_STAMP))
COMMIT_USERS := $(shell grep -l APPCONFIG_GIT_COMMIT $(SRCS) 2>/dev/null)
# Quiet by default; `make V=1` shows every command.
Q         := $(if $(V),,@)

include src/mbedtls/mbedtls.mk

# ---------------------------------------------------------------- debug (glibc, sanitizers): tests
DBG        := $(BUILD)/debug
SAN        := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
DBG_FLAGS  := -O1 -g $(SAN)
DBG_OBJS   := $(patsubst src/%.cpp,$(DBG)/obj/%.o,$(LIB_SRCS))
TEST_OBJS  := $(patsubst test/unit/%.cpp,$(DBG)/test/%.o,$(TEST_SRCS))

$(DBG)/obj/%.o: src/%.cpp | mbedtls-source
	@mkdir -p $(@D)
	@echo "  CXX     $@"
	$(Q)$(CXX) $(CXXLANG) $(WARN) $(DBG_FLAGS) $(REPRO) $(DEFS) $(INCS) $(MBEDTLS_INC) -MMD -MP -c $< -o $@

# Tests may use the whole standard library (and GoogleTest needs RTTI).
$(DBG)/test/%.o: test/unit/%.cpp | mbedtls-source
	@mkdir -p $(@D)
	@echo "  CXX     $@"
	$(Q)$(CXX) -std=c++20 $(WARN) $(DBG_FLAGS) $(DEFS) $(INCS) $(MBEDTLS_INC) -DTEST_DATA_DIR='"test/data"' -MMD -MP -c $< -o $@

$(DBG)/$(NAME): $(DBG_OBJS) $(DBG)/obj/program/main.o $(MBEDTLS_LIB_native)
	@echo "  LINK    $@"
	$(Q)$(CXX) $(SAN) -o $@ $^

$(DBG)/unit-tests: $(TEST_OBJS) $(DBG_OBJS) $(MBEDTLS_LIB_native)
	@echo "  LINK    $@"
	$(Q)$(CXX) $(SAN) -o $@ $^ -lgtest -lgtest_main -pthread

# ---------------------------------------------------------------- release (static musl, no libstdc++ runtime)
# Each architecture is built by <triplet>-g++, on an x86_64 and on an arm64 host alike (the host's own g++
# answers to its triplet too). Its libstdc++ headers (header-only use: no exceptions, no RTTI, no runtime) are
# wherever THAT compiler keeps them: asked from it, never derived from $(CXX) or from the host's layout.
REL        := $(BUILD)/release
# Size first (issue 14; docs/building.md "Release size" has the byte counts of every flag):
# - -flto: the whole program, mbedTLS included (mbedtls.mk compiles it with the same code-generation flags),
#   is optimised at link time as one unit (-flto-partition=one below): unused paths and wrappers go.
#   The link gets $(REL_FLAGS) too, as GCC asks for LTO.
# - -fno-pie: Debian's gcc defaults to PIE code, but the binary is static and not PIE (-static): PIE code
#   only costs GOT loads (aarch64) and longer address forms.
# - no -fno-plt: a static binary has no PLT; on aarch64 -fno-plt made every libc call an indirect call
#   through the GOT (15 KB).
# - -fomit-frame-pointer: spelled out because aarch64's gcc keeps the frame record otherwise.
REL_FLAGS  := -Os -flto -fno-pie -fomit-frame-pointer -fno-asynchronous-unwind-tables -fno-unwind-tables \
              -ffunction-sections -fdata-sections -fno-threadsafe-statics -fvisibility=hidden \
              '-D__GLIBC_PREREQ(a,b)=0' -DNDEBUG
# Reproducible LTO objects: GCC 12 writes the working directory into them next to every *relative* file name
# (GCC PR 108534), so release objects map the checkout (and the relative src/, include/) to absolute names,
# after $(REPRO) (the last matching map wins), and fix -frandom-seed (LTO section names are random otherwise).
# No file name reaches the stripped binary either way (nothing uses __FILE__ with NDEBUG).
REL_REPRO  := -ffile-prefix-map=$(CURDIR)/=/ -ffile-prefix-map=src/=/src/ -ffile-prefix-map=include/=/include/

# aarch64's linker pads the file so the RELRO part of the data segment ends on a 64 KiB page (~48 KB
# of zeros). norelro: in a static non-PIE musl binary nothing applies PT_GNU_RELRO anyway (only musl's
# dynamic linker mprotects it), so the padding buys nothing. max-page-size stays 64 KiB, so 64 KiB-page
# kernels still load the binary.
# common-page-size=64: with norelro it only decides where the data segment starts; at 4096 ld may start it on
# a fresh page and pad the file up to 4 KB to save one page of memory. noseparate-code: x86_64's ld puts the
# ELF headers, the code and the read-only data in three page-aligned segments (up to 8 KB of padding); one
# read+execute segment, as before binutils 2.31 (and as aarch64's ld does by default).
# --sort-section=alignment: fewer alignment holes between input sections.
REL_LDFLAGS := -no-pie -flto-partition=one -Wl,-z,common-page-size=64 -Wl,-z,norelro -Wl,-z,noseparate-code \
               -Wl,--sort-section=alignment

# Objects and binaries are rebuilt when these flags change: the stamp is rewritten only then.
REL_STAMP := $(REL)/flags
ifneq ($(file <$(REL_STAMP)),$(REL_FLAGS) $(REL_REPRO) | $(REL_LDFLAGS))
$(shell mkdir -p $(REL))
$(file >$(REL_STAMP),$(REL_FLAGS) $(REL_REPRO) | $(REL_LDFLAGS))
endif

TRIPLET_x86_64 := x86_64-linux-gnu
TRIPLET_arm64  := aarch64-linux-gnu
CXX_x86_64 ?= x86_64-linux-gnu-g++
CXX_arm64  ?= aarch64-linux-gnu-g++
# Linking: <triplet>-gcc with musl's specs (= musl-gcc): musl's crt files and libc.a, no glibc.
LD_x86_64  ?= x86_64-linux-gnu-gcc -specs /usr/lib/x86_64-linux-musl/musl-gcc.specs
LD_arm64   ?= aarch64-linux-gnu-gcc -specs /usr/lib/aarch64-linux-musl/musl-gcc.specs

# cxx_include_dirs(compiler): the C++ header directories in that compiler's own search list.
cxx_include_dirs = $(shell echo | $(1) -xc++ -E -v - 2>&1 | sed -n '/<...> search starts here/,/End of search list/p' \
                     | grep '/c++/' | xargs -r realpath -m)
# sysinc(arch): libstdc++'s headers, then musl's C headers (not glibc's), then the compiler's own.
sysinc = -nostdinc $(addprefix -isystem ,$(call cxx_include_dirs,$(CXX_$(1)))) \
         -isystem /usr/include/$(patsubst %-gnu,%-musl,$(TRIPLET_$(1))) -isystem $(shell $(CXX_$(1)) -print-file-name=include)
# Computed once, on first use inside a recipe (so after deps installed the compiler), then kept.
SYSINC_x86_64 = $(eval SYSINC_x86_64 := $(call sysinc,x86_64))$(SYSINC_x86_64)
SYSINC_arm64  = $(eval SYSINC_arm64 := $(call sysinc,arm64))$(SYSINC_arm64)

define release_rules
$(REL)/$(1)/obj/%.o: src/%.cpp $(REL_STAMP) | mbedtls-source
	@mkdir -p $$(@D)
	@echo "  CXX     $$@"
	$$(if $$(filter -isystem,$$(SYSINC_$(1))),,$$(error no C++ headers from $$(CXX_$(1)): is it installed? (make deps)))
	$(Q)$$(CXX_$(1)) $(CXXLANG) $(WARN) $(REL_FLAGS) $(REPRO) $(REL_REPRO) -frandom-seed=$$@ $$(SYSINC_$(1)) $(DEFS) \
	  $(INCS) $(MBEDTLS_INC) -MMD -MP -c $$< -o $$@

$(REL)/$(1)/$(NAME): $(patsubst src/%.cpp,$(REL)/$(1)/obj/%.o,$(SRCS)) $$(MBEDTLS_LIB_$(2)) $(REL_STAMP)
	@echo "  LINK    $$@"
	$(Q)$$(LD_$(1)) $(REL_FLAGS) -static -Wl,--gc-sections -Wl,-O1 -Wl,--build-id=none $(REL_LDFLAGS) -s -o $$@ \
	  $$(filter-out $(REL_STAMP),$$^)
endef
$(eval $(call release_rules,x86_64,x86_64-musl))
$(eval $(call release_rules,arm64,arm64-musl))

RELEASE_BINS := $(REL)/x86_64/$(NAME) $(REL)/arm64/$(NAME)

# ---------------------------------------------------------------- native (vendoring: your CXX, your flags)
NAT        := $(BUILD)/native
CXXFLAGS   ?= -O2
$(NAT)/obj/%.o: src/%.cpp | mbedtls-source
	@mkdir -p $(@D)
	@echo "  CXX     $@"
	$(Q)$(CXX) $(CXXLANG) $(WARN) $(CXXFLAGS) $(REPRO) $(DEFS) $(INCS) $(MBEDTLS_INC) -MMD -MP -c $< -o $@
$(NAT)/$(NAME): $(patsubst src/%.cpp,$(NAT)/obj/%.o,$(LIB_SRCS) src/program/main.cpp) $(MBEDTLS_LIB_native)
	@echo "  LINK    $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $^

# ---------------------------------------------------------------- fuzzing (clang + libFuzzer)
FUZZ       := $(BUILD)/fuzz
FUZZ_FLAGS := -std=c++20 -g -O1 -fsanitize=fuzzer-no-link,address,undefined $(REPRO) $(DEFS) $(INCS) $(MBEDTLS_INC)
FUZZ_BINS  := $(patsubst test/fuzz/%.cpp,$(FUZZ)/%,$(FUZZ_SRCS))
FUZZ_OBJS  := $(patsubst src/%.cpp,$(FUZZ)/obj/%.o,$(LIB_SRCS))
.SECONDARY: $(FUZZ_OBJS)
$(FUZZ)/obj/%.o: src/%.cpp | mbedtls-source
	@mkdir -p $(@D)
	@echo "  CXX     $@"
	$(Q)clang++ $(FUZZ_FLAGS) -fno-exceptions -fno-rtti -MMD -MP -c $< -o $@
$(FUZZ)/%: test/fuzz/%.cpp $(FUZZ_OBJS) $(MBEDTLS_LIB_native) | mbedtls-source
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)clang++ $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(MBEDTLS_LIB_native)

# The commit changes → the objects that print it are rebuilt.
$(foreach d,$(DBG)/obj $(REL)/x86_64/obj $(REL)/arm64/obj $(NAT)/obj $(FUZZ)/obj,\
  $(patsubst src/%.cpp,$(d)/%.o,$(COMMIT_USERS))): $(COMMIT_STAMP)

# ---------------------------------------------------------------- dist (reproducible release artifacts)
DIST := $(BUILD)/dist
# One timestamp for every artifact: the commit's, unless the caller fixes another.
SOURCE_DATE_EPOCH ?= $(or $(shell git -C $(CURDIR) log -1 --format=%ct 2>/dev/null),0)
export SOURCE_DATE_EPOCH

# ---------------------------------------------------------------- user-facing targets
# user_target(name, deps profile, sub-make goals): install packages, fetch mbedTLS, then a fresh sub-make.
# Sub-makes of one build tree take turns (`make -j2 native debug` would otherwise build the shared mbedTLS
# library twice at once); each one still builds in parallel inside.
BUILD_LOCK = @mkdir -p $(BUILD) && flock $(BUILD)/.make.lock
define user_target
$(1):
	@bash .ci/deps.sh $(2)
	@$$(MAKE) --no-print-directory mbedtls-fetch
	$$(BUILD_LOCK) $$(MAKE) --no-print-directory $(3)
endef
$(eval $(call user_target,release,release,$(RELEASE_BINS)))
$(eval $(call user_target,size,release,_size))
$(eval $(call user_target,layer,layer,_layer))
$(eval $(call user_target,dist,dist,_dist))
$(eval $(call user_target,run,run,_run))
$(eval $(call user_target,install,host,_install))
$(eval $(call user_target,native,native,$(NAT)/$(NAME)))
$(eval $(call user_target,debug,debug,$(DBG)/$(NAME)))
$(eval $(call user_target,fuzz,fuzz,_fuzz))
$(eval $(call user_target,bench,bench,_bench))

.PHONY: all deps debug release size native layer dist run test unit integration fuzz bench install clean \
        _size _layer _dist _run _install _fuzz _bench

all: release

# Every package any target needs (the test profile); `make deps` is what CI machines run first.
deps:
	@bash .ci/deps.sh test

_size: $(RELEASE_BINS)
	@status=0; for b in $(RELEASE_BINS); do \
	  s=$$(stat -c %s $$b); printf '%-40s %8d bytes\n' $$b $$s; \
	  if [ $$s -gt 1048576 ]; then echo "  over the 1 MiB limit"; status=1; fi; \
	done; exit $$status

_layer: $(RELEASE_BINS)
	@bash layer/build.sh $(NAME) $(BUILD)/layer $(RELEASE_BINS)

# Rebuilt from scratch each time into a temporary directory, then swapped in: no stale file survives.
_dist: $(RELEASE_BINS)
	@rm -rf $(DIST).tmp && mkdir -p $(DIST).tmp
	@bash layer/build.sh $(NAME) $(DIST).tmp $(RELEASE_BINS) >/dev/null
	@for a in x86_64 arm64; do cp $(REL)/$$a/$(NAME) $(DIST).tmp/$(NAME)-$$a; \
	  touch -d @$(SOURCE_DATE_EPOCH) $(DIST).tmp/$(NAME)-$$a; done
	@python3 layer/sbom.py --out $(DIST).tmp/$(NAME).spdx.json --name $(NAME) --version $(VERSION) \
	  --commit $(GIT_COMMIT) --mbedtls-record $(MBEDTLS_SELECTED) --mbedtls-dir $(MBEDTLS_DIR) \
	  --compiler x86_64=$(CXX_x86_64) --compiler arm64=$(CXX_arm64) --dir $(DIST).tmp
	@cd $(DIST).tmp && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort \
	  | xargs sha256sum > SHA256SUMS && touch -d @$(SOURCE_DATE_EPOCH) SHA256SUMS
	@rm -rf $(DIST) && mv $(DIST).tmp $(DIST)
	@echo "$(DIST): mbedTLS $(MBEDTLS_VERSION), commit $(GIT_COMMIT)"; cat $(DIST)/SHA256SUMS

_run: $(REL)/$(HOST_ARCH)/$(NAME)
	@bash examples/run.sh $(REL)/$(HOST_ARCH)/$(NAME)

unit: $(DBG)/unit-tests
	$(DBG)/unit-tests

test:
	@bash .ci/deps.sh test
	@$(MAKE) --no-print-directory mbedtls-fetch
	$(BUILD_LOCK) $(MAKE) --no-print-directory -j2 $(DBG)/unit-tests $(DBG)/$(NAME) $(RELEASE_BINS) $(FUZZ_BINS)
	@python3 -u test/run_all.py --build $(BUILD) --name $(NAME)

# Seeded from the corpora each target matches, with -timeout/-rss_limit_mb/-max_len (test/fuzz/seeds.py).
_fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do python3 test/fuzz/seeds.py --run $$f $(FUZZ_SECONDS) || exit 1; done

_bench: $(REL)/$(HOST_ARCH)/$(NAME)
	@for b in bench/*.sh; do bash $$b $(REL)/$(HOST_ARCH)/$(NAME) || exit 1; done

_install: $(REL)/$(HOST_ARCH)/$(NAME)
	install -d $(DESTDIR)$(PREFIX)/extensions
	install -m 0755 $< $(DESTDIR)$(PREFIX)/extensions/$(NAME)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
