"""The from-source path: mbedTLS selection (offline, against a signed local archive), the Makefile's
parse-time behaviour and per-compiler header paths, reproducible objects, make dist (SHA256SUMS, the SPDX
SBOM against its schema), layer/publish.sh against a stub aws, the Dockerfile's shape.

None of this needs the network: the "Debian archive" is a file: archive built here with dpkg-scansources and
signed with a key made here; the host's apt sources are replaced through APT_CONFIG, as apt itself allows.
"""
import bz2
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest

from harness import ROOT, BUILD, NAME, release_binary
import schema_check

FETCH = os.path.join(ROOT, "src", "mbedtls", "fetch.sh")
# Bounds: a fetch against the local archive is a few apt calls; make -n parses the Makefile.
FETCH_TIMEOUT_S = 120
MAKE_TIMEOUT_S = 300


def read_text(path):
    with open(path) as f:
        return f.read()


def run(cmd, **kw):
    """subprocess.run that, on failure, says what the command printed."""
    proc = subprocess.run(cmd, capture_output=True, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-2000:]!r}")
    return proc


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fake_orig(version, declared=None):
    """A tiny tarball shaped like an mbedTLS release: one top directory, build_info.h naming the version."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(f"mbedtls-{version}/{name}")
            info.size, info.mtime, info.mode = len(data), 1577836800, 0o644
            tar.addfile(info, io.BytesIO(data))
        add("include/mbedtls/build_info.h",
            f'#define MBEDTLS_VERSION_STRING         "{declared or version}"\n'.encode())
        add("library/aes.c", b"/* fake */\n")
    return bz2.compress(buf.getvalue())


class FakeArchive:
    """A signed Debian-style source archive on disk: suites → mbedtls versions."""

    def __init__(self, root, suites, tamper=None):
        self.root = root
        self.uri = "file:" + os.path.join(root, "archive")
        self.gnupg = os.path.join(root, "gnupg")
        os.makedirs(self.gnupg, mode=0o700)
        env = dict(os.environ, GNUPGHOME=self.gnupg)
        run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
             "--quick-gen-key", "appconfig test archive <test@invalid>", "ed25519", "sign", "never"], env=env)
        self.keyring = os.path.join(root, "archive-key.gpg")
        with open(self.keyring, "wb") as f:
            f.write(run(["gpg", "--export"], env=env).stdout)
        self.origs = {}
        for suite, versions in suites.items():
            pool = os.path.join(root, "archive", "pool", suite)
            os.makedirs(pool, exist_ok=True)
            for debver in versions:
                up = debver.split("-")[0]
                orig = self.origs.setdefault(up, fake_orig(up, (tamper or {}).get(up)))
                self._dsc(pool, debver, up, orig)
            dists = os.path.join(root, "archive", "dists", suite)
            os.makedirs(os.path.join(dists, "main", "source"))
            sources = subprocess.run(["dpkg-scansources", f"pool/{suite}"], cwd=os.path.join(root, "archive"),
                                     check=True, capture_output=True).stdout
            with open(os.path.join(dists, "main", "source", "Sources"), "wb") as f:
                f.write(sources)
            date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(time.time() - 3600))
            release = (f"Origin: Test\nSuite: {suite}\nCodename: {suite}\nDate: {date}\nComponents: main\n"
                       f"Architectures: source\nSHA256:\n {sha256(sources)} {len(sources)} main/source/Sources\n")
            with open(os.path.join(dists, "Release"), "w") as f:
                f.write(release)
            run(["gpg", "--batch", "--yes", "--clearsign", "-o", os.path.join(dists, "InRelease"),
                 os.path.join(dists, "Release")], env=env)

    @staticmethod
    def _dsc(pool, debver, up, orig):
        files = {f"mbedtls_{up}.orig.tar.bz2": orig, f"mbedtls_{debver}.debian.tar.xz": b"fake debian dir\n"}
        for name, data in files.items():
            with open(os.path.join(pool, name), "wb") as f:
                f.write(data)
        lines = [f" {hashlib.md5(d).hexdigest()} {len(d)} {n}" for n, d in files.items()]
        sha = [f" {sha256(d)} {len(d)} {n}" for n, d in files.items()]
        dsc = ("Format: 3.0 (quilt)\nSource: mbedtls\nBinary: libmbedtls-dev\nArchitecture: any\n"
               f"Version: {debver}\nMaintainer: Test <test@invalid>\nChecksums-Sha256:\n" + "\n".join(sha) +
               "\nFiles:\n" + "\n".join(lines) + "\n")
        with open(os.path.join(pool, f"mbedtls_{debver}.dsc"), "w") as f:
            f.write(dsc)


class FetchSelection(unittest.TestCase):
    """src/mbedtls/fetch.sh's choice among what a signed archive offers, and what it leaves behind."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="appconfig-fetch-")
        os.chmod(self.tmp, 0o755)  # apt's _apt sandbox user reads the file: archive

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fetch(self, suites, pin="3.6.6", tamper=None, one_line=True, keyring=None, extra_env=None):
        archive = FakeArchive(self.tmp, suites, tamper)
        host = os.path.join(self.tmp, "host")
        os.makedirs(os.path.join(host, "parts"))
        key = keyring or archive.keyring
        if one_line:
            with open(os.path.join(host, "sources.list"), "w") as f:
                f.write(f"# the host's mirror\ndeb [arch=amd64 signed-by={key}] {archive.uri} bookworm main\n")
        else:
            with open(os.path.join(host, "parts", "debian.sources"), "w") as f:
                f.write(f"Types: deb\nURIs: {archive.uri}\nSuites: bookworm bookworm-updates\n"
                        f"Components: main\nSigned-By: {key}\n")
        conf = os.path.join(host, "apt.conf")
        with open(conf, "w") as f:
            f.write(f'Dir::Etc::SourceList "{host}/sources.list";\nDir::Etc::SourceParts "{host}/parts";\n')
        dest = os.path.join(self.tmp, "deps")
        env = dict(os.environ, APT_CONFIG=conf, MBEDTLS_SUITES=" ".join(suites),
                   MBEDTLS_PIN_VERSION=pin, MBEDTLS_PIN_SHA256=sha256(archive.origs.get(pin, b"")))
        env.pop("MBEDTLS_SRC", None)
        env.update(extra_env or {})
        etc_before = self.etc_apt()
        proc = subprocess.run(["bash", FETCH, dest], env=env, capture_output=True, text=True,
                              timeout=FETCH_TIMEOUT_S)
        self.assertEqual(self.etc_apt(), etc_before, "fetch.sh changed /etc/apt")
        record = {}
        path = os.path.join(dest, "mbedtls.selected")
        if os.path.exists(path):
            record = dict(line.split("=", 1) for line in read_text(path).splitlines())
        return proc, record, dest

    @staticmethod
    def etc_apt():
        state = []
        for d, _, files in os.walk("/etc/apt"):
            for name in files:
                p = os.path.join(d, name)
                st = os.lstat(p)
                state.append((p, st.st_size, st.st_mtime_ns))
        return sorted(state)

    def test_pinned_version_is_preferred_over_newer_3_6(self):
        proc, rec, dest = self.fetch({"trixie": ["3.6.6-1"], "forky": ["3.6.9-1"], "sid": ["4.0.0-1"]})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(rec["version"], "3.6.6")
        self.assertEqual(rec["suite"], "trixie")
        self.assertIn("pinned mbedTLS 3.6.6", proc.stderr)
        self.assertTrue(os.path.isfile(os.path.join(dest, "mbedtls-3.6.6", "include", "mbedtls", "build_info.h")))
        self.assertTrue(os.path.isfile(os.path.join(dest, "mbedtls_3.6.6.orig.tar.bz2")))

    def test_pinned_gone_takes_newest_3_6_and_says_so(self):
        proc, rec, dest = self.fetch({"trixie": ["3.6.7-1"], "forky": ["3.6.9-2", "3.6.8-1"],
                                      "sid": ["4.0.0-1", "3.6.10~rc1-1"]})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        # 3.6.10~rc1 is not a release number of the branch (3.6.<digits> only): 3.6.9 is the newest.
        self.assertEqual(rec["version"], "3.6.9")
        self.assertEqual((rec["suite"], rec["debian_version"]), ("forky", "3.6.9-2"))
        self.assertIn("no longer in the archive; using mbedTLS 3.6.9", proc.stderr)
        self.assertEqual(rec["sha256"], sha256(fake_orig("3.6.9")))
        self.assertTrue(os.path.isdir(os.path.join(dest, "mbedtls-3.6.9", "library")))

    def test_only_4x_and_2x_is_a_clear_error(self):
        proc, rec, dest = self.fetch({"trixie": ["2.28.8-1"], "sid": ["4.0.0-1"]})
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("no mbedTLS 3.6.x", proc.stderr)
        self.assertIn("4.0.0-1", proc.stderr)
        self.assertIn("2.28.8-1", proc.stderr)
        self.assertEqual(rec, {})
        self.assertFalse([d for d in os.listdir(dest) if d.startswith("mbedtls-")])

    def test_pinned_tarball_with_wrong_hash_is_refused(self):
        archive_pin_hash = {"MBEDTLS_PIN_SHA256": "0" * 64}
        proc, rec, dest = self.fetch({"trixie": ["3.6.6-1"]}, extra_env=archive_pin_hash)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("SHA-256 mismatch", proc.stderr)
        self.assertEqual(rec, {})

    def test_tree_that_declares_another_version_is_refused(self):
        # The tarball says 3.6.9 by name but its header says 4.0.0: the header is the authority.
        proc, rec, _ = self.fetch({"trixie": ["3.6.9-1"]}, tamper={"3.6.9": "4.0.0"})
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("only the 3.6 LTS branch", proc.stderr)
        self.assertEqual(rec, {})

    def test_index_signed_by_an_unknown_key_is_not_used(self):
        other = os.path.join(self.tmp, "other-key.gpg")
        gnupg = os.path.join(self.tmp, "other-gnupg")
        os.makedirs(gnupg, mode=0o700)
        env = dict(os.environ, GNUPGHOME=gnupg)
        run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
             "someone else <x@invalid>", "ed25519", "sign", "never"], env=env)
        with open(other, "wb") as f:
            f.write(run(["gpg", "--export"], env=env).stdout)
        proc, rec, _ = self.fetch({"trixie": ["3.6.6-1"]}, keyring=other)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("no signed index", proc.stderr)
        self.assertEqual(rec, {})

    def test_deb822_sources_and_a_suite_the_mirror_lacks(self):
        # The host uses the deb822 format; the mirror has no "sid" at all (a partial mirror).
        archive_suites = {"trixie": ["3.6.7-1"]}
        proc, rec, _ = self.fetch(archive_suites, one_line=False, extra_env={"MBEDTLS_SUITES": "trixie sid"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(rec["version"], "3.6.7")

    def test_second_run_is_quiet_and_offline(self):
        proc, rec, dest = self.fetch({"trixie": ["3.6.6-1"]})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        shutil.rmtree(os.path.join(self.tmp, "archive"))  # the "network" is gone
        again = subprocess.run(["bash", FETCH, dest], capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
        self.assertEqual((again.returncode, again.stderr), (0, ""))

    def test_mbedtls_src_directory_must_be_3_6(self):
        src = os.path.join(self.tmp, "src")
        for version, ok in (("4.0.0", False), ("3.6.8", True)):
            tree = os.path.join(src, version)
            os.makedirs(os.path.join(tree, "include", "mbedtls"))
            os.makedirs(os.path.join(tree, "library"))
            with open(os.path.join(tree, "include", "mbedtls", "build_info.h"), "w") as f:
                f.write(f'#define MBEDTLS_VERSION_STRING "{version}"\n')
            dest = os.path.join(self.tmp, "deps-" + version)
            proc = subprocess.run(["bash", FETCH, dest], env=dict(os.environ, MBEDTLS_SRC=tree),
                                  capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
            self.assertEqual(proc.returncode == 0, ok, proc.stderr)
            if ok:
                rec = read_text(os.path.join(dest, "mbedtls.selected"))
                self.assertIn("version=3.6.8", rec)
                self.assertIn("sha256=unverified-directory", rec)


def make(*args, env=None):
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT, *args], capture_output=True, text=True,
                          env=env, timeout=MAKE_TIMEOUT_S)


class MakefileBehaviour(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="appconfig-make-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stub_compiler(self, name, log, cxx_dir):
        """A compiler that logs each call and reports cxx_dir as its C++ header directory."""
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(f"""#!/bin/sh
echo "$0 $*" >> {log}
case "$*" in
  *-print-file-name=include*) echo /stub/gcc/include ;;
  *-E*-v*) printf '%s\\n' '#include <...> search starts here:' ' {cxx_dir}' ' {cxx_dir}/triplet' ' /usr/include' \
             'End of search list.' >&2 ;;
esac
""")
        os.chmod(path, 0o755)
        return path

    def test_reading_the_makefile_runs_no_compiler(self):
        # On a fresh machine the compilers are installed by the target's first step: reading the Makefile
        # must not ask them anything (the bug: GXX_VER from `$(CXX) -dumpversion` before deps ran).
        log = os.path.join(self.tmp, "calls")
        stubs = {v: self.stub_compiler(v, log, "/stub/c++/1") for v in ("cxx", "cxx_x86_64", "cxx_arm64")}
        proc = make("-n", "deps", f"CXX={stubs['cxx']}", f"CXX_x86_64={stubs['cxx_x86_64']}",
                    f"CXX_arm64={stubs['cxx_arm64']}", f"BUILD={self.tmp}/build")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertFalse(os.path.exists(log), open(log).read() if os.path.exists(log) else "")

    def test_release_headers_come_from_each_architectures_compiler(self):
        log = os.path.join(self.tmp, "calls")
        arm = self.stub_compiler("arm-g++", log, "/stub/arm/c++/13")
        x86 = self.stub_compiler("x86-g++", log, "/stub/x86/c++/11")
        proc = make("-n", "-B", f"BUILD={self.tmp}/build", f"CXX_arm64={arm}", f"CXX_x86_64={x86}",
                    "CXX=/nonexistent/clang++", f"{self.tmp}/build/release/arm64/obj/program/main.o",
                    f"{self.tmp}/build/release/x86_64/obj/program/main.o")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        arm_line = next(line for line in proc.stdout.splitlines() if line.startswith(arm))
        x86_line = next(line for line in proc.stdout.splitlines() if line.startswith(x86))
        self.assertIn("-isystem /stub/arm/c++/13 -isystem /stub/arm/c++/13/triplet", arm_line)
        self.assertIn("-isystem /usr/include/aarch64-linux-musl -isystem /stub/gcc/include", arm_line)
        self.assertNotIn("/stub/x86", arm_line)
        self.assertIn("-isystem /stub/x86/c++/11 -isystem /stub/x86/c++/11/triplet", x86_line)
        self.assertIn("-isystem /usr/include/x86_64-linux-musl", x86_line)
        self.assertNotIn("/usr/include/c++/", arm_line + x86_line)  # never the host's $(CXX) headers

    def test_release_object_does_not_depend_on_checkout_path(self):
        # Two clones in different directories compile the same bytes (-ffile-prefix-map).
        objs = []
        record = read_text(os.path.join(ROOT, ".deps", "mbedtls.selected"))
        version = [l.split("=", 1)[1] for l in record.splitlines() if l.startswith("version=")][0]
        mbedtls_dir = os.path.realpath(os.path.join(ROOT, ".deps", f"mbedtls-{version}"))
        for where in ("a", "longer/path/b"):
            tree = os.path.join(self.tmp, where)
            shutil.copytree(ROOT, tree, symlinks=True,
                            ignore=shutil.ignore_patterns("build", ".git", ".deps", "__pycache__"))
            build = os.path.join(tree, "build")
            proc = subprocess.run(["make", "--no-print-directory", "-C", tree, f"MBEDTLS_DIR={mbedtls_dir}",
                                   "GIT_COMMIT=0123456789ab", "build/release/x86_64/obj/program/main.o"],
                                  capture_output=True, text=True, timeout=MAKE_TIMEOUT_S)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(f"{build}/release/x86_64/obj/program/main.o", "rb") as f:
                objs.append(f.read())
            self.assertNotIn(tree.encode(), objs[-1])
            self.assertNotIn(mbedtls_dir.encode(), objs[-1])
        self.assertEqual(sha256(objs[0]), sha256(objs[1]))

    def test_deps_profiles(self):
        def listing(profile, cxx=None):
            env = dict(os.environ)
            if cxx:
                env["CXX"] = cxx
            out = subprocess.run(["bash", os.path.join(ROOT, ".ci", "deps.sh"), "--list", profile], env=env,
                                 capture_output=True, text=True, check=True).stdout.split()
            return set(out)
        host = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
        other = {"amd64": "arm64", "arm64": "amd64"}[host]
        layer = listing("layer")
        self.assertTrue({"zip", "musl-tools", f"musl-dev:{other}", "bzip2", "make"} <= layer, layer)
        self.assertIn("clang", listing("native", "clang++"))
        self.assertNotIn("clang", listing("native", "g++"))
        self.assertNotIn(f"musl-dev:{other}", listing("host"))
        self.assertIn("python3", listing("dist"))


class Dist(unittest.TestCase):
    """make dist's packaging: SHA256SUMS, the SBOM against its schema, the same bytes twice."""

    @classmethod
    def setUpClass(cls):
        cls.dist = os.path.join(BUILD, "dist")

    def dist_files(self):
        proc = make("_dist", f"BUILD={BUILD}")
        self.assertEqual(proc.returncode, 0, proc.stderr + proc.stdout)
        files = {}
        for name in sorted(os.listdir(self.dist)):
            with open(os.path.join(self.dist, name), "rb") as f:
                files[name] = f.read()
        return files

    def test_dist_twice_is_byte_identical_and_complete(self):
        first = self.dist_files()
        os.utime(release_binary("x86_64"))  # a rebuild-looking touch must not change a byte
        second = self.dist_files()
        self.assertEqual(sorted(first), sorted([
            "SHA256SUMS", f"{NAME}-arm64", f"{NAME}-arm64.zip", f"{NAME}-x86_64", f"{NAME}-x86_64.zip",
            f"{NAME}.spdx.json"]))
        self.assertEqual({k: sha256(v) for k, v in first.items()}, {k: sha256(v) for k, v in second.items()})
        sums = dict(reversed(line.split("  ")) for line in first["SHA256SUMS"].decode().splitlines())
        self.assertEqual(sorted(sums), sorted(k for k in first if k != "SHA256SUMS"))
        for name, digest in sums.items():
            self.assertEqual(sha256(first[name]), digest, name)
        for arch in ("x86_64", "arm64"):
            with open(release_binary(arch), "rb") as f:
                self.assertEqual(first[f"{NAME}-{arch}"], f.read())
            self.assertNotIn(ROOT.encode(), first[f"{NAME}-{arch}"], f"{arch} binary names the build path")

    def test_sbom_validates_and_names_what_was_built(self):
        files = self.dist_files()
        sbom = json.loads(files[f"{NAME}.spdx.json"])
        with open(os.path.join(ROOT, "test", "data", "sbom", "spdx-2.3-subset.schema.json")) as f:
            schema = json.load(f)
        self.assertEqual(schema_check.validate(sbom, schema), [])
        by_name = {}
        for p in sbom["packages"]:
            by_name.setdefault(p["name"], []).append(p)
        mbedtls = by_name["mbedtls"][0]
        selected = os.path.join(ROOT, ".deps", "mbedtls.selected")
        record = dict(l.split("=", 1) for l in read_text(selected).splitlines()) if os.path.exists(selected) else {}
        with open(os.path.join(ROOT, ".deps", f"mbedtls-{mbedtls['versionInfo']}", "include", "mbedtls",
                               "build_info.h")) as f:
            self.assertIn(f'"{mbedtls["versionInfo"]}"', f.read())
        if len(record.get("sha256", "")) == 64:
            self.assertEqual(mbedtls["checksums"], [{"algorithm": "SHA256", "checksumValue": record["sha256"]}])
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or "unknown"
        project = by_name[NAME][0]
        self.assertEqual(project["sourceInfo"], f"git commit {commit}")
        self.assertEqual(len(by_name["musl"]), 2)
        for arch in ("x86_64", "arm64"):
            binary = by_name[f"{NAME}-{arch}"][0]
            self.assertEqual(binary["checksums"][0]["checksumValue"], sha256(files[f"{NAME}-{arch}"]))
        compilers = [p for p in sbom["packages"] if p["SPDXID"].startswith("SPDXRef-compiler-")]
        self.assertEqual(len(compilers), 2)
        for c in compilers:
            self.assertRegex(c["versionInfo"], r"^\d+\.\d+")

    def test_validator_rejects_a_broken_sbom(self):
        with open(os.path.join(ROOT, "test", "data", "sbom", "spdx-2.3-subset.schema.json")) as f:
            schema = json.load(f)
        good = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "x",
                "documentNamespace": "urn:x:1", "creationInfo": {"created": "2026-01-01T00:00:00Z",
                                                                 "creators": ["Tool: t"]},
                "packages": [{"SPDXID": "SPDXRef-a", "name": "a", "downloadLocation": "NOASSERTION"}]}
        self.assertEqual(schema_check.validate(good, schema), [])
        for broken, why in (
                ({**good, "spdxVersion": "SPDX-2.2"}, "expected 'SPDX-2.3'"),
                ({k: v for k, v in good.items() if k != "documentNamespace"}, "'documentNamespace' is missing"),
                ({**good, "packages": [{"SPDXID": "SPDXRef-a", "name": "a"}]}, "'downloadLocation' is missing"),
                ({**good, "creationInfo": {"created": "yesterday", "creators": ["Tool: t"]}}, "does not match"),
                ({**good, "packages": [{**good["packages"][0], "checksums": [{"algorithm": "CRC", "checksumValue": "0"}]}]},
                 "not one of the allowed"),
                ({**good, "files": []}, "'files' is not allowed")):
            errors = schema_check.validate(broken, schema)
            self.assertTrue(any(why in e for e in errors), (why, errors))


class Publish(unittest.TestCase):
    """layer/publish.sh against a stub aws that records its arguments."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="appconfig-publish-")
        self.dist = os.path.join(self.tmp, "dist")
        os.makedirs(self.dist)
        for arch in ("x86_64", "arm64"):
            with open(os.path.join(self.dist, f"{NAME}-{arch}.zip"), "wb") as f:
                f.write(f"zip for {arch}".encode())
        subprocess.run(f"sha256sum {NAME}-x86_64.zip {NAME}-arm64.zip > SHA256SUMS", shell=True, cwd=self.dist,
                       check=True)
        self.calls = os.path.join(self.tmp, "calls.jsonl")
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        with open(os.path.join(bindir, "aws"), "w") as f:
            f.write(f"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open({self.calls!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
def opt(name):
    return args[args.index(name) + 1]
if os.environ.get("STUB_FAIL_REGION") and opt("--region") == os.environ["STUB_FAIL_REGION"]:
    print("An error occurred (AccessDeniedException)", file=sys.stderr)
    sys.exit(254)
if args[:2] == ["lambda", "publish-layer-version"]:
    print(f"arn:aws:lambda:{{opt('--region')}}:123456789012:layer:{{opt('--layer-name')}}:7")
elif args[:2] == ["ssm", "put-parameter"]:
    print('{{"Version": 1}}')
else:
    sys.exit(2)
""")
        os.chmod(os.path.join(bindir, "aws"), 0o755)
        self.env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def publish(self, *args, env=None):
        return subprocess.run(["bash", os.path.join(ROOT, "layer", "publish.sh"), "--dist", self.dist, *args],
                              env=env or self.env, capture_output=True, text=True, timeout=60)

    def recorded(self):
        if not os.path.exists(self.calls):
            return []
        return [json.loads(line) for line in read_text(self.calls).splitlines()]

    def test_publishes_both_zips_in_each_region_and_writes_ssm(self):
        proc = self.publish("--regions", "us-east-1,eu-west-1", "--ssm")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.splitlines(), [
            f"{r} {a} arn:aws:lambda:{r}:123456789012:layer:{NAME}-{a}:7"
            for r in ("us-east-1", "eu-west-1") for a in ("x86_64", "arm64")])
        calls = self.recorded()
        publishes = [c for c in calls if c[:2] == ["lambda", "publish-layer-version"]]
        self.assertEqual(len(publishes), 4)
        for c in publishes:
            arch = c[c.index("--compatible-architectures") + 1]
            self.assertEqual(c[c.index("--zip-file") + 1], f"fileb://{self.dist}/{NAME}-{arch}.zip")
            self.assertEqual(c[c.index("--layer-name") + 1], f"{NAME}-{arch}")
            runtimes = c[c.index("--compatible-runtimes") + 1:c.index("--query")]
            self.assertIn("provided.al2023", runtimes)
            self.assertLessEqual(len(runtimes), 15)
            self.assertEqual(c[c.index("--license-info") + 1], "Apache-2.0")
        params = [c for c in calls if c[:2] == ["ssm", "put-parameter"]]
        self.assertEqual([(c[c.index("--region") + 1], c[c.index("--name") + 1], c[c.index("--value") + 1])
                          for c in params],
                         [(r, f"/appconfig-extension/layer/{a}/latest",
                           f"arn:aws:lambda:{r}:123456789012:layer:{NAME}-{a}:7")
                          for r in ("us-east-1", "eu-west-1") for a in ("x86_64", "arm64")])
        self.assertTrue(all("--overwrite" in c for c in params))

    def test_no_ssm_without_the_flag_and_custom_runtimes(self):
        proc = self.publish("--regions", "ap-southeast-2", "--runtimes", "python3.13 nodejs22.x")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        calls = self.recorded()
        self.assertEqual([c[:2] for c in calls], [["lambda", "publish-layer-version"]] * 2)
        c = calls[0]
        self.assertEqual(c[c.index("--compatible-runtimes") + 1:c.index("--query")], ["python3.13", "nodejs22.x"])

    def test_failure_names_the_region_and_stops(self):
        env = dict(self.env, STUB_FAIL_REGION="eu-west-1")
        proc = self.publish("--regions", "us-east-1,eu-west-1,us-west-2", env=env)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("failed in eu-west-1 for x86_64", proc.stderr)
        self.assertFalse(any("us-west-2" in c for c in self.recorded()))

    def test_refuses_bad_input_before_calling_aws(self):
        cases = ((["--regions", "us-east-1"], "does not match its SHA256SUMS"),
                 ([], "--regions is required"),
                 (["--regions", "not a region"], "is not an AWS region name"),
                 (["--regions", "us-east-1", "--runtimes", " ".join(f"r{i}" for i in range(16))], "1 to 15"),
                 (["--regions", "us-east-1", "--layer-name", "bad name"], "letters, digits"))
        for args, message in cases:
            # The first case: a zip changed after make dist wrote the sums.
            with open(os.path.join(self.dist, f"{NAME}-arm64.zip"), "wb") as f:
                f.write(b"tampered" if message.startswith("does not match") else b"zip for arm64")
            proc = self.publish(*args)
            self.assertNotEqual(proc.returncode, 0, args)
            self.assertIn(message, proc.stderr, args)
        self.assertEqual(self.recorded(), [])


class Dockerfile(unittest.TestCase):
    def test_shape_matches_what_test_fresh_runs(self):
        lines = [l for l in open(os.path.join(ROOT, "Dockerfile")).read().splitlines()
                 if l and not l.startswith("#")]
        self.assertEqual(lines[0], "FROM debian:12 AS build")
        self.assertIn("RUN make dist", lines)
        self.assertEqual(lines[-2:], ["FROM scratch", "COPY --from=build /src/build/dist/ /"])
        self.assertIn("WORKDIR /src", lines)
        run_sh = open(os.path.join(ROOT, "test", "fresh", "run.sh")).read()
        # run.sh executes the Dockerfile's own RUN lines (read from the file), split at COPY.
        self.assertIn('"$dockerfile"', run_sh)
        self.assertIn("/^COPY/", run_sh)


if __name__ == "__main__":
    unittest.main()
