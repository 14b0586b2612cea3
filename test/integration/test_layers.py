"""The layout rules of docs/architecture.md, checked on the tree: every #include points down the layers
(test/check_layers.py), no helper of core/ is copied into another module (test/check_helpers.py), no
function is over 120 lines without a reason (test/check_functions.py); and each check catches its
violations on a small tree or file built here."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "test", "check_layers.py")
HELPERS = os.path.join(ROOT, "test", "check_helpers.py")
FUNCTIONS = os.path.join(ROOT, "test", "check_functions.py")
ORDER = "core < formats < net < aws < flags < agent < program"


def run(root, script=CHECK, *args):
    proc = subprocess.run([sys.executable, script, *args, root] if script != FUNCTIONS else
                          [sys.executable, script, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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


class HelpersHaveOneHome(unittest.TestCase):
    def test_the_tree_has_no_copies(self):
        code, out = run(ROOT, HELPERS)
        self.assertEqual(code, 0, out)

    def test_a_copy_and_a_private_formatter_are_named(self):
        tmp = tempfile.mkdtemp(prefix="helpers-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        os.makedirs(os.path.join(tmp, "src", "net"))
        os.makedirs(os.path.join(tmp, "src", "core"))
        os.makedirs(os.path.join(tmp, "include", "appconfig", "core"))
        with open(os.path.join(tmp, "src", "net", "dns.cpp"), "w") as f:
            f.write("namespace {\n"
                    "char lower(char c) { return c | 0x20; }\n"
                    "static inline bool iequals(std::string_view a, std::string_view b) {\n"
                    "  return a == b;\n}\n"
                    "void fail(char* out, size_t cap, const char* fmt, ...) {\n"
                    "  va_list ap; va_start(ap, fmt); vsnprintf(out, cap, fmt, ap); va_end(ap);\n}\n"
                    "bool is_tchar(char c) { return c > 32; }\n"
                    "}\n")
        with open(os.path.join(tmp, "src", "core", "text.cpp"), "w") as f:
            f.write("bool iequals(std::string_view a, std::string_view b) {\n  return true;\n}\n")
        code, out = run(tmp, HELPERS)
        self.assertEqual(code, 1, out)
        self.assertIn("src/net/dns.cpp:2: defines lower()", out)
        self.assertIn("src/net/dns.cpp:3: defines iequals()", out)
        self.assertIn("src/net/dns.cpp:7: formats a message with vsnprintf", out)
        self.assertNotIn("is_tchar", out)
        self.assertNotIn("text.cpp", out)
        self.assertIn("3 helper copie(s)", out)


class FunctionLengths(unittest.TestCase):
    def test_no_function_over_120_lines_without_a_reason(self):
        code, out = run(ROOT, FUNCTIONS)
        self.assertEqual(code, 0, out)
        self.assertIn(", 0 function(s) over 120 lines", out)

    def test_a_long_function_is_named_unless_it_says_why(self):
        tmp = tempfile.mkdtemp(prefix="functions-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        body = "".join(f"  x += {i};  // a '{{' in a comment and \"}}\" in a string\n" for i in range(125))
        src = os.path.join(tmp, "long.cpp")
        with open(src, "w") as f:
            f.write("namespace appconfig {\nstruct S {\n  int short_one() { return 1; }\n};\n\n"
                    f"int Parser::step(int x) {{\n{body}  return x;\n}}\n\n"
                    "// long on purpose: one table of states, read top to bottom.\n"
                    f"int table(int x) {{\n  auto f = [](int y) {{ return y; }};\n{body}  return f(x);\n}}\n"
                    "}  // namespace appconfig\n")
        code, out = run(tmp, FUNCTIONS, "--list", "100", src)
        self.assertEqual(code, 1, out)
        self.assertIn("long.cpp:6: Parser::step is 128 lines (over 120", out)
        self.assertIn("table 129 lines (exempt)", out)
        self.assertNotIn("short_one", out)
        self.assertIn("1 function(s) over 120 lines", out)


if __name__ == "__main__":
    unittest.main()
