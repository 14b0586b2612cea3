#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, when missing
# (Debian 12; run as root, or prints the command to run).
set -euo pipefail
native=(g++ make python3 curl openssl zip unzip clang libclang-rt-14-dev libgtest-dev musl-tools
        g++-aarch64-linux-gnu qemu-user-static wrk nginx-light bzip2 xz-utils ca-certificates dpkg-dev binutils)
arm64=(musl-dev:arm64)
missing=()
for p in "${native[@]}" "${arm64[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing packages: ${missing[*]}" >&2
  echo "run as root: dpkg --add-architecture arm64 && apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
