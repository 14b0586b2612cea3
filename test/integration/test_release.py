"""The release binaries: static, small, and working on both architectures; the layer zips."""
import os
import shutil
import stat
import subprocess
import tempfile
import unittest
import zipfile

from harness import ROOT, BUILD, NAME, Agent, release_binary

SIZE_LIMIT = 1048576
# The build host's architecture runs natively; the other one under qemu-user (an arm64 build box,
# e.g. Graviton, runs the x86_64 binary under qemu-x86_64).
HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
OTHER_ARCH = "arm64" if HOST_ARCH == "x86_64" else "x86_64"
QEMU = {"arm64": "aarch64", "x86_64": "x86_64"}


def elf_interp(path):
    out = subprocess.run(["readelf", "-l", path], capture_output=True, text=True)
    return "Requesting program interpreter" in out.stdout, out.stdout


class ReleaseBinaries(unittest.TestCase):
    def test_sizes_and_static(self):
        for arch in ("x86_64", "arm64"):
            path = release_binary(arch)
            self.assertTrue(os.path.exists(path), path)
            size = os.path.getsize(path)
            self.assertLess(size, SIZE_LIMIT, f"{arch}: {size} bytes")
            has_interp, text = elf_interp(path)
            self.assertFalse(has_interp, f"{arch} binary asks for a dynamic loader")
            dyn = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
            self.assertNotIn("NEEDED", dyn, f"{arch} binary needs shared libraries")
            syms = subprocess.run(["readelf", "-S", path], capture_output=True, text=True).stdout
            self.assertNotIn(".symtab", syms, f"{arch} binary is not stripped")

    @unittest.skipUnless(os.geteuid() == 0, "chroot needs root")
    def test_host_binary_runs_in_empty_chroot(self):
        root = tempfile.mkdtemp(prefix="appconfig-chroot-")
        try:
            shutil.copy(release_binary(HOST_ARCH), os.path.join(root, NAME))
            os.makedirs(os.path.join(root, "local"))
            with open(os.path.join(root, "local", "App:Env:Prof.json"), "w") as f:
                f.write('{"ok":true}')
            # Nothing else: no libc, no loader, no /dev, no /etc.
            self.assertEqual(sorted(os.listdir(root)), sorted([NAME, "local"]))
            agent = Agent(binary="/usr/sbin/chroot", env={"LOCAL_DEVELOPMENT_DIRECTORY": "/local"})
            agent.binary = "/usr/sbin/chroot"
            agent.proc = subprocess.Popen(["/usr/sbin/chroot", root, "/" + NAME], env=agent.env,
                                          stdout=agent.stderr_file, stderr=agent.stderr_file)
            agent.wait_ready()
            status, h, body = agent.get("/applications/App/environments/Env/configurations/Prof")
            self.assertEqual((status, body), (200, b'{"ok":true}'))
            self.assertEqual(agent.stop(), 0)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_other_architecture_under_qemu(self):
        q = QEMU[OTHER_ARCH]
        qemu = shutil.which(f"qemu-{q}-static") or shutil.which(f"qemu-{q}")
        if qemu is None:
            self.fail(f"qemu-{q}-static is not installed (make deps installs qemu-user-static)")
        d = tempfile.mkdtemp(prefix=f"appconfig-{OTHER_ARCH}-")
        try:
            with open(os.path.join(d, "App:Env:Prof.json"), "w") as f:
                f.write('{"arch":"%s"}' % OTHER_ARCH)
            agent = Agent(env={"LOCAL_DEVELOPMENT_DIRECTORY": d})
            agent.proc = subprocess.Popen([qemu, release_binary(OTHER_ARCH)], env=agent.env,
                                          stdout=agent.stderr_file, stderr=agent.stderr_file)
            agent.wait_ready(timeout=30)
            status, _, body = agent.get("/ping")
            self.assertEqual(status, 200)
            status, _, body = agent.get("/applications/App/environments/Env/configurations/Prof")
            self.assertEqual((status, body), (200, b'{"arch":"%s"}' % OTHER_ARCH.encode()))
            self.assertEqual(agent.stop(), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Layer(unittest.TestCase):
    def test_layer_zips(self):
        out = tempfile.mkdtemp(prefix="appconfig-layer-")
        try:
            subprocess.run(["bash", os.path.join(ROOT, "layer", "build.sh"), NAME, out,
                            release_binary("x86_64"), release_binary("arm64")], check=True, capture_output=True)
            for arch in ("x86_64", "arm64"):
                z = zipfile.ZipFile(os.path.join(out, f"{NAME}-{arch}.zip"))
                info = z.getinfo(f"extensions/{NAME}")
                mode = info.external_attr >> 16
                self.assertTrue(mode & stat.S_IXUSR, f"{arch}: no run bit")
                with open(release_binary(arch), "rb") as f:
                    self.assertEqual(z.read(info), f.read())
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def test_make_install_destdir(self):
        dest = tempfile.mkdtemp(prefix="appconfig-install-")
        try:
            subprocess.run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}"], check=True, capture_output=True)
            path = os.path.join(dest, "extensions", NAME)
            self.assertTrue(os.access(path, os.X_OK), path)
        finally:
            shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
