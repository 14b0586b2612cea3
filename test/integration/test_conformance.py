"""The conformance kit (conformance/) offline: nothing here reaches AWS.

- npm installs the kit's packages from its package-lock.json (once; reused while the lock is unchanged);
- the kit's own node tests run (request list, handler, driver and differ on HAND-WRITTEN samples,
  stack construction, capture-to-fixture);
- a real `cdk synth` runs and the template is checked for what the kit promises to deploy;
- capture-to-fixture turns the existing binary Ion fixture into a fixture + GoogleTest file, which is
  compiled against our sources and must pass;
- every expected-difference rule of the differ has its reason in docs.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import zipfile

from harness import ROOT

KIT = os.path.join(ROOT, "conformance")
# A cold `npm ci` downloads ~250 MB of packages; later runs reuse node_modules.
NPM_TIMEOUT_S = 900
SYNTH_TIMEOUT_S = 300
NODE_TEST_TIMEOUT_S = 300
COMPILE_TIMEOUT_S = 300
# Written into node_modules after a successful install: the lock it came from.
LOCK_STAMP = os.path.join(KIT, "node_modules", ".conformance-lock-sha256")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def lock_sha():
    return hashlib.sha256(read(os.path.join(KIT, "package-lock.json"), "rb")).hexdigest()


def ensure_node_modules():
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise AssertionError(f"{tool} is not installed: the conformance kit tests need Node.js 18+ and npm")
    want = lock_sha()
    if os.path.exists(LOCK_STAMP) and read(LOCK_STAMP).strip() == want:
        return
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=KIT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=NPM_TIMEOUT_S)
    if proc.returncode != 0:
        raise AssertionError(f"npm ci failed in conformance/:\n{proc.stdout[-4000:]}")
    with open(LOCK_STAMP, "w") as f:
        f.write(want + "\n")


def offline_env():
    """No AWS credentials and a fixed region: synth must not depend on the caller's account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("CDK_")}
    env.update({"AWS_REGION": "us-east-1", "CDK_DISABLE_VERSION_CHECK": "1", "CI": "true"})
    return env


class ConformanceKit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_node_modules()
        cls.tmp = tempfile.mkdtemp(prefix="conformance-test-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_node_tests(self):
        proc = subprocess.run(["node", "--test", "test/"], cwd=KIT, env=offline_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=NODE_TEST_TIMEOUT_S)
        passed = re.search(r"^# pass (\d+)$", proc.stdout, re.M)
        failed = re.search(r"^# fail (\d+)$", proc.stdout, re.M)
        self.assertEqual(proc.returncode, 0, proc.stdout[-6000:])
        self.assertIsNotNone(passed, proc.stdout[-2000:])
        self.assertEqual(failed.group(1), "0")
        self.assertGreaterEqual(int(passed.group(1)), 24, "node tests went missing")

    def test_cdk_synth_template(self):
        # Synth hashes the layer zip but never looks inside; `make layer` output is not needed here.
        layer = os.path.join(self.tmp, "layer.zip")
        with zipfile.ZipFile(layer, "w") as z:
            z.writestr("extensions/appconfig-extension", "#!/bin/sh\n")
        out = os.path.join(self.tmp, "cdk.out")
        proc = subprocess.run([os.path.join(KIT, "node_modules", ".bin", "cdk"), "synth", "--no-notices", "-q",
                               "-o", out, "-c", f"ourLayerZip={layer}"], cwd=KIT, env=offline_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=SYNTH_TIMEOUT_S)
        self.assertEqual(proc.returncode, 0, proc.stdout[-6000:])
        template = json.loads(read(os.path.join(out, "AppConfigConformance.template.json")))
        res = template["Resources"]

        def of_type(t):
            return {k: v for k, v in res.items() if v["Type"] == t}

        self.assertEqual(len(of_type("AWS::AppConfig::Application")), 1)
        (strategy,) = of_type("AWS::AppConfig::DeploymentStrategy").values()
        p = strategy["Properties"]
        self.assertEqual((p["DeploymentDurationInMinutes"], p["FinalBakeTimeInMinutes"], p["GrowthFactor"],
                          p["GrowthType"]), (0, 0, 100, "LINEAR"))

        profiles = {v["Properties"]["Name"]: (k, v["Properties"]) for k, v in
                    of_type("AWS::AppConfig::ConfigurationProfile").items()}
        self.assertEqual(set(profiles), {"json-profile", "text-profile", "yaml-profile", "team/slash-profile",
                                         "flags-basic", "flags-variants", "big-profile", "denied-profile"})
        self.assertEqual(profiles["flags-variants"][1]["Type"], "AWS.AppConfig.FeatureFlags")
        self.assertEqual(profiles["flags-basic"][1]["Type"], "AWS.AppConfig.FeatureFlags")
        # Teardown must work within AppConfig's deletion protection window too.
        for _, props in profiles.values():
            self.assertEqual(props["DeletionProtectionCheck"], "BYPASS")
        (environment,) = of_type("AWS::AppConfig::Environment").values()
        self.assertEqual(environment["Properties"]["DeletionProtectionCheck"], "BYPASS")

        versions = {v["Properties"]["ConfigurationProfileId"]["Ref"]: v["Properties"]
                    for v in of_type("AWS::AppConfig::HostedConfigurationVersion").values()}
        content_types = {name: versions[lid]["ContentType"] for name, (lid, _) in profiles.items() if lid in versions}
        self.assertEqual(content_types, {"json-profile": "application/json", "text-profile": "text/plain",
                                         "yaml-profile": "application/x-yaml", "team/slash-profile": "text/plain",
                                         "flags-basic": "application/json", "flags-variants": "application/json",
                                         "denied-profile": "application/json"})
        # Every rule operator, and split with and without a seed.
        variants = json.loads(versions[profiles["flags-variants"][0]]["Content"])
        rules = " ".join(v.get("rule", "") for f in variants["values"].values() for v in f.get("_variants", []))
        for op in ("eq", "gt", "gte", "lt", "lte", "and", "or", "not", "begins_with", "ends_with", "contains",
                   "in", "matches", "exists", "split"):
            self.assertRegex(rules, r"\(" + op + r" ", op)
        self.assertRegex(rules, r"\(split [^)]*seed::")
        self.assertRegex(rules, r"\(split by::\$userId pct::\d+\)")

        # Deployments run one at a time: each waits for the previous one.
        deployments = of_type("AWS::AppConfig::Deployment")
        self.assertEqual(len(deployments), 7)
        chained = [k for k, v in deployments.items() if set(v.get("DependsOn", [])) & set(deployments)]
        self.assertEqual(len(chained), 6)
        for v in of_type("AWS::AppConfig::HostedConfigurationVersion").values():
            self.assertEqual(v["DeletionPolicy"], "Retain", "deleting the profile removes its versions")
        # The >1 MB profile: created by the custom resource (templates are limited to 1 MB).
        (helper,) = of_type("Custom::ConformanceKitHelper").values()
        self.assertTrue(1024 * 1024 < int(helper["Properties"]["BigBytes"]) <= 2 * 1024 * 1024)
        self.assertEqual(helper["Properties"]["BigProfileId"], {"Ref": profiles["big-profile"][0]})
        self.assertLess(os.path.getsize(os.path.join(out, "AppConfigConformance.template.json")), 200 * 1024)

        # The functions' role reads every profile but the denied one.
        role_policies = [v for v in of_type("AWS::IAM::Policy").values()
                         if "appconfig:GetLatestConfiguration" in json.dumps(v)]
        self.assertEqual(len(role_policies), 1)
        policy = json.dumps(role_policies[0])
        for name, (lid, _) in profiles.items():
            if name == "denied-profile":
                self.assertNotIn(f'"Ref": "{lid}"', policy)
            else:
                self.assertIn(f'"Ref": "{lid}"', policy, name)

        fns = {v["Properties"]["Environment"]["Variables"]["CONFORMANCE_SIDE"]: v["Properties"]
               for v in of_type("AWS::Lambda::Function").values()
               if "CONFORMANCE_SIDE" in v["Properties"].get("Environment", {}).get("Variables", {})}
        self.assertEqual(set(fns), {"official", "ours"})
        self.assertRegex(fns["official"]["Layers"][0],
                         r"^arn:aws:lambda:us-east-1:027255383542:layer:AWS-AppConfig-Extension:\d+$")
        self.assertEqual(list(fns["ours"]["Layers"][0]), ["Ref"])
        self.assertEqual(res[fns["ours"]["Layers"][0]["Ref"]]["Type"], "AWS::Lambda::LayerVersion")
        for side, f in fns.items():
            self.assertEqual(f["Handler"], "index.handler")
            self.assertEqual(f["Architectures"], ["x86_64"])
            self.assertEqual(f["Environment"]["Variables"]["AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS"], "15")
            self.assertEqual(fns["official"]["Role"], f["Role"], "one role for both sides")
            self.assertEqual(f["Code"], fns["official"]["Code"], "the same handler on both sides")
        # Teardown removes the logs too.
        for lg in of_type("AWS::Logs::LogGroup").values():
            self.assertEqual(lg["DeletionPolicy"], "Delete")
        self.assertIn("Kit", template["Outputs"])

        # CloudFormation's own validation of the template found nothing.
        report = json.loads(read(os.path.join(out, "validation-report.json")))
        for plugin in report["pluginReports"]:
            self.assertEqual(plugin["conclusion"], "success", plugin)
            self.assertEqual([v["description"] for v in plugin["violations"]], [])

    def test_capture_becomes_a_passing_unit_test(self):
        """capture-to-fixture on the existing binary Ion fixture, with the (hand-written sample) official answers
        as expectations: the generated GoogleTest compiles against our sources and passes."""
        cap = os.path.join(self.tmp, "captures", "r1", "variants")
        os.makedirs(cap)
        shutil.copy(os.path.join(ROOT, "test", "data", "ion", "profile.10n"), os.path.join(cap, "body.bin"))
        with open(os.path.join(cap, "meta.json"), "w") as f:
            json.dump({"runId": "r1", "profileKey": "variants", "profileName": "flags-variants", "sample": True,
                       "status": 200,
                       "headers": {"content-type": "application/ion;type=AWS.AppConfig.FeatureFlags"}}, f)
        repo = os.path.join(self.tmp, "repo")
        proc = subprocess.run(["node", "capture-to-fixture.js", cap, "--run", "samples/fixture-run",
                               "--name", "profile", "--repo", repo], cwd=KIT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        out = json.loads(proc.stdout)
        self.assertEqual(out["cases"], 9)
        self.assertEqual(read(os.path.join(ROOT, "test", "data", "ion", "profile.10n"), "rb"),
                         read(out["fixture"], "rb"))
        binary = os.path.join(self.tmp, "capture-test")
        cxx = os.environ.get("CXX", "g++")
        # The Makefile's warning flags: a generated test must build in `make unit` as it is.
        cmd = [cxx, "-std=c++20", "-O0", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror",
               "-Wno-format-truncation", "-I", os.path.join(ROOT, "include"),
               f'-DTEST_DATA_DIR="{os.path.join(repo, "test", "data")}"', out["test"],
               *sources_for(os.path.join(ROOT, "src", "variants.cpp")), "-lgtest", "-lgtest_main", "-pthread",
               "-o", binary]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=COMPILE_TIMEOUT_S)
        self.assertEqual(proc.returncode, 0, proc.stdout[-6000:])
        proc = subprocess.run([binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout[-6000:])
        self.assertIn("[  PASSED  ] 2 tests.", proc.stdout)

    def test_expected_differences_are_documented(self):
        rules = json.loads(read(os.path.join(KIT, "expected.json")))["rules"]
        docs = "".join(read(p) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
        headings = set(re.findall(r"^### ([a-z0-9-]+)$", read(os.path.join(ROOT, "docs", "conformance.md")), re.M))
        ids = {r["id"] for r in rules}
        for i in ids:
            self.assertIn(f"### {i}\n", docs, f"expected.json rule {i} has no reason in docs/")
        self.assertEqual(headings, ids, "docs/conformance.md lists a difference the differ does not know")

    def test_readme_is_honest_about_aws(self):
        self.assertIn("has not been run against AWS", read(os.path.join(KIT, "README.md")))
        for side in ("official", "ours"):
            sample = json.loads(read(os.path.join(KIT, "samples", "recording", f"sample-{side}-x86_64.json")))
            self.assertIn("HAND-WRITTEN SAMPLE", sample["_sample"])


def sources_for(first):
    """`first` and every src/<m>.cpp whose header appconfig/<m>.h it includes, transitively."""
    seen, todo = [], [first]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        text = read(path)
        header = os.path.join(ROOT, "include", "appconfig", os.path.basename(path)[:-4] + ".h")
        if os.path.exists(header):
            text += read(header)
        for m in re.findall(r'#include "appconfig/([a-z0-9_]+)\.h"', text):
            src = os.path.join(ROOT, "src", m + ".cpp")
            if os.path.exists(src):
                todo.append(src)
    return seen


if __name__ == "__main__":
    unittest.main()
