"""GET /api/v1/tasks (filters, cursor pagination, limits), POST /api/v1/tasks/{id}/retry, and
/api/v1/scripts (+ /reload) against docs/api.md, including their scopes when JWT auth is on.

Each test starts its own engine, so counts are exact. Task rows get a workflow_id by writing the
SQLite file directly (nothing in the API sets it yet); the engine reads through its own connection
(WAL), so that is what a workflow runner writing the column would look like to it."""

import hashlib
import os
import sqlite3
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Engine, EngineTestCase, parse_iso, run_cli  # noqa: E402

LEAD = {"email": "ana@example.com", "company": "Acme"}
SECRET = "tasks-list-secret-0123456789abcdefghij"

# A task type whose agent fails until its file is changed; two attempts, quick backoff.
RETRY_AGENT_FAIL = 'local agent = { name = "tl_retry" }\nfunction agent.run(task, ctx)\n  error("not yet")\nend\nreturn agent\n'
RETRY_AGENT_OK = ('local agent = { name = "tl_retry" }\nfunction agent.run(task, ctx)\n'
                  '  return { attempt = task.attempt }\nend\nreturn agent\n')
RETRY_TASK = 'return { agent = "tl_retry", timeout = 10, max_attempts = 2, retry = { base_ms = 50, max_ms = 100 } }\n'
# Fails every time and schedules its retry an hour later: it stays `failed`.
SLOW_TASK = ('return { agent = "always_fail", timeout = 10, max_attempts = 3, '
             'retry = { base_ms = 3600000, max_ms = 3600000 } }\n')
# A syntax error on line 3.
BROKEN_AGENT = 'local agent = { name = "tl_broken" }\n\nfunction agent.run(task, ctx) return { end\n\nreturn agent\n'


def sha16(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()[:16]


def token(scope):
    p = run_cli(["token", "--sub", "tl-test", "--scope", scope, "--ttl", "1h"], env={"AGENCY_JWT_SECRET": SECRET})
    if p.returncode != 0:
        raise AssertionError("agency token failed: %s" % p.stderr.decode(errors="replace"))
    return p.stdout.decode().strip()


class TasksListTest(EngineTestCase):

    def start_engine(self, files=None, **kw):
        """An engine with extra files (relative to its domains dir) written before it starts."""
        eng = self.engine(start=False, **kw)
        for rel, text in (files or {}).items():
            path = os.path.join(eng.domains_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        eng.start()
        return eng

    def list(self, eng, query="", status=200, headers=None):
        st, _, body = eng.request("GET", "/api/v1/tasks" + (("?" + query) if query else ""), headers=headers)
        self.assertEqual(st, status, "GET /tasks?%s -> %s %r" % (query, st, body))
        return body

    def ids(self, eng, query=""):
        body = self.list(eng, query)
        self.assertIsNone(body["next_cursor"], "expected one page for %r" % query)
        return [t["id"] for t in body["items"]]

    def walk(self, eng, query, limit, between_pages=None):
        """Every id over all pages of query, in order, checking the page invariants."""
        out, cursor, pages = [], None, 0
        while True:
            q = "limit=%d" % limit + ("&" + query if query else "")
            if cursor is not None:
                q += "&cursor=" + urllib.parse.quote(cursor)
            body = self.list(eng, q)
            pages += 1
            self.assertLessEqual(len(body["items"]), limit)
            out.extend(t["id"] for t in body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return out, pages
            self.assertIsInstance(cursor, str)
            self.assertEqual(len(body["items"]), limit, "a page with a next_cursor must be full")
            if between_pages:
                between_pages()
            self.assertLess(pages, 1000)

    def set_workflow(self, eng, ids, wf):
        db = sqlite3.connect(eng.db_path, timeout=10)
        try:
            db.executemany("UPDATE tasks SET workflow_id = ? WHERE id = ?", [(wf, i) for i in ids])
            db.commit()
        finally:
            db.close()

    # ---- list: filters ----------------------------------------------------------------------------------------

    def test_every_filter(self):
        eng = self.start_engine()
        sales = [eng.create_ok("sales.qualify_lead", LEAD)["id"] for _ in range(3)]
        time.sleep(0.02)
        noop_pending = eng.create_ok("test.noop", {})["id"]
        noop_done = eng.create_ok("test.noop", {}, execute=True)["id"]
        fail = eng.create_ok("test.always_fail", {}, execute=True)["id"]
        self.assertEqual(eng.wait_terminal(noop_done)["status"], "succeeded")
        self.assertEqual(eng.wait_terminal(fail, timeout=15)["status"], "dead")
        self.set_workflow(eng, [sales[1], noop_done], "wf-a")
        self.set_workflow(eng, [fail], "wf b/2")
        everything = sorted(sales + [noop_pending, noop_done, fail], reverse=True)

        self.assertEqual(self.ids(eng), everything)  # newest first
        self.assertEqual(self.ids(eng, "status=pending"), sorted(sales + [noop_pending], reverse=True))
        self.assertEqual(self.ids(eng, "status=succeeded"), [noop_done])
        self.assertEqual(self.ids(eng, "status=dead"), [fail])
        self.assertEqual(self.ids(eng, "status=running"), [])
        self.assertEqual(self.ids(eng, "domain=sales"), sorted(sales, reverse=True))
        self.assertEqual(self.ids(eng, "domain=test"), [fail, noop_done, noop_pending])
        self.assertEqual(self.ids(eng, "domain=nope"), [])
        self.assertEqual(self.ids(eng, "agent=qualifier"), sorted(sales, reverse=True))
        self.assertEqual(self.ids(eng, "agent=noop"), [noop_done, noop_pending])
        self.assertEqual(self.ids(eng, "type=test.noop"), [noop_done, noop_pending])
        self.assertEqual(self.ids(eng, "type=test%2Enoop"), [noop_done, noop_pending])  # URL-decoded
        self.assertEqual(self.ids(eng, "type=sales.qualify_lead&status=pending"), sorted(sales, reverse=True))
        self.assertEqual(self.ids(eng, "domain=test&status=pending"), [noop_pending])
        self.assertEqual(self.ids(eng, "workflow_id=wf-a"), [noop_done, sales[1]])
        self.assertEqual(self.ids(eng, "workflow_id=wf+b%2F2"), [fail])  # '+' is a space, %2F a slash
        self.assertEqual(self.ids(eng, "workflow_id=wf-a&domain=sales"), [sales[1]])
        self.assertEqual(self.ids(eng, "workflow_id=wf-zz"), [])
        # workflow_id is in every task: the value, or null
        by_id = {t["id"]: t for t in self.list(eng)["items"]}
        self.assertEqual(by_id[sales[1]]["workflow_id"], "wf-a")
        self.assertEqual(by_id[fail]["workflow_id"], "wf b/2")
        self.assertIsNone(by_id[sales[0]]["workflow_id"])
        self.assertEqual(eng.get_task(noop_done)["workflow_id"], "wf-a")

        # created_after is inclusive, created_before exclusive (both RFC 3339)
        first_test = by_id[noop_pending]["created_at"]
        self.assertGreater(parse_iso(first_test), parse_iso(by_id[sales[2]]["created_at"]))
        self.assertEqual(self.ids(eng, "created_after=" + urllib.parse.quote(first_test)),
                         [fail, noop_done, noop_pending])
        self.assertEqual(self.ids(eng, "created_before=" + urllib.parse.quote(first_test)),
                         sorted(sales, reverse=True))
        self.assertEqual(self.ids(eng, "created_after=%s&created_before=%s&domain=test"
                                  % (urllib.parse.quote(first_test), urllib.parse.quote(first_test))), [])
        # an offset form of the same instant
        t = parse_iso(first_test)
        plus2 = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t) + 7200)) + ".%03d+02:00" % (
            round((t - int(t)) * 1000))
        self.assertEqual(self.ids(eng, "created_after=" + urllib.parse.quote(plus2)), [fail, noop_done, noop_pending])
        self.assertEqual(self.ids(eng, "created_after=2000-01-01T00:00:00Z&created_before=2000-01-02T00:00:00Z"), [])
        self.assertEqual(self.ids(eng, "created_after=2000-01-01T00:00:00Z"), everything)
        self.assertEqual(self.ids(eng, "created_after=1970-01-01T00:00:00Z"), everything)
        self.assertEqual(self.ids(eng, "created_before=1970-01-01T00:00:00Z"), [])
        self.assertEqual(self.ids(eng, "created_before=2999-01-01T00:00:00Z"), everything)

    # ---- list: pagination and limits --------------------------------------------------------------------------

    def test_cursor_walk_yields_each_task_once(self):
        eng = self.start_engine()
        made = [eng.create_ok("test.noop", {"i": i})["id"] for i in range(60)]
        # default limit 50
        body = self.list(eng)
        self.assertEqual(len(body["items"]), 50)
        self.assertEqual([t["id"] for t in body["items"]], sorted(made, reverse=True)[:50])
        self.assertIsInstance(body["next_cursor"], str)
        rest = self.list(eng, "cursor=" + urllib.parse.quote(body["next_cursor"]))
        self.assertEqual([t["id"] for t in rest["items"]], sorted(made, reverse=True)[50:])
        self.assertIsNone(rest["next_cursor"])
        for limit in (1, 7, 20, 59, 60, 200):
            got, pages = self.walk(eng, "", limit)
            self.assertEqual(got, sorted(made, reverse=True), "limit %d" % limit)
            self.assertEqual(pages, -(-60 // limit), "limit %d: a full last page has no empty page after it" % limit)
        # tasks created while walking come before the cursor: the walk still sees each old task once
        extra = []
        got, _ = self.walk(eng, "", 9, between_pages=lambda: extra.append(eng.create_ok("test.noop", {})["id"]))
        self.assertEqual(got, sorted(made, reverse=True))
        self.assertTrue(extra and min(extra) > max(made))
        # with a filter
        self.set_workflow(eng, made[::3], "wf-walk")
        got, _ = self.walk(eng, "workflow_id=wf-walk", 4)
        self.assertEqual(got, sorted(made[::3], reverse=True))

    def test_bad_query_values_are_400(self):
        eng = self.start_engine()
        for i in range(3):
            eng.create_ok("test.noop", {})
        good = self.list(eng, "limit=1")["next_cursor"]
        self.assertIsNotNone(good)
        bad = ["limit=0", "limit=201", "limit=-1", "limit=abc", "limit=1.5", "limit=", "limit=1e2", "limit=+5",
               "limit=99999999999999999999",
               "cursor=zz", "cursor=", "cursor=!!!", "cursor=%zz", "cursor=" + good + "x", "cursor=AAAA",
               "cursor=" + "A" * 200, "cursor=MA",  # "0"
               "status=bogus", "status=", "status=PENDING", "status=dead%00",
               "created_after=yesterday", "created_after=2026-13-01T00:00:00Z", "created_after=",
               "created_before=2026-11-26", "created_before=2026-11-26T10:00:00",
               "domain=" + "d" * 300, "domain=%ZZ", "domain=%4", "domain=a%00b", "domain=", "agent=%0a",
               "type=", "workflow_id=" + "w" * 1000]
        for q in bad:
            with self.subTest(query=q):
                body = self.assertApiError(eng.request("GET", "/api/v1/tasks?" + q), 400, "bad_request")
                name = q.split("=")[0]
                self.assertIn(name, body["error"]["message"])
        # the bounds themselves are fine
        self.assertEqual(len(self.list(eng, "limit=1")["items"]), 1)
        self.assertEqual(len(self.list(eng, "limit=200")["items"]), 3)
        self.assertEqual(len(self.list(eng, "limit=3")["items"]), 3)
        self.assertEqual(len(self.list(eng, "cursor=" + good)["items"]), 2)

    # ---- retry -------------------------------------------------------------------------------------------------

    def test_retry_dead_task_runs_again_from_attempt_zero(self):
        eng = self.start_engine(files={"test/agents/tl_retry.lua": RETRY_AGENT_FAIL,
                                       "test/tasks/tl_retry.lua": RETRY_TASK})
        tid = eng.create_ok("test.tl_retry", {}, execute=True)["id"]
        dead = eng.wait_terminal(tid, timeout=15)
        self.assertEqual(dead["status"], "dead")
        self.assertEqual(dead["attempts"], 2)

        # retried while still broken: it runs both attempts again and is dead again, attempts counted from 0
        st, _, body = eng.request("POST", "/api/v1/tasks/%d/retry" % tid)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["id"], tid)
        self.assertEqual(body["status"], "queued")
        self.assertEqual(body["attempts"], 0)
        self.assertIsNone(body["finished_at"])
        self.assertLessEqual(parse_iso(body["run_at"]), time.time() + 1)
        again = eng.wait_terminal(tid, timeout=15)
        self.assertEqual(again["status"], "dead")
        self.assertEqual(again["attempts"], 2)  # not 4
        ev = eng.events(tid)["events"]
        moves = [(e["from"], e["to"]) for e in ev]
        self.assertEqual(moves.count(("dead", "queued")), 1, moves)
        i = moves.index(("dead", "queued"))
        self.assertIn("retried", ev[i]["detail"] or "")
        self.assertEqual(moves[i + 1], ("queued", "running"))
        self.assertEqual(moves[-1], ("running", "dead"))
        self.assertEqual(sum(1 for m in moves if m[1] == "running"), 4)

        # fixed: the retry succeeds on its first attempt
        with open(os.path.join(eng.domains_dir, "test/agents/tl_retry.lua"), "w") as f:
            f.write(RETRY_AGENT_OK)
        st, _, rel = eng.request("POST", "/api/v1/scripts/reload")
        self.assertEqual(st, 200, rel)
        st, _, body = eng.request("POST", "/api/v1/tasks/%d/retry" % tid)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["attempts"], 0)
        done = eng.wait_terminal(tid, timeout=15)
        self.assertEqual(done["status"], "succeeded", done)
        self.assertEqual(done["attempts"], 1)
        self.assertEqual(done["result"], {"attempt": 1})
        self.assertEqual(done["script_version"], sha16(RETRY_AGENT_OK))  # the agent's new version ran

        # a succeeded task cannot be retried; nor can a pending one; an unknown one is 404
        body = self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/retry" % tid), 409, "invalid_state")
        self.assertIn("succeeded", body["error"]["message"])
        self.assertEqual(eng.get_task(tid)["status"], "succeeded")
        pending = eng.create_ok("test.noop", {})["id"]
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/retry" % pending), 409, "invalid_state")
        self.assertEqual(eng.get_task(pending)["status"], "pending")
        self.assertApiError(eng.request("POST", "/api/v1/tasks/987654/retry"), 404, "not_found")
        self.assertApiError(eng.request("GET", "/api/v1/tasks/%d/retry" % tid), 405)

    def test_retry_failed_task_runs_now(self):
        eng = self.start_engine(files={"test/tasks/tl_slow.lua": SLOW_TASK})
        tid = eng.create_ok("test.tl_slow", {}, execute=True)["id"]
        failed = eng.wait_status(tid, {"failed"}, timeout=15)
        self.assertEqual(failed["attempts"], 1)
        self.assertGreater(parse_iso(failed["run_at"]), time.time() + 600)  # next try in an hour
        n_running = sum(1 for e in eng.events(tid)["events"] if e["to"] == "running")
        st, _, body = eng.request("POST", "/api/v1/tasks/%d/retry" % tid)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["status"], "queued")
        self.assertEqual(body["attempts"], 0)
        # it runs at once (not in an hour), fails, and is failed again after attempt 1 of the new count
        deadline = time.time() + 15
        while time.time() < deadline:
            ev = eng.events(tid)["events"]
            if sum(1 for e in ev if e["to"] == "running") > n_running and ev[-1]["to"] == "failed":
                break
            time.sleep(0.05)
        t = eng.get_task(tid)
        self.assertEqual(t["status"], "failed", t)
        self.assertEqual(t["attempts"], 1)
        moves = [(e["from"], e["to"]) for e in eng.events(tid)["events"]]
        self.assertIn(("failed", "queued"), moves)

    # ---- scripts -----------------------------------------------------------------------------------------------

    def test_scripts_lists_versions_and_errors(self):
        eng = self.start_engine(files={"test/agents/tl_broken.lua": BROKEN_AGENT})
        st, _, body = eng.request("GET", "/api/v1/scripts")
        self.assertEqual(st, 200, body)
        self.assertIsInstance(body["generation"], int)
        scripts = {(s["domain"], s["kind"], s["name"]): s for s in body["scripts"]}
        for key in (("sales", "agents", "qualifier"), ("sales", "tasks", "qualify_lead"),
                    ("test", "agents", "noop"), ("test", "tasks", "noop")):
            self.assertIn(key, scripts)
            s = scripts[key]
            with open(s["path"], "rb") as f:
                self.assertEqual(s["version"], sha16(f.read()), s)  # the content hash
            self.assertTrue(s["path"].endswith("/%s/%s/%s.lua" % key), s)
            self.assertIsNone(s["error"])
            self.assertLessEqual(parse_iso(s["loaded_at"]), time.time() + 1)
        broken = scripts[("test", "agents", "tl_broken")]
        self.assertIsNone(broken["version"])
        self.assertIsNone(broken["loaded_at"])
        self.assertIsInstance(broken["error"], dict)
        self.assertEqual(broken["error"]["line"], 3, broken)
        self.assertIn("tl_broken.lua:3", broken["error"]["message"])

    def test_reload_after_edit(self):
        eng = self.start_engine()
        path = os.path.join(eng.domains_dir, "test", "agents", "noop.lua")
        with open(path, "rb") as f:
            old = f.read()
        st, _, before = eng.request("GET", "/api/v1/scripts")
        self.assertEqual(st, 200)
        st, _, body = eng.request("POST", "/api/v1/scripts/reload")
        self.assertEqual(st, 200, body)
        self.assertFalse(body["changed"])  # nothing was edited
        self.assertEqual(body["generation"], before["generation"])
        self.assertEqual(body["errors"], [])

        # Edit the file but keep it open: the watcher reacts to close-after-write, so only the forced
        # reload can have seen the new content (no race with the hot-reload debounce).
        new = old.replace(b"ok = true", b"ok = true, edited = true")
        self.assertNotEqual(new, old)
        with open(path, "r+b") as f:
            f.seek(0)
            f.write(new)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())
            st, _, body = eng.request("POST", "/api/v1/scripts/reload")
            self.assertEqual(st, 200, body)
            self.assertTrue(body["changed"], body)
            self.assertEqual(body["generation"], before["generation"] + 1)
            self.assertEqual(body["errors"], [])
            st, _, after = eng.request("GET", "/api/v1/scripts")
            noop = [s for s in after["scripts"] if s["path"] == path][0]
            self.assertEqual(noop["version"], sha16(new))
            self.assertEqual(after["generation"], body["generation"])
            # the new version runs
            tid = eng.create_ok("test.noop", {}, execute=True)["id"]
            done = eng.wait_terminal(tid)
            self.assertEqual(done["result"], {"ok": True, "edited": True})
            self.assertEqual(done["script_version"], sha16(new))

            # a broken edit: changed, reported with its line, and the good version keeps serving
            f.seek(0)
            f.write(b"local agent = {}\nfunction agent.run(\n")
            f.truncate()
            f.flush()
            st, _, body = eng.request("POST", "/api/v1/scripts/reload")
            self.assertEqual(st, 200, body)
            self.assertTrue(body["changed"])
            errs = [e for e in body["errors"] if e["path"] == path]
            self.assertEqual(len(errs), 1, body)
            self.assertGreaterEqual(errs[0]["line"], 2)
            self.assertEqual(errs[0]["serving"], sha16(new))
            st, _, after = eng.request("GET", "/api/v1/scripts")
            noop = [s for s in after["scripts"] if s["path"] == path][0]
            self.assertEqual(noop["version"], sha16(new))
            self.assertEqual(noop["error"]["line"], errs[0]["line"])
            # the same content again: nothing changes
            st, _, body = eng.request("POST", "/api/v1/scripts/reload")
            self.assertFalse(body["changed"], body)

    # ---- scopes ------------------------------------------------------------------------------------------------

    def test_scopes_with_jwt(self):
        eng = self.start_engine(extra_env={"AGENCY_JWT_SECRET": SECRET})
        read, write = token("tasks:read"), token("tasks:write")
        agents_read, admin = token("agents:read"), token("admin")
        auth = lambda t: {"Authorization": "Bearer " + t}  # noqa: E731
        tid = eng.request("POST", "/api/v1/tasks", body={"type": "test.noop"}, headers=auth(write))[2]["id"]

        self.assertApiError(eng.request("GET", "/api/v1/tasks"), 401)
        self.assertApiError(eng.request("GET", "/api/v1/tasks", headers=auth(write)), 403)
        self.assertApiError(eng.request("GET", "/api/v1/tasks", headers=auth(agents_read)), 403)
        st, _, body = eng.request("GET", "/api/v1/tasks", headers=auth(read))
        self.assertEqual(st, 200, body)
        self.assertEqual([t["id"] for t in body["items"]], [tid])
        self.assertEqual(eng.request("GET", "/api/v1/tasks", headers=auth(admin))[0], 200)

        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/retry" % tid), 401)
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/retry" % tid, headers=auth(read)), 403)
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/retry" % tid, headers=auth(write)), 409,
                            "invalid_state")

        self.assertApiError(eng.request("GET", "/api/v1/scripts"), 401)
        self.assertApiError(eng.request("GET", "/api/v1/scripts", headers=auth(read)), 403)
        self.assertEqual(eng.request("GET", "/api/v1/scripts", headers=auth(agents_read))[0], 200)

        self.assertApiError(eng.request("POST", "/api/v1/scripts/reload"), 401)
        for t in (read, write, agents_read):
            self.assertApiError(eng.request("POST", "/api/v1/scripts/reload", headers=auth(t)), 403)
        st, _, body = eng.request("POST", "/api/v1/scripts/reload", headers=auth(admin))
        self.assertEqual(st, 200, body)
        self.assertFalse(body["changed"])


if __name__ == "__main__":
    import unittest
    unittest.main()
