#!/usr/bin/env python3
"""Writes the SPDX 2.3 JSON SBOM of `make dist` (build/dist/appconfig-extension.spdx.json).

It names what went into the two static binaries: the project (version, git commit), mbedTLS (the version
src/mbedtls/fetch.sh selected and the SHA-256 of its source tarball), musl (the Debian package version per
architecture) and the compiler that built each architecture. Reproducible: no clock, no path, no host name;
the one date is SOURCE_DATE_EPOCH (the commit's time, set by the Makefile); keys and lists in a fixed order.
Checked against test/data/sbom/spdx-2.3-subset.schema.json by test/integration/test_build.py.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

DEB_ARCH = {"x86_64": "amd64", "arm64": "arm64"}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def read_record(path):
    rec = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                rec[k] = v
    except OSError:
        pass
    return rec


def header_version(mbedtls_dir):
    try:
        with open(os.path.join(mbedtls_dir, "include", "mbedtls", "build_info.h")) as f:
            for line in f:
                if line.startswith("#define MBEDTLS_VERSION_STRING "):
                    return line.split('"')[1]
    except OSError:
        pass
    return ""


def spdx_id(text):
    return "SPDXRef-" + "".join(c if c.isalnum() or c in ".-" else "-" for c in text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--mbedtls-record", required=True)
    ap.add_argument("--mbedtls-dir", required=True)
    ap.add_argument("--compiler", action="append", default=[], help="ARCH=COMPILER")
    ap.add_argument("--dir", required=True, help="the dist directory holding <name>-<arch> binaries")
    a = ap.parse_args()

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

    rec = read_record(a.mbedtls_record)
    mbedtls_version = header_version(a.mbedtls_dir) or rec.get("version", "")
    if not mbedtls_version:
        sys.exit(f"sbom.py: no mbedTLS version in {a.mbedtls_dir} or {a.mbedtls_record}")
    source = rec.get("source", "NOASSERTION")

    project_id = spdx_id(a.name)
    mbedtls_id = spdx_id("mbedtls")
    mbedtls = {
        "SPDXID": mbedtls_id,
        "name": "mbedtls",
        "versionInfo": mbedtls_version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseDeclared": "Apache-2.0 OR GPL-2.0-or-later",
        "licenseConcluded": "Apache-2.0",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "LIBRARY",
        "sourceInfo": f"selected by src/mbedtls/fetch.sh: {source}; checksum: SHA-256 of its source tarball",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": f"pkg:generic/mbedtls@{mbedtls_version}"}],
    }
    if rec.get("debian_version"):
        mbedtls["externalRefs"].append({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                        "referenceLocator": f"pkg:deb/debian/mbedtls@{rec['debian_version']}?arch=source"})
    sha = rec.get("sha256", "")
    if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
        mbedtls["checksums"] = [{"algorithm": "SHA256", "checksumValue": sha}]

    packages = [{
        "SPDXID": project_id,
        "name": a.name,
        "versionInfo": a.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseDeclared": "Apache-2.0",
        "licenseConcluded": "Apache-2.0",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "SOURCE",
        "sourceInfo": f"git commit {a.commit}",
    }, mbedtls]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": project_id}]

    compilers = dict(c.split("=", 1) for c in a.compiler)
    for arch in sorted(compilers):
        binary = os.path.join(a.dir, f"{a.name}-{arch}")
        if not os.path.exists(binary):
            sys.exit(f"sbom.py: {binary} is missing")
        bin_id = spdx_id(f"{a.name}-{arch}")
        packages.append({
            "SPDXID": bin_id,
            "name": f"{a.name}-{arch}",
            "versionInfo": a.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseDeclared": "Apache-2.0",
            "licenseConcluded": "Apache-2.0 AND MIT",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "APPLICATION",
            "packageFileName": f"{a.name}-{arch}",
            "checksums": [{"algorithm": "SHA256", "checksumValue": sha256_file(binary)}],
            "comment": f"static musl binary for {arch}, built from git commit {a.commit}",
        })
        musl_version = run(["dpkg-query", "-W", "-f=${Version}", f"musl-dev:{DEB_ARCH[arch]}"]) or "NOASSERTION"
        musl_id = spdx_id(f"musl-{arch}")
        packages.append({
            "SPDXID": musl_id,
            "name": "musl",
            "versionInfo": musl_version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseDeclared": "MIT",
            "licenseConcluded": "MIT",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "comment": f"Debian package musl-dev:{DEB_ARCH[arch]} (libc.a linked into the {arch} binary)",
        })
        cc = compilers[arch]
        cc_version = run([cc, "-dumpfullversion"]) or run([cc, "-dumpversion"]) or "NOASSERTION"
        cc_id = spdx_id(f"compiler-{arch}")
        packages.append({
            "SPDXID": cc_id,
            "name": os.path.basename(cc),
            "versionInfo": cc_version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "APPLICATION",
            "comment": (run([cc, "--version"]).splitlines() or ["?"])[0],
        })
        relationships += [
            {"spdxElementId": bin_id, "relationshipType": "GENERATED_FROM", "relatedSpdxElement": project_id},
            {"spdxElementId": bin_id, "relationshipType": "STATIC_LINK", "relatedSpdxElement": mbedtls_id},
            {"spdxElementId": bin_id, "relationshipType": "STATIC_LINK", "relatedSpdxElement": musl_id},
            {"spdxElementId": cc_id, "relationshipType": "BUILD_TOOL_OF", "relatedSpdxElement": bin_id},
        ]

    # The namespace must be unique per document: the content itself (minus the namespace) names it.
    body = {"packages": packages, "relationships": relationships}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{a.name}-{a.version}",
        "documentNamespace": f"urn:spdx:{a.name}:{a.version}:{a.commit}:{digest}",
        "creationInfo": {"created": created, "creators": [f"Tool: {a.name}-layer/sbom.py"]},
        "documentDescribes": [project_id],
        **body,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.utime(a.out, (epoch, epoch))


if __name__ == "__main__":
    main()
