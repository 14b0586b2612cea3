#!/usr/bin/env bash
# fetch.sh [DEST_DIR] — make $DEST/mbedtls-3.6.6 (the mbedTLS 3.6 LTS source tree we build against).
#
# DEST defaults to .deps at the repository root (git-ignored). Sources, in order:
#   1. $MBEDTLS_SRC: a tarball (.tar.bz2/.tar.gz/.tgz/.tar.xz) is extracted; its SHA-256 is checked
#      when it carries the pinned file name. A directory is used as-is (unverified: a warning says so).
#   2. $DEST/mbedtls_3.6.6.orig.tar.bz2 with the pinned SHA-256: extracted.
#   3. Debian trixie's source package: a deb-src-only apt source is added (never a `deb` line, which
#      would let apt upgrade the system to trixie), then `apt-get source --download-only mbedtls`
#      inside $DEST, then step 2.
# A hash mismatch is a hard error naming both hashes. Quiet and idempotent once the tree exists.
set -euo pipefail

readonly VERSION=3.6.6
readonly PINNED_NAME="mbedtls_${VERSION}.orig.tar.bz2"
readonly PINNED_SHA256=8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
readonly APT_SOURCE_FILE=/etc/apt/sources.list.d/appconfig-trixie-src.sources

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${1:-"$repo_root/.deps"}
tree="$dest/mbedtls-$VERSION"

say() { echo "fetch.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# A tree counts as done only when the marker of a finished extraction is present, so an interrupted
# extraction is redone rather than silently half-used.
tree_complete() { [ -f "$1/include/mbedtls/build_info.h" ] && [ -d "$1/library" ]; }

verify_sha256() { # file
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$PINNED_SHA256" ]; then
    die "SHA-256 mismatch for $1: expected $PINNED_SHA256, got $got"
  fi
}

extract() { # tarball — into $tree, atomically (extract to a temp dir, then rename)
  local tarball=$1 tmp top
  mkdir -p "$dest"
  tmp=$(mktemp -d "$dest/.extract.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  case "$tarball" in
    *.tar.bz2) tar -xjf "$tarball" -C "$tmp" ;;
    *.tar.gz|*.tgz) tar -xzf "$tarball" -C "$tmp" ;;
    *.tar.xz) tar -xJf "$tarball" -C "$tmp" ;;
    *) die "unsupported archive type: $tarball" ;;
  esac
  # Release tarballs hold one top-level directory (mbedtls-3.6.6 upstream; the Debian orig is the same).
  top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n 2)
  [ "$(printf '%s\n' "$top" | wc -l)" -eq 1 ] || die "$tarball: expected exactly one top-level directory"
  tree_complete "$top" || die "$tarball: does not look like an mbedTLS source tree"
  rm -rf "$tree"
  mv "$top" "$tree"
  rm -rf "$tmp"
  trap - EXIT
}

if tree_complete "$tree"; then
  exit 0
fi

# Two builds (e.g. two make invocations) may start at once: serialise, then re-check.
mkdir -p "$dest"
exec 9>"$dest/.fetch.lock"
flock 9
if tree_complete "$tree"; then
  exit 0
fi

# 1. Explicit source.
if [ -n "${MBEDTLS_SRC:-}" ]; then
  if [ -d "$MBEDTLS_SRC" ]; then
    tree_complete "$MBEDTLS_SRC" || die "MBEDTLS_SRC=$MBEDTLS_SRC is not an mbedTLS source tree"
    say "warning: using directory $MBEDTLS_SRC as-is (unverified: no checksum for a directory)"
    mkdir -p "$dest"
    src_abs=$(cd "$MBEDTLS_SRC" && pwd)
    if [ "$src_abs" != "$(cd "$dest" && pwd)/mbedtls-$VERSION" ]; then
      rm -rf "$tree"
      cp -a "$src_abs" "$tree"
    fi
    exit 0
  fi
  [ -f "$MBEDTLS_SRC" ] || die "MBEDTLS_SRC=$MBEDTLS_SRC does not exist"
  if [ "$(basename "$MBEDTLS_SRC")" = "$PINNED_NAME" ]; then
    verify_sha256 "$MBEDTLS_SRC"
  else
    say "warning: $MBEDTLS_SRC is not $PINNED_NAME; extracting it unverified"
  fi
  extract "$MBEDTLS_SRC"
  exit 0
fi

# 2. Pinned tarball already downloaded.
if [ -f "$dest/$PINNED_NAME" ]; then
  verify_sha256 "$dest/$PINNED_NAME"
  extract "$dest/$PINNED_NAME"
  exit 0
fi

# 3. Debian trixie source package (needs root for the apt source; apt-get source needs no root).
say "downloading the mbedTLS $VERSION source package from Debian trixie"
# Skip adding ours when some deb-src trixie entry already exists (apt warns about duplicates otherwise).
have_trixie_src() {
  grep -qsE '^deb-src .* trixie( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null && return 0
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -qsE '^Types:.*deb-src' "$f" && grep -qsE '^Suites:.*\btrixie\b' "$f" && return 0
  done
  return 1
}
if ! have_trixie_src; then
  [ "$(id -u)" -eq 0 ] || die "need root to write $APT_SOURCE_FILE (or set MBEDTLS_SRC)"
  cat > "$APT_SOURCE_FILE" <<'SRC'
# Added by appconfig-extension src/mbedtls/fetch.sh: source packages only (Types: deb-src), so that
# `apt-get source mbedtls` can fetch 3.6.x; no binary packages, hence no system upgrade to trixie.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq || die "apt-get update failed"
fi
mkdir -p "$dest"
( cd "$dest" && apt-get source --download-only -qq mbedtls ) || die "apt-get source mbedtls failed"
[ -f "$dest/$PINNED_NAME" ] || die "apt-get source did not produce $dest/$PINNED_NAME (trixie may have moved past $VERSION; set MBEDTLS_SRC)"
verify_sha256 "$dest/$PINNED_NAME"
extract "$dest/$PINNED_NAME"
