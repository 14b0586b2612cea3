#!/usr/bin/env bash
# deps.sh [PROFILE...] — installs the Debian/Ubuntu packages one make target needs, when missing.
# Quiet and fast (one dpkg-query) when everything is there; run as root, or prints the command to run.
#
# Profiles (docs/building.md lists the packages of each):
#   base     make + what src/mbedtls/fetch.sh needs (tar's bzip2/xz, the Debian archive keyring)
#   host     base + the compiler and musl for a static binary of this machine's architecture (run, install)
#   release  host + the cross compiler and musl of the other architecture (release, size)
#   layer    release + zip                                  dist: layer + python3 (the SBOM writer)
#   native   base + $CXX (g++ or clang)                     debug: native + GoogleTest
#   fuzz     base + clang and its libFuzzer runtime         bench: host + wrk, nginx, openssl, curl
#   test     everything the test suites use
# x86_64 and arm64 hosts: "the other architecture" is arm64 on x86_64 and x86_64 on arm64.
set -euo pipefail

# --list: print the packages the profiles need (installed or not) and stop.
list_only=0
[ "${1:-}" = --list ] && { list_only=1; shift; }
profiles=("${@:-test}")
host_deb=$(dpkg --print-architecture)
case "$host_deb" in
  amd64) other_deb=arm64 other_cross=g++-aarch64-linux-gnu ;;
  arm64) other_deb=amd64 other_cross=g++-x86-64-linux-gnu ;;
  *) echo "deps.sh: unsupported build host architecture $host_deb (x86_64 and arm64 are)" >&2; exit 1 ;;
esac
# shellcheck disable=SC1091
distro=$(. /etc/os-release && echo "${ID:-debian}")

cxx_package() { # the package that provides $CXX (clang++ → clang; anything else → g++)
  case "$(basename "${CXX:-g++}")" in clang++*|clang*) echo clang ;; *) echo g++ ;; esac
}

want=()
add() { want+=("$@"); }
add_profile() {
  case "$1" in
    base)    add make bzip2 xz-utils ca-certificates debian-archive-keyring ;;
    host)    add_profile base; add g++ musl-tools ;;
    release) add_profile host; add "$other_cross" "musl-dev:$other_deb" ;;
    layer)   add_profile release; add zip ;;
    dist)    add_profile layer; add python3 ;;
    native)  add_profile base; add "$(cxx_package)" ;;
    debug)   add_profile native; add g++ libgtest-dev ;;
    fuzz)    add_profile base; add clang clang-rt ;;
    run)     add_profile host; add curl ;;
    bench)   add_profile host; add wrk nginx openssl curl python3 ;;
    test)    add_profile layer; add_profile debug; add_profile fuzz; add_profile bench
             add python3 unzip qemu-user-static binutils dpkg-dev gpg gpg-agent ;;
    *) echo "deps.sh: unknown profile $1" >&2; exit 1 ;;
  esac
}
for p in "${profiles[@]}"; do add_profile "$p"; done

if [ $list_only = 1 ]; then printf '%s\n' "${want[@]}" | sort -u; exit 0; fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
# clang's sanitizer and libFuzzer runtime is packaged per clang major version (14 on Debian 12, 19 on 13).
clang_rt_package() {
  local major
  major=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
  [ -n "$major" ] && echo "libclang-rt-$major-dev"
}
# nginx-light (Debian 12's small build) is gone from newer suites; plain nginx does the same job here.
satisfied() {
  case "$1" in
    nginx) installed nginx-light || installed nginx ;;
    clang-rt) local rt; rt=$(clang_rt_package) && [ -n "$rt" ] && { installed "$rt" ||
                { ! apt-cache show "$rt" >/dev/null 2>&1 && installed "${rt/libclang-rt-/libclang-common-}"; }; } ;;
    *) installed "$1" ;;
  esac
}

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do satisfied "$p" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0

needs_other=0
for p in "${missing[@]}"; do [[ "$p" == *":$other_deb" ]] && needs_other=1; done
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}" >&2
  echo "deps.sh: run as root: $([ $needs_other = 1 ] && echo "dpkg --add-architecture $other_deb && ")apt-get update && apt-get install -y ${missing[*]/clang-rt/clang}" >&2
  exit 1
fi
if [ $needs_other = 1 ] && ! dpkg --print-foreign-architectures | grep -qx "$other_deb"; then
  if [ "$distro" = ubuntu ]; then
    # Ubuntu serves amd64 from archive.ubuntu.com but arm64 from ports.ubuntu.com: adding the architecture
    # without a ports source would make every later `apt-get update` fail, so that one-time step is the
    # administrator's (docs/building.md, "Ubuntu").
    echo "deps.sh: musl-dev:$other_deb comes from Ubuntu's other archive (ports.ubuntu.com for arm64)." >&2
    echo "deps.sh: set it up once as docs/building.md (\"Ubuntu\") shows, then run make again." >&2
    exit 1
  fi
  dpkg --add-architecture "$other_deb"
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps.sh: installing ${missing[*]}"
apt-get update -qq
candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -qv '(none)'; }
resolved=()
for p in "${missing[@]}"; do
  case "$p" in
    nginx) if candidate nginx-light; then resolved+=(nginx-light); else resolved+=(nginx); fi ;;
    clang-rt) ;;  # after clang itself, below
    *) resolved+=("$p") ;;
  esac
done
[ ${#resolved[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends "${resolved[@]}" >/dev/null
if printf '%s\n' "${missing[@]}" | grep -qx clang-rt; then
  rt=$(clang_rt_package) || { echo "deps.sh: clang is not runnable after installing it" >&2; exit 1; }
  # Older LLVM packaging (e.g. Ubuntu 22.04's clang 14) ships the runtime in libclang-common-N-dev.
  candidate "$rt" || rt=${rt/libclang-rt-/libclang-common-}
  apt-get install -y -qq --no-install-recommends "$rt" >/dev/null
fi
