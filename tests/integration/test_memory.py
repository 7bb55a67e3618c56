"""Shared memory and prompt templates over HTTP (docs/scripting.md "Shared memory", "Prompt templates").

Agents: tests/integration/domains/test/agents/memory_ops.lua (runs a list of memory ops and reports each
result), test/agents/template_render.lua, and the second domain tests/integration/domains/test_peer/
(agents/notes.lua) for cross-domain reads. One engine serves the whole class; each test uses its own keys.
"""

import hashlib
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Engine, EngineTestCase, REPO_ROOT, TEST_DOMAIN, error_text  # noqa: E402

PEER_DOMAIN = os.path.join(os.path.dirname(TEST_DOMAIN), "test_peer")

GREETING = ("Hello {{ name }} from {{company.name}}.\nYour score is {{score}}; tags: {{tags}}.\n"
            "Regards, {{sender}}\n")


class MemoryTest(EngineTestCase):
    shared_engines = []

    @classmethod
    def setUpClass(cls):
        cls.eng = Engine(domains=[os.path.join(REPO_ROOT, "domains"), TEST_DOMAIN, PEER_DOMAIN])
        cls.shared_engines = [cls.eng]

    @classmethod
    def tearDownClass(cls):
        cls.eng.close()

    # ---- helpers -------------------------------------------------------------------------------------------

    def run_task(self, type, input, status="succeeded"):
        st, _, body = self.eng.create_task(type, input, execute=True)
        self.assertEqual(st, 201, "create %s -> %s %r" % (type, st, body))
        task = self.eng.wait_terminal(body["id"], timeout=15)
        self.assertEqual(task["status"], status, "task %s: %s" % (type, task))
        return task

    def ops(self, ops, catch=False):
        """Runs memory ops in one test.memory_ops task; returns the per-op results."""
        return self.run_task("test.memory_ops", {"ops": ops, "catch": catch})["result"]

    def misuse(self, op, pattern):
        """An op that must fail its task (dead, no retry) with an error naming memory_ops.lua:<line>."""
        task = self.run_task("test.memory_ops", {"ops": [op]}, status="dead")
        err = error_text(task)
        self.assertRegex(err, r"agents/memory_ops\.lua:\d+: " + pattern, task)
        self.assertEqual(task["attempts"], 1, task)
        return err

    # ---- memory ------------------------------------------------------------------------------------------

    def test_set_get_incr_delete(self):
        r = self.ops([
            {"op": "get", "key": "m1.absent"},
            {"op": "set", "key": "m1.obj", "value": {"a": 1, "list": ["x", "y"]}},
            {"op": "get", "key": "m1.obj"},
            {"op": "incr", "key": "m1.n"},
            {"op": "incr", "key": "m1.n", "by": 5},
            {"op": "incr", "key": "m1.n", "by": -10},
            {"op": "get", "key": "m1.n"},
            {"op": "delete", "key": "m1.obj"},
            {"op": "get", "key": "m1.obj"},
        ])
        self.assertEqual(r[0], {"type": "nil"})
        self.assertEqual(r[2]["value"], {"a": 1, "list": ["x", "y"]})
        self.assertEqual([x["value"] for x in r[3:6]], [1, 6, -4])
        self.assertEqual(r[3]["type"], "integer")
        self.assertEqual(r[6], {"value": -4, "type": "integer"})  # a counter reads back as an integer
        self.assertEqual(r[8], {"type": "nil"})
        # persisted: another task sees the count
        r = self.ops([{"op": "incr", "key": "m1.n"}])
        self.assertEqual(r[0]["value"], -3)

    def test_ttl_expiry(self):
        r = self.ops([
            {"op": "set", "key": "m2.t", "value": "short", "ttl": 0.4},
            {"op": "set", "key": "m2.cleared", "value": "first", "ttl": 0.4},
            {"op": "set", "key": "m2.cleared", "value": "kept"},     # a set without ttl clears the ttl
            {"op": "incr", "key": "m2.c", "ttl": 0.4},
            {"op": "incr", "key": "m2.c", "by": 2},
            {"op": "get", "key": "m2.t"},
            {"op": "get", "key": "m2.c"},
        ])
        self.assertEqual(r[5]["value"], "short")
        self.assertEqual(r[6]["value"], 3)
        time.sleep(0.6)
        r = self.ops([
            {"op": "get", "key": "m2.t"},
            {"op": "get", "key": "m2.cleared"},
            {"op": "get", "key": "m2.c"},
            {"op": "incr", "key": "m2.c"},                            # expired: counts from 0 again
        ])
        self.assertEqual(r[0], {"type": "nil"})
        self.assertEqual(r[1]["value"], "kept")
        self.assertEqual(r[2], {"type": "nil"})
        self.assertEqual(r[3]["value"], 1)

    def test_incr_of_a_non_integer_is_invalid_state(self):
        r = self.ops([
            {"op": "set", "key": "m3.s", "value": "text"},
            {"op": "incr", "key": "m3.s"},
            {"op": "set", "key": "m3.f", "value": 1.5},
            {"op": "incr", "key": "m3.f"},
            {"op": "get", "key": "m3.s"},
        ], catch=True)
        for e in (r[1]["error"], r[3]["error"]):
            self.assertEqual(e["code"], "invalid_state", r)
            self.assertFalse(e["retryable"], r)
            self.assertRegex(e["message"], r"agents/memory_ops\.lua:\d+: memory\.incr: .*is not an integer")
        self.assertEqual(r[4]["value"], "text")  # unchanged
        # uncaught, the task ends dead with the code and the line
        task = self.run_task("test.memory_ops", {"ops": [{"op": "incr", "key": "m3.s"}]}, status="dead")
        self.assertRegex(error_text(task), r"invalid_state: .*agents/memory_ops\.lua:\d+: memory\.incr: ")

    def test_misuse_errors_name_file_and_line(self):
        self.misuse({"op": "set", "key": "m4.k", "value": 1, "domain": "test_peer"},
                    r"memory\.set: no domain option: a script writes only its own domain's memory")
        self.misuse({"op": "incr", "key": "m4.k", "domain": "test_peer"}, r"memory\.incr: no domain option")
        self.misuse({"op": "delete", "key": "m4.k", "extra": {"domain": "test_peer"}},
                    r"memory\.delete: no domain option")
        self.misuse({"op": "set", "key": "m4.k", "value": 1, "ttl": -1}, r"memory\.set: ttl must be a number")
        self.misuse({"op": "set", "key": "m4.k", "value": 1, "ttl": 400000000}, r"memory\.set: ttl must be")
        self.misuse({"op": "incr", "key": "m4.k", "by": 1.5}, r"memory\.incr: by must be an integer")
        self.misuse({"op": "get", "key": "m4.k", "domain": "../x"}, r"memory\.get: domain must be a domain name")
        # nothing was written by the refused calls
        self.assertEqual(self.ops([{"op": "get", "key": "m4.k"}])[0], {"type": "nil"})
        peer = self.run_task("test_peer.notes", {"read": ["m4.k"]})["result"]
        self.assertEqual(peer["own"]["m4.k"], "absent")

    def test_other_domains_memory_is_readable_only_by_name(self):
        self.ops([{"op": "set", "key": "m5.shared", "value": "test's"},
                  {"op": "set", "key": "m5.only_test", "value": {"n": 1}}])
        peer = self.run_task("test_peer.notes", {"set": {"m5.shared": "peer's"},
                                                 "read": ["m5.shared", "m5.only_test"]})["result"]
        self.assertEqual(peer["own"], {"m5.shared": "peer's", "m5.only_test": "absent"})
        self.assertEqual(peer["test"], {"m5.shared": "test's", "m5.only_test": {"n": 1}})
        r = self.ops([{"op": "get", "key": "m5.shared"},
                      {"op": "get", "key": "m5.shared", "domain": "test_peer"},
                      {"op": "get", "key": "m5.shared", "domain": "test"},
                      {"op": "get", "key": "m5.shared", "domain": "no_such_domain"}])
        self.assertEqual([x.get("value") for x in r], ["test's", "peer's", "test's", None])

    # ---- templates ---------------------------------------------------------------------------------------

    def render(self, name, vars, status="succeeded"):
        return self.run_task("test.template_render", {"name": name, "vars": vars}, status=status)

    def test_template_renders(self):
        vars = {"name": "Ann", "company": {"name": "Acme"}, "score": 87, "tags": ["a", "b"], "sender": "Bo"}
        result = self.render("greeting", vars)["result"]
        self.assertEqual(result["text"], "Hello Ann from Acme.\nYour score is 87; tags: [\"a\",\"b\"].\n"
                                         "Regards, Bo\n")
        self.assertTrue(result["via_ctx"])

    def test_template_missing_value_names_template_line(self):
        vars = {"name": "Ann", "company": {"name": "Acme"}, "score": 1, "tags": []}
        task = self.render("greeting", vars, status="dead")
        path = os.path.join(self.eng.domains_dir, "test", "templates", "greeting.txt")
        self.assertIn("%s:3: missing value for {{sender}}" % path, error_text(task))
        self.assertRegex(error_text(task), r"rendered from .*agents/template_render\.lua:\d+")
        task = self.render("no_such_template", {}, status="dead")
        self.assertRegex(error_text(task), r"agents/template_render\.lua:\d+: template\.render: no template "
                                           r"'no_such_template' in domain 'test' \(expected .*/test/templates/"
                                           r"no_such_template\.txt\)")

    def test_templates_are_listed_and_hot_reloaded(self):
        st, _, body = self.eng.request("GET", "/api/v1/scripts")
        self.assertEqual(st, 200, body)
        scripts = {(s["domain"], s["kind"], s["name"]): s for s in body["scripts"]}
        s = scripts.get(("test", "templates", "greeting"))
        self.assertIsNotNone(s, sorted(scripts))
        self.assertIsNone(s["error"])
        self.assertTrue(s["path"].endswith("/test/templates/greeting.txt"), s)
        self.assertEqual(s["version"], hashlib.sha256(GREETING.encode()).hexdigest()[:16])
        # a new template, and one that would not compile as Lua: both good, served at once after a reload
        tdir = os.path.join(self.eng.domains_dir, "test", "templates")
        with open(os.path.join(tdir, "reloaded.txt"), "w") as f:
            f.write("v1 {{x}}")
        with open(os.path.join(tdir, "notlua.md"), "w") as f:
            f.write("return {{ x }} end end (")
        st, _, rel = self.eng.request("POST", "/api/v1/scripts/reload")
        self.assertEqual(st, 200, rel)
        self.assertEqual(self.render("reloaded", {"x": 1})["result"]["text"], "v1 1")
        self.assertEqual(self.render("notlua", {"x": 2})["result"]["text"], "return 2 end end (")
        with open(os.path.join(tdir, "reloaded.txt"), "w") as f:
            f.write("v2 {{x}}")
        deadline = time.time() + 5  # the file watcher picks the edit up by itself
        text = None
        while time.time() < deadline:
            text = self.render("reloaded", {"x": 1})["result"]["text"]
            if text == "v2 1":
                break
            time.sleep(0.1)
        self.assertEqual(text, "v2 1")
        st, _, body = self.eng.request("GET", "/api/v1/scripts")
        kinds = {(s["domain"], s["kind"], s["name"]): s for s in body["scripts"]}
        self.assertIsNone(kinds[("test", "templates", "notlua")]["error"])


if __name__ == "__main__":
    unittest.main()
