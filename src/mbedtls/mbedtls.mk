# mbedtls.mk — builds mbedTLS 3.6 with our trimmed config (src/mbedtls/config.h) as one static library per
# target. Included by the top-level Makefile; self-contained so it can be included from any Makefile.
#
# Exports:
#   MBEDTLS_VERSION             the version fetch.sh selected (.deps/mbedtls.selected), else the pinned 3.6.6
#   MBEDTLS_DIR                 source tree (default .deps/mbedtls-$(MBEDTLS_VERSION); made by src/mbedtls/fetch.sh)
#   MBEDTLS_INC                 -I and -DMBEDTLS_CONFIG_FILE flags for code that includes mbedTLS headers
#   MBEDTLS_LIB_native          build/mbedtls/native/libmbedtls_all.a       host compiler, -O2 -g
#   MBEDTLS_LIB_x86_64-musl     build/mbedtls/x86_64-musl/libmbedtls_all.a  x86_64-linux-gnu-gcc + musl, -Os -flto
#   MBEDTLS_LIB_arm64-musl      build/mbedtls/arm64-musl/libmbedtls_all.a   aarch64-linux-gnu-gcc + musl, -Os -flto
#                               (the same on x86_64 and arm64 hosts: the host's gcc also answers to its triplet)
#   mbedtls-source              (phony) runs fetch.sh when the source tree is missing; use it as an
#                               order-only prerequisite (`| mbedtls-source`) of anything that includes
#                               mbedTLS headers.
#   mbedtls-fetch               (phony) runs fetch.sh unconditionally (it is quiet once done): the top-level
#                               Makefile runs it before a sub-make, so that sub-make reads the selected version.
# Overrides: MBEDTLS_CC_<target>, MBEDTLS_AR_<target>, MBEDTLS_CFLAGS_<target>, MBEDTLS_BUILD_DIR.
#
# The native library is built WITHOUT sanitizers on purpose: mbedTLS is upstream-tested (incl. ASan/UBSan
# CI), instrumenting it would slow the test handshakes several-fold, and its allocations come from our fixed
# memory_buffer_alloc arena, so ASan could not see heap overflows inside it anyway. Our own code (src/net/tls.cpp)
# is what the debug build instruments. The same native archive links into the clang/libFuzzer build.

MBEDTLS_MK_DIR    := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
MBEDTLS_REPO_ROOT := $(abspath $(MBEDTLS_MK_DIR)/../..)
MBEDTLS_DEPS_DIR  ?= $(MBEDTLS_REPO_ROOT)/.deps
# fetch.sh takes the pinned 3.6.6 when it can, else the newest 3.6.x Debian offers, and records which.
MBEDTLS_PINNED    := 3.6.6
MBEDTLS_SELECTED  := $(MBEDTLS_DEPS_DIR)/mbedtls.selected
MBEDTLS_VERSION   ?= $(or $(shell sed -n 's/^version=//p' $(MBEDTLS_SELECTED) 2>/dev/null),$(MBEDTLS_PINNED))
MBEDTLS_DIR       ?= $(MBEDTLS_DEPS_DIR)/mbedtls-$(MBEDTLS_VERSION)
MBEDTLS_CONFIG    := $(MBEDTLS_MK_DIR)/config.h
MBEDTLS_BUILD_DIR ?= $(or $(BUILD),build)/mbedtls
MBEDTLS_INC       := -I$(MBEDTLS_DIR)/include -DMBEDTLS_CONFIG_FILE='"$(MBEDTLS_CONFIG)"'

# The library/*.c files that compile to non-empty objects with config.h. Everything else in library/ is
# #if'd out by the config. If you enable a feature in config.h and the link reports an undefined mbedtls_*
# symbol, add its file here.
MBEDTLS_MODULES := \
  aes asn1parse asn1write base64 bignum bignum_core chacha20 chachapoly cipher cipher_wrap \
  constant_time ctr_drbg ecdh ecdsa ecp ecp_curves entropy entropy_poll gcm hkdf md \
  memory_buffer_alloc oid pem pk pk_ecc pk_wrap pkparse platform platform_util poly1305 \
  psa_crypto psa_crypto_aead psa_crypto_cipher psa_crypto_client psa_crypto_driver_wrappers_no_static \
  psa_crypto_ecp psa_crypto_hash psa_crypto_mac psa_crypto_random psa_crypto_rsa \
  psa_crypto_slot_management psa_util rsa rsa_alt_helpers sha1 sha256 sha512 ssl_ciphersuites \
  ssl_client ssl_msg ssl_tls ssl_tls12_client ssl_tls13_client ssl_tls13_generic ssl_tls13_keys \
  x509 x509_crt

# Flags common to every target: mbedTLS is C99; warnings stay on but are not errors (third-party code).
# No build path may reach an object (reproducible builds): the tree and the config are named relative.
MBEDTLS_COMMON_CFLAGS := -std=c99 -Wall -Wextra -I$(MBEDTLS_DIR)/include -I$(MBEDTLS_DIR)/library \
  -DMBEDTLS_CONFIG_FILE='"$(MBEDTLS_CONFIG)"' -ffile-prefix-map=$(MBEDTLS_DIR)=mbedtls \
  -ffile-prefix-map=$(MBEDTLS_REPO_ROOT)=.
# Release targets: size first; no unwind tables (C code, nothing unwinds through it). The code-generation
# flags are the top-level Makefile's REL_FLAGS (-flto -fno-pie -fomit-frame-pointer): the objects are LTO
# bytecode, optimised together with the program at its link, so the archive is written by <triplet>-gcc-ar
# (ar with GCC's LTO plugin, which indexes the bytecode's symbols).
# The rule below adds -frandom-seed: LTO section names are random otherwise. GCC 12 still writes the source's
# absolute path into an LTO object (the translation unit's name is not remapped), so these intermediate objects
# depend on where the tree is; the linked binary does not (two checkouts give the same bytes).
MBEDTLS_SMALL_CFLAGS := -Os -flto -fno-pie -fomit-frame-pointer -ffunction-sections -fdata-sections \
  -fno-asynchronous-unwind-tables -fno-unwind-tables -DNDEBUG

MBEDTLS_CC_native         ?= $(CC)
MBEDTLS_AR_native         ?= $(AR)
MBEDTLS_CFLAGS_native     ?= -O2 -g
# <triplet>-gcc with musl's specs file (what musl-gcc does): musl's headers instead of glibc's. musl-tools
# provides the host's, musl-dev:<other arch> the other's (/usr/lib/<arch>-linux-musl/musl-gcc.specs).
MBEDTLS_CC_x86_64-musl    ?= x86_64-linux-gnu-gcc -specs /usr/lib/x86_64-linux-musl/musl-gcc.specs
MBEDTLS_AR_x86_64-musl    ?= x86_64-linux-gnu-gcc-ar
MBEDTLS_CFLAGS_x86_64-musl ?= $(MBEDTLS_SMALL_CFLAGS)
MBEDTLS_CC_arm64-musl     ?= aarch64-linux-gnu-gcc -specs /usr/lib/aarch64-linux-musl/musl-gcc.specs
MBEDTLS_AR_arm64-musl     ?= aarch64-linux-gnu-gcc-ar
MBEDTLS_CFLAGS_arm64-musl ?= $(MBEDTLS_SMALL_CFLAGS)

# 60 long compile lines per target drown the rest of the build log: print one short line per object
# unless V=1.
ifeq ($(V),1)
MBEDTLS_Q :=
else
MBEDTLS_Q = @echo "  CC      mbedtls/$(notdir $(@D:/obj=))/$(notdir $@)";
endif

MBEDTLS_TARGETS := native x86_64-musl arm64-musl
MBEDTLS_SOURCE_MARKER := $(MBEDTLS_DIR)/include/mbedtls/build_info.h

.PHONY: mbedtls-source mbedtls-libs mbedtls-fetch
mbedtls-source: $(MBEDTLS_SOURCE_MARKER)

# A custom MBEDTLS_DIR (command line or environment) is used as it is: nothing to fetch.
mbedtls-fetch:
ifeq ($(filter command line environment,$(origin MBEDTLS_DIR)),)
	@MBEDTLS_SRC="$(MBEDTLS_SRC)" bash $(MBEDTLS_MK_DIR)/fetch.sh $(MBEDTLS_DEPS_DIR)
endif

# Only the default tree can be fetched; a custom MBEDTLS_DIR must already exist. fetch.sh may select
# another 3.6.x than this make read at start-up: then this make's paths are stale and it says so.
$(MBEDTLS_SOURCE_MARKER):
	@case "$(MBEDTLS_DIR)" in $(MBEDTLS_DEPS_DIR)/mbedtls-$(MBEDTLS_VERSION)) ;; \
	  *) echo "mbedtls.mk: $(MBEDTLS_DIR) is missing" >&2; exit 1;; esac
	@MBEDTLS_SRC="$(MBEDTLS_SRC)" bash $(MBEDTLS_MK_DIR)/fetch.sh $(MBEDTLS_DEPS_DIR)
	@test -f $@ || { echo "mbedtls.mk: fetch.sh selected mbedTLS $$(sed -n 's/^version=//p' $(MBEDTLS_SELECTED)), not $(MBEDTLS_VERSION): run make again" >&2; exit 1; }

# mbedtls_rules(target): objects, dependency files and the archive for one target.
define mbedtls_rules
MBEDTLS_OBJS_$(1) := $$(patsubst %,$$(MBEDTLS_BUILD_DIR)/$(1)/obj/%.o,$$(MBEDTLS_MODULES))
MBEDTLS_LIB_$(1)  := $$(MBEDTLS_BUILD_DIR)/$(1)/libmbedtls_all.a

# The objects are rebuilt when the config or the compile command changes (a stamp rewritten only then).
MBEDTLS_STAMP_$(1) := $$(MBEDTLS_BUILD_DIR)/$(1)/cflags
MBEDTLS_CMD_$(1)   := $$(MBEDTLS_CC_$(1)) $$(MBEDTLS_CFLAGS_$(1)) $$(MBEDTLS_COMMON_CFLAGS) | $$(MBEDTLS_AR_$(1))
ifneq ($$(file <$$(MBEDTLS_STAMP_$(1))),$$(MBEDTLS_CMD_$(1)))
$$(shell mkdir -p $$(MBEDTLS_BUILD_DIR)/$(1))
$$(file >$$(MBEDTLS_STAMP_$(1)),$$(MBEDTLS_CMD_$(1)))
endif

$$(MBEDTLS_OBJS_$(1)): $$(MBEDTLS_BUILD_DIR)/$(1)/obj/%.o: $$(MBEDTLS_DIR)/library/%.c $$(MBEDTLS_CONFIG) \
                       $$(MBEDTLS_STAMP_$(1)) | $$(MBEDTLS_SOURCE_MARKER)
	@mkdir -p $$(@D)
	$$(MBEDTLS_Q)$$(MBEDTLS_CC_$(1)) $$(MBEDTLS_CFLAGS_$(1)) $$(MBEDTLS_COMMON_CFLAGS) -frandom-seed=$$@ -MMD -MP \
	  -c $$< -o $$@

# Built under a temporary name and renamed, so an interrupted or concurrent build never leaves a
# half-written archive that a later link would accept.
$$(MBEDTLS_LIB_$(1)): $$(MBEDTLS_OBJS_$(1))
	@rm -f $$@.tmp
	@echo "  AR      $$@"
	@$$(MBEDTLS_AR_$(1)) rcs $$@.tmp $$^
	@mv -f $$@.tmp $$@

-include $$(MBEDTLS_OBJS_$(1):.o=.d)
endef
$(foreach t,$(MBEDTLS_TARGETS),$(eval $(call mbedtls_rules,$(t))))

# The library sources exist only once fetched: an explicit (not pattern) rule with an empty recipe tells
# make they come with the marker, without opening implicit-rule chains.
MBEDTLS_SRCS := $(patsubst %,$(MBEDTLS_DIR)/library/%.c,$(MBEDTLS_MODULES))
$(MBEDTLS_SRCS): | $(MBEDTLS_SOURCE_MARKER) ;

mbedtls-libs: $(foreach t,$(MBEDTLS_TARGETS),$(MBEDTLS_LIB_$(t)))
