"""The conformance kit (conformance/) offline: nothing here reaches AWS.

- npm installs the kit's packages from its package-lock.json (once; reused while the lock is unchanged);
- the kit's own node tests run (request list, handler, driver and differ on HAND-WRITTEN samples,
  stack construction, capture-to-fixture);
- a real `cdk synth` runs and the template is checked for what the kit promises to deploy;
- capture-to-fixture turns the existing binary Ion fixture into a fixture + GoogleTest file, which is
  compiled against our sources and must pass;
- every expected-difference rule of the differ has its reason in docs;
- the whole request list through the handler's code against our real binary in local development mode
  (`run.js --transport local`), with our answers at every rule edge and the split shares checked: the
  kit's own profiles load, and the "ours" column of a real report is what our tests say it should be.
"""
import base64
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import zipfile

from harness import ROOT, Agent, free_port

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
        keep = json.dumps(helper["Properties"]["KeepVersions"])  # clean-up keeps the template's own versions
        for name, (lid, _) in profiles.items():
            self.assertIn(f'{{"Ref": "{lid}"}}, "\\":[', keep, name)
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
        # Teardown removes the logs too: every function logs to a log group of the stack.
        for lg in of_type("AWS::Logs::LogGroup").values():
            self.assertEqual(lg["DeletionPolicy"], "Delete")
        for name, f in of_type("AWS::Lambda::Function").items():
            self.assertIn(f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"], of_type("AWS::Logs::LogGroup"), name)
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
               *sources_for(os.path.join(ROOT, "src", "flags", "variants.cpp")), "-lgtest", "-lgtest_main", "-pthread",
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


# Our answers through the kit's multi-variant profile: (request id, expected _variant). Only edges whose
# answer follows from docs/feature-flags.md; text-vs-number cases (age=abc) are the kit's to settle.
M, D = "Match", "Default"
OUR_VARIANTS = {
    "ctx/op_eq/country=US": M, "ctx/op_eq/country=us": D, "ctx/op_eq/country=USA": D, "ctx/op_eq/other=1": D,
    "ctx/op_gt/age=20": D, "ctx/op_gt/age=21": D, "ctx/op_gt/age=22": M, "ctx/op_gt/age=21.0": D,
    "ctx/op_gt/age=21.5": M, "ctx/op_gt/other=1": D,
    "ctx/op_gte/age=20": D, "ctx/op_gte/age=21": M, "ctx/op_gte/age=22": M, "ctx/op_gte/age=20.999": D,
    "ctx/op_gte/age=+21": M,
    "ctx/op_lt/age=20": M, "ctx/op_lt/age=21": D, "ctx/op_lt/age=22": D, "ctx/op_lt/age=-5": M, "ctx/op_lt/age=2e1": M,
    "ctx/op_lte/age=20": M, "ctx/op_lte/age=21": M, "ctx/op_lte/age=22": D, "ctx/op_lte/age=021": M,
    "ctx/op_and/country=US,age=21": M, "ctx/op_and/country=US,age=20": D, "ctx/op_and/country=CA,age=30": D,
    "ctx/op_and/country=US": D,
    "ctx/op_or/tier=gold": M, "ctx/op_or/tier=platinum": M, "ctx/op_or/tier=silver": D, "ctx/op_or/tier=Gold": D,
    "ctx/op_not/country=US": D, "ctx/op_not/country=CA": M, "ctx/op_not/other=1": M,
    "ctx/op_begins_with/email=admin@x.org": M, "ctx/op_begins_with/email=xadmin@x.org": D,
    "ctx/op_begins_with/email=ADMIN@x.org": D, "ctx/op_begins_with/email=admin": M,
    "ctx/op_ends_with/email=a@example.com": M, "ctx/op_ends_with/email=a@example.com.evil": D,
    "ctx/op_ends_with/email=a@EXAMPLE.com": D,
    "ctx/op_contains/email=myexample@x.org": M, "ctx/op_contains/email=none@x.org": D,
    "ctx/op_contains/email=example": M,
    "ctx/op_in/country=US": M, "ctx/op_in/country=CA": M, "ctx/op_in/country=MX": D, "ctx/op_in/country=U": D,
    "ctx/op_matches/email=abc@example.com": M, "ctx/op_matches/email=abc@exampleXcom": D,
    "ctx/op_matches/email=ABC@example.com": D, "ctx/op_matches/email=abc@example.com.au": D,
    "ctx/op_exists/beta=1": M, "ctx/op_exists/beta=": M, "ctx/op_exists/other=1": D,
    "ctx/op_float/score=2.5": M, "ctx/op_float/score=2.49": D, "ctx/op_float/score=3": M,
    "ctx/op_float/score=2.5e0": M,
    "ctx/op_timestamp/signup=2023-12-31T23:59:59Z": M, "ctx/op_timestamp/signup=2024-01-01T00:00:00Z": D,
    "ctx/op_timestamp/signup=2023-06": M, "ctx/op_timestamp/signup=2024-01-01T00:30:00+01:00": M,
    "ctx-form/comma": M, "ctx-form/repeated-header": M, "ctx-form/spaces": M, "ctx-form/percent": M,
    "ctx-form/repeated-key-last-wins": M, "ctx-form/lowercase-header": M,
}


class KitAgainstOurAgent(unittest.TestCase):
    """run.js --transport local with our debug binary on both sides, serving local-profiles.js output."""
    SPLIT_IDS = 600

    @classmethod
    def setUpClass(cls):
        ensure_node_modules()
        cls.tmp = tempfile.mkdtemp(prefix="conformance-local-")
        profiles = os.path.join(cls.tmp, "profiles")
        proc = subprocess.run(["node", "local-profiles.js", profiles], cwd=KIT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout
        cls.agent = Agent(local_dir=profiles, env={"AWS_APPCONFIG_EXTENSION_LOG_LEVEL": "info"}).start()
        url = f"http://127.0.0.1:{cls.agent.port}"
        cls.proc = subprocess.run(["node", "run.js", "--transport", "local", "--kit", "local-kit.json",
                                   "--official", url, "--ours", url, "--out", os.path.join(cls.tmp, "run"),
                                   "--report", os.path.join(cls.tmp, "report.md"), "--split-ids", str(cls.SPLIT_IDS)],
                                  cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, code

    def results(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout[-4000:])
        side = json.loads(read(os.path.join(self.tmp, "run", "ours-x86_64.json")))
        return {r["id"]: r["response"] for r in side["results"]}

    def body(self, response):
        return base64.b64decode(response.get("bodyBase64", ""))

    def test_every_rule_edge(self):
        results = self.results()
        wrong = {}
        for rid, want in OUR_VARIANTS.items():
            r = results[rid]
            got = json.loads(self.body(r)).get("_variant") if r.get("status") == 200 else f"status {r.get('status')}"
            if got != want:
                wrong[rid] = (got, want)
        self.assertEqual(wrong, {}, "(got, want) per request")
        for rid, r in results.items():
            if rid.endswith("/no-context"):
                self.assertEqual(json.loads(self.body(r))["_variant"], "Default", rid)

    def test_split_shares(self):
        results = self.results()
        n = self.SPLIT_IDS
        for flag, shares in (("split_noseed", {"TenPercent": 10, "FiftyPercent": 40, "Default": 50}),
                             ("split_seed", {"ThirtyPercent": 30, "Default": 70})):
            counts = {}
            for i in range(n):
                v = json.loads(self.body(results[f"split/{flag}/user-{i:04d}"]))["_variant"]
                counts[v] = counts.get(v, 0) + 1
            for variant, pct in shares.items():
                # 4 standard deviations of a binomial share over n IDs.
                tolerance = 4 * 100 * ((pct / 100) * (1 - pct / 100) / n) ** 0.5
                self.assertAlmostEqual(100 * counts.get(variant, 0) / n, pct, delta=tolerance, msg=f"{flag} {counts}")

    def test_statuses_and_the_report(self):
        results = self.results()
        statuses = {rid: results[rid].get("status") for rid in (
            "ping/get", "path/json/names", "path/text/names", "path/yaml/names", "path/big/names", "head/json",
            "bad/method-post", "bad/x-forwarded-for", "bad/percent", "missing/profile", "flag/basic/one",
            "flag/basic/unknown", "ctx-form/malformed-no-equals", "flag/variants/all-with-context")}
        self.assertEqual(statuses, {
            "ping/get": 200, "path/json/names": 200, "path/text/names": 200, "path/yaml/names": 200,
            "path/big/names": 200, "head/json": 200, "bad/method-post": 405, "bad/x-forwarded-for": 403,
            "bad/percent": 400, "missing/profile": 404, "flag/basic/one": 200, "flag/basic/unknown": 400,
            "ctx-form/malformed-no-equals": 400, "flag/variants/all-with-context": 200})
        self.assertEqual(results["path/big/names"]["bodyBytes"], 1536 * 1024)
        self.assertEqual(results["head/json"]["bodyBytes"], 0)
        self.assertEqual(json.loads(self.body(results["flag/basic/one"])), {"enabled": True, "limit": 10})
        # The same agent on both sides: a report without a single difference.
        report = json.loads(read(os.path.join(self.tmp, "report.json")))
        self.assertEqual(report["summary"]["unexpected"] + report["summary"]["expected"], 0, report["summary"])
        self.assertEqual(report["summary"]["noAnswer"], 0)


class ObserveAccept(unittest.TestCase):
    """observe-accept.js as an agent's AppConfig Data endpoint, with our debug binary as the agent."""

    def test_our_accept_header_is_observed(self):
        ensure_node_modules()
        tmp = tempfile.mkdtemp(prefix="conformance-observe-")
        out = os.path.join(tmp, "observed.json")
        port = free_port()
        observer = subprocess.Popen(["node", "observe-accept.js", "--port", str(port), "--host", "127.0.0.1",
                                     "--out", out], cwd=KIT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        agent = None
        try:
            deadline = time.time() + 30
            while b"listening" not in (observer.stderr.readline() or b"listening"):
                self.assertLess(time.time(), deadline, "observe-accept.js did not start")
            agent = Agent(env={"AWS_ENDPOINT_URL_APPCONFIGDATA": f"http://127.0.0.1:{port}", "AWS_REGION": "us-east-1",
                               "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example-secret"}).start()
            status, headers, body = agent.get("/applications/a/environments/e/configurations/p")
            self.assertEqual((status, body), (200, b'{"observed":true}'), agent.stderr()[-3000:])
            # The observer writes its file after answering: wait for it (a loaded machine is slow).
            doc, deadline = None, time.time() + 10
            while time.time() < deadline:
                try:
                    doc = json.loads(read(out))
                    if len(doc.get("requests", [])) >= 2:
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            self.assertIsNotNone(doc, "observe-accept.js wrote no observed.json")
            self.assertEqual(doc["accept"], "application/ion;type=AWS.AppConfig.FeatureFlags;q=1.0,*/*;q=0.1")
            self.assertEqual([r["path"] for r in doc["requests"]], ["/configurationsessions", "/configuration"])
            self.assertNotIn("example-secret", read(out))
            self.assertNotIn("authorization", read(out).lower())
        finally:
            if agent is not None:
                self.assertEqual(agent.stop(), 0)
            observer.terminate()
            observer.wait(timeout=10)
            observer.stderr.close()
            shutil.rmtree(tmp, ignore_errors=True)


def sources_for(first):
    """`first` and the sources of every header appconfig/<layer>/<m>.h it includes, transitively: src/<layer>/<m>.cpp
    and src/<layer>/<m>_*.cpp (a module may be split over several files)."""
    seen, todo = [], [first]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        text = read(path)
        layer, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)[:-4]
        header = os.path.join(ROOT, "include", "appconfig", layer, name + ".h")
        if os.path.exists(header):
            text += read(header)
        for layer, m in re.findall(r'#include "appconfig/([a-z]+)/([a-z0-9_]+)\.h"', text):
            todo += sorted(glob.glob(os.path.join(ROOT, "src", layer, m + ".cpp")) +
                           glob.glob(os.path.join(ROOT, "src", layer, m + "_*.cpp")))
    return seen


if __name__ == "__main__":
    unittest.main()
