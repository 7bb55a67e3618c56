"""Workflows, handoffs and approvals over HTTP (docs/api.md "Workflows, handoffs and approvals").

Driven by the test domain's scripts (tests/integration/domains/test):
- test.flow_a doubles `n` and reports ok = n > 0; handoffs/a_to_b.lua hands its result to test.flow_b
  when ok (`when`), rejects a value of 1000 or more (`validate`), and for n = 7 transforms into an input
  that breaks flow_b's schema (rejected by the engine); input fail_b = true makes flow_b die.
- test.approver asks the (mock) model, then a human (task.approve) when amount > 100.
- test.sleepy sleeps `seconds`.

Covered: a workflow across flow_a -> flow_b with its tasks, handoff and timings; the three ways a handoff
does not happen (validate, target schema, `when`); a failed workflow; list filters and cursor paging;
cancel; approve / reject, replayed from the LLM journal, surviving a kill -9; the approve errors; a crash
injected between transform and trigger (AGENCY_TEST_FAULT=handoff) leaving neither half behind, then
recovery handing off exactly once; 200 concurrent workflows (and 1,000) each with exactly one handoff
and one target task; workflow.* and handoff.* events on the event stream.
"""

import json
import os
import resource
import signal
import sqlite3
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_check  # noqa: E402
from harness import EngineDied, EngineTestCase, parse_iso  # noqa: E402
from test_events import SseClient  # noqa: E402

WF_FIELDS = {"id", "status", "start_type", "start_domain", "input", "created_at", "updated_at", "finished_at"}
WF_DONE = {"completed", "failed", "cancelled"}


def db_rows(eng, sql, args=()):
    """Rows of a query on the engine's SQLite file, read directly (the engine may be running or dead)."""
    con = sqlite3.connect(eng.db_path, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


class WorkflowTest(EngineTestCase):

    # ---- helpers ----------------------------------------------------------------------------------

    def start_wf(self, eng, start, input=None, status=201):
        body = {"start": start}
        if input is not None:
            body["input"] = input
        st, h, b = eng.request("POST", "/api/v1/workflows", body=body)
        self.assertEqual(st, status, b)
        if status == 201:
            self.assertEqual(h.get("Location"), "/api/v1/workflows/%d" % b["id"])
            self.assertEqual(b["status"], "running")
            self.assertIsInstance(b["first_task_id"], int)
        return b

    def get_wf(self, eng, wid):
        st, _, b = eng.request("GET", "/api/v1/workflows/%d" % wid)
        self.assertEqual(st, 200, b)
        return b

    def wait_wf(self, eng, wid, statuses=WF_DONE, timeout=15.0):
        deadline = time.time() + timeout
        while True:
            wf = self.get_wf(eng, wid)
            if wf["status"] in statuses:
                return wf
            if time.time() >= deadline:
                self.fail("workflow %d is %s after %.0fs: %s" % (wid, wf["status"], timeout, json.dumps(wf)[:3000]))
            time.sleep(0.05)

    def handoffs(self, eng, query=""):
        st, _, b = eng.request("GET", "/api/v1/handoffs" + query)
        self.assertEqual(st, 200, b)
        return b

    def walk(self, eng, path, limit):
        """Every item of a paged list, following next_cursor; checks each page's size."""
        items, cursor, pages = [], None, 0
        while True:
            sep = "&" if "?" in path else "?"
            url = "%s%slimit=%d" % (path, sep, limit) + ("&cursor=%s" % cursor if cursor else "")
            st, _, b = eng.request("GET", url)
            self.assertEqual(st, 200, b)
            self.assertLessEqual(len(b["items"]), limit)
            items.extend(b["items"])
            pages += 1
            cursor = b["next_cursor"]
            if cursor is None:
                return items
            self.assertEqual(len(b["items"]), limit, "a page before the last must be full")
            self.assertLess(pages, 1000)

    # ---- one workflow ------------------------------------------------------------------------------

    def test_workflow_across_two_tasks_completes_with_its_handoff_and_timings(self):
        eng = self.engine()
        created = self.start_wf(eng, "test.flow_a", {"n": 5})
        self.assertEqual(set(created) - {"first_task_id"}, WF_FIELDS)
        self.assertEqual((created["start_type"], created["start_domain"], created["input"]),
                         ("test.flow_a", "test", {"n": 5}))
        self.assertIsNone(created["finished_at"])
        wid = created["id"]
        wf = self.wait_wf(eng, wid)
        self.assertEqual(wf["status"], "completed", wf)
        # the tasks, oldest first: flow_a then flow_b, both in this workflow, with durations
        self.assertEqual([t["type"] for t in wf["tasks"]], ["test.flow_a", "test.flow_b"], wf)
        a, b = wf["tasks"]
        self.assertEqual(a["id"], created["first_task_id"])
        self.assertLess(a["id"], b["id"])
        for t in (a, b):
            self.assertEqual(t["status"], "succeeded", t)
            self.assertEqual(t["workflow_id"], str(wid))
            self.assertIsInstance(t["duration_ms"], int)
            self.assertGreaterEqual(t["duration_ms"], 0)
            self.assertEqual(t["duration_ms"], round((parse_iso(t["finished_at"]) - parse_iso(t["started_at"])) * 1000))
        self.assertEqual(a["result"], {"value": 10, "ok": True, "workflow": str(wid)})  # ctx.workflow_id
        self.assertEqual(b["input"], {"n": 10, "from": a["id"]})
        self.assertEqual(b["result"], {"done": 10, "from": a["id"]})
        # the handoff: accepted, its package is flow_b's input, made when flow_a succeeded
        self.assertEqual(len(wf["handoffs"]), 1, wf)
        h = wf["handoffs"][0]
        self.assertEqual((h["name"], h["from_domain"], h["to_domain"], h["to_type"], h["status"]),
                         ("a_to_b", "test", "test", "test.flow_b", "accepted"))
        self.assertEqual((h["source_task_id"], h["target_task_id"], h["workflow_id"]), (a["id"], b["id"], str(wid)))
        self.assertEqual(h["reasons"], [])
        self.assertEqual(h["package"], b["input"])
        self.assertEqual(h["created_at"], a["finished_at"])
        self.assertEqual(b["created_at"], a["finished_at"])
        # the workflow's timings: it ended when flow_b did
        self.assertEqual(wf["finished_at"], b["finished_at"])
        self.assertEqual(wf["duration_ms"],
                         round((parse_iso(wf["finished_at"]) - parse_iso(wf["created_at"])) * 1000))
        self.assertLessEqual(parse_iso(wf["created_at"]), parse_iso(a["created_at"]))
        # the same task is visible through the task API, filtered by workflow
        st, _, lst = eng.request("GET", "/api/v1/tasks?workflow_id=%d" % wid)
        self.assertEqual(st, 200)
        self.assertEqual(sorted(t["id"] for t in lst["items"]), [a["id"], b["id"]])
        # the list shows the finished workflow without its tasks
        st, _, lst = eng.request("GET", "/api/v1/workflows")
        self.assertEqual(st, 200)
        self.assertEqual([w["id"] for w in lst["items"]], [wid])
        self.assertEqual(set(lst["items"][0]), WF_FIELDS)
        self.assertEqual(lst["items"][0]["status"], "completed")

    def test_start_by_domain_uses_its_entry_and_bad_starts_are_refused(self):
        eng = self.engine(start=False)
        with open(os.path.join(eng.domains_dir, "test", "config.lua"), "w") as f:
            f.write('return { description = "test domain", entry = "flow_a" }\n')
        eng.start()
        wf = self.start_wf(eng, "test", {"n": 3})
        self.assertEqual((wf["start_type"], wf["start_domain"]), ("test.flow_a", "test"))
        done = self.wait_wf(eng, wf["id"])
        self.assertEqual([t["type"] for t in done["tasks"]], ["test.flow_a", "test.flow_b"])
        # 422: a domain without an entry, an unknown domain or type, input failing the schema
        for start in ("sales_nope", "test.nope"):
            body = self.assertApiError(eng.request("POST", "/api/v1/workflows", body={"start": start, "input": {}}),
                                       422, "unknown_task_type")
            self.assertIn("nope", body["error"]["message"])
        body = self.assertApiError(eng.request("POST", "/api/v1/workflows",
                                               body={"start": "test.flow_a", "input": {"n": "five"}}),
                                   422, "validation_failed")
        self.assertEqual([d["field"] for d in body["error"]["details"]], ["n"])
        self.assertApiError(eng.request("POST", "/api/v1/workflows", body={"start": "test.flow_a", "input": {}}),
                            422, "validation_failed")
        # 400: no start, a start that is not a string, input that is not an object, a body that is not JSON
        for bad in ({}, {"start": 5}, {"start": ""}, {"start": "test.flow_a", "input": [1]},
                    {"start": "test.flow_a", "input": "x"}):
            self.assertApiError(eng.request("POST", "/api/v1/workflows", body=bad), 400, "bad_request")
        self.assertApiError(eng.request("POST", "/api/v1/workflows", raw=b"{nope"), 400, "bad_json")
        self.assertApiError(eng.request("POST", "/api/v1/workflows", raw=b"[]"), 400, "bad_json")
        self.assertApiError(eng.request("POST", "/api/v1/workflows", raw=b"{}",
                                        headers={"Content-Type": "text/plain"}), 415)
        # none of the refused starts left a workflow behind
        st, _, lst = eng.request("GET", "/api/v1/workflows")
        self.assertEqual([w["id"] for w in lst["items"]], [wf["id"]])
        # 404 for an unknown workflow
        self.assertApiError(eng.request("GET", "/api/v1/workflows/999999"), 404, "not_found")
        self.assertApiError(eng.request("POST", "/api/v1/workflows/999999/cancel"), 404, "not_found")

    def test_handoff_rejected_by_validate_records_reasons_and_creates_no_task(self):
        eng = self.engine()
        wid = self.start_wf(eng, "test.flow_a", {"n": 600})["id"]
        wf = self.wait_wf(eng, wid)
        self.assertEqual(wf["status"], "completed", wf)
        self.assertEqual([t["type"] for t in wf["tasks"]], ["test.flow_a"])
        self.assertEqual(len(wf["handoffs"]), 1, wf)
        h = wf["handoffs"][0]
        self.assertEqual((h["status"], h["target_task_id"], h["package"]), ("rejected", None, None))
        self.assertEqual(h["reasons"], ["value 1200 is too big (max 999)"])
        self.assertEqual(h["source_task_id"], wf["tasks"][0]["id"])
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM tasks WHERE type = 'test.flow_b'"), [(0,)])

    def test_handoff_rejected_by_the_target_schema(self):
        eng = self.engine()
        wid = self.start_wf(eng, "test.flow_a", {"n": 7})["id"]
        wf = self.wait_wf(eng, wid)
        self.assertEqual(wf["status"], "completed", wf)
        self.assertEqual([t["type"] for t in wf["tasks"]], ["test.flow_a"])
        self.assertEqual(len(wf["handoffs"]), 1, wf)
        h = wf["handoffs"][0]
        self.assertEqual((h["status"], h["target_task_id"]), ("rejected", None))
        self.assertEqual(len(h["reasons"]), 1, h)
        self.assertTrue(h["reasons"][0].startswith("n: "), h)  # "<field>: <schema message>"
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM tasks WHERE type = 'test.flow_b'"), [(0,)])

    def test_a_handoff_added_as_a_file_runs_beside_the_others(self):
        eng = self.engine(start=False)
        with open(os.path.join(eng.domains_dir, "test", "handoffs", "extra.lua"), "w") as f:
            f.write('''return {
  on = "test.flow_a",
  to = "test.flow_b",
  when = function(result, meta) return meta.input.extra ~= nil end,
  validate = function(result, meta)
    if meta.input.extra == "string" then return false, "just one reason" end
    return true
  end,
  transform = function(data, meta)
    if meta.input.extra == "boom" then error("no transform today") end
    return { n = 1, from = meta.task_id }
  end,
}
''')
        eng.start()
        both = self.wait_wf(eng, self.start_wf(eng, "test.flow_a", {"n": 5, "extra": "both"})["id"])
        self.assertEqual(both["status"], "completed", both)
        self.assertEqual([t["type"] for t in both["tasks"]], ["test.flow_a", "test.flow_b", "test.flow_b"])
        self.assertEqual(sorted((h["name"], h["status"], h["package"]["n"]) for h in both["handoffs"]),
                         [("a_to_b", "accepted", 10), ("extra", "accepted", 1)])
        self.assertEqual(sorted(h["target_task_id"] for h in both["handoffs"]), [t["id"] for t in both["tasks"][1:]])
        one = self.wait_wf(eng, self.start_wf(eng, "test.flow_a", {"n": 5, "extra": "string"})["id"])
        by_name = {h["name"]: h for h in one["handoffs"]}
        self.assertEqual(by_name["a_to_b"]["status"], "accepted")
        self.assertEqual((by_name["extra"]["status"], by_name["extra"]["reasons"]), ("rejected", ["just one reason"]))
        self.assertEqual(len(one["tasks"]), 2)
        boom = self.wait_wf(eng, self.start_wf(eng, "test.flow_a", {"n": 5, "extra": "boom"})["id"])
        h = {h["name"]: h for h in boom["handoffs"]}["extra"]
        self.assertEqual((h["status"], h["target_task_id"]), ("rejected", None))
        self.assertEqual(len(h["reasons"]), 1)
        self.assertTrue(h["reasons"][0].startswith("transform: "), h)
        self.assertIn("no transform today", h["reasons"][0])
        self.assertEqual(boom["status"], "completed")
        self.assertEqual(boom["tasks"][0]["status"], "succeeded")  # a handoff's error is not the task's

    def test_when_false_records_no_handoff(self):
        eng = self.engine()
        ids = [self.start_wf(eng, "test.flow_a", {"n": n})["id"] for n in (0, -4)]
        for wid in ids:
            wf = self.wait_wf(eng, wid)
            self.assertEqual(wf["status"], "completed", wf)
            self.assertEqual([t["type"] for t in wf["tasks"]], ["test.flow_a"])
            self.assertEqual(wf["tasks"][0]["result"]["ok"], False)
            self.assertEqual(wf["handoffs"], [])
        self.assertEqual(self.handoffs(eng)["items"], [])
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM handoffs"), [(0,)])

    def test_workflow_fails_when_a_task_dies(self):
        eng = self.engine()
        wid = self.start_wf(eng, "test.flow_a", {"n": 3, "fail_b": True})["id"]
        wf = self.wait_wf(eng, wid)
        self.assertEqual(wf["status"], "failed", wf)
        self.assertIsNotNone(wf["finished_at"])
        self.assertEqual([(t["type"], t["status"]) for t in wf["tasks"]],
                         [("test.flow_a", "succeeded"), ("test.flow_b", "dead")])
        self.assertIn("flow_b failing on purpose", wf["tasks"][1]["error"])
        self.assertEqual(wf["handoffs"][0]["status"], "accepted")
        self.assertEqual(wf["handoffs"][0]["package"], {"n": 6, "from": wf["tasks"][0]["id"], "fail": True})
        ev = db_rows(eng, "SELECT type, domain, data FROM events WHERE type LIKE 'workflow.%' ORDER BY id")
        self.assertEqual([(t, d) for t, d, _ in ev], [("workflow.started", "test"), ("workflow.failed", "test")])
        self.assertEqual(json.loads(ev[1][2]), {"workflow_id": wid, "status": "failed", "dead_tasks": 1})

    # ---- lists -------------------------------------------------------------------------------------

    def test_list_filters_and_cursor_paging(self):
        eng = self.engine()
        # outcomes: completed with a handoff (n=1..4), completed with a rejected one (600), failed (fail_b)
        plan = [{"n": 1}, {"n": 600}, {"n": 2}, {"n": 3, "fail_b": True}, {"n": 3}, {"n": 4}, {"n": 0}]
        ids = [self.start_wf(eng, "test.flow_a", inp)["id"] for inp in plan]
        wfs = {wid: self.wait_wf(eng, wid) for wid in ids}
        # workflows: newest first, every one exactly once over pages of 1, 2 and 3
        for limit in (1, 2, 3, 200):
            items = self.walk(eng, "/api/v1/workflows", limit)
            self.assertEqual([w["id"] for w in items], sorted(ids, reverse=True), "limit=%d" % limit)
        failed = [w["id"] for w in self.walk(eng, "/api/v1/workflows?status=failed", 1)]
        self.assertEqual(failed, [ids[3]])
        completed = [w["id"] for w in self.walk(eng, "/api/v1/workflows?status=completed&domain=test", 2)]
        self.assertEqual(completed, sorted([i for i in ids if i != ids[3]], reverse=True))
        self.assertEqual(self.walk(eng, "/api/v1/workflows?status=running", 5), [])
        self.assertEqual(self.walk(eng, "/api/v1/workflows?domain=sales", 5), [])
        # handoffs: oldest first; 6 of the 7 workflows made one (n=0 made none)
        all_h = self.walk(eng, "/api/v1/handoffs", 2)
        self.assertEqual(len(all_h), 6, all_h)
        self.assertEqual([h["id"] for h in all_h], sorted(h["id"] for h in all_h))
        self.assertEqual(self.walk(eng, "/api/v1/handoffs", 1), all_h)
        self.assertEqual(self.walk(eng, "/api/v1/handoffs?from=test&to=test", 4), all_h)
        acc = self.walk(eng, "/api/v1/handoffs?status=accepted", 2)
        rej = self.walk(eng, "/api/v1/handoffs?status=rejected", 2)
        self.assertEqual(len(acc), 5)
        self.assertEqual([h["workflow_id"] for h in rej], [str(ids[1])])
        self.assertTrue(all(h["status"] == "accepted" and h["target_task_id"] for h in acc))
        for wid in ids:
            hs = self.walk(eng, "/api/v1/handoffs?workflow_id=%d" % wid, 3)
            self.assertEqual(hs, wfs[wid]["handoffs"])
        self.assertEqual(self.walk(eng, "/api/v1/handoffs?from=sales", 3), [])
        self.assertEqual(self.walk(eng, "/api/v1/handoffs?to=sales", 3), [])
        self.assertEqual(self.walk(eng, "/api/v1/handoffs?workflow_id=424242", 3), [])
        # bad query values are 400, naming the parameter
        cur_w = eng.request("GET", "/api/v1/workflows?limit=1")[2]["next_cursor"]
        cur_h = eng.request("GET", "/api/v1/handoffs?limit=1")[2]["next_cursor"]
        self.assertTrue(cur_w and cur_h)
        for path, name in (("/api/v1/workflows?status=done", "status"), ("/api/v1/workflows?limit=0", "limit"),
                           ("/api/v1/workflows?limit=201", "limit"), ("/api/v1/workflows?limit=x", "limit"),
                           ("/api/v1/workflows?cursor=nope", "cursor"), ("/api/v1/workflows?cursor=" + cur_h, "cursor"),
                           ("/api/v1/workflows?domain=", "domain"),
                           ("/api/v1/handoffs?status=pending", "status"), ("/api/v1/handoffs?limit=0", "limit"),
                           ("/api/v1/handoffs?cursor=" + cur_w, "cursor"), ("/api/v1/handoffs?from=", "from")):
            body = self.assertApiError(eng.request("GET", path), 400, "bad_request")
            self.assertTrue(body["error"]["message"].startswith(name + ":"), (path, body))

    # ---- cancel ------------------------------------------------------------------------------------

    def test_cancel_stops_the_running_task_and_a_second_cancel_is_409(self):
        eng = self.engine()
        wf = self.start_wf(eng, "test.sleepy", {"seconds": 30})
        wid, tid = wf["id"], wf["first_task_id"]
        eng.wait_status(tid, {"running"}, timeout=10)
        t0 = time.time()
        st, _, b = eng.request("POST", "/api/v1/workflows/%d/cancel" % wid)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["status"], "cancelled")
        self.assertIsNotNone(b["finished_at"])
        self.assertEqual(set(b), WF_FIELDS)
        task = eng.wait_status(tid, {"cancelled"}, timeout=10)  # stopped at its sleep, not after 30 s
        self.assertLess(time.time() - t0, 10)
        self.assertIsNotNone(task["finished_at"])
        wf = self.get_wf(eng, wid)
        self.assertEqual(wf["status"], "cancelled")
        self.assertEqual([t["status"] for t in wf["tasks"]], ["cancelled"])
        body = self.assertApiError(eng.request("POST", "/api/v1/workflows/%d/cancel" % wid), 409, "invalid_state")
        self.assertIn("cancelled", body["error"]["message"])
        self.assertEqual(db_rows(eng, "SELECT type, domain FROM events WHERE type LIKE 'workflow.%' ORDER BY id"),
                         [("workflow.started", "test"), ("workflow.cancelled", "test")])
        # a finished workflow cannot be cancelled either, and stays as it was
        done = self.start_wf(eng, "test.flow_a", {"n": 2})["id"]
        self.assertEqual(self.wait_wf(eng, done)["status"], "completed")
        self.assertApiError(eng.request("POST", "/api/v1/workflows/%d/cancel" % done), 409, "invalid_state")
        self.assertEqual(self.get_wf(eng, done)["status"], "completed")

    def test_cancel_cancels_a_waiting_task(self):
        eng = self.engine()
        wf = self.start_wf(eng, "test.approver", {"amount": 500})
        eng.wait_status(wf["first_task_id"], {"waiting"}, timeout=10)
        st, _, b = eng.request("POST", "/api/v1/workflows/%d/cancel" % wf["id"])
        self.assertEqual((st, b["status"]), (200, "cancelled"), b)
        self.assertEqual(eng.get_task(wf["first_task_id"])["status"], "cancelled")
        # its approval can no longer be decided
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/approve" % wf["first_task_id"],
                                        body={"decision": "approve"}), 409, "invalid_state")
        self.assertEqual(eng.get_task(wf["first_task_id"])["status"], "cancelled")

    # ---- approvals ---------------------------------------------------------------------------------

    def llm_calls(self, eng, tid):
        st, _, b = eng.request("GET", "/api/v1/tasks/%d/llm-calls" % tid)
        self.assertEqual(st, 200, b)
        return b["items"]

    def wait_for_approval(self, eng, amount=500):
        wf = self.start_wf(eng, "test.approver", {"amount": amount})
        tid = wf["first_task_id"]
        task = eng.wait_status(tid, {"waiting"}, timeout=10)
        self.assertIsNone(task["result"])
        self.assertEqual(len(self.llm_calls(eng, tid)), 1)
        self.assertEqual(self.get_wf(eng, wf["id"])["status"], "running")  # a waiting task keeps it running
        return wf["id"], tid, task

    def test_approve_reruns_the_task_from_the_journal(self):
        eng = self.engine()
        wid, tid, before = self.wait_for_approval(eng)
        # the approver sees what is asked
        st, _, ap = eng.request("GET", "/api/v1/tasks/%d/approval" % tid)
        self.assertEqual(st, 200, ap)
        self.assertEqual((ap["status"], ap["seq"], ap["reason"], ap["data"], ap["decided_at"]),
                         ("pending", 1, "deal above 100", {"amount": 500}, None))
        st, _, t = eng.request("POST", "/api/v1/tasks/%d/approve" % tid,
                               body={"decision": "approve", "comment": "fine by me"})
        self.assertEqual(st, 200, t)
        st, _, ap = eng.request("GET", "/api/v1/tasks/%d/approval" % tid)
        self.assertEqual((ap["status"], ap["comment"], ap["decided_by"]), ("approved", "fine by me", "anonymous"))
        self.assertIsNotNone(ap["decided_at"])
        self.assertEqual(t["id"], tid)
        self.assertIn(t["status"], {"queued", "running", "succeeded"})
        self.assertEqual(t["max_attempts"], before["max_attempts"] + 1)
        task = eng.wait_status(tid, {"succeeded"}, timeout=10)
        r = task["result"]
        self.assertEqual((r["approved"], r["decision"], r["comment"]), (True, "approved", "fine by me"), r)
        self.assertTrue(r["replayed"], "the re-run's llm.chat must come from the journal: %r" % r)
        self.assertTrue(r["summary"])
        calls = self.llm_calls(eng, tid)
        self.assertEqual(len(calls), 1, "no second model call: %r" % calls)
        self.assertEqual(self.wait_wf(eng, wid)["status"], "completed")
        # the decision is in the event log, with the task's domain
        ev = db_rows(eng, "SELECT domain, data FROM events WHERE type = 'task.approval_decided'")
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0][0], "test")
        data = json.loads(ev[0][1])
        self.assertEqual((data["task_id"], data["decision"], data["reason"], data["comment"], data["by"]),
                         (tid, "approved", "deal above 100", "fine by me", "anonymous"))
        states = [e["to"] for e in eng.events(tid)["events"]]
        self.assertEqual(states, ["queued", "running", "waiting", "queued", "running", "succeeded"])
        # decided once: a second decision is refused
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/approve" % tid, body={"decision": "reject"}),
                            409, "invalid_state")

    def test_reject_reruns_with_approved_false(self):
        eng = self.engine()
        _, tid, _ = self.wait_for_approval(eng, amount=1000)
        st, _, t = eng.request("POST", "/api/v1/tasks/%d/approve" % tid, body={"decision": "reject"})
        self.assertEqual(st, 200, t)
        r = eng.wait_status(tid, {"succeeded"}, timeout=10)["result"]
        self.assertEqual((r["approved"], r["decision"]), (False, "rejected"), r)
        self.assertNotIn("comment", r)
        self.assertEqual(len(self.llm_calls(eng, tid)), 1)

    def test_small_amount_needs_no_approval(self):
        eng = self.engine()
        wf = self.start_wf(eng, "test.approver", {"amount": 50})
        r = eng.wait_status(wf["first_task_id"], {"succeeded"}, timeout=10)["result"]
        self.assertEqual(r["approved"], True)
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM approvals"), [(0,)])

    def test_an_approval_survives_a_restart(self):
        eng = self.engine()
        wid, tid, _ = self.wait_for_approval(eng)
        pending = db_rows(eng, "SELECT seq, reason, data, status FROM approvals WHERE task_id = ?", (tid,))
        self.assertEqual(pending, [(1, "deal above 100", '{"amount":500}', "pending")])
        eng.kill(signal.SIGKILL)
        self.assertFalse(eng.alive())
        eng.start()
        time.sleep(0.3)  # let the restarted engine claim what it would claim
        self.assertEqual(eng.get_task(tid)["status"], "waiting")
        st, _, t = eng.request("POST", "/api/v1/tasks/%d/approve" % tid, body={"decision": "approve", "comment": "ok"})
        self.assertEqual(st, 200, t)
        r = eng.wait_status(tid, {"succeeded"}, timeout=10)["result"]
        self.assertEqual((r["approved"], r["comment"], r["replayed"]), (True, "ok", True), r)
        self.assertEqual(len(self.llm_calls(eng, tid)), 1)
        self.assertEqual(self.wait_wf(eng, wid)["status"], "completed")
        # and a decision made before a restart is still there after it
        wid2, tid2, _ = self.wait_for_approval(eng, amount=300)
        self.assertEqual(eng.request("POST", "/api/v1/tasks/%d/approve" % tid2,
                                     body={"decision": "reject", "comment": "no"})[0], 200)
        eng.wait_status(tid2, {"succeeded"}, timeout=10)
        eng.stop()
        eng.start()
        r = eng.get_task(tid2)["result"]
        self.assertEqual((r["approved"], r["comment"]), (False, "no"))
        self.assertEqual(db_rows(eng, "SELECT status, comment FROM approvals WHERE task_id = ?", (tid2,)),
                         [("rejected", "no")])

    def test_approve_errors(self):
        eng = self.engine()
        st, _, b = eng.request("GET", "/api/v1/tasks/999999/approval")
        self.assertEqual(st, 404, b)
        # 404: no such task; 409: a task that is not waiting for an approval
        self.assertApiError(eng.request("POST", "/api/v1/tasks/999999/approve", body={"decision": "approve"}),
                            404, "not_found")
        done = eng.create_ok("test.noop", {}, execute=True)
        eng.wait_status(done["id"], {"succeeded"})
        st, _, b = eng.request("GET", "/api/v1/tasks/%d/approval" % done["id"])  # never asked
        self.assertEqual(st, 404, b)
        body = self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/approve" % done["id"],
                                               body={"decision": "approve"}), 409, "invalid_state")
        self.assertIn("succeeded", body["error"]["message"])
        pending = eng.create_ok("test.noop", {})
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/approve" % pending["id"],
                                        body={"decision": "approve"}), 409, "invalid_state")
        self.assertEqual(eng.get_task(pending["id"])["status"], "pending")
        # 400: bad bodies (checked before the task: the waiting task stays waiting)
        _, tid, _ = self.wait_for_approval(eng)
        for bad in ({}, {"decision": "yes"}, {"decision": "APPROVE"}, {"decision": True}, {"decision": None},
                    {"decision": "approve", "comment": 5}, {"decision": "approve", "comment": "x" * 2001}):
            body = self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/approve" % tid, body=bad),
                                       400, "bad_request")
            self.assertTrue(body["error"]["message"].startswith(("decision:", "comment:")), body)
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/approve" % tid, raw=b"approve"), 400, "bad_json")
        self.assertApiError(eng.request("POST", "/api/v1/tasks/%d/approve" % tid, raw=b"{}",
                                        headers={"Content-Type": "text/plain"}), 415)
        self.assertEqual(eng.get_task(tid)["status"], "waiting")
        self.assertEqual(db_rows(eng, "SELECT status FROM approvals WHERE task_id = ?", (tid,)), [("pending",)])
        # a null comment is no comment
        self.assertEqual(eng.request("POST", "/api/v1/tasks/%d/approve" % tid,
                                     body={"decision": "approve", "comment": None})[0], 200)
        self.assertEqual(eng.wait_status(tid, {"succeeded"})["result"]["approved"], True)

    # ---- crash between transform and trigger -------------------------------------------------------

    def test_fault_between_transform_and_trigger_leaves_neither_half(self):
        eng = self.engine(lease_seconds=1, extra_env={"AGENCY_TEST_FAULT": "handoff"})
        # abort() must not leave a core file in the repository
        old = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, old[1]))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_CORE, old)
        try:
            eng.request("POST", "/api/v1/workflows", body={"start": "test.flow_a", "input": {"n": 21}})
        except (EngineDied, OSError):
            pass  # the engine may die before it answers: the workflow was committed before the task ran
        rc = eng.proc.wait(timeout=15)
        self.assertEqual(rc, -signal.SIGABRT, "the engine should have aborted at the injected fault")
        self.assertIn("AGENCY_TEST_FAULT=handoff", eng.log_text())
        # the store: the workflow and flow_a (still leased, never finished); no handoff, no flow_b task
        self.assertEqual(db_rows(eng, "SELECT id, status FROM workflows"), [(1, "running")])
        self.assertEqual(db_rows(eng, "SELECT type, state FROM tasks ORDER BY id"), [("test.flow_a", "running")])
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM handoffs"), [(0,)])
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM events WHERE type LIKE 'handoff.%'"), [(0,)])
        # restart without the fault: the lease expires, flow_a runs again and hands off exactly once
        del eng.extra_env["AGENCY_TEST_FAULT"]
        eng.start()
        wf = self.wait_wf(eng, 1, timeout=30)
        self.assertEqual(wf["status"], "completed", wf)
        self.assertEqual([t["type"] for t in wf["tasks"]], ["test.flow_a", "test.flow_b"])
        self.assertEqual(wf["tasks"][0]["attempts"], 2)
        self.assertEqual(wf["tasks"][1]["input"], {"n": 42, "from": wf["tasks"][0]["id"]})
        self.assertEqual(len(wf["handoffs"]), 1)
        self.assertEqual(wf["handoffs"][0]["status"], "accepted")
        time.sleep(0.5)
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM handoffs"), [(1,)])
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM tasks WHERE type = 'test.flow_b'"), [(1,)])
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM events WHERE type = 'handoff.accepted'"), [(1,)])

    # ---- many at once ------------------------------------------------------------------------------

    def run_many(self, eng, count, timeout):
        ns = [8 + i % 480 for i in range(count)]  # 8..487: no n=7 (schema rejection), no value over 999
        t0 = time.time()
        with ThreadPoolExecutor(max_workers=16) as ex:
            created = list(ex.map(
                lambda n: eng.request("POST", "/api/v1/workflows", body={"start": "test.flow_a", "input": {"n": n}}),
                ns))
        for st, _, b in created:
            self.assertEqual(st, 201, b)
        ids = [b["id"] for _, _, b in created]
        self.assertEqual(len(set(ids)), count)
        deadline = time.time() + timeout
        while True:
            st, _, b = eng.request("GET", "/api/v1/workflows?status=running&limit=1")
            self.assertEqual(st, 200)
            if not b["items"]:
                break
            if time.time() >= deadline:
                self.fail("workflows still running after %.0fs, e.g. %r" % (timeout, b["items"][0]))
            time.sleep(0.2)
        elapsed = time.time() - t0
        # every workflow: completed, exactly one flow_b task and one accepted handoff pointing at it
        self.assertEqual(db_rows(eng, "SELECT status, count(*) FROM workflows GROUP BY status"), [("completed", count)])
        per_wf = db_rows(eng, "SELECT w.id, (SELECT count(*) FROM tasks t WHERE t.workflow_id = CAST(w.id AS TEXT) "
                              "AND t.type = 'test.flow_b'), (SELECT count(*) FROM handoffs h WHERE h.workflow_id = "
                              "CAST(w.id AS TEXT) AND h.status = 'accepted') FROM workflows w")
        bad = [r for r in per_wf if r[1:] != (1, 1)]
        self.assertEqual(bad, [], "workflows without exactly one flow_b task and one handoff")
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM handoffs h JOIN tasks t ON t.id = h.target_task_id "
                                      "WHERE t.type = 'test.flow_b' AND t.state = 'succeeded' "
                                      "AND t.workflow_id = h.workflow_id"), [(count,)])
        self.assertEqual(db_rows(eng, "SELECT count(*) FROM handoffs"), [(count,)])
        # the API agrees
        hs = self.walk(eng, "/api/v1/handoffs?status=accepted", 200)
        self.assertEqual(len(hs), count)
        self.assertEqual(len({h["source_task_id"] for h in hs}), count)
        self.assertEqual(len({h["target_task_id"] for h in hs}), count)
        self.assertEqual(len(self.walk(eng, "/api/v1/workflows?status=completed", 200)), count)
        return elapsed

    def test_200_concurrent_workflows_each_hand_off_exactly_once(self):
        eng = self.engine(threads=2)
        self.run_many(eng, 200, timeout=60)

    def test_1000_concurrent_workflows_each_hand_off_exactly_once(self):
        eng = self.engine(threads=4)
        elapsed = self.run_many(eng, 1000, timeout=120)
        sys.stderr.write("[1000 workflows through flow_a -> flow_b in %.1fs] " % elapsed)

    # ---- events ------------------------------------------------------------------------------------

    def test_event_stream_shows_workflow_and_handoff_events(self):
        eng = self.engine()
        c = SseClient(eng, "?types=workflow.*,handoff.*")
        self.addCleanup(c.close)
        self.assertEqual(c.status, 200, c.error)
        c.wait_for(lambda s: "ok" in s.comments, what="the opening comment")
        wid = self.start_wf(eng, "test.flow_a", {"n": 4})["id"]

        def done(s):
            return any(e["event"] == "workflow.completed" and e["data"]["data"]["workflow_id"] == wid
                       for e in s.events)
        c.wait_for(done, what="workflow.completed")
        mine = [e for e in c.events if (e["data"]["data"] or {}).get("workflow_id") in (wid, str(wid))]
        self.assertEqual([e["event"] for e in mine], ["workflow.started", "handoff.accepted", "workflow.completed"])
        self.assertEqual(len(c.events), 3, c.events)  # nothing else: no task.* events with these types
        spec = openapi_check.load_spec()
        for e in c.events:
            self.assertEqual(e["event"], e["data"]["type"])
            self.assertEqual(e["data"]["domain"], "test")
            self.assertEqual(spec.validate({"$ref": "#/components/schemas/Event"}, e["data"]), [], e)
        wf = self.get_wf(eng, wid)
        started, handoff, completed = (e["data"]["data"] for e in mine)
        self.assertEqual(started, {"workflow_id": wid, "task_id": wf["tasks"][0]["id"]})
        self.assertEqual(completed, {"workflow_id": wid, "status": "completed", "dead_tasks": 0})
        h = wf["handoffs"][0]
        self.assertEqual((handoff["handoff_id"], handoff["name"], handoff["from"], handoff["to"],
                          handoff["source_task_id"], handoff["target_task_id"], handoff["workflow_id"],
                          handoff["reasons"]),
                         (h["id"], "a_to_b", "test", "test.flow_b", h["source_task_id"], h["target_task_id"],
                          str(wid), []))


if __name__ == "__main__":
    unittest.main()
