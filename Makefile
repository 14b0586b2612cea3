# appconfig-extension — one readable Makefile, no configure step.
#
#   make run        local development mode over examples/local (builds the static binary)
#   make test       every test; ends with one line "N passed, N failed"
#   make release    static musl binaries for x86_64 and arm64 (build/release/<arch>/)
#   make size       release sizes; fails above 1 MiB
#   make layer      Lambda layer zips (build/layer/)
#   make native     a build with $(CXX)/$(CXXFLAGS) for vendoring into other images
#   make install    DESTDIR=/opt -> /opt/extensions/appconfig-extension
#   make fuzz       every libFuzzer target for FUZZ_SECONDS each
#   make bench      benchmarks (bench/*.sh)
#
# Honours CXX, CXXFLAGS, LDFLAGS, DESTDIR, PREFIX, MBEDTLS_SRC.

NAME      := appconfig-extension
VERSION   := 0.1.0
PREFIX    ?=
DESTDIR   ?=
BUILD     := build
FUZZ_SECONDS ?= 60
HOST_ARCH := $(shell uname -m | sed -e 's/aarch64/arm64/')

SRCS      := $(wildcard src/*.cpp)
LIB_SRCS  := $(filter-out src/main.cpp src/runtime.cpp,$(SRCS))
TEST_SRCS := $(wildcard test/unit/*_test.cpp)
FUZZ_SRCS := $(wildcard test/fuzz/*_fuzz.cpp)

# Messages are bounded on purpose: snprintf truncation is the intended behaviour.
WARN      := -Wall -Wextra -Werror -Wno-format-truncation
CXXLANG   := -std=c++20 -fno-exceptions -fno-rtti
DEFS      := -DAPPCONFIG_VERSION='"$(VERSION)"'
INCS      := -Iinclude
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
	$(Q)$(CXX) $(CXXLANG) $(WARN) $(DBG_FLAGS) $(DEFS) $(INCS) $(MBEDTLS_INC) -MMD -MP -c $< -o $@

# Tests may use the whole standard library (and GoogleTest needs RTTI).
$(DBG)/test/%.o: test/unit/%.cpp | mbedtls-source
	@mkdir -p $(@D)
	@echo "  CXX     $@"
	$(Q)$(CXX) -std=c++20 $(WARN) $(DBG_FLAGS) $(DEFS) $(INCS) $(MBEDTLS_INC) -DTEST_DATA_DIR='"test/data"' -MMD -MP -c $< -o $@

$(DBG)/$(NAME): $(DBG_OBJS) $(DBG)/obj/main.o $(MBEDTLS_LIB_native)
	@echo "  LINK    $@"
	$(Q)$(CXX) $(SAN) -o $@ $^

$(DBG)/unit-tests: $(TEST_OBJS) $(DBG_OBJS) $(MBEDTLS_LIB_native)
	@echo "  LINK    $@"
	$(Q)$(CXX) $(SAN) -o $@ $^ -lgtest -lgtest_main -pthread

# ---------------------------------------------------------------- release (static musl, no libstdc++ runtime)
REL        := $(BUILD)/release
REL_FLAGS  := -Os -fno-asynchronous-unwind-tables -fno-unwind-tables -ffunction-sections -fdata-sections \
              -fno-threadsafe-statics -fno-plt -fvisibility=hidden '-D__GLIBC_PREREQ(a,b)=0' -DNDEBUG
GXX_VER    := $(shell $(CXX) -dumpversion 2>/dev/null | cut -d. -f1)

CXX_x86_64 ?= g++
LD_x86_64  ?= musl-gcc
SYSINC_x86_64 = -nostdinc -isystem /usr/include/c++/$(GXX_VER) -isystem /usr/include/x86_64-linux-gnu/c++/$(GXX_VER) \
                -isystem /usr/include/x86_64-linux-musl -isystem $(shell $(CXX_x86_64) -print-file-name=include)
CXX_arm64  ?= aarch64-linux-gnu-g++
LD_arm64   ?= aarch64-linux-musl-gcc
SYSINC_arm64 = -nostdinc -isystem /usr/aarch64-linux-gnu/include/c++/$(GXX_VER) \
               -isystem /usr/aarch64-linux-gnu/include/c++/$(GXX_VER)/aarch64-linux-gnu \
               -isystem /usr/include/aarch64-linux-musl -isystem $(shell $(CXX_arm64) -print-file-name=include 2>/dev/null)

define release_rules
$(REL)/$(1)/obj/%.o: src/%.cpp | mbedtls-source
	@mkdir -p $$(@D)
	@echo "  CXX     $$@"
	$(Q)$$(CXX_$(1)) $(CXXLANG) $(WARN) $(REL_FLAGS) $$(SYSINC_$(1)) $(DEFS) $(INCS) $(MBEDTLS_INC) -MMD -MP -c $$< -o $$@

$(REL)/$(1)/$(NAME): $(patsubst src/%.cpp,$(REL)/$(1)/obj/%.o,$(SRCS)) $$(MBEDTLS_LIB_$(2))
	@echo "  LINK    $$@"
	$(Q)$$(LD_$(1)) -static -Wl,--gc-sections -Wl,-O1 -Wl,--build-id=none -s -o $$@ $$^
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
	$(Q)$(CXX) $(CXXLANG) $(WARN) $(CXXFLAGS) $(DEFS) $(INCS) $(MBEDTLS_INC) -MMD -MP -c $< -o $@
$(NAT)/$(NAME): $(patsubst src/%.cpp,$(NAT)/obj/%.o,$(LIB_SRCS) src/main.cpp) $(MBEDTLS_LIB_native)
	@echo "  LINK    $@"
	$(Q)$(CXX) $(LDFLAGS) -o $@ $^

# ---------------------------------------------------------------- fuzzing (clang + libFuzzer)
FUZZ       := $(BUILD)/fuzz
FUZZ_FLAGS := -std=c++20 -g -O1 -fsanitize=fuzzer-no-link,address,undefined $(DEFS) $(INCS) $(MBEDTLS_INC)
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

# ---------------------------------------------------------------- user-facing targets
.PHONY: all deps debug release size native layer run test unit integration fuzz fuzz-smoke bench install clean mbedtls-source

all: release

deps:
	@bash .ci/deps.sh

debug: $(DBG)/$(NAME)
release: $(RELEASE_BINS)
native: $(NAT)/$(NAME)

size: $(RELEASE_BINS)
	@status=0; for b in $(RELEASE_BINS); do \
	  s=$$(stat -c %s $$b); printf '%-40s %8d bytes\n' $$b $$s; \
	  if [ $$s -gt 1048576 ]; then echo "  over the 1 MiB limit"; status=1; fi; \
	done; exit $$status

layer: $(RELEASE_BINS)
	@bash layer/build.sh $(NAME) $(BUILD)/layer $(RELEASE_BINS)

run: deps $(REL)/$(HOST_ARCH)/$(NAME)
	@bash examples/run.sh $(REL)/$(HOST_ARCH)/$(NAME)

unit: $(DBG)/unit-tests
	$(DBG)/unit-tests

test: deps
	@$(MAKE) --no-print-directory -j2 $(DBG)/unit-tests $(DBG)/$(NAME) $(RELEASE_BINS) $(FUZZ_BINS)
	@python3 -u test/run_all.py --build $(BUILD) --name $(NAME)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do echo "== $$f ($(FUZZ_SECONDS) s)"; \
	  mkdir -p $(FUZZ)/corpus/$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ)/corpus/$$(basename $$f) || exit 1; done

bench: $(REL)/$(HOST_ARCH)/$(NAME)
	@for b in bench/*.sh; do bash $$b $(REL)/$(HOST_ARCH)/$(NAME) || exit 1; done

install: $(REL)/$(HOST_ARCH)/$(NAME)
	install -d $(DESTDIR)$(PREFIX)/extensions
	install -m 0755 $< $(DESTDIR)$(PREFIX)/extensions/$(NAME)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
