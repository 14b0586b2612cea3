"""The deploy recipes under examples/, checked offline: CDK synth (npm packages installed into the
git-ignored examples/cdk/node_modules), SAM/Serverless/EKS YAML and ECS JSON with their required
keys, Terraform lexically, the SAM layer's Makefile as `sam build` runs it, the systemd unit with
systemd-analyze, and the container images' Dockerfile steps replayed in a chroot (the agent image
serves and passes its own HEALTHCHECK as user 65534; the Lambda images' extension registers from
/opt/extensions with the Lambda emulator). Needs the release binaries (make test builds them)."""
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from harness import ROOT, debug_binary, free_port, release_binary

sys.path.insert(0, os.path.join(ROOT, "test", "emulator"))
from lambda_api import LambdaEmulator  # noqa: E402

EX = os.path.join(ROOT, "examples")
ACTIONS = {"appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"}
ARCHES = ("x86_64", "arm64")
HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}[os.uname().machine]
DOCKER_ARCH = {"x86_64": "amd64", "arm64": "arm64"}[HOST_ARCH]
# ELF e_machine of each architecture (System V ABI): the layer for arm64 must hold an arm64 binary.
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
# What the Lambda base images set (their documented environment); the chroot has only our layers.
BASE_IMAGE_ENV = {"LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime"}


def apt_install(package):
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


# ---------------------------------------------------------------- YAML (CloudFormation tags kept)
YAML_TO_JSON = r"""
import json, sys, yaml
class Loader(yaml.SafeLoader):
    pass
def tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"!" + suffix: value}
Loader.add_multi_constructor("!", tagged)
print(json.dumps(list(yaml.load_all(open(sys.argv[1]), Loader=Loader))))
"""


def load_yaml(path):
    """Every document of a YAML file, via PyYAML (Debian's python3-yaml, installed if missing);
    CloudFormation short tags become {"!Ref": ...}."""
    for python in (sys.executable, "/usr/bin/python3"):
        p = subprocess.run([python, "-c", YAML_TO_JSON, path], capture_output=True, text=True)
        if p.returncode == 0:
            return json.loads(p.stdout)
        if "No module named 'yaml'" not in p.stderr:
            raise AssertionError(f"{path}: {p.stderr}")
    apt_install("python3-yaml")
    p = subprocess.run(["/usr/bin/python3", "-c", YAML_TO_JSON, path], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def policy_actions(statements):
    acts = set()
    for s in statements:
        a = s.get("Action") or s.get("actions")
        acts.update([a] if isinstance(a, str) else a)
    return acts


def elf_machine(path):
    with open(path, "rb") as f:
        head = f.read(20)
    assert head[:4] == b"\x7fELF", path
    return int.from_bytes(head[18:20], "little")


def release(arch):
    path = release_binary(arch)
    assert os.path.exists(path), f"{path} is missing: run make release (make test builds it)"
    return path


def get(port, path, headers=None, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Policies(unittest.TestCase):
    def test_iam_policy_files_grant_exactly_the_two_actions(self):
        for d in ("container-image", "ecs", "eks", "ec2"):
            with open(os.path.join(EX, d, "iam-policy.json")) as f:
                doc = json.load(f)
            self.assertEqual(doc["Version"], "2012-10-17")
            self.assertEqual(policy_actions(doc["Statement"]), ACTIONS, d)
            for s in doc["Statement"]:
                self.assertEqual(s["Effect"], "Allow")
                self.assertRegex(s["Resource"], r"^arn:aws:appconfig:.*:application/.*/environment/.*/configuration/")


class Sam(unittest.TestCase):
    def test_template(self):
        [t] = load_yaml(os.path.join(EX, "sam", "template.yaml"))
        self.assertEqual(t["Transform"], "AWS::Serverless-2016-10-31")
        res = t["Resources"]
        layers = {k: v for k, v in res.items() if v["Type"] == "AWS::Serverless::LayerVersion"}
        self.assertEqual(sorted(v["Metadata"]["BuildArchitecture"] for v in layers.values()), sorted(ARCHES))
        for v in layers.values():
            self.assertEqual(v["Metadata"]["BuildMethod"], "makefile")
            self.assertEqual(v["Properties"]["CompatibleArchitectures"], [v["Metadata"]["BuildArchitecture"]])
            self.assertEqual(v["Properties"]["ContentUri"], "layer/")
        fn = res["ReadsConfiguration"]["Properties"]
        self.assertEqual(fn["Architectures"], [{"!Ref": "Architecture"}])
        cond, a, b = fn["Layers"][0]["!If"]
        self.assertEqual({a["!Ref"], b["!Ref"]}, set(layers))
        self.assertEqual(policy_actions(fn["Policies"][0]["Statement"]), ACTIONS)
        self.assertEqual(t["Parameters"]["Architecture"]["AllowedValues"], list(ARCHES))
        self.assertTrue(os.path.exists(os.path.join(EX, "sam", fn["CodeUri"], fn["Handler"].split(".")[0] + ".py")))

    def test_layer_makefile_builds_what_sam_packs(self):
        for logical, arch in (("AppConfigExtensionX86", "x86_64"), ("AppConfigExtensionArm64", "arm64")):
            release(arch)
            with tempfile.TemporaryDirectory() as art:
                p = subprocess.run(["make", "-s", "-C", os.path.join(EX, "sam", "layer"), f"build-{logical}",
                                    f"ARTIFACTS_DIR={art}"], capture_output=True, text=True, timeout=600)
                self.assertEqual(p.returncode, 0, p.stderr)
                ext = os.path.join(art, "extensions", "appconfig-extension")
                self.assertTrue(os.stat(ext).st_mode & stat.S_IXUSR)
                self.assertEqual(elf_machine(ext), ELF_MACHINE[arch])
                self.assertEqual(sorted(os.listdir(art)), ["extensions"])


class Serverless(unittest.TestCase):
    def test_serverless_yml(self):
        [s] = load_yaml(os.path.join(EX, "serverless", "serverless.yml"))
        self.assertEqual(s["provider"]["name"], "aws")
        self.assertEqual(policy_actions(s["provider"]["iam"]["role"]["statements"]), ACTIONS)
        by_arch = {}
        for name, layer in s["layers"].items():
            [arch] = layer["compatibleArchitectures"]
            self.assertEqual(layer["package"]["artifact"], f"../../build/layer/appconfig-extension-{arch}.zip")
            by_arch[arch] = name[0].upper() + name[1:] + "LambdaLayer"  # Serverless's resource name
        self.assertEqual(sorted(by_arch), sorted(ARCHES))
        refs = s["custom"]["extensionLayer"]
        self.assertEqual({a: refs[a]["Ref"] for a in ARCHES}, by_arch)
        fn = s["functions"]["readsConfiguration"]
        self.assertEqual(fn["layers"], ["${self:custom.extensionLayer.${self:provider.architecture}}"])
        self.assertTrue(os.path.exists(os.path.join(EX, "serverless", fn["handler"].split(".")[0] + ".py")))


class Cdk(unittest.TestCase):
    def test_cdk_synth_offline(self):
        cdk = os.path.join(EX, "cdk")
        env = dict(os.environ, CDK_DISABLE_VERSION_CHECK="1", CDK_DISABLE_CLI_TELEMETRY="true",
                   npm_config_update_notifier="false")
        if not os.path.exists(os.path.join(cdk, "node_modules", "aws-cdk-lib", "package.json")):
            p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=cdk, env=env,
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        with tempfile.TemporaryDirectory() as tmp:
            layers = os.path.join(tmp, "layer")
            subprocess.run(["bash", os.path.join(ROOT, "layer", "build.sh"), "appconfig-extension", layers,
                            release("x86_64"), release("arm64")], check=True, capture_output=True)
            out = os.path.join(tmp, "cdk.out")
            p = subprocess.run(["npx", "--no-install", "cdk", "synth", "--no-notices", "--no-version-reporting", "-q",
                                "-c", f"layerDir={layers}", "-c", "architecture=arm64", "-o", out],
                               cwd=cdk, env=env, capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr[-3000:])
            with open(os.path.join(out, "AppConfigExtensionExample.template.json")) as f:
                t = json.load(f)
        res = t["Resources"]
        layers = {k: v for k, v in res.items() if v["Type"] == "AWS::Lambda::LayerVersion"}
        self.assertEqual(sorted(v["Properties"]["CompatibleArchitectures"][0] for v in layers.values()), sorted(ARCHES))
        [fn] = [v for v in res.values() if v["Type"] == "AWS::Lambda::Function"]
        self.assertEqual(fn["Properties"]["Architectures"], ["arm64"])
        [layer_ref] = fn["Properties"]["Layers"]
        arm = [k for k, v in layers.items() if v["Properties"]["CompatibleArchitectures"] == ["arm64"]]
        self.assertEqual(layer_ref, {"Ref": arm[0]})
        policies = [v for v in res.values() if v["Type"] == "AWS::IAM::Policy"]
        statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
        self.assertIn(ACTIONS, [set(s["Action"]) for s in statements])
        self.assertIn("ghi9012", json.dumps(statements))  # the profile's ID is in the resource


def hcl_blocks(text, test, path):
    """A lexical check of HCL: comments dropped, strings and ${} closed, braces balanced.
    Returns the text without comments."""
    out, i, depth = [], 0, []
    while i < len(text):
        c = text[i]
        if c == "#" or text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        if c == '"':
            j = i + 1
            interp = 0
            while j < len(text) and (text[j] != '"' or interp):
                if text.startswith("${", j):
                    interp += 1
                    j += 1
                elif text[j] == "}" and interp:
                    interp -= 1
                elif text[j] == "\\":
                    j += 1
                elif text[j] == "\n" and not interp:
                    test.fail(f"{path}: unterminated string at {i}")
                j += 1
            test.assertLess(j, len(text), f"{path}: unterminated string")
            out.append(text[i:j + 1])
            i = j + 1
            continue
        if c in "{[(":
            depth.append(c)
        elif c in "}])":
            test.assertTrue(depth, f"{path}: unbalanced {c} at {i}")
            test.assertEqual({"{": "}", "[": "]", "(": ")"}[depth.pop()], c, f"{path}: mismatched {c} at {i}")
        out.append(c)
        i += 1
    test.assertEqual(depth, [], f"{path}: unclosed blocks")
    return "".join(out)


class Terraform(unittest.TestCase):
    def read(self, *parts):
        path = os.path.join(EX, "terraform", *parts)
        with open(path) as f:
            return hcl_blocks(f.read(), self, path)

    def test_module_publishes_both_layers_and_the_policy(self):
        main = self.read("modules", "appconfig-extension-layer", "main.tf")
        self.assertIn('toset(["x86_64", "arm64"])', main)
        self.assertRegex(main, r'resource "aws_lambda_layer_version" "extension" \{[^}]*for_each\s*=\s*local.architectures')
        self.assertIn('compatible_architectures = [each.key]', main)
        self.assertIn('filename                 = "${var.layer_zip_dir}/appconfig-extension-${each.key}.zip"', main)
        self.assertIn('actions = ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"]', main)
        variables = self.read("modules", "appconfig-extension-layer", "variables.tf")
        for v in ("layer_zip_dir", "layer_name", "configurations"):
            self.assertIn(f'variable "{v}"', variables)
        outputs = self.read("modules", "appconfig-extension-layer", "outputs.tf")
        self.assertIn('output "layer_arns"', outputs)
        self.assertIn('output "read_policy_json"', outputs)

    def test_root_attaches_the_layer_of_the_functions_architecture(self):
        root = self.read("main.tf")
        self.assertIn('source        = "./modules/appconfig-extension-layer"', root)
        self.assertIn('layer_zip_dir = "${path.module}/../../build/layer"', root)
        self.assertIn("layers           = [module.appconfig_extension.layer_arns[var.architecture]]", root)
        self.assertIn("architectures    = [var.architecture]", root)
        self.assertIn("policy = module.appconfig_extension.read_policy_json", root)
        self.assertIn('contains(["x86_64", "arm64"], var.architecture)', root)
        self.assertTrue(os.path.exists(os.path.join(EX, "sam", "src", "app.py")))  # the source_file it zips


class Eks(unittest.TestCase):
    def test_daemonset(self):
        docs = load_yaml(os.path.join(EX, "eks", "daemonset.yaml"))
        kinds = {d["kind"]: d for d in docs}
        self.assertEqual(set(kinds), {"ServiceAccount", "Secret", "DaemonSet"})
        self.assertIn("eks.amazonaws.com/role-arn", kinds["ServiceAccount"]["metadata"]["annotations"])
        ds = kinds["DaemonSet"]
        self.assertEqual(ds["apiVersion"], "apps/v1")
        spec = ds["spec"]["template"]["spec"]
        self.assertEqual(spec["serviceAccountName"], "appconfig-agent")
        [c] = spec["containers"]
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertEqual(c[probe]["exec"]["command"], ["/appconfig-extension", "healthcheck"])
            self.assertLess(c[probe]["timeoutSeconds"], 5)
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["HTTP_HOST"]["value"], "0.0.0.0")
        self.assertEqual(env["ACCESS_TOKEN"]["valueFrom"]["secretKeyRef"]["name"], "appconfig-agent-token")
        self.assertEqual(c["ports"][0]["containerPort"], 2772)
        self.assertEqual(c["ports"][0]["hostPort"], 2772)
        sc = c["securityContext"]
        self.assertTrue(sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        self.assertEqual(sorted(terms[0]["matchExpressions"][0]["values"]), ["amd64", "arm64"])


    def test_native_sidecar(self):
        docs = load_yaml(os.path.join(EX, "eks", "sidecar.yaml"))
        kinds = {d["kind"]: d for d in docs}
        self.assertEqual(set(kinds), {"ServiceAccount", "Deployment"})
        spec = kinds["Deployment"]["spec"]["template"]["spec"]
        [agent] = spec["initContainers"]
        self.assertEqual(agent["restartPolicy"], "Always")  # a native sidecar: starts first, stops last
        for probe in ("startupProbe", "livenessProbe"):
            self.assertEqual(agent[probe]["exec"]["command"], ["/appconfig-extension", "healthcheck"])
        env = {e["name"]: e["value"] for e in agent["env"]}
        self.assertEqual(env["HTTP_HOST"], "127.0.0.1")
        app_env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
        self.assertTrue(app_env["APPCONFIG_URL"].startswith("http://127.0.0.1:2772/applications/"))


class Ecs(unittest.TestCase):
    def test_task_definition(self):
        with open(os.path.join(EX, "ecs", "task-definition.json")) as f:
            td = json.load(f)
        self.assertIn(td["runtimePlatform"]["cpuArchitecture"], ("ARM64", "X86_64"))
        self.assertIn("taskRoleArn", td)
        c = {x["name"]: x for x in td["containerDefinitions"]}
        agent = c["appconfig-agent"]
        self.assertEqual(agent["healthCheck"]["command"], ["CMD", "/appconfig-extension", "healthcheck"])
        self.assertEqual(agent["portMappings"][0]["containerPort"], 2772)
        self.assertIn("ACCESS_TOKEN", [s["name"] for s in agent["secrets"]])
        self.assertTrue(agent["readonlyRootFilesystem"])
        self.assertEqual(c["app"]["dependsOn"], [{"containerName": "appconfig-agent", "condition": "HEALTHY"}])


# ---------------------------------------------------------------- Dockerfiles replayed in a chroot

def parse_dockerfile(path):
    """Stages of a Dockerfile as {"name", "base", "steps": [(instruction, args)]} in order."""
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    stages, global_args = [], {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            parts = rest.split()
            stages.append({"base": parts[0], "name": parts[2] if len(parts) > 2 else None, "steps": []})
        elif not stages:
            if instr == "ARG":
                k, _, v = rest.partition("=")
                global_args[k] = v
        else:
            stages[-1]["steps"].append((instr, rest.strip()))
    return stages, global_args


def expand(s, env):
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), s)


def replay(dockerfile, rootfs, host_files):
    """Runs the final stage's COPY steps into rootfs, resolving --from stages (scratch stages copy
    from the build context, the repository root; other stages' files come from host_files).
    Returns (env, user, healthcheck argv, entrypoint argv, cmd argv)."""
    stages, args = parse_dockerfile(dockerfile)
    args = dict(args, TARGETARCH=DOCKER_ARCH)
    by_name = {s["name"]: s for s in stages if s["name"]}
    final = stages[-1]
    env, user, health, entry, cmd = dict(BASE_IMAGE_ENV), None, None, None, None

    def source_of(stage_name, path):
        stage = by_name[expand(stage_name, args)]
        base = expand(stage["base"], args)
        if base in by_name:
            return source_of(base, path)
        for instr, rest in stage["steps"]:
            if instr == "COPY" and not rest.startswith("--from"):
                src, dst = rest.split()
                if dst == path:
                    return os.path.join(ROOT, expand(src, args))
        if path in host_files:
            return host_files[path]
        raise AssertionError(f"{dockerfile}: cannot resolve {path} in stage {stage_name}")

    for instr, rest in final["steps"]:
        if instr == "COPY":
            parts = rest.split()
            if parts[0].startswith("--from="):
                src, dst = source_of(parts[0][7:], parts[1]), parts[2]
            else:
                src, dst = os.path.join(ROOT, expand(parts[0], args)), parts[1]
            dst = expand(dst, env)
            target = os.path.join(rootfs, dst.lstrip("/"))
            if dst.endswith("/"):
                target = os.path.join(target, os.path.basename(src))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(src, target)
        elif instr == "ENV":
            for item in shlex.split(rest):
                k, _, v = item.partition("=")
                env[k] = v
        elif instr == "ARG":
            k, _, v = rest.partition("=")
            args.setdefault(k, v)
        elif instr == "USER":
            user = rest
        elif instr == "HEALTHCHECK":
            health = json.loads(rest[rest.index("CMD") + 3:].strip())
        elif instr == "ENTRYPOINT":
            entry = json.loads(rest)
        elif instr == "CMD":
            cmd = json.loads(rest)
    return env, user, health, entry, cmd


class ContainerImages(unittest.TestCase):
    def setUp(self):
        if shutil.which("chroot") is None:
            apt_install("coreutils")
        release(HOST_ARCH)
        self.rootfs = tempfile.mkdtemp(prefix="appconfig-rootfs-")
        os.chmod(self.rootfs, 0o755)  # an image's / is readable by its non-root user

    def tearDown(self):
        shutil.rmtree(self.rootfs, ignore_errors=True)

    def chroot(self, argv, env, user=None):
        # The image's PATH is "/": chroot itself is found on the host's.
        prefix = [shutil.which("chroot")] + ([f"--userspec={user}"] if user else []) + [self.rootfs]
        return prefix + argv, dict(env, PATH="/")

    def test_scratch_agent_image_serves_and_passes_its_own_healthcheck(self):
        ca = "/etc/ssl/certs/ca-certificates.crt"
        if not os.path.exists(ca):
            apt_install("ca-certificates")
        env, user, health, entry, cmd = replay(os.path.join(EX, "ecs", "Dockerfile"), self.rootfs, {ca: ca})
        self.assertEqual(sorted(os.listdir(self.rootfs)), ["appconfig-extension", "etc"])  # nothing else
        self.assertEqual(user, "65534:65534")
        self.assertEqual(health, ["/appconfig-extension", "healthcheck"])
        self.assertEqual(entry, ["/appconfig-extension"])
        self.assertEqual(env["HTTP_HOST"], "0.0.0.0")
        # `docker run -e`: a free port, local files, a token.
        shutil.copytree(os.path.join(EX, "local"), os.path.join(self.rootfs, "config"))
        port = free_port()
        env.update(HTTP_PORT=str(port), LOCAL_DEVELOPMENT_DIRECTORY="/config", ACCESS_TOKEN="tok")
        argv, cenv = self.chroot(entry, env, user)
        p = subprocess.run(argv[:-1] + [argv[-1], "--version"], env=cenv, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"architecture: {HOST_ARCH}", p.stdout)
        proc = subprocess.Popen(argv, env=cenv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            hc_argv, hc_env = self.chroot(health, env, user)
            deadline = time.time() + 10
            while True:
                hc = subprocess.run(hc_argv, env=hc_env, capture_output=True, text=True)
                if hc.returncode == 0 or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(hc.returncode, 0, hc.stderr + proc.stderr.read1().decode() if hc.returncode else "")
            path = "/applications/MyApp/environments/Production/configurations/Settings"
            self.assertEqual(get(port, path)[0], 401)
            self.assertEqual(get(port, path, {"Authorization": "Bearer tok"})[0], 200)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        for line in err.decode().splitlines():  # LOG_FORMAT=json from the image
            self.assertEqual(json.loads(line)["logger"], "appconfig-extension")
        hc = subprocess.run(hc_argv, env=hc_env, capture_output=True, text=True)
        self.assertEqual(hc.returncode, 1)

    def lambda_image(self, dockerfile):
        env, user, health, entry, cmd = replay(os.path.join(EX, "container-image", dockerfile), self.rootfs, {})
        ext = os.path.join(self.rootfs, "opt", "extensions", "appconfig-extension")
        self.assertTrue(os.stat(ext).st_mode & stat.S_IXUSR)
        shutil.copytree(os.path.join(EX, "local"), os.path.join(self.rootfs, "config"))
        port = free_port()
        run_env = dict(env, LOCAL_DEVELOPMENT_DIRECTORY="/config", AWS_APPCONFIG_EXTENSION_HTTP_PORT=str(port))
        return env, cmd, port, run_env

    def run_in_lambda(self, run_env, fn):
        with LambdaEmulator("/opt/extensions/appconfig-extension", env=run_env,
                            interpreter=["chroot", self.rootfs]) as emu:
            init = emu.start()
            self.assertTrue(init.ok, f"{init.reason}: {emu.stderr()[-2000:]}")
            r = emu.invoke(fn)
            s = emu.shutdown()
            self.assertEqual(s.exit_code, 0)
            self.assertEqual(emu.violations, [])
            return r.value

    def test_python_image(self):
        env, cmd, port, run_env = self.lambda_image("Dockerfile.python")
        self.assertEqual(cmd, ["app.handler"])
        app = os.path.join(self.rootfs, env["LAMBDA_TASK_ROOT"].lstrip("/"), "app.py")
        self.assertTrue(os.path.exists(app))
        sys.path.insert(0, os.path.dirname(app))
        try:
            import app as function  # the handler the image runs
        finally:
            sys.path.pop(0)
        saved = dict(os.environ)
        os.environ.update(APPCONFIG_PATH=env["APPCONFIG_PATH"], AWS_APPCONFIG_EXTENSION_HTTP_PORT=str(port))
        function.PORT = str(port)
        try:
            value = self.run_in_lambda(run_env, lambda: function.handler({}, None))
        finally:
            os.environ.clear()
            os.environ.update(saved)
            sys.modules.pop("app", None)
        with open(os.path.join(EX, "local", "MyApp:Production:Settings.json")) as f:
            self.assertEqual(value["config"], json.load(f))
        self.assertRegex(value["version"], r"^[0-9a-f]{16}$")

    def test_provided_al2023_image(self):
        env, cmd, port, run_env = self.lambda_image("Dockerfile.provided-al2023")
        bootstrap = os.path.join(self.rootfs, env["LAMBDA_RUNTIME_DIR"].lstrip("/"), "bootstrap")
        self.assertTrue(os.stat(bootstrap).st_mode & stat.S_IXUSR)
        self.assertEqual(subprocess.run(["sh", "-n", bootstrap]).returncode, 0)  # the runtime loop parses
        value = self.run_in_lambda(run_env, lambda: get(port, env["APPCONFIG_PATH"]))
        self.assertEqual(value[0], 200)


class Systemd(unittest.TestCase):
    def test_unit_verifies_and_is_hardened(self):
        if shutil.which("systemd-analyze") is None:
            apt_install("systemd")
        unit = os.path.join(EX, "ec2", "appconfig-agent.service")
        with open(unit) as f:
            text = f.read()
        for option in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                       "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"):
            self.assertIn("\n" + option + "\n", text)
        self.assertIn("ExecStartPre=/usr/local/bin/appconfig-extension check\n", text)
        with tempfile.TemporaryDirectory() as tmp:
            # verify checks that ExecStart exists: point it at the built binary, nothing else changes.
            copy = os.path.join(tmp, "appconfig-agent.service")
            with open(copy, "w") as f:
                f.write(text.replace("/usr/local/bin/appconfig-extension", release(HOST_ARCH)))
            p = subprocess.run(["systemd-analyze", "verify", copy], capture_output=True, text=True)
            self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))
            p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", copy],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr)
            m = re.search(r"Overall exposure level for .*: ([0-9.]+)", p.stdout)
            self.assertIsNotNone(m, p.stdout[-500:])
            self.assertLess(float(m.group(1)), 2.0)
        with open(os.path.join(EX, "ec2", "appconfig-agent.env")) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    self.assertRegex(line.strip(), r"^[A-Z_]+=\S+$")


def doc_snippet(language):
    """The one ```language block of docs/migrating.md, exactly as a user copies it."""
    with open(os.path.join(ROOT, "docs", "migrating.md"), encoding="utf-8") as f:
        blocks = re.findall(r"```" + language + r"\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 1, (language, len(blocks))
    return blocks[0]


class MigratingSnippets(unittest.TestCase):
    """docs/migrating.md's Python and Node.js clients against the binary (local files)."""

    @classmethod
    def setUpClass(cls):
        from harness import Agent
        cls.agent = Agent(local_dir=os.path.join(EX, "local")).start()
        with open(os.path.join(EX, "local", "MyApp:Production:Flags.json")) as f:
            cls.flags = json.load(f)
        with open(os.path.join(EX, "local", "MyApp:Production:Settings.json")) as f:
            cls.settings = json.load(f)

    @classmethod
    def tearDownClass(cls):
        assert cls.agent.stop() == 0

    def silent_port(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        self.addCleanup(srv.close)
        return srv.getsockname()[1]

    def test_python(self):
        import urllib.error
        ns = {}
        saved = os.environ.get("AWS_APPCONFIG_EXTENSION_HTTP_PORT")
        os.environ["AWS_APPCONFIG_EXTENSION_HTTP_PORT"] = str(self.agent.port)
        try:
            exec(compile(doc_snippet("python"), "docs/migrating.md", "exec"), ns)  # port read at import
        finally:
            if saved is None:
                os.environ.pop("AWS_APPCONFIG_EXTENSION_HTTP_PORT")
            else:
                os.environ["AWS_APPCONFIG_EXTENSION_HTTP_PORT"] = saved
        get = ns["get_configuration"]
        config, version = get("MyApp", "Production", "Settings")
        self.assertEqual(config, self.settings)
        self.assertRegex(version, r"^[0-9a-f]{16}$")
        self.assertEqual(get("MyApp", "Production", "Flags", flags=["dark-mode"])[0], self.flags["dark-mode"])
        both = get("MyApp", "Production", "Flags", flags=["dark-mode", "rate-limit"])[0]
        self.assertEqual(both, {k: self.flags[k] for k in ("dark-mode", "rate-limit")})
        us = get("MyApp", "Production", "Checkout", flags=["checkout"], context={"country": "US"})[0]
        vip = get("MyApp", "Production", "Checkout", flags=["checkout"], context={"age": "40", "tier": "gold"})[0]
        self.assertEqual((us["_variant"], vip["_variant"]), ("us", "vip"))
        with self.assertRaises(urllib.error.HTTPError) as e:
            get("MyApp", "Production", "Flags", flags=["no-such-flag"])
        self.assertEqual(e.exception.code, 400)
        ns["APPCONFIG_PORT"] = str(self.silent_port())
        t0 = time.monotonic()
        with self.assertRaises(OSError):  # socket.timeout / URLError: the timeout holds
            get("MyApp", "Production", "Settings", timeout_s=0.5)
        self.assertLess(time.monotonic() - t0, 3)

    def test_nodejs(self):
        script = doc_snippet("js") + """
(async () => {
  const out = {};
  out.settings = await getConfiguration("MyApp", "Production", "Settings");
  out.one = (await getConfiguration("MyApp", "Production", "Flags", { flags: ["dark-mode"] })).config;
  out.us = (await getConfiguration("MyApp", "Production", "Checkout",
    { flags: ["checkout"], context: { country: "US" } })).config;
  out.vip = (await getConfiguration("MyApp", "Production", "Checkout",
    { flags: ["checkout"], context: { age: "40", tier: "gold" } })).config;
  try { await getConfiguration("MyApp", "Production", "Flags", { flags: ["no-such-flag"] }); out.bad = "no error"; }
  catch (e) { out.bad = e.message; }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""
        timeout_script = doc_snippet("js") + """
const t0 = Date.now();
getConfiguration("MyApp", "Production", "Settings", { timeoutMs: 500 })
  .then(() => { console.log("answered"); process.exit(1); })
  .catch((e) => { console.log(JSON.stringify({ name: e.name, ms: Date.now() - t0 })); });
"""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "client.js")
            with open(path, "w") as f:
                f.write(script)
            env = dict(os.environ, AWS_APPCONFIG_EXTENSION_HTTP_PORT=str(self.agent.port))
            p = subprocess.run(["node", path], env=env, capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            out = json.loads(p.stdout)
            with open(path, "w") as f:
                f.write(timeout_script)
            env["AWS_APPCONFIG_EXTENSION_HTTP_PORT"] = str(self.silent_port())
            t = subprocess.run(["node", path], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(out["settings"]["config"], self.settings)
        self.assertRegex(out["settings"]["version"], r"^[0-9a-f]{16}$")
        self.assertEqual(out["one"], self.flags["dark-mode"])
        self.assertEqual((out["us"]["_variant"], out["vip"]["_variant"]), ("us", "vip"))
        self.assertIn("answered 400", out["bad"])
        self.assertEqual(t.returncode, 0, t.stdout + t.stderr)
        timed = json.loads(t.stdout)
        self.assertEqual(timed["name"], "TimeoutError")
        self.assertLess(timed["ms"], 3000)


class RunSh(unittest.TestCase):
    def test_make_run_script_still_serves_examples_local(self):
        port = free_port()
        env = {"PATH": os.environ["PATH"], "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(port),
               "ASAN_OPTIONS": "exitcode=86:detect_leaks=0"}
        proc = subprocess.Popen(["bash", os.path.join(EX, "run.sh"), debug_binary()], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 10
            while True:
                try:
                    status, body = get(port, "/applications/MyApp/environments/Production/configurations/Settings")
                    break
                except OSError:
                    self.assertLess(time.time(), deadline)
                    time.sleep(0.05)
            self.assertEqual(status, 200)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=10)
        self.assertIn(b"curl -i", out)


if __name__ == "__main__":
    unittest.main()
