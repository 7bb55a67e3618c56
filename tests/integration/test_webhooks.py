"""Webhooks against docs/api.md "Webhooks": outgoing deliveries (signed, retried with backoff, logged,
never in a worker's way), the /api/v1/webhook-subscriptions resource, and the signed incoming routes
/api/v1/webhooks/task/status and /api/v1/webhooks/workflow/completed.

Receivers are http.server instances on 127.0.0.1 in this process. The succeeded/failed reports are
tested on tasks put into `waiting` with sqlite3 (any waiting task may be finished by its external
system); approved/rejected use a task really waiting for an approval (test.approver's task.approve{})."""

import hashlib
import hmac
import http.server
import json
import os
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, Engine, EngineTestCase  # noqa: E402

INCOMING_SECRET = "incoming-webhook-secret-0123456789"
SUB_SECRET = "subscription-secret-abcdef0123456789"
SUB_FIELDS = {"id", "url", "events", "active", "has_secret", "created_at", "updated_at"}


def signature(secret, ts, body):
    mac = hmac.new(secret.encode(), str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    return "v1=" + mac


class Receiver:
    """An HTTP server on loopback that records every POST and answers from a plan of statuses
    (the last one repeats), optionally after a delay."""

    def __init__(self, plan=(200,), delay=0.0):
        self.plan = list(plan)
        self.delay = delay
        self.requests = []  # (monotonic time received, headers dict, body bytes, monotonic time answered)
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                t0 = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with rec.lock:
                    n = len(rec.requests)
                    status = rec.plan[min(n, len(rec.plan) - 1)]
                    entry = [t0, {k.lower(): v for k, v in self.headers.items()}, body, None]
                    rec.requests.append(entry)
                if rec.delay:
                    time.sleep(rec.delay)
                payload = b'{"ok":true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                entry[3] = time.monotonic()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://%s:%d/hook" % (HOST, self.server.server_address[1])

    def count(self):
        with self.lock:
            return len(self.requests)

    def wait_for(self, n, timeout=20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.count() >= n:
                with self.lock:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError("receiver got %d requests, wanted %d within %.0fs" % (self.count(), n, timeout))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class WebhookTestBase(EngineTestCase):
    def receiver(self, **kw):
        r = Receiver(**kw)
        self.addCleanup(r.close)
        return r

    def subscribe(self, eng, url, events, secret=SUB_SECRET, **kw):
        body = {"url": url, "events": events, "secret": secret}
        body.update(kw)
        st, _, b = eng.request("POST", "/api/v1/webhook-subscriptions", body=body)
        self.assertEqual(st, 201, b)
        return b

    def deliveries(self, eng, sub_id, **query):
        path = "/api/v1/webhook-subscriptions/%d/deliveries" % sub_id
        if query:
            path += "?" + "&".join("%s=%s" % kv for kv in query.items())
        st, _, b = eng.request("GET", path)
        self.assertEqual(st, 200, b)
        return b

    def check_signed(self, req, secret):
        _, headers, body, _ = req
        ts = headers.get("x-agency-timestamp")
        self.assertRegex(ts or "", r"^\d+$")
        self.assertLess(abs(int(ts) - time.time()), 60)
        self.assertEqual(headers.get("x-agency-signature"), signature(secret, ts, body))
        self.assertEqual(headers.get("content-type"), "application/json")


class OutgoingWebhookTest(WebhookTestBase):
    def setUp(self):
        self.eng = self.engine(extra_env={"AGENCY_WEBHOOK_RETRY_BASE_MS": "200"})

    def test_third_delivery_after_two_failures_arrives_signed_and_is_logged(self):
        rec = self.receiver(plan=(500, 500, 200))
        sub = self.subscribe(self.eng, rec.url, ["task.succeeded"])
        task = self.eng.create_ok("test.noop", {}, execute=True)
        self.eng.wait_status(task["id"], "succeeded")
        reqs = rec.wait_for(3)
        time.sleep(0.5)
        self.assertEqual(rec.count(), 3, "a delivered event must not be sent again")
        third = reqs[2]
        self.check_signed(third, SUB_SECRET)
        # a wrong secret does not verify: the check above can fail
        self.assertNotEqual(third[1]["x-agency-signature"], signature("another-secret", third[1]["x-agency-timestamp"],
                                                                     third[2]))
        event = json.loads(third[2])
        self.assertEqual(event["type"], "task.succeeded")
        self.assertEqual(event["task_id"], task["id"])
        self.assertEqual(event["to"], "succeeded")
        self.assertEqual([json.loads(r[2]) for r in reqs], [event] * 3, "every attempt sends the same event")
        self.assertEqual([r[1].get("x-agency-attempt") for r in reqs], ["1", "2", "3"])
        # retries back off: the second attempt comes no sooner than ~0.8 x 200 ms after the first
        self.assertGreaterEqual(reqs[1][0] - reqs[0][0], 0.15)
        self.assertGreaterEqual(reqs[2][0] - reqs[1][0], 0.3)
        deadline = time.time() + 5
        while True:
            log = self.deliveries(self.eng, sub["id"])
            if [d["status"] for d in log["items"]] == ["failed", "failed", "delivered"] or time.time() > deadline:
                break
            time.sleep(0.1)
        items = log["items"]
        self.assertEqual([d["attempt"] for d in items], [1, 2, 3], items)
        self.assertEqual([d["status"] for d in items], ["failed", "failed", "delivered"], items)
        self.assertEqual([d["http_status"] for d in items], [500, 500, 200])
        self.assertEqual({d["event_id"] for d in items}, {event["id"]})
        self.assertIn("500", items[0]["error"])
        self.assertIsNone(items[2]["error"])
        self.assertIsNotNone(items[2]["delivered_at"])
        self.assertIsNone(log["next_cursor"])
        # cursor pages over the same log
        page1 = self.deliveries(self.eng, sub["id"], limit=2)
        self.assertEqual([d["attempt"] for d in page1["items"]], [1, 2])
        self.assertIsInstance(page1["next_cursor"], str)
        page2 = self.deliveries(self.eng, sub["id"], limit=2, cursor=page1["next_cursor"])
        self.assertEqual([d["attempt"] for d in page2["items"]], [3])
        self.assertIsNone(page2["next_cursor"])

    def test_only_matching_events_after_creation_are_delivered(self):
        before = self.eng.create_ok("test.noop", {}, execute=True)
        self.eng.wait_status(before["id"], "succeeded")
        rec = self.receiver()
        self.subscribe(self.eng, rec.url, ["task.succeeded"])
        inactive = self.receiver()
        self.subscribe(self.eng, inactive.url, ["*"], active=False)
        task = self.eng.create_ok("test.noop", {}, execute=True)
        self.eng.wait_status(task["id"], "succeeded")
        reqs = rec.wait_for(1)
        time.sleep(1.0)
        self.assertEqual(rec.count(), 1, [json.loads(r[2]) for r in rec.requests])
        self.assertEqual(json.loads(reqs[0][2])["task_id"], task["id"])
        self.assertEqual(inactive.count(), 0)

    def test_slow_receiver_does_not_delay_task_processing(self):
        rec = self.receiver(delay=5.0)
        self.subscribe(self.eng, rec.url, ["task.*"])
        first = self.eng.create_ok("test.noop", {}, execute=True)
        self.eng.wait_status(first["id"], "succeeded")
        rec.wait_for(1, timeout=5)  # a delivery is now in flight, held for 5 s
        t0 = time.monotonic()
        ids = [self.eng.create_ok("test.noop", {"i": i}, execute=True)["id"] for i in range(20)]
        done = self.eng.wait_all_terminal(ids, timeout=10)
        elapsed = time.monotonic() - t0
        self.assertEqual({t["status"] for t in done.values()}, {"succeeded"})
        self.assertLess(elapsed, 3.0, "tasks waited for the webhook receiver")
        with rec.lock:
            self.assertIsNone(rec.requests[0][3], "the slow delivery had already been answered: the test proves nothing")


class SubscriptionApiTest(WebhookTestBase):
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

    def req(self, method, path, body=None, **kw):
        return self.eng.request(method, "/api/v1/webhook-subscriptions" + path, body=body, **kw)

    def test_create_get_list_replace_delete(self):
        sub = self.subscribe(self.eng, "https://example.invalid/hooks?x=1", ["task.*", "agent.created"])
        self.assertEqual(set(sub), SUB_FIELDS)
        self.assertNotIn("secret", sub)
        self.assertTrue(sub["has_secret"])
        self.assertTrue(sub["active"])
        self.assertEqual(sub["events"], ["task.*", "agent.created"])
        st, _, got = self.req("GET", "/%d" % sub["id"])
        self.assertEqual((st, got), (200, sub))
        st, _, lst = self.req("GET", "")
        self.assertEqual(st, 200)
        self.assertIn(sub["id"], [s["id"] for s in lst["items"]])
        st, _, rep = self.req("PUT", "/%d" % sub["id"], {"url": "http://127.0.0.1:9/x", "events": ["*"],
                                                          "active": False})
        self.assertEqual(st, 200, rep)
        self.assertEqual((rep["url"], rep["events"], rep["active"], rep["has_secret"]),
                         ("http://127.0.0.1:9/x", ["*"], False, True))
        self.assertEqual(rep["created_at"], sub["created_at"])
        st, _, body = self.req("DELETE", "/%d" % sub["id"])
        self.assertEqual(st, 204)
        self.assertApiError(self.req("GET", "/%d" % sub["id"]), 404, "not_found")
        self.assertApiError(self.req("DELETE", "/%d" % sub["id"]), 404, "not_found")
        self.assertApiError(self.req("GET", "/%d/deliveries" % sub["id"]), 404, "not_found")
        self.assertApiError(self.req("PUT", "/%d" % sub["id"], {"url": "http://a/", "events": ["*"]}), 404)

    def test_list_pages_with_a_cursor(self):
        ids = [self.subscribe(self.eng, "http://127.0.0.1:9/p%d" % i, ["task.dead"])["id"] for i in range(3)]
        seen, cursor = [], None
        for _ in range(100):
            path = "?limit=2" + ("&cursor=" + cursor if cursor else "")
            st, _, page = self.req("GET", path)
            self.assertEqual(st, 200, page)
            self.assertLessEqual(len(page["items"]), 2)
            seen += [s["id"] for s in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, sorted(seen))
        self.assertTrue(set(ids) <= set(seen))
        self.assertApiError(self.req("GET", "?cursor=bogus"), 400, "bad_request")
        self.assertApiError(self.req("GET", "?limit=0"), 400, "bad_request")
        self.assertApiError(self.req("GET", "?limit=201"), 400, "bad_request")

    def test_validation(self):
        good = {"url": "http://127.0.0.1:9/v", "events": ["task.*"], "secret": SUB_SECRET}
        cases = [
            ({"url": "ftp://127.0.0.1/x"}, "url"),
            ({"url": "127.0.0.1/x"}, "url"),
            ({"url": "http://"}, "url"),
            ({"url": "http://a b/"}, "url"),
            ({"url": 5}, "url"),
            ({"events": []}, "events"),
            ({"events": ["task.*x"]}, "events"),
            ({"events": ["ta sk"]}, "events"),
            ({"events": ["a,b"]}, "events"),
            ({"events": "task.*"}, "events"),
            ({"events": [1]}, "events"),
            ({"secret": "short"}, "secret"),
            ({"secret": None}, "secret"),
            ({"active": "yes"}, "active"),
        ]
        for change, field in cases:
            body = dict(good)
            body.update(change)
            if change.get("secret", "") is None:
                del body["secret"]
            b = self.assertApiError(self.req("POST", "", body), 422, "validation_failed")
            self.assertIn(field, [d["field"] for d in b["error"]["details"]], (change, b))
        missing = dict(good)
        del missing["url"]
        self.assertApiError(self.req("POST", "", missing), 422, "validation_failed")
        self.assertApiError(self.req("POST", "", raw="[1]"), 400, "bad_json")
        self.assertApiError(self.req("POST", "", raw="{"), 400, "bad_json")
        self.assertApiError(self.req("POST", "", raw="{}", headers={"Content-Type": "text/plain"}), 415)
        sub = self.subscribe(self.eng, **good)
        b = self.assertApiError(self.req("PUT", "/%d" % sub["id"], dict(good, secret="tiny")), 422)
        self.assertEqual([d["field"] for d in b["error"]["details"]], ["secret"])

    def test_admin_scope_is_required(self):
        eng = self.engine(extra_env={"AGENCY_JWT_SECRET": "jwt-secret-for-webhook-tests-0123456789"})
        from harness import run_cli
        env = {"AGENCY_JWT_SECRET": "jwt-secret-for-webhook-tests-0123456789"}
        out = run_cli(["token", "--sub", "t", "--scope", "tasks:read tasks:write agents:read agents:write"], env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        tok = out.stdout.decode().strip()
        st, _, _ = eng.request("GET", "/api/v1/webhook-subscriptions", headers={"Authorization": "Bearer " + tok})
        self.assertEqual(st, 403)
        self.assertEqual(eng.request("GET", "/api/v1/webhook-subscriptions")[0], 401)
        out = run_cli(["token", "--sub", "t", "--scope", "admin"], env=env)
        st, _, _ = eng.request("GET", "/api/v1/webhook-subscriptions",
                               headers={"Authorization": "Bearer " + out.stdout.decode().strip()})
        self.assertEqual(st, 200)


class IncomingWebhookTest(WebhookTestBase):
    eng = None
    shared_engines = []

    @classmethod
    def setUpClass(cls):
        cls.eng = Engine(extra_env={"AGENCY_WEBHOOK_SECRET": INCOMING_SECRET})
        cls.shared_engines = [cls.eng]

    @classmethod
    def tearDownClass(cls):
        if cls.eng is not None:
            cls.eng.close()

    def post(self, path, body, secret=INCOMING_SECRET, ts=None, sig=None, eng=None):
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        ts = int(time.time()) if ts is None else ts
        headers = {"X-Agency-Timestamp": str(ts), "X-Agency-Signature": sig or signature(secret, ts, raw)}
        return (eng or self.eng).request("POST", "/api/v1/webhooks/" + path, raw=raw, headers=headers)

    def waiting_task(self, **kw):
        t = self.eng.create_ok("test.noop", {}, **kw)  # pending: no worker claims it
        with sqlite3.connect(self.eng.db_path, timeout=10) as db:
            db.execute("UPDATE tasks SET state = 'waiting' WHERE id = ?", (t["id"],))
        self.assertEqual(self.eng.get_task(t["id"])["status"], "waiting")
        return t

    def test_approved_report_resumes_a_task_waiting_for_an_approval(self):
        for status, approved in (("approved", True), ("rejected", False)):
            t = self.eng.create_ok("test.approver", {"amount": 500}, execute=True)
            self.eng.wait_status(t["id"], "waiting", timeout=20)
            st, _, b = self.post("task/status", {"task_id": t["id"], "status": status, "comment": "via CRM"})
            self.assertEqual(st, 200, b)
            done = self.eng.wait_terminal(t["id"], timeout=20)
            self.assertEqual(done["status"], "succeeded", done)
            self.assertEqual((done["result"]["approved"], done["result"]["comment"]), (approved, "via CRM"))
            # decided once: a second report is refused
            self.assertApiError(self.post("task/status", {"task_id": t["id"], "status": status}), 409,
                                "invalid_state")

    def test_succeeded_report_completes_a_waiting_task(self):
        t = self.waiting_task()
        st, _, b = self.post("task/status", {"task_id": t["id"], "status": "succeeded", "result": {"answer": 42}})
        self.assertEqual(st, 200, b)
        self.assertEqual((b["id"], b["status"], b["result"]), (t["id"], "succeeded", {"answer": 42}))
        self.assertIsNotNone(b["finished_at"])
        got = self.eng.get_task(t["id"])
        self.assertEqual((got["status"], got["result"]), ("succeeded", {"answer": 42}))
        trans = [(e["from"], e["to"]) for e in self.eng.events(t["id"])["events"]]
        self.assertIn(("waiting", "succeeded"), trans)

    def test_failed_report_retries_or_kills_the_task(self):
        last = self.waiting_task(max_attempts=1)
        with sqlite3.connect(self.eng.db_path, timeout=10) as db:
            db.execute("UPDATE tasks SET attempts = 1 WHERE id = ?", (last["id"],))
        st, _, b = self.post("task/status", {"task_id": last["id"], "status": "failed", "error": "the vendor said no"})
        self.assertEqual(st, 200, b)
        self.assertEqual((b["status"], b["error"]), ("dead", "the vendor said no"))
        again = self.waiting_task(max_attempts=3)
        st, _, b = self.post("task/status", {"task_id": again["id"], "status": "failed"})
        self.assertEqual(st, 200, b)
        self.assertEqual(b["status"], "failed")
        self.assertTrue(b["error"])
        # its retry is an ordinary claim: test.noop then succeeds
        self.eng.wait_status(again["id"], "succeeded", timeout=15)

    def test_refusals(self):
        t = self.waiting_task()
        body = {"task_id": t["id"], "status": "succeeded"}
        raw = json.dumps(body).encode()
        ts = int(time.time())
        self.assertApiError(self.post("task/status", body, sig=signature("not-the-secret-000000", ts, raw), ts=ts),
                            401, "bad_signature")
        self.assertApiError(self.post("task/status", body, sig="v1=" + "0" * 64), 401, "bad_signature")
        old = int(time.time()) - 360
        self.assertApiError(self.post("task/status", body, ts=old), 401, "stale_timestamp")
        self.assertApiError(self.post("task/status", body, ts=int(time.time()) + 360), 401, "stale_timestamp")
        self.assertApiError(self.eng.request("POST", "/api/v1/webhooks/task/status", body=body), 401, "bad_signature")
        # the signature covers the body: a changed body with the old signature is refused
        sig = signature(INCOMING_SECRET, ts, raw)
        tampered = json.dumps({"task_id": t["id"], "status": "failed"}).encode()
        self.assertApiError(self.post("task/status", tampered, ts=ts, sig=sig), 401, "bad_signature")
        self.assertEqual(self.eng.get_task(t["id"])["status"], "waiting", "a refused webhook changed the task")
        # not waiting, unknown, invalid
        pending = self.eng.create_ok("test.noop", {})
        self.assertApiError(self.post("task/status", {"task_id": pending["id"], "status": "succeeded"}), 409,
                            "invalid_state")
        self.assertApiError(self.post("task/status", {"task_id": 987654321, "status": "succeeded"}), 404, "not_found")
        b = self.assertApiError(self.post("task/status", {"task_id": t["id"], "status": "maybe"}), 422,
                                "validation_failed")
        self.assertEqual([d["field"] for d in b["error"]["details"]], ["status"])
        b = self.assertApiError(self.post("task/status", {"task_id": "x", "status": "succeeded", "result": [1]}), 422)
        self.assertEqual({d["field"] for d in b["error"]["details"]}, {"task_id", "result"})
        self.assertApiError(self.post("task/status", b"[]"), 400, "bad_json")
        # and the valid request still works
        st, _, b = self.post("task/status", body)
        self.assertEqual((st, b["status"]), (200, "succeeded"))

    def test_workflow_completed_is_recorded_as_an_event(self):
        project = {"project": {"id": "P-9", "name": "Site relaunch", "client": "Acme"}}
        st, _, b = self.post("workflow/completed", {"workflow_id": "wf-77", "status": "done", "data": project})
        self.assertEqual(st, 202, b)
        self.assertEqual(b["recorded"], True)
        with sqlite3.connect(self.eng.db_path, timeout=10) as db:
            row = db.execute("SELECT type, data FROM events WHERE id = ?", (b["event_id"],)).fetchone()
        self.assertEqual(row[0], "workflow.completed")
        self.assertEqual(json.loads(row[1]), {"workflow_id": "wf-77", "status": "done", "data": project})
        # the loop goes on: the feedback domain's entry task runs on the data, in a workflow of its own
        self.assertIsInstance(b["feedback_workflow_id"], int)
        st, _, wf = self.eng.request("GET", "/api/v1/workflows/%d" % b["feedback_workflow_id"])
        self.assertEqual(st, 200, wf)
        self.assertEqual(wf["start_type"], "feedback.collect_feedback")
        self.assertEqual(wf["tasks"][0]["input"], project)
        self.assertEqual(self.eng.wait_terminal(wf["tasks"][0]["id"], timeout=20)["status"], "succeeded")
        # data that does not fit the feedback entry's schema is refused, and nothing is recorded
        self.assertApiError(self.post("workflow/completed", {"workflow_id": "wf-78", "data": {"n": 3}}), 422,
                            "validation_failed")
        st, _, b2 = self.post("workflow/completed", {"workflow_id": 12})
        self.assertEqual(st, 202, b2)
        self.assertIsNone(b2["feedback_workflow_id"])  # no data: only recorded
        self.assertGreater(b2["event_id"], b["event_id"])
        self.assertApiError(self.post("workflow/completed", {"status": "done"}), 422, "validation_failed")
        self.assertApiError(self.post("workflow/completed", {"workflow_id": "w"}, ts=int(time.time()) - 400), 401,
                            "stale_timestamp")

    def test_workflow_completed_reaches_a_subscriber(self):
        rec = self.receiver()
        self.subscribe(self.eng, rec.url, ["workflow.*"])
        st, _, b = self.post("workflow/completed", {"workflow_id": "wf-sub"})
        self.assertEqual(st, 202, b)
        req = rec.wait_for(1)[0]
        self.check_signed(req, SUB_SECRET)
        ev = json.loads(req[2])
        self.assertEqual((ev["id"], ev["type"], ev["data"]["workflow_id"]), (b["event_id"], "workflow.completed", "wf-sub"))

    def test_not_configured_answers_503(self):
        eng = self.engine()
        for path in ("task/status", "workflow/completed"):
            self.assertApiError(self.post(path, {"task_id": 1, "status": "succeeded", "workflow_id": "w"}, eng=eng),
                                503, "not_configured")


class WebhookConfigTest(EngineTestCase):
    def test_config_masks_the_secret_and_checks_the_retry_base(self):
        from harness import run_cli
        p = run_cli(["config"], env={"AGENCY_WEBHOOK_SECRET": INCOMING_SECRET, "AGENCY_WEBHOOK_RETRY_BASE_MS": "250"})
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("AGENCY_WEBHOOK_SECRET=****\n", out)
        self.assertIn("AGENCY_WEBHOOK_RETRY_BASE_MS=250\n", out)
        self.assertNotIn(INCOMING_SECRET, out + p.stderr.decode())
        p = run_cli(["config"], env={"AGENCY_WEBHOOK_RETRY_BASE_MS": "0"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("AGENCY_WEBHOOK_RETRY_BASE_MS", p.stderr.decode() + p.stdout.decode())
