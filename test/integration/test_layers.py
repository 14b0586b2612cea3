"""The layout rules of docs/architecture.md, checked on the tree: every #include points down the layers
(test/check_layers.py), and the check itself catches each kind of violation on a small tree built here."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "test", "check_layers.py")
ORDER = "core < formats < net < aws < flags < agent < program"


def run(root):
    proc = subprocess.run([sys.executable, CHECK, root], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)
    return proc.returncode, proc.stdout


class LayerRule(unittest.TestCase):
    def test_the_tree_follows_the_rule(self):
        code, out = run(ROOT)
        self.assertEqual(code, 0, out)
        self.assertIn("all pointing down", out)
        # Every module is somewhere: a flat src/*.cpp would escape the layers.
        flat = [n for n in os.listdir(os.path.join(ROOT, "src")) if n.endswith(".cpp")]
        self.assertEqual(flat, [])


class CheckCatchesViolations(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="layers-")
        for layer in ("core", "net", "agent"):
            os.makedirs(os.path.join(self.tmp, "src", layer))
            os.makedirs(os.path.join(self.tmp, "include", "appconfig", layer))
        os.makedirs(os.path.join(self.tmp, "docs"))
        self.write("docs/architecture.md", f"A layer may include only layers below it: {ORDER}.\n")
        self.write("include/appconfig/core/loop.h", "#pragma once\n")
        self.write("include/appconfig/net/http.h", '#pragma once\n#include "appconfig/core/loop.h"\n')
        self.write("include/appconfig/agent/cache.h", '#pragma once\n#include "appconfig/net/http.h"\n')
        self.write("src/net/http.cpp", '#include "appconfig/net/http.h"\n#include "appconfig/core/loop.h"\n')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, rel, text):
        with open(os.path.join(self.tmp, rel), "w") as f:
            f.write(text)

    def test_a_clean_tree_passes(self):
        code, out = run(self.tmp)
        self.assertEqual(code, 0, out)

    def test_an_upward_include_is_named(self):
        self.write("src/core/loop.cpp", '#include "appconfig/core/loop.h"\n\n#include "appconfig/agent/cache.h"\n')
        code, out = run(self.tmp)
        self.assertEqual(code, 1, out)
        self.assertIn('src/core/loop.cpp:3: layer core includes "appconfig/agent/cache.h" from agent', out)

    def test_a_header_including_upwards_is_named(self):
        self.write("include/appconfig/net/http.h", '#pragma once\n#include "appconfig/agent/cache.h"\n')
        code, out = run(self.tmp)
        self.assertEqual(code, 1, out)
        self.assertIn("include/appconfig/net/http.h:2: layer net includes", out)

    def test_flat_and_missing_headers_and_stray_files(self):
        self.write("src/net/http.cpp", '#include "appconfig/http.h"\n#include "appconfig/net/nope.h"\n')
        self.write("src/stray.cpp", "int x;\n")
        os.makedirs(os.path.join(self.tmp, "src", "misc"))
        self.write("src/misc/odd.cpp", "int y;\n")
        code, out = run(self.tmp)
        self.assertEqual(code, 1, out)
        self.assertIn('src/net/http.cpp:1: "appconfig/http.h" names no layer', out)
        self.assertIn('src/net/http.cpp:2: "appconfig/net/nope.h" does not exist', out)
        self.assertIn("src/stray.cpp:1: not in a layer folder", out)
        self.assertIn("src/misc/odd.cpp:1: not in a layer folder", out)
        self.assertIn("check_layers: 4 violation(s)", out)

    def test_the_docs_must_state_the_order(self):
        self.write("docs/architecture.md", "Layers: core, net, agent.\n")
        code, out = run(self.tmp)
        self.assertEqual(code, 1, out)
        self.assertIn("docs/architecture.md:1: does not state the layer order", out)


if __name__ == "__main__":
    unittest.main()
