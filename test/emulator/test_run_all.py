"""Self-tests of test/run_all.py: the summary line must never say more than was checked.

Each case writes a throw-away test module, runs it through run_all's module runner (in its own
process, as `make test` does) and checks what the tally counts.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import run_all  # noqa: E402


class RunAllSelfTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="run-all-selftest-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_module(self, body, ci=False):
        path = os.path.join(self.dir, "test_sample.py")
        with open(path, "w") as f:
            f.write("import unittest\n" + textwrap.dedent(body))
        tally = run_all.Tally()
        env = {"CI": "true"} if ci else {"CI": ""}
        with mock.patch.dict(os.environ, env), mock.patch.object(run_all.os, "geteuid", return_value=0):
            run_all.run_python_module("selftest", path, tally)
        return tally

    def test_pass_and_fail_are_counted_per_test(self):
        t = self.run_module("""
            class T(unittest.TestCase):
                def test_a(self): pass
                def test_b(self): pass
                def test_c(self): self.fail("no")
        """)
        self.assertEqual((t.passed, t.failed, len(t.skips)), (2, 1, 0))

    def test_skip_is_listed_not_passed(self):
        t = self.run_module("""
            class T(unittest.TestCase):
                @unittest.skip("needs a GPU")
                def test_a(self): pass
        """)
        self.assertEqual((t.passed, t.failed), (0, 0))
        self.assertEqual(len(t.skips), 1)
        self.assertIn("needs a GPU", t.skips[0])

    def test_skip_under_ci_fails_unless_exempt(self):
        t = self.run_module("""
            class T(unittest.TestCase):
                @unittest.skip("no reason that holds in CI")
                def test_a(self): pass
                @unittest.skip("CI-exempt: needs a Docker engine, which CI machines do not run")
                def test_b(self): pass
        """, ci=True)
        self.assertEqual((t.passed, t.failed, len(t.skips)), (0, 1, 1))
        self.assertIn("CI-exempt", t.failures[0])

    def test_expected_failure_and_unexpected_success_are_failures(self):
        t = self.run_module("""
            class T(unittest.TestCase):
                @unittest.expectedFailure
                def test_a(self): self.fail("known")
                @unittest.expectedFailure
                def test_b(self): pass
        """)
        self.assertEqual((t.passed, t.failed), (0, 2))

    def test_import_error_of_any_kind_is_a_failure(self):
        t = self.run_module("""
            raise RuntimeError("broken at import")
        """)
        self.assertEqual((t.passed, t.failed), (0, 1))
        self.assertIn("broken at import", t.failures[0])

    def test_setupclass_error_is_a_failure(self):
        t = self.run_module("""
            class T(unittest.TestCase):
                @classmethod
                def setUpClass(cls): raise OSError("no peer")
                def test_a(self): pass
        """)
        self.assertEqual((t.passed, t.failed), (0, 1))

    def test_hung_module_fails_within_its_timeout(self):
        t = self.run_module("""
            import time
            RUN_ALL_TIMEOUT_S = 2
            class T(unittest.TestCase):
                def test_a(self): pass
                def test_b(self): time.sleep(60)
        """)
        self.assertEqual((t.passed, t.failed), (1, 1))
        self.assertIn("did not finish within 2 s", t.failures[0])
        self.assertIn("test_b", t.failures[0])

    def test_zero_tests_is_a_failure(self):
        t = self.run_module("""
            x = 1
        """)
        self.assertEqual((t.passed, t.failed), (0, 1))
        self.assertIn("zero tests", t.failures[0])

    def test_subtest_failures_are_failures(self):
        t = self.run_module("""
            class T(unittest.TestCase):
                def test_a(self):
                    for i in range(3):
                        with self.subTest(i=i):
                            self.assertNotEqual(i, 1)
        """)
        self.assertGreaterEqual(t.failed, 1)

    def run_cli(self, **env):
        full = dict(os.environ, **env)
        return subprocess.run([sys.executable, run_all.__file__, "--build", self.dir], env=full,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)

    def test_unknown_only_name_stops_the_run(self):
        r = self.run_cli(APPCONFIG_TEST_ONLY="unit,integrashun")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("integrashun", r.stdout)
        r = self.run_cli(APPCONFIG_TEST_ONLY="integration/test_nothing_by_this_name")
        self.assertEqual(r.returncode, 2, r.stdout)

    def test_stray_gtest_filter_stops_the_run(self):
        r = self.run_cli(GTEST_FILTER="Regex*", APPCONFIG_TEST_ONLY="unit")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("GTEST_FILTER", r.stdout)

    def test_missing_unit_binary_is_a_failure(self):
        env = dict(os.environ)
        env.pop("GTEST_FILTER", None)
        r = subprocess.run([sys.executable, run_all.__file__, "--build", self.dir], env=dict(env, APPCONFIG_TEST_ONLY="unit"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(r.stdout.rstrip().endswith("0 passed, 1 failed, 0 skipped"), r.stdout)


if __name__ == "__main__":
    unittest.main()
