#!/usr/bin/env bash
# test/fresh/run.sh DISTRO — the from-source path on a pristine Debian root, as a new user would take it.
#
#   DISTRO: bookworm (Debian 12) or trixie (Debian 13); any suite this host's Debian mirror serves works.
#
# 1. debootstrap --variant=minbase DISTRO from the Debian mirror this host's apt already uses (no URL here).
# 2. The Dockerfile's steps before its COPY, run in the root (read from the Dockerfile, so the two cannot
#    drift): apt-get install git make ca-certificates curl.
# 3. A snapshot of the root (every file's path, size, mode and mtime), then `git clone` of this repository's
#    current commit into the Dockerfile's WORKDIR.
# 4. The README's commands exactly as written, in order (FRESH_STEPS, default "run test layer"; "layer run
#    test" proves `make layer` alone on a pristine root): `make run` must answer the README's first curl
#    with 200; `make test` must end with "N passed, 0 failed"; `make layer` must write both zips.
# 5. The Dockerfile's steps after its COPY (make dist): build/dist/ must hold SHA256SUMS that check and the SBOM.
# 6. Nothing outside the clone changed except what dpkg installed and its state: /etc/apt byte-identical,
#    no file anywhere else that no package owns.
# Not part of `make test`: it needs root, a network path to the mirror, ~3 GB and many minutes. It prints
# each step's time and the mbedTLS version used; it exits non-zero on the first failure.
# FRESH_ROOT (default /var/tmp/appconfig-fresh-DISTRO) is removed first and kept afterwards for a look.
set -euo pipefail

distro=${1:?usage: test/fresh/run.sh bookworm|trixie}
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${FRESH_ROOT:-/var/tmp/appconfig-fresh-$distro}
steps=${FRESH_STEPS:-"run test layer"}
dockerfile="$repo/Dockerfile"
t_start=$(date +%s)

say() { echo "[fresh $distro $(date +%H:%M:%S) +$(( $(date +%s) - t_start ))s] $*"; }
die() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"

# The host's Debian mirror, as apt itself resolves its sources (one-line or deb822, proxies in apt.conf).
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)' 2>/dev/null |
         awk '$3 == "deb" && $2 !~ /-(security|updates|backports)$/ { print $1; exit }')
[ -n "$mirror" ] || die "no Debian mirror in this host's apt sources"
command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get install -y -qq debootstrap >/dev/null; }

mounted=()
cleanup() {
  local i
  # Whatever the README's `make run` left (it is killed below; this is the safety net).
  [ -n "${run_pid:-}" ] && kill -- "-$run_pid" 2>/dev/null || true
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
in_root() { chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 bash -c "$1"; }

# ---------------------------------------------------------------- 1. the pristine root
if [ -d "$root" ]; then
  grep -q " $root/" /proc/mounts && die "$root still has mounts; unmount them first"
  rm -rf "$root"
fi
say "debootstrap $distro from $mirror into $root"
debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
  "$distro" "$root" "$mirror" > "$root.debootstrap.log" 2>&1 || { tail -20 "$root.debootstrap.log"; die "debootstrap"; }
mount -t proc proc "$root/proc"; mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys"; mounted+=("$root/sys")
# /dev with its sub-mounts (pts, shm); a slave, so that nothing done below ever propagates to the host's.
mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"; mounted+=("$root/dev")
# What a fresh machine gets from its provider: name resolution and the site's apt proxy, if any.
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# ... and /etc/hosts, which a VM image or a container runtime writes and debootstrap does not (without it
# "localhost" does not resolve, and the tests' emulators are named localhost).
[ -e "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
apt-config dump | grep -E '^Acquire::(https?|ftp)::Proxy' > "$root/etc/apt/apt.conf.d/00proxy" || rm -f "$root/etc/apt/apt.conf.d/00proxy"

# ---------------------------------------------------------------- 2. the Dockerfile's steps before COPY
# RUN lines of the first (build) stage, split at its COPY; WORKDIR gives the clone's place.
mapfile -t before < <(awk '/^FROM scratch/ {exit} /^COPY/ {exit} /^RUN / {sub(/^RUN /, ""); print}' "$dockerfile")
mapfile -t after < <(awk '/^FROM scratch/ {exit} seen && /^RUN / {sub(/^RUN /, ""); print} /^COPY/ {seen=1}' "$dockerfile")
workdir=$(awk '/^WORKDIR / {print $2; exit}' "$dockerfile")
[ ${#before[@]} -gt 0 ] && [ ${#after[@]} -gt 0 ] && [ -n "$workdir" ] || die "cannot read the steps of $dockerfile"
for cmd in "${before[@]}"; do
  say "RUN $cmd"
  in_root "export DEBIAN_FRONTEND=noninteractive; $cmd" > "$root.setup.log" 2>&1 || { tail -20 "$root.setup.log"; die "$cmd"; }
done

# ---------------------------------------------------------------- 3. snapshot, clone
snapshot() { # every file outside the pseudo file systems and the clone: path, type, mode, size, mtime
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ".$workdir" \) -prune -o \
     -printf '%p %y %m %s %T@\n' | LC_ALL=C sort)
}
etc_apt() { (cd "$root/etc/apt" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; find . | LC_ALL=C sort); }
snapshot > "$root.before"
etc_apt > "$root.etc-apt.before"
commit=$(git -C "$repo" rev-parse HEAD)
say "clone $repo at $commit into $workdir"
git clone -q --no-hardlinks "$repo" "$root$workdir"
git -C "$root$workdir" checkout -q "$commit"

# ---------------------------------------------------------------- 4. the README's commands
# FRESH_PORT (default 2772, the README's) lets two runs, or a run beside another agent, share the host's network.
port=${FRESH_PORT:-2772}
step_run() {
  local readme_url=http://localhost:2772/applications/MyApp/environments/Production/configurations/Settings
  grep -qF "curl -i $readme_url" "$repo/README.md" || die "README no longer shows 'curl -i $readme_url'"
  local url=${readme_url/2772/$port}
  say "make run (in the background, port $port), then curl -i $url"
  setsid chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    AWS_APPCONFIG_EXTENSION_HTTP_PORT="$port" bash -c "cd $workdir && exec make run" > "$root.run.log" 2>&1 &
  run_pid=$!
  local deadline=$(( $(date +%s) + 3600 )) code=""
  while [ "$(date +%s)" -lt "$deadline" ]; do
    kill -0 "$run_pid" 2>/dev/null || { tail -30 "$root.run.log"; die "make run exited before answering"; }
    code=$(in_root "curl -s -o /tmp/fresh-curl.body -w '%{http_code}' $url" 2>/dev/null || true)
    [ "$code" = 200 ] && break
    sleep 5
  done
  [ "$code" = 200 ] || die "make run: no 200 from $url within an hour (last: ${code:-none})"
  # The answer is this agent's: the body is the example file it serves.
  cmp -s "$root/tmp/fresh-curl.body" "$root$workdir/examples/local/MyApp:Production:Settings.json" ||
    die "the 200 from port $port is not examples/local's Settings (another server on that port?)"
  say "make run answered 200: $(head -c 200 "$root/tmp/fresh-curl.body")"
  rm -f "$root/tmp/fresh-curl.body"
  kill -- "-$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  run_pid=""
}
step_test() {
  say "make test"
  in_root "cd $workdir && make test" > "$root.test.log" 2>&1 || true
  local last; last=$(tail -n 1 "$root.test.log")
  say "make test: $last"
  [[ "$last" =~ ^[0-9]+\ passed,\ 0\ failed$ ]] || { grep -A40 '^Failures:' "$root.test.log" | head -60; die "make test"; }
}
step_layer() {
  say "make layer"
  in_root "cd $workdir && make layer" > "$root.layer.log" 2>&1 || { tail -30 "$root.layer.log"; die "make layer"; }
  local a
  for a in x86_64 arm64; do
    [ -s "$root$workdir/build/layer/appconfig-extension-$a.zip" ] || die "make layer wrote no $a zip"
  done
  say "make layer: $(grep -c 'zip ' "$root.layer.log") zips"
}
for s in $steps; do "step_$s"; done

# ---------------------------------------------------------------- 5. the Dockerfile's steps after COPY
for cmd in "${after[@]}"; do
  say "RUN $cmd (Dockerfile)"
  in_root "cd $workdir && $cmd" > "$root.dist.log" 2>&1 || { tail -30 "$root.dist.log"; die "$cmd"; }
done
in_root "cd $workdir/build/dist && sha256sum -c --quiet SHA256SUMS" || die "build/dist/SHA256SUMS does not check"
[ -s "$root$workdir/build/dist/appconfig-extension.spdx.json" ] || die "no SBOM in build/dist"
mbedtls=$(sed -n 's/^version=//p; s/^source=/  from /p' "$root$workdir/.deps/mbedtls.selected" | tr -d '\n')
say "mbedTLS used: $mbedtls"

# ---------------------------------------------------------------- 6. nothing else changed
etc_apt > "$root.etc-apt.after"
diff -u "$root.etc-apt.before" "$root.etc-apt.after" || die "/etc/apt changed"
snapshot > "$root.after"
# Files that appeared or changed, less what dpkg owns or keeps (packages, their state, their caches and
# logs), the root's /tmp, the shell's history.
LC_ALL=C comm -13 "$root.before" "$root.after" | awk '$2 == "f" {print substr($1, 2)}' > "$root.changed"
# Explained: a file a package owns (dpkg lists /bin, /lib… paths that live under /usr on a merged-/usr
# root), one a maintainer script or ucf creates (its path is named in dpkg's control files or ucf's
# registry: /etc/inputrc, /etc/networks, …), Python byte code py3compile writes at install, and dpkg/apt
# state, caches, logs and /tmp. Anything else was written by the build outside the clone.
python3 - "$root" > "$root.unexplained" <<'PY'
import glob, os, re, sys
root = sys.argv[1]
owned, named = set(), ""
for lst in glob.glob(f"{root}/var/lib/dpkg/info/*.list"):
    for p in open(lst, errors="replace").read().split("\n"):
        owned.add(p)
        owned.add(re.sub(r"^/(bin|sbin|lib|lib32|lib64|libx32)/", r"/usr/\1/", p))
for f in glob.glob(f"{root}/var/lib/dpkg/info/*") + [f"{root}/var/lib/ucf/registry"]:
    if not f.endswith((".list", ".md5sums")) and os.path.isfile(f):
        named += open(f, errors="replace").read()
state = re.compile(r"^/(tmp|var/tmp|var/lib/dpkg|var/lib/apt|var/cache|var/log|var/lib/ucf|var/lib/python|"
                   r"var/lib/systemd|root/\.cache|etc/ld\.so\.cache|etc/alternatives|etc/ssl/certs|"
                   r"etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$)|/__pycache__/")
for p in sorted(set(open(f"{root}.changed").read().split("\n")) - {""}):
    if p not in owned and not state.search(p) and p not in named:
        print(p)
PY
if [ -s "$root.unexplained" ]; then
  head -40 "$root.unexplained"
  die "files changed outside the clone that no package owns ($(wc -l < "$root.unexplained"); list in $root.unexplained)"
fi
say "PASS: $distro in $(( $(date +%s) - t_start )) s; mbedTLS $mbedtls; /etc/apt unchanged"
