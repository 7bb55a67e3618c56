"""The /api/v1/agents resource against docs/api.md: create, list (filters, cursor pages), get with
live task figures, replace, delete; every error status; pausing holds an agent's tasks back; and
the agents:read / agents:write scopes when authentication is on.

One engine is shared by AgentApiTest (records created by one test stay, so each test uses its own
names and looks only at its own records); AgentAuthTest starts its own with AGENCY_JWT_SECRET."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Engine, EngineTestCase, parse_iso, run_cli  # noqa: E402

AGENT_FIELDS = ("id", "name", "domain", "script", "capabilities", "tools", "config", "status", "created_at",
                "updated_at")
TS_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|\+00:00)$"


class AgentApiTest(EngineTestCase):
    eng = None
    shared_engines = []

    @classmethod
    def setUpClass(cls):
        cls.eng = Engine()
        cls.shared_engines = [cls.eng]

    @classmethod
    def tearDownClass(cls):
        if cls.eng is not None:
            cls.eng.close()

    def setUp(self):
        if not self.eng.alive():
            self.eng.restart()

    def tearDown(self):
        if not self.eng.alive():
            rc = self.eng.proc.poll()
            tail = self.eng.log_tail(80)
            self.eng.restart()
            self.fail("ENGINE DIED during this test (exit %s)\n%s" % (rc, tail))

    # ---- helpers --------------------------------------------------------------

    def req(self, method, path, body=None, **kw):
        return self.eng.request(method, "/api/v1/agents" + path, body=body, **kw)

    def create(self, body, status=201):
        st, _, b = self.req("POST", "", body)
        self.assertEqual(st, status, "POST /agents %r -> %s %r" % (body, st, b))
        if status == 201:
            self.check_agent(b)
        return b

    def get(self, id):
        st, _, b = self.req("GET", "/%s" % id)
        self.assertEqual(st, 200, "GET /agents/%s -> %s %r" % (id, st, b))
        return b

    def check_agent(self, a):
        missing = [f for f in AGENT_FIELDS if f not in a]
        self.assertFalse(missing, "agent lacks %s: %r" % (missing, a))
        self.assertIsInstance(a["id"], int)
        self.assertIn(a["status"], ("active", "paused"))
        self.assertRegex(a["created_at"], TS_RE)
        self.assertRegex(a["updated_at"], TS_RE)

    def walk(self, query):
        """Every page of GET /agents?query; returns (items, pages)."""
        items, pages, cursor = [], 0, None
        while True:
            q = query + ("&cursor=" + cursor if cursor else "")
            st, _, b = self.req("GET", "?" + q)
            self.assertEqual(st, 200, "GET /agents?%s -> %s %r" % (q, st, b))
            self.assertEqual(set(b), {"items", "next_cursor"})
            items.extend(b["items"])
            pages += 1
            cursor = b["next_cursor"]
            if cursor is None:
                return items, pages
            self.assertIsInstance(cursor, str)
            self.assertLess(pages, 1000, "pagination does not end")

    # ---- create / get / replace ----------------------------------------------------

    def test_create_defaults_then_get_with_stats(self):
        a = self.create({"name": "noop", "domain": "test"})
        self.assertEqual(a["name"], "noop")
        self.assertEqual(a["domain"], "test")
        self.assertEqual(a["script"], "noop")  # defaults to the name
        self.assertEqual(a["capabilities"], [])
        self.assertEqual(a["tools"], [])
        self.assertEqual(a["config"], {})
        self.assertEqual(a["status"], "active")
        self.assertNotIn("stats", a)
        g = self.get(a["id"])
        self.check_agent(g)
        for f in AGENT_FIELDS:
            self.assertEqual(g[f], a[f], f)
        self.assertEqual(g["stats"], {"running": 0, "succeeded": 0, "failed": 0, "last_error": None,
                                      "last_error_at": None})

    def test_create_full_then_replace(self):
        body = {"name": "Lead qualifier", "domain": "sales", "script": "qualifier",
                "capabilities": ["qualify", "score"], "tools": ["crm.lookup"],
                "config": {"threshold": 0.75, "big": 123456789012345, "nested": {"a": [1, {}]}, "e": []},
                "status": "paused"}
        a = self.create(body)
        for k, v in body.items():
            self.assertEqual(a[k], v, k)
        time.sleep(0.01)
        st, _, r = self.req("PUT", "/%d" % a["id"], {"name": "Lead qualifier v2", "domain": "sales",
                                                     "script": "qualifier", "tools": ["crm.lookup", "mail"]})
        self.assertEqual(st, 200, r)
        self.check_agent(r)
        self.assertEqual(r["id"], a["id"])
        self.assertEqual(r["name"], "Lead qualifier v2")
        self.assertEqual(r["tools"], ["crm.lookup", "mail"])
        self.assertEqual(r["capabilities"], [])  # a replacement: what is left out takes its default
        self.assertEqual(r["config"], {})
        self.assertEqual(r["status"], "active")
        self.assertEqual(r["created_at"], a["created_at"])
        self.assertGreater(parse_iso(r["updated_at"]), parse_iso(a["updated_at"]))
        g = self.get(a["id"])
        self.assertEqual(g["name"], "Lead qualifier v2")
        self.assertEqual(g["tools"], ["crm.lookup", "mail"])

    def test_name_limits_in_characters(self):
        self.create({"name": "\u00e9" * 100, "domain": "test", "script": "noop"})  # 100 characters, 200 bytes
        self.assertApiError(self.req("POST", "", {"name": "x" * 101, "domain": "test", "script": "noop"}), 400,
                            "bad_request")
        self.assertApiError(self.req("POST", "", {"name": "", "domain": "test", "script": "noop"}), 400,
                            "bad_request")

    # ---- errors ----------------------------------------------------------------------

    def test_400_wrong_types(self):
        for raw in ("", "not json", "[1,2]", "\"s\"", "{\"name\":"):
            st, h, b = self.req("POST", "", raw=raw)
            self.assertApiError((st, h, b), 400, "bad_json")
        good = {"name": "typed", "domain": "test", "script": "noop"}
        bad = [("name", 5), ("name", None), ("domain", ["test"]), ("domain", None), ("script", 7),
               ("capabilities", "x"), ("capabilities", [1]), ("capabilities", {"a": "b"}),
               ("capabilities", {}), ("capabilities", ["a", None]), ("tools", [True]), ("tools", {}),
               ("config", []), ("config", "x"), ("config", [1]), ("status", "sleeping"), ("status", 1)]
        for field, value in bad:
            body = dict(good)
            body[field] = value
            r = self.req("POST", "", body)
            b = self.assertApiError(r, 400, "bad_request")
            self.assertIn(field, b["error"]["message"], (field, value, b))
            r = self.req("PUT", "/1", body)  # the same checks on replace, before the id is looked up
            self.assertApiError(r, 400, "bad_request")
        # the bad ones above created nothing
        items, _ = self.walk("domain=test&limit=200")
        self.assertNotIn("typed", [a["name"] for a in items])

    def test_422_unknown_domain_or_missing_script(self):
        b = self.assertApiError(self.req("POST", "", {"name": "x", "domain": "nosuchdomain", "script": "noop"}),
                                422, "validation_failed")
        self.assertEqual([d["field"] for d in b["error"]["details"]], ["domain"])
        b = self.assertApiError(self.req("POST", "", {"name": "x", "domain": "test", "script": "nosuchscript"}),
                                422, "validation_failed")
        self.assertEqual([d["field"] for d in b["error"]["details"]], ["script"])
        self.assertIn("nosuchscript", b["error"]["details"][0]["message"])
        # the script defaults to the name: a name that is no script is refused too
        b = self.assertApiError(self.req("POST", "", {"name": "My Agent", "domain": "test"}), 422,
                                "validation_failed")
        self.assertEqual(b["error"]["details"][0]["field"], "script")
        # a task script is not an agent script
        self.assertApiError(self.req("POST", "", {"name": "x", "domain": "sales", "script": "qualify_lead"}), 422,
                            "validation_failed")
        a = self.create({"name": "to-break", "domain": "test", "script": "noop"})
        self.assertApiError(self.req("PUT", "/%d" % a["id"], {"name": "to-break", "domain": "test",
                                                              "script": "gone"}), 422, "validation_failed")
        self.assertEqual(self.get(a["id"])["script"], "noop")

    def test_404_unknown_ids(self):
        for method in ("GET", "DELETE"):
            self.assertApiError(self.req(method, "/987654321"), 404, "not_found")
            self.assertApiError(self.req(method, "/abc"), 404, "not_found")
            self.assertApiError(self.req(method, "/0x1"), 404, "not_found")
        self.assertApiError(self.req("PUT", "/987654321", {"name": "noop", "domain": "test"}), 404, "not_found")
        self.assertApiError(self.eng.request("GET", "/api/v1/agents/1/stats"), 404, "not_found")

    def test_405_other_methods(self):
        self.assertApiError(self.req("DELETE", ""), 405, "method_not_allowed")
        self.assertApiError(self.req("PUT", "", {"name": "noop", "domain": "test"}), 405, "method_not_allowed")
        self.assertApiError(self.req("PATCH", "", {}), 405, "method_not_allowed")
        self.assertApiError(self.req("POST", "/1", {"name": "noop", "domain": "test"}), 405, "method_not_allowed")
        self.assertApiError(self.req("PATCH", "/1", {}), 405, "method_not_allowed")

    def test_409_name_taken_in_domain(self):
        a = self.create({"name": "dup", "domain": "test", "script": "noop"})
        b = self.assertApiError(self.req("POST", "", {"name": "dup", "domain": "test", "script": "sleepy"}), 409,
                                "conflict")
        self.assertIn("dup", b["error"]["message"])
        other = self.create({"name": "dup", "domain": "sales", "script": "qualifier"})  # another domain: fine
        self.assertNotEqual(other["id"], a["id"])
        c = self.create({"name": "dup2", "domain": "test", "script": "noop"})
        self.assertApiError(self.req("PUT", "/%d" % c["id"], {"name": "dup", "domain": "test", "script": "noop"}),
                            409, "conflict")
        self.assertEqual(self.get(c["id"])["name"], "dup2")
        # replacing a record with its own name is no conflict
        st, _, r = self.req("PUT", "/%d" % a["id"], {"name": "dup", "domain": "test", "script": "sleepy"})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["script"], "sleepy")

    def test_415_body_not_json(self):
        body = json.dumps({"name": "media", "domain": "test", "script": "noop"})
        for method, path in (("POST", ""), ("PUT", "/1")):
            r = self.req(method, path, raw=body, headers={"Content-Type": "text/plain"})
            self.assertApiError(r, 415, "unsupported_media_type")

    # ---- list ------------------------------------------------------------------------

    def test_list_walks_every_page_once(self):
        mine = [self.create({"name": "page-%02d" % i, "domain": "test", "script": "noop"})["id"]
                for i in range(7)]
        items, pages = self.walk("limit=3")
        ids = [a["id"] for a in items]
        self.assertEqual(ids, sorted(ids), "not in id order")
        self.assertEqual(len(ids), len(set(ids)), "an agent came twice")
        for i in mine:
            self.assertIn(i, ids)
        self.assertGreaterEqual(pages, 3)
        for a in items:
            self.check_agent(a)
            self.assertNotIn("stats", a)
        # one page with everything, and the default page size
        st, _, b = self.req("GET", "?limit=200")
        self.assertEqual([a["id"] for a in b["items"]], ids)
        self.assertIsNone(b["next_cursor"])
        st, _, b = self.req("GET", "")
        self.assertEqual(st, 200)
        self.assertEqual([a["id"] for a in b["items"]], ids[:50])
        # limit 1 walks one by one
        one, pages = self.walk("limit=1")
        self.assertEqual([a["id"] for a in one], ids)
        self.assertEqual(pages, len(ids))

    def test_list_bad_query_values(self):
        for q in ("limit=0", "limit=201", "limit=abc", "limit=1.5", "limit=", "status=sleeping", "status=",
                  "cursor=garbage!", "cursor=", "cursor=YWdlbnQ6", "domain="):
            self.assertApiError(self.req("GET", "?" + q), 400, "bad_request")

    def test_list_filters(self):
        p = self.create({"name": "filter-paused", "domain": "test", "script": "noop", "status": "paused"})
        s = self.create({"name": "filter-sales", "domain": "sales", "script": "qualifier"})
        items, _ = self.walk("domain=sales&limit=2")
        self.assertTrue(items)
        self.assertTrue(all(a["domain"] == "sales" for a in items), items)
        self.assertIn(s["id"], [a["id"] for a in items])
        items, _ = self.walk("status=paused")
        self.assertTrue(all(a["status"] == "paused" for a in items), items)
        self.assertIn(p["id"], [a["id"] for a in items])
        self.assertNotIn(s["id"], [a["id"] for a in items])
        items, _ = self.walk("status=active&domain=test&limit=5")
        self.assertTrue(all(a["status"] == "active" and a["domain"] == "test" for a in items), items)
        self.assertNotIn(p["id"], [a["id"] for a in items])
        items, _ = self.walk("domain=nosuchdomain")
        self.assertEqual(items, [])
        # clean up: a paused record of test/noop would hold back test.noop tasks of other tests
        st, _, _ = self.req("DELETE", "/%d" % p["id"])
        self.assertEqual(st, 204)

    # ---- pausing, live figures, delete -------------------------------------------------

    def test_paused_agent_tasks_wait_then_run_after_resume(self):
        a = self.create({"name": "pause-noop", "domain": "test", "script": "noop", "status": "paused"})
        self.addCleanup(self.req, "DELETE", "/%d?force=true" % a["id"])
        t = self.eng.create_ok("test.noop", {}, execute=True)
        self.assertEqual(t["status"], "queued")
        time.sleep(1.5)
        self.assertEqual(self.eng.get_task(t["id"])["status"], "queued", "a paused agent's task ran")
        self.assertEqual(self.get(a["id"])["stats"]["running"], 0)
        st, _, r = self.req("PUT", "/%d" % a["id"], {"name": "pause-noop", "domain": "test", "script": "noop",
                                                     "status": "active"})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["status"], "active")
        t0 = time.time()
        done = self.eng.wait_status(t["id"], {"succeeded"}, timeout=5)
        # woken at once, not by a poll
        self.assertLess(time.time() - t0, 2.0, "the task ran %.1fs after the resume" % (time.time() - t0))
        self.assertEqual(done["result"], {"ok": True})
        self.assertGreaterEqual(self.get(a["id"])["stats"]["succeeded"], 1)

    def test_delete_paused_agent_releases_its_tasks(self):
        a = self.create({"name": "pause-del", "domain": "test", "script": "noop", "status": "paused"})
        self.addCleanup(self.req, "DELETE", "/%d?force=true" % a["id"])
        t = self.eng.create_ok("test.noop", {}, execute=True)
        time.sleep(0.8)
        self.assertEqual(self.eng.get_task(t["id"])["status"], "queued")
        st, _, _ = self.req("DELETE", "/%d" % a["id"])
        self.assertEqual(st, 204)
        self.eng.wait_status(t["id"], {"succeeded"}, timeout=5)

    def test_delete_with_running_task_needs_force(self):
        a = self.create({"name": "sleeper", "domain": "test", "script": "sleepy"})
        t = self.eng.create_ok("test.sleepy", {"seconds": 30}, execute=True)
        self.addCleanup(self.eng.cancel, t["id"])
        self.eng.wait_status(t["id"], {"running"}, timeout=10)
        self.assertEqual(self.get(a["id"])["stats"]["running"], 1)
        b = self.assertApiError(self.req("DELETE", "/%d" % a["id"]), 409, "invalid_state")
        self.assertIn("force", b["error"]["message"])
        self.assertApiError(self.req("DELETE", "/%d?force=false" % a["id"]), 409, "invalid_state")
        self.assertApiError(self.req("DELETE", "/%d?force=yes" % a["id"]), 400, "bad_request")
        self.get(a["id"])  # still there
        st, h, body = self.req("DELETE", "/%d?force=true" % a["id"])
        self.assertEqual(st, 204, body)
        self.assertEqual(body, "")
        self.assertTrue(h.get("X-Request-Id"))
        self.assertApiError(self.req("GET", "/%d" % a["id"]), 404, "not_found")
        self.assertApiError(self.req("DELETE", "/%d?force=true" % a["id"]), 404, "not_found")
        self.assertEqual(self.eng.get_task(t["id"])["status"], "running")  # the task itself is left alone

    def test_delete_idle_agent(self):
        a = self.create({"name": "idle", "domain": "test", "script": "noop"})
        st, _, body = self.req("DELETE", "/%d" % a["id"])
        self.assertEqual(st, 204, body)
        self.assertApiError(self.req("GET", "/%d" % a["id"]), 404, "not_found")

    def test_stats_count_failures_and_last_error(self):
        a = self.create({"name": "failer", "domain": "test", "script": "always_fail"})
        ids = [self.eng.create_ok("test.always_fail", {}, execute=True)["id"] for _ in range(2)]
        ok = self.eng.create_ok("test.noop", {}, execute=True)["id"]  # another agent's: not counted
        for i in ids:
            self.eng.wait_status(i, {"dead"}, timeout=15)
        self.eng.wait_status(ok, {"succeeded"}, timeout=10)
        s = self.get(a["id"])["stats"]
        self.assertEqual(s["failed"], 2, s)
        self.assertEqual(s["succeeded"], 0, s)
        self.assertEqual(s["running"], 0, s)
        self.assertIn("always fails", s["last_error"])
        self.assertRegex(s["last_error_at"], TS_RE)


class AgentAuthTest(EngineTestCase):
    SECRET = "agents-it-secret-0123456789abcdef"

    def token(self, scope):
        p = run_cli(["token", "--sub", "x", "--scope", scope], env=self.eng.env())
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode().strip()

    def test_scopes(self):
        self.eng = self.engine(extra_env={"AGENCY_JWT_SECRET": self.SECRET})
        body = {"name": "noop", "domain": "test"}
        self.assertApiError(self.eng.request("GET", "/api/v1/agents"), 401, "unauthorized")
        self.assertApiError(self.eng.request("POST", "/api/v1/agents", body=body), 401, "unauthorized")
        self.assertApiError(self.eng.request("DELETE", "/api/v1/agents/1"), 401, "unauthorized")
        read = {"Authorization": "Bearer " + self.token("agents:read")}
        write = {"Authorization": "Bearer " + self.token("agents:write")}
        tasks = {"Authorization": "Bearer " + self.token("tasks:read tasks:write")}
        st, _, b = self.eng.request("GET", "/api/v1/agents", headers=read)
        self.assertEqual(st, 200, b)
        self.assertApiError(self.eng.request("GET", "/api/v1/agents", headers=tasks), 403, "forbidden")
        self.assertApiError(self.eng.request("POST", "/api/v1/agents", body=body, headers=read), 403, "forbidden")
        st, _, a = self.eng.request("POST", "/api/v1/agents", body=body, headers=write)
        self.assertEqual(st, 201, a)
        st, _, g = self.eng.request("GET", "/api/v1/agents/%d" % a["id"], headers=read)
        self.assertEqual(st, 200, g)
        self.assertApiError(self.eng.request("GET", "/api/v1/agents/%d" % a["id"], headers=write), 403, "forbidden")
        self.assertApiError(self.eng.request("PUT", "/api/v1/agents/%d" % a["id"], body=body, headers=read), 403,
                            "forbidden")
        self.assertApiError(self.eng.request("DELETE", "/api/v1/agents/%d" % a["id"], headers=read), 403,
                            "forbidden")
        st, _, r = self.eng.request("PUT", "/api/v1/agents/%d" % a["id"], body=dict(body, status="paused"),
                                    headers=write)
        self.assertEqual(st, 200, r)
        st, _, _ = self.eng.request("DELETE", "/api/v1/agents/%d" % a["id"], headers=write)
        self.assertEqual(st, 204)


if __name__ == "__main__":
    unittest.main()
