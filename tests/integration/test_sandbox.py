"""Sandbox escapes: each test runs one agent that tries one forbidden thing.

The agents (tests/integration/domains/test/agents/escape_*.lua) return
{escaped = true} when the attempt worked; otherwise they raise (or the sandbox
raises for them). Every such task must end `dead` (max_attempts = 1) with an
error that names the agent file and a line: `agents/<name>.lua:<line>:`.
Each test has its own engine, so a successful escape cannot leak into another.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import EngineTestCase, error_text  # noqa: E402


class SandboxEscapeTest(EngineTestCase):

    def run_escape(self, name, input=None):
        eng = self.engine()
        agent = "escape_" + name
        st, _, body = eng.create_task("test." + agent, input or {}, execute=True)
        self.assertEqual(st, 201, "create test.%s -> %s %r" % (agent, st, body))
        task = eng.wait_terminal(body["id"], timeout=15)
        result = task.get("result")
        self.assertFalse(isinstance(result, dict) and result.get("escaped"),
                         "SANDBOX ESCAPE: %s succeeded, result %r" % (name, result))
        self.assertEqual(task["status"], "dead",
                         "expected dead, got %s: %s" % (task["status"], json.dumps(task)[:1500]))
        err = error_text(task)
        self.assertTrue(err, "dead task has no error: %s" % json.dumps(task)[:1500])
        self.assertRegex(err, r"agents/%s\.lua:\d+:" % re.escape(agent),
                         "sandbox held, but the error does not name the agent file and line")
        # the engine must still be serving
        st, _, h = eng.health()
        self.assertEqual(st, 200, "health after escape attempt: %s %r" % (st, h))
        return task, eng

    def test_io_open(self):
        self.run_escape("io_open")

    def test_os_execute(self):
        marker = os.path.join(os.environ.get("TMPDIR", "/tmp"), "agency-escape-marker-%d" % os.getpid())
        if os.path.exists(marker):
            os.unlink(marker)
        try:
            self.run_escape("os_execute", {"marker": marker})
            self.assertFalse(os.path.exists(marker), "os.execute ran a shell command")
        finally:
            if os.path.exists(marker):
                os.unlink(marker)

    def test_load_binary_chunk(self):
        self.run_escape("load_binary")

    def test_debug_getinfo(self):
        self.run_escape("debug_getinfo")

    def test_require_socket(self):
        self.run_escape("require_socket")

    def test_string_dump(self):
        self.run_escape("string_dump")

    def test_string_metatable_mutation(self):
        task, eng = self.run_escape("string_metatable")
        # whatever happened, string methods must still work for other scripts
        st, _, body = eng.create_task("test.noop", {}, execute=True)
        self.assertEqual(st, 201)
        t = eng.wait_terminal(body["id"], timeout=10)
        self.assertEqual(t["status"], "succeeded", json.dumps(t)[:1000])

    def test_dofile(self):
        self.run_escape("dofile")

    def test_loadfile(self):
        self.run_escape("loadfile")

    def test_rawset_global(self):
        self.run_escape("rawset_global")

    def test_global_assignment(self):
        self.run_escape("global_assign")

    def test_undeclared_global_read(self):
        self.run_escape("global_read")

    def test_setmetatable_on_G(self):
        self.run_escape("setmetatable_g")

    def test_package_loadlib(self):
        self.run_escape("package_loadlib")

    def test_collectgarbage_stop(self):
        self.run_escape("collectgarbage_stop")


class SandboxLimitsTest(EngineTestCase):
    """CPU and memory limits that a script might get around: pcall, coroutines, big C calls."""

    def run_limited(self, name, pattern, timeout=15):
        eng = self.engine()
        agent = "escape_" + name
        st, _, body = eng.create_task("test." + agent, {}, execute=True)
        self.assertEqual(st, 201, "create test.%s -> %s %r" % (agent, st, body))
        try:
            task = eng.wait_terminal(body["id"], timeout=timeout)
        except AssertionError as e:
            st, _, h = eng.health()
            raise AssertionError("%s\n(the limit did not stop it; health now %s, loops %r)"
                                 % (e, st, (h.get("components") or {}).get("loops") if isinstance(h, dict) else h))
        result = task.get("result")
        self.assertFalse(isinstance(result, dict) and result.get("escaped"),
                         "LIMIT ESCAPE: %s finished, result %r" % (name, result))
        self.assertEqual(task["status"], "dead", json.dumps(task)[:1500])
        self.assertRegex(error_text(task), re.compile(pattern, re.I),
                         "error does not say which limit: %r" % (task.get("error"),))
        # the engine is untouched: a normal task on the same engine still runs
        st, _, n = eng.create_task("test.noop", {}, execute=True)
        self.assertEqual(st, 201)
        self.assertEqual(eng.wait_terminal(n["id"], timeout=10)["status"], "succeeded")
        return task

    def test_cpu_budget_not_swallowed_by_pcall(self):
        self.run_limited("pcall_spin", r"cpu|instruction")

    def test_cpu_budget_inside_coroutine(self):
        self.run_limited("coroutine_spin", r"cpu|instruction")

    def test_memory_limit_inside_coroutine(self):
        self.run_limited("coroutine_hog", r"memory")

    def test_memory_limit_single_big_allocation(self):
        self.run_limited("string_rep", r"memory")

    def test_cpu_budget_in_c_pattern_matching(self):
        # string.find with a backtracking pattern spends minutes inside one C function,
        # where the instruction hook never fires
        self.run_limited("pattern_spin", r"cpu|instruction|pattern|budget")


if __name__ == "__main__":
    unittest.main()
