"""GET /api/v1/tasks/{id}/llm-calls (docs/api.md): a task's LLM call journal, its paging, its errors and
its scope.

Nothing in the engine makes LLM calls yet in this suite's domains, so the journal rows are written into
the engine's SQLite file with sqlite3 while the engine runs (WAL: the engine reads them through its own
connection), for tasks created over HTTP. Every response is also checked against api/openapi.yaml by the
harness."""

import base64
import json
import os
import sqlite3
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import EngineTestCase, iso_utc, run_cli  # noqa: E402

SECRET = "llm-calls-secret-0123456789abcdefghij"
T0 = 1790000000123  # ms; 2026-09-21T...


def token(scope):
    p = run_cli(["token", "--sub", "llm-test", "--scope", scope, "--ttl", "1h"], env={"AGENCY_JWT_SECRET": SECRET})
    if p.returncode != 0:
        raise AssertionError("agency token failed: %s" % p.stderr.decode(errors="replace"))
    return p.stdout.decode().strip()


def b64url(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def row(task_id, attempt, seq, response=None, error_code=None, error=None, **kw):
    r = {"task_id": task_id, "attempt": attempt, "seq": seq, "domain": "test", "provider": "openai",
         "model": "gpt-4o-mini", "request_hash": "%016x" % (task_id * 1000 + attempt * 100 + seq),
         "response": response, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "latency_ms": 0,
         "error_code": error_code, "error": error, "created_at": T0}
    r.update(kw)
    return r


def seed(eng, rows):
    """Inserts journal rows (dicts as row() makes); returns their ids in the same order."""
    db = sqlite3.connect(eng.db_path, timeout=10)
    ids = []
    try:
        for r in rows:
            cols = list(r)
            cur = db.execute("INSERT INTO llm_calls (%s) VALUES (%s)" % (", ".join(cols), ", ".join("?" * len(cols))),
                             [r[c] for c in cols])
            ids.append(cur.lastrowid)
        db.commit()
    finally:
        db.close()
    return ids


class LlmCallsTest(EngineTestCase):

    def calls(self, eng, task_id, query="", status=200, headers=None):
        path = "/api/v1/tasks/%s/llm-calls%s" % (task_id, ("?" + query) if query else "")
        st, _, body = eng.request("GET", path, headers=headers)
        self.assertEqual(st, status, "GET %s -> %s %r" % (path, st, body))
        return body

    def walk(self, eng, task_id, limit):
        """Every call of the task, page by page; returns (items, number of pages)."""
        out, cursor, pages = [], None, 0
        while True:
            q = "limit=%d" % limit + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
            body = self.calls(eng, task_id, q)
            pages += 1
            out += body["items"]
            cursor = body["next_cursor"]
            if cursor is None:
                return out, pages
            self.assertIsInstance(cursor, str)
            self.assertEqual(len(body["items"]), limit, "a page with a next_cursor must be full")
            self.assertLess(pages, 100)

    def test_items_as_documented(self):
        eng = self.engine()
        a = eng.create_ok("test.noop", {})["id"]
        b = eng.create_ok("test.noop", {})["id"]
        resp1 = {"text": "Hello, \"world\" \u00e9", "usage": {"prompt_tokens": 812, "completion_tokens": 95},
                 "model": "gpt-4o-mini-2024", "finish_reason": "stop",
                 "tool_calls": [{"id": "c1", "name": "lookup", "arguments": {"q": "x", "n": [1, 2.5, None]}}]}
        resp2 = {"text": "", "usage": {"prompt_tokens": 1, "completion_tokens": 0}, "model": "m",
                 "finish_reason": "length"}
        # journaled out of order: the list is in (attempt, seq, id) order all the same
        rows = [
            row(a, 2, 1, json.dumps(resp2), prompt_tokens=1, cost=0.5, latency_ms=3, created_at=T0 + 5000),
            row(a, 1, 1, json.dumps(resp1), prompt_tokens=812, completion_tokens=95, cost=0.000179, latency_ms=1432),
            row(a, 1, 2, None, "rate_limited", "429 from the provider (retry after 2 s)", latency_ms=30001,
                provider="anthropic", model="claude-x", created_at=T0 + 1000),
            row(b, 1, 1, json.dumps({"text": "other"})),
            row(a, 1, 3, "{\"text\": \"truncat", created_at=T0 + 2000),  # not JSON: shown as null
        ]
        ids = seed(eng, rows)
        body = self.calls(eng, a)
        self.assertIsNone(body["next_cursor"])
        items = body["items"]
        self.assertEqual([(i["attempt"], i["seq"]) for i in items], [(1, 1), (1, 2), (1, 3), (2, 1)])
        self.assertEqual([i["id"] for i in items], [ids[1], ids[2], ids[4], ids[0]])
        first = items[0]
        self.assertEqual(first, {
            "id": ids[1], "task_id": a, "attempt": 1, "seq": 1, "provider": "openai", "model": "gpt-4o-mini",
            "request_hash": "%016x" % (a * 1000 + 101), "response": resp1,
            "usage": {"prompt_tokens": 812, "completion_tokens": 95}, "cost": 0.000179, "latency_ms": 1432,
            "error": None, "created_at": iso_utc(T0 / 1000.0)})
        failed = items[1]
        self.assertIsNone(failed["response"])
        self.assertEqual(failed["error"], {"code": "rate_limited", "message": "429 from the provider (retry after 2 s)"})
        self.assertEqual((failed["provider"], failed["model"], failed["latency_ms"]), ("anthropic", "claude-x", 30001))
        self.assertEqual(failed["created_at"], iso_utc((T0 + 1000) / 1000.0))
        self.assertEqual(failed["usage"], {"prompt_tokens": 0, "completion_tokens": 0})
        self.assertEqual(failed["cost"], 0)
        self.assertIsNone(items[2]["response"])
        self.assertIsNone(items[2]["error"])
        self.assertEqual(items[3]["response"], resp2)
        self.assertEqual(items[3]["cost"], 0.5)
        self.assertEqual(items[3]["created_at"], iso_utc((T0 + 5000) / 1000.0))
        # the other task's call is its own
        other = self.calls(eng, b)["items"]
        self.assertEqual([(i["id"], i["task_id"], i["response"]) for i in other], [(ids[3], b, {"text": "other"})])
        # a task without calls: an empty page
        c = eng.create_ok("test.noop", {})["id"]
        self.assertEqual(self.calls(eng, c), {"items": [], "next_cursor": None})

    def test_paging_with_the_cursor(self):
        eng = self.engine()
        a = eng.create_ok("test.noop", {})["id"]
        b = eng.create_ok("test.noop", {})["id"]
        rows = [row(a, attempt, seq, json.dumps({"text": "%d.%d" % (attempt, seq)}))
                for attempt in (1, 2, 3) for seq in (1, 2, 3, 4, 5)]  # 15 calls
        rows.insert(7, row(b, 1, 1, None, "timeout", "no answer"))
        seed(eng, rows[::-1])  # newest attempt first: ids run against the list order
        want = [(attempt, seq) for attempt in (1, 2, 3) for seq in (1, 2, 3, 4, 5)]
        for limit, pages in ((1, 15), (2, 8), (4, 4), (5, 3), (15, 1), (200, 1)):
            with self.subTest(limit=limit):
                items, n = self.walk(eng, a, limit)
                self.assertEqual([(i["attempt"], i["seq"]) for i in items], want)
                self.assertEqual([i["response"]["text"] for i in items], ["%d.%d" % w for w in want])
                self.assertEqual(n, pages, "a full last page must not be followed by an empty one")
        # the default page is 50
        self.assertEqual(len(self.calls(eng, a)["items"]), 15)
        # a cursor is opaque base64url of "llm:<id>", and only good for its own task
        body = self.calls(eng, a, "limit=2")
        cursor = body["next_cursor"]
        self.assertEqual(cursor, b64url("llm:%d" % body["items"][1]["id"]))
        self.assertEqual(self.calls(eng, a, "limit=2&cursor=" + cursor)["items"][0]["seq"], 3)
        err = self.calls(eng, b, "cursor=" + cursor, status=400)
        self.assertEqual(err["error"]["code"], "bad_request")
        self.assertTrue(err["error"]["message"].startswith("cursor:"), err)

    def test_bad_queries_and_unknown_tasks(self):
        eng = self.engine()
        a = eng.create_ok("test.noop", {})["id"]
        seed(eng, [row(a, 1, 1, "{}")])
        for limit in ("0", "201", "-1", "1.5", "abc", "", "1e2", "%zz", "99999999999999999999"):
            with self.subTest(limit=limit):
                r = eng.request("GET", "/api/v1/tasks/%d/llm-calls?limit=%s" % (a, limit))
                body = self.assertApiError(r, 400, "bad_request")
                # exactly what GET /tasks answers
                t = self.assertApiError(eng.request("GET", "/api/v1/tasks?limit=%s" % limit), 400, "bad_request")
                self.assertEqual(body["error"]["message"], t["error"]["message"])
        for cursor in ("x", "", "%zz", b64url("wh:1"), b64url("llm:0"), b64url("llm:-3"), b64url("llm:999999"),
                       b64url("llm:1") + "=", "bGxtOjE%3D", "A" * 100):
            with self.subTest(cursor=cursor):
                r = eng.request("GET", "/api/v1/tasks/%d/llm-calls?cursor=%s" % (a, cursor))
                body = self.assertApiError(r, 400, "bad_request")
                self.assertEqual(body["error"]["message"],
                                 "cursor: not a cursor returned by this API (use next_cursor as is)")
        for limit in ("1", "200"):
            self.assertEqual(len(self.calls(eng, a, "limit=" + limit)["items"]), 1)
        # unknown task: 404, also when journal rows exist for that id
        seed(eng, [row(999999, 1, 1, "{}")])
        self.assertApiError(eng.request("GET", "/api/v1/tasks/999999/llm-calls"), 404, "not_found")
        self.assertApiError(eng.request("GET", "/api/v1/tasks/abc/llm-calls"), 404)
        self.assertApiError(eng.request("GET", "/api/v1/tasks/0/llm-calls"), 404)
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/llm-calls" % a), 405)

    def test_scope_tasks_read(self):
        eng = self.engine(extra_env={"AGENCY_JWT_SECRET": SECRET})
        writer = {"Authorization": "Bearer " + token("tasks:write")}
        st, _, task = eng.request("POST", "/api/v1/tasks", body={"type": "test.noop", "input": {}}, headers=writer)
        self.assertEqual(st, 201, task)
        seed(eng, [row(task["id"], 1, 1, "{\"text\": \"hi\"}")])
        path = "/api/v1/tasks/%d/llm-calls" % task["id"]
        r = self.assertApiError(eng.request("GET", path), 401, "unauthorized")
        self.assertTrue(r["error"]["message"])
        self.assertApiError(eng.request("GET", path, headers={"Authorization": "Bearer not.a.token"}), 401,
                            "unauthorized")
        for scope in ("tasks:write", "agents:read"):
            with self.subTest(scope=scope):
                self.assertApiError(eng.request("GET", path, headers={"Authorization": "Bearer " + token(scope)}),
                                    403, "forbidden")
        for scope in ("tasks:read", "admin"):
            with self.subTest(scope=scope):
                body = self.calls(eng, task["id"], headers={"Authorization": "Bearer " + token(scope)})
                self.assertEqual([i["response"] for i in body["items"]], [{"text": "hi"}])
