#!/usr/bin/env bash
# fetch.sh [DEST_DIR] — make $DEST/mbedtls-<version> (the mbedTLS 3.6 LTS source tree we build against) and
# record what was used in $DEST/mbedtls.selected (read by mbedtls.mk, the SBOM and `make dist`).
#
# DEST defaults to .deps at the repository root (git-ignored). Sources, in order:
#   1. $MBEDTLS_SRC: a tarball (.tar.bz2/.tar.gz/.tgz/.tar.xz) is extracted; its SHA-256 is checked when it
#      carries the pinned file name. A directory is used as-is (unverified: a warning says so).
#   2. $DEST/mbedtls_3.6.6.orig.tar.bz2 with the pinned SHA-256: extracted.
#   3. Debian's signed archive, at the mirror this host's apt sources already use: the source package
#      `mbedtls` from trixie, trixie-security, forky and sid. The pinned 3.6.6 is taken when any suite still
#      offers it (and its tarball must match the pinned SHA-256); otherwise the newest 3.6.x (the LTS branch)
#      that any of them offers, and the script says so. Never a 2.x or 4.x: only those → a clear error.
#      `apt-get source` checks the files against the archive's signed index (the keyring named by the host's
#      Signed-By, else the Debian archive keyring). Everything apt writes for this lives in a private temporary
#      directory (its own sources list, lists, cache): the host's /etc/apt and /var/lib/apt are untouched and no
#      root is needed.
# Every tree must be mbedTLS 3.6.x (read from its build_info.h). A hash mismatch is a hard error naming both
# hashes. Quiet and idempotent once the tree exists.
#
# Environment: MBEDTLS_SRC (above); MBEDTLS_SUITES (default "trixie trixie-security forky sid");
# MBEDTLS_PIN_VERSION / MBEDTLS_PIN_SHA256 replace the pin (the offline tests use them with a fake archive);
# APT_CONFIG is honoured as by apt itself (it names the apt configuration whose sources give the mirror).
set -euo pipefail

readonly PIN_VERSION=${MBEDTLS_PIN_VERSION:-3.6.6}
readonly PIN_SHA256=${MBEDTLS_PIN_SHA256:-8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a}
readonly PIN_NAME="mbedtls_${PIN_VERSION}.orig.tar.bz2"
readonly SUITES=${MBEDTLS_SUITES:-"trixie trixie-security forky sid"}
readonly DEFAULT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# The LTS branch we accept; anything else (2.28 LTS, 4.x) has a different API.
readonly LTS_RE='^3\.6\.[0-9]+$'

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${1:-"$repo_root/.deps"}
record="$dest/mbedtls.selected"

say() { echo "fetch.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Every temporary directory is registered here and removed on any exit (one global trap: a trap naming a
# function's `local` would fire after that local is gone).
temps=()
cleanup() { local t; for t in "${temps[@]}"; do rm -rf "$t"; done; }
trap cleanup EXIT
new_temp() { local t; t=$(mktemp -d "${TMPDIR:-/tmp}/appconfig-mbedtls.XXXXXX"); temps+=("$t"); echo "$t"; }

# A tree counts as done only when the marker of a finished extraction is present, so an interrupted
# extraction is redone rather than silently half-used.
tree_complete() { [ -f "$1/include/mbedtls/build_info.h" ] && [ -d "$1/library" ]; }

# The version a tree declares (MBEDTLS_VERSION_STRING "3.6.6"), the authority over any file name.
tree_version() {
  sed -n 's/^#define MBEDTLS_VERSION_STRING[[:space:]]*"\([^"]*\)".*/\1/p' "$1/include/mbedtls/build_info.h" | head -n 1
}

require_lts() { # version what
  [[ "$1" =~ $LTS_RE ]] || die "$2 is mbedTLS ${1:-<unknown version>}; only the 3.6 LTS branch (3.6.x) is supported"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

verify_pinned() { # file
  local got
  got=$(sha256_of "$1")
  [ "$got" = "$PIN_SHA256" ] || die "SHA-256 mismatch for $1: expected $PIN_SHA256, got $got"
}

# write_record version source sha256 [debian_version suite] — mbedtls.mk reads version=; make dist the rest.
write_record() {
  {
    echo "version=$1"
    echo "dir=mbedtls-$1"
    echo "source=$2"
    echo "sha256=$3"
    echo "debian_version=${4:-}"
    echo "suite=${5:-}"
  } > "$record.tmp"
  mv -f "$record.tmp" "$record"
}

extract() { # tarball → $dest/mbedtls-<its version>, atomically (extract to a temp dir, then rename); prints version
  local tarball=$1 tmp top version
  tmp=$(mktemp -d "$dest/.extract.XXXXXX")
  temps+=("$tmp")
  case "$tarball" in
    *.tar.bz2) command -v bzip2 >/dev/null || die "bzip2 is not installed (make deps installs it)"
               tar -xjf "$tarball" -C "$tmp" ;;
    *.tar.gz|*.tgz) tar -xzf "$tarball" -C "$tmp" ;;
    *.tar.xz) command -v xz >/dev/null || die "xz is not installed (make deps installs xz-utils)"
              tar -xJf "$tarball" -C "$tmp" ;;
    *) die "unsupported archive type: $tarball" ;;
  esac
  # Release tarballs hold one top-level directory (mbedtls-3.6.6 upstream; the Debian orig is the same).
  top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n 2)
  [ "$(printf '%s\n' "$top" | wc -l)" -eq 1 ] || die "$tarball: expected exactly one top-level directory"
  tree_complete "$top" || die "$tarball: does not look like an mbedTLS source tree"
  version=$(tree_version "$top")
  require_lts "$version" "$tarball"
  rm -rf "${dest:?}/mbedtls-$version"
  mv "$top" "$dest/mbedtls-$version"
  echo "$version"
}

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
record="$dest/mbedtls.selected"

recorded() { sed -n "s/^$1=//p" "$record" 2>/dev/null | head -n 1; }
src_key=""
[ -n "${MBEDTLS_SRC:-}" ] && src_key="MBEDTLS_SRC:$(realpath -m "$MBEDTLS_SRC")"
already_done() {
  local v; v=$(recorded version)
  [ -n "$v" ] && tree_complete "$dest/mbedtls-$v" || return 1
  # An explicit MBEDTLS_SRC must be the one recorded; otherwise any recorded tree will do.
  [ -z "$src_key" ] || [ "$(recorded source)" = "$src_key" ]
}
already_done && exit 0

# Two builds (e.g. two make invocations) may start at once: serialise, then re-check.
exec 9>"$dest/.fetch.lock"
flock 9
already_done && exit 0

# ---------------------------------------------------------------- 1. explicit source
if [ -n "${MBEDTLS_SRC:-}" ]; then
  if [ -d "$MBEDTLS_SRC" ]; then
    tree_complete "$MBEDTLS_SRC" || die "MBEDTLS_SRC=$MBEDTLS_SRC is not an mbedTLS source tree"
    version=$(tree_version "$MBEDTLS_SRC")
    require_lts "$version" "MBEDTLS_SRC=$MBEDTLS_SRC"
    say "warning: using directory $MBEDTLS_SRC as-is (unverified: no checksum for a directory)"
    src_abs=$(cd "$MBEDTLS_SRC" && pwd)
    if [ "$src_abs" != "$dest/mbedtls-$version" ]; then
      rm -rf "${dest:?}/mbedtls-$version"
      cp -a "$src_abs" "$dest/mbedtls-$version"
    fi
    write_record "$version" "$src_key" "unverified-directory"
    say "mbedTLS $version from directory $MBEDTLS_SRC"
    exit 0
  fi
  [ -f "$MBEDTLS_SRC" ] || die "MBEDTLS_SRC=$MBEDTLS_SRC does not exist"
  if [ "$(basename "$MBEDTLS_SRC")" = "$PIN_NAME" ]; then
    verify_pinned "$MBEDTLS_SRC"
  else
    say "warning: $MBEDTLS_SRC is not $PIN_NAME; extracting it unverified"
  fi
  version=$(extract "$MBEDTLS_SRC")
  write_record "$version" "$src_key" "$(sha256_of "$MBEDTLS_SRC")"
  say "mbedTLS $version from $MBEDTLS_SRC"
  exit 0
fi

# ---------------------------------------------------------------- 2. pinned tarball already downloaded
if [ -f "$dest/$PIN_NAME" ]; then
  verify_pinned "$dest/$PIN_NAME"
  version=$(extract "$dest/$PIN_NAME")
  [ "$version" = "$PIN_VERSION" ] || die "$dest/$PIN_NAME holds mbedTLS $version, not $PIN_VERSION"
  write_record "$version" "pinned:$PIN_NAME" "$PIN_SHA256"
  exit 0
fi

# ---------------------------------------------------------------- 3. Debian's signed archive
# The host's own sources (whatever apt itself reads: APT_CONFIG, Dir::Etc) name the mirror, and maybe a proxy
# in apt.conf, which our private apt calls inherit since only the Dir:: settings below are replaced.
host_list=/etc/apt/sources.list host_parts=/etc/apt/sources.list.d
eval "$(apt-config shell host_list Dir::Etc::SourceList/f host_parts Dir::Etc::SourceParts/d 2>/dev/null)" || true

# Prints "uri suite keyring" for every binary or source entry of the host (one-line and deb822 formats).
host_entries() {
  local f
  if [ -f "$host_list" ]; then f=$host_list; parse_list "$f"; fi
  for f in "$host_parts"/*.list; do [ -f "$f" ] && parse_list "$f"; done
  for f in "$host_parts"/*.sources; do [ -f "$f" ] && parse_deb822 "$f"; done
  return 0
}
parse_list() { # deb [opts] uri suite components...
  awk '
    /^[[:space:]]*(deb|deb-src)[[:space:]]/ {
      sub(/#.*/, ""); n = split($0, w, /[[:space:]]+/); i = 1; while (w[i] == "") i++
      i++; keyring = "-"
      if (w[i] ~ /^\[/) {
        while (1) { if (w[i] ~ /^\[?signed-by=/) { k = w[i]; sub(/^\[?signed-by=/, "", k); sub(/\]$/, "", k); keyring = k }
                    if (w[i] ~ /\]$/) break; i++ }
        i++
      }
      print w[i], w[i+1], keyring
    }' "$1"
}
parse_deb822() { # stanzas of Types/URIs/Suites/Signed-By; an inline key block counts as "no keyring file"
  awk '
    function flush() { if (types ~ /deb/ && enabled !~ /^[Nn]o/) { nu = split(uris, u, /[[:space:]]+/); ns = split(suites, s, /[[:space:]]+/)
                         for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) if (u[a] != "" && s[b] != "") print u[a], s[b], (key ~ /^\// ? key : "-") }
                       types = uris = suites = key = enabled = "" }
    /^[[:space:]]*#/ { next }
    /^[[:space:]]*$/ { flush(); next }
    /^Types:/      { sub(/^Types:[[:space:]]*/, "");      types = $0; next }
    /^URIs:/       { sub(/^URIs:[[:space:]]*/, "");       uris = $0; next }
    /^Suites:/     { sub(/^Suites:[[:space:]]*/, "");     suites = $0; next }
    /^Enabled:/    { sub(/^Enabled:[[:space:]]*/, "");    enabled = $0; next }
    /^Signed-By:/  { sub(/^Signed-By:[[:space:]]*/, "");  key = $0; next }
    END { flush() }' "$1"
}

# Debian suites this mirror choice applies to; an Ubuntu host has none of them (see docs/building.md).
debian_suite_re='^(buster|bullseye|bookworm|trixie|forky|duke|sid|unstable|testing|stable|oldstable)(-updates|-backports|-proposed-updates)?$'
main_uri="" main_key="" security_uri="" security_key=""
while read -r uri suite key; do
  if [ -z "$main_uri" ] && [[ "$suite" =~ $debian_suite_re ]]; then main_uri=$uri main_key=$key; fi
  if [ -z "$security_uri" ] && { [[ "$suite" =~ ^[a-z]+-security$ ]] || [[ "$suite" =~ ^[a-z]+/updates$ ]]; }; then
    security_uri=$uri security_key=$key
  fi
done < <(host_entries)
[ -n "$main_uri" ] || die "no Debian archive in this host's apt sources ($host_list, $host_parts); set MBEDTLS_SRC=<mbedtls 3.6.x tarball or directory> (see docs/building.md)"
keyring_for() { if [ "$1" != "-" ] && [ -n "$1" ]; then echo "$1"; else echo "$DEFAULT_KEYRING"; fi; }
main_key=$(keyring_for "$main_key")
[ -f "$main_key" ] || die "keyring $main_key is missing (install debian-archive-keyring)"

work=$(new_temp)
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial" "$work/download"
{
  for s in $SUITES; do
    if [[ "$s" == *-security ]]; then
      [ -n "$security_uri" ] || { say "note: no security mirror in this host's sources; skipping $s"; continue; }
      echo "deb-src [signed-by=$(keyring_for "$security_key")] $security_uri $s main"
    else
      echo "deb-src [signed-by=$main_key] $main_uri $s main"
    fi
  done
} > "$work/sources.list"
# As root apt downloads as the unprivileged _apt user: it must be able to write where it downloads.
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chmod 755 "$work"; chown -R _apt "$work/lists" "$work/cache" "$work/download"; fi

apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Dir::Cache::pkgcache="
             -o "Dir::Cache::srcpkgcache=" -o "Dir::State::status=/dev/null" -o "Acquire::Languages=none"
             -o "APT::Get::List-Cleanup=false" -o "Debug::NoLocking=true")

say "looking for mbedTLS 3.6.x source packages at $main_uri ($SUITES)"
# A suite this mirror lacks (a partial mirror), or whose index fails its signature check, is left out with
# apt's own message; the choice is made among the suites whose signed index apt accepted.
apt-get "${apt_private[@]}" update -q >"$work/update.log" 2>&1 || true
grep -E '^(W|E):' "$work/update.log" >&2 || true

# "version suite" of every mbedtls source package the signed indexes list.
offers=$(apt-cache "${apt_private[@]}" madison mbedtls 2>/dev/null |
         awk -F'|' '$3 ~ /Sources/ { gsub(/ /, "", $2); split($3, w, " "); sub(/\/.*/, "", w[2]); print $2, w[2] }')
[ -n "$offers" ] || die "no signed index of $SUITES at $main_uri lists an mbedtls source package (apt's messages above); set MBEDTLS_SRC=<mbedtls 3.6.x tarball> to build offline"

upstream_of() { local v=${1#*:}; echo "${v%-*}"; }
best="" best_suite="" pin_seen=""
while read -r v s; do
  up=$(upstream_of "$v")
  [[ "$up" =~ $LTS_RE ]] || continue
  if [ "$up" = "$PIN_VERSION" ]; then
    if [ -z "$pin_seen" ] || dpkg --compare-versions "$v" gt "$pin_seen"; then pin_seen=$v pin_suite=$s; fi
  fi
  if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v best_suite=$s; fi
done <<< "$offers"

if [ -n "$pin_seen" ]; then
  chosen=$pin_seen chosen_suite=$pin_suite
  say "downloading the pinned mbedTLS $PIN_VERSION (Debian $chosen, $chosen_suite)"
elif [ -n "$best" ]; then
  chosen=$best chosen_suite=$best_suite
  say "the pinned mbedTLS $PIN_VERSION is no longer in the archive; using mbedTLS $(upstream_of "$chosen") (Debian $chosen from $chosen_suite), verified against the archive's signed index"
else
  die "no mbedTLS 3.6.x in $SUITES at $main_uri (offered: $(echo "$offers" | tr '\n' ',' | sed 's/,$//; s/,/, /g')); only the 3.6 LTS branch is supported: set MBEDTLS_SRC=<mbedtls 3.6.x tarball>"
fi

if ! (cd "$work/download" && apt-get "${apt_private[@]}" source --download-only -q "mbedtls=$chosen" >"$work/source.log" 2>&1); then
  cat "$work/source.log" >&2
  die "apt-get source mbedtls=$chosen failed (above)"
fi
up=$(upstream_of "$chosen")
orig=$(find "$work/download" -maxdepth 1 -name "mbedtls_${up}.orig.tar.*" ! -name '*.asc' | head -n 1)
[ -n "$orig" ] || die "apt-get source mbedtls=$chosen gave no mbedtls_${up}.orig.tar.* file"
[ "$up" = "$PIN_VERSION" ] && [ "$(basename "$orig")" = "$PIN_NAME" ] && verify_pinned "$orig"
# Keep the downloaded files next to the tree (the pinned tarball makes the next fetch offline).
cp -f "$work/download"/mbedtls_* "$dest/"
version=$(extract "$dest/$(basename "$orig")")
[ "$version" = "$up" ] || die "Debian's mbedtls $chosen holds a tree that says it is $version"
write_record "$version" "debian:$chosen_suite:mbedtls=$chosen" "$(sha256_of "$dest/$(basename "$orig")")" "$chosen" "$chosen_suite"
say "mbedTLS $version ready in $dest/mbedtls-$version"
