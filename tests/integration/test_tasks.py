"""The task API against docs/api.md: create, execute, get, events, cancel, errors,
retries, limits. One engine is shared by the whole class (it is also what the
last test checks: after all of this the engine still answers health with 200).
A test during which the engine process dies fails, and the engine is restarted
for the tests after it."""

import http.client
import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, Engine, EngineTestCase, error_text, iso_utc, parse_iso  # noqa: E402

LEAD = {"email": "ana@example.com", "company": "Acme", "budget": 20000,
        "authority": "decision_maker", "need": "high", "timeline_days": 30}

STATUSES = {"pending", "queued", "running", "succeeded", "failed", "dead", "cancelled", "waiting"}
TASK_FIELDS = ("id", "type", "domain", "agent", "status", "priority", "input", "result", "error",
               "attempts", "max_attempts", "idempotency_key", "script_version", "run_at",
               "created_at", "updated_at", "started_at", "finished_at")


class TaskApiTest(EngineTestCase):
    eng = None
    shared_engines = []
    crashes = []

    @classmethod
    def setUpClass(cls):
        cls.eng = Engine()
        cls.shared_engines = [cls.eng]
        cls.crashes = []

    @classmethod
    def tearDownClass(cls):
        if cls.eng is not None:
            cls.eng.close()

    def setUp(self):
        if not self.eng.alive():
            self.crashes.append(("before " + self.id(), self.eng.proc.returncode))
            self.eng.restart()

    def tearDown(self):
        if not self.eng.alive():
            rc = self.eng.proc.poll()
            self.crashes.append((self.id(), rc))
            tail = self.eng.log_tail(80)
            self.eng.restart()
            self.fail("ENGINE DIED during this test (exit %s)\n%s" % (rc, tail))

    # ---- helpers --------------------------------------------------------------

    def create(self, type, input=None, status=201, **kw):
        st, h, body = self.eng.create_task(type, input, **kw)
        self.assertEqual(st, status, "create %s -> %s %r" % (type, st, body))
        self.assertIsInstance(body, dict)
        return body

    def check_task_shape(self, t):
        missing = [f for f in TASK_FIELDS if f not in t]
        self.assertFalse(missing, "task object lacks fields %s: %s" % (missing, json.dumps(t)[:1000]))
        self.assertIn(t["status"], STATUSES)

    def check_ts(self, value, name):
        self.assertIsInstance(value, str, "%s not set: %r" % (name, value))
        self.assertRegex(value, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|\+00:00)$",
                         "%s is not ISO 8601 UTC with milliseconds: %r" % (name, value))
        return parse_iso(value)

    # ---- create / execute / get --------------------------------------------------

    def test_qualify_lead_create_execute_get(self):
        t = self.create("sales.qualify_lead", LEAD)
        self.check_task_shape(t)
        self.assertEqual(t["status"], "pending")
        self.assertEqual(t["type"], "sales.qualify_lead")
        self.assertEqual(t["domain"], "sales")
        self.assertEqual(t["input"], LEAD)
        self.assertIsNone(t["result"])
        self.assertIsNone(t["started_at"])
        self.assertIsNone(t["finished_at"])
        self.check_ts(t["created_at"], "created_at")

        st, _, done = self.eng.execute(t["id"], wait=15)
        self.assertEqual(st, 200, "execute?wait=15 -> %s %r" % (st, done))
        self.assertEqual(done["status"], "succeeded", json.dumps(done)[:1500])

        g = self.eng.get_task(t["id"])
        self.check_task_shape(g)
        self.assertEqual(g["id"], t["id"])
        self.assertEqual(g["status"], "succeeded")
        self.assertIsInstance(g["result"], dict, "result: %r" % (g["result"],))
        self.assertIs(g["result"].get("qualified"), True, "result: %r" % (g["result"],))
        self.assertEqual(g["result"].get("score"), 95, "result: %r" % (g["result"],))
        self.assertIsInstance(g["script_version"], str)
        self.assertTrue(g["script_version"], "script_version empty")
        self.assertEqual(g["attempts"], 1)
        self.assertIsNone(g["error"])
        self.assertEqual(g["agent"], "qualifier")
        created = self.check_ts(g["created_at"], "created_at")
        self.check_ts(g["updated_at"], "updated_at")
        started = self.check_ts(g["started_at"], "started_at")
        finished = self.check_ts(g["finished_at"], "finished_at")
        self.assertLessEqual(created, started + 0.001)
        self.assertLessEqual(started, finished + 0.001)

    def test_create_with_execute_true(self):
        t = self.create("test.noop", {}, execute=True)
        self.assertEqual(t["status"], "queued", json.dumps(t)[:1000])
        done = self.eng.wait_terminal(t["id"], timeout=10)
        self.assertEqual(done["status"], "succeeded", json.dumps(done)[:1500])
        self.assertEqual(done["result"], {"ok": True})
        self.assertEqual(done["attempts"], 1)

    def test_input_defaults_to_empty_object(self):
        t = self.create("test.noop")
        self.assertEqual(t["input"], {})

    def test_idempotency_key(self):
        key = "it-idem-%d" % time.time_ns()
        a = self.create("test.noop", {"n": 1}, idempotency_key=key)
        st, _, b = self.eng.create_task("test.noop", {"n": 1}, idempotency_key=key)
        self.assertEqual(st, 200, "second create with the same key -> %s %r" % (st, b))
        self.assertEqual(b["id"], a["id"])
        self.assertEqual(b["idempotency_key"], key)
        # the body is not compared
        st, _, c = self.eng.create_task("test.noop", {"n": 2}, idempotency_key=key)
        self.assertEqual(st, 200, "%s %r" % (st, c))
        self.assertEqual(c["id"], a["id"])

    def test_execute_wait_answers_202_while_running(self):
        t = self.create("test.sleepy", {"seconds": 3})
        st, _, body = self.eng.execute(t["id"], wait=0.3)
        self.assertEqual(st, 202, "execute?wait=0.3 on a 3 s task -> %s %r" % (st, body))
        self.assertIn(body["status"], ("queued", "running"))
        self.eng.cancel(t["id"])

    # ---- request errors ---------------------------------------------------------

    def test_malformed_json(self):
        self.assertApiError(self.eng.request("POST", "/api/v1/tasks", raw=b'{"type": "test.noop", '),
                            400, "bad_json")

    def test_body_not_an_object(self):
        for raw in (b"[1, 2, 3]", b'"test.noop"', b"42", b"null"):
            with self.subTest(body=raw):
                self.assertApiError(self.eng.request("POST", "/api/v1/tasks", raw=raw), 400, "bad_json")

    def test_missing_type(self):
        resp = self.eng.request("POST", "/api/v1/tasks", body={"input": {}})
        self.assertIn(resp[0], (400, 422), "create without type -> %s %r" % (resp[0], resp[2]))
        self.assertApiError(resp, resp[0])

    def test_unknown_task_type(self):
        self.assertApiError(self.eng.create_task("test.no_such_type", {}), 422, "unknown_task_type")
        self.assertApiError(self.eng.create_task("nodomain.qualify_lead", {}), 422, "unknown_task_type")

    def test_validation_failed_one_detail_per_field(self):
        bad = dict(LEAD)
        del bad["email"]
        bad["budget"] = "lots"
        body = self.assertApiError(self.eng.create_task("sales.qualify_lead", bad), 422, "validation_failed")
        details = body["error"].get("details")
        self.assertIsInstance(details, list, "details: %r" % (details,))
        fields = sorted(d.get("field") for d in details)
        self.assertEqual(fields, ["budget", "email"], "details: %r" % (details,))
        for d in details:
            self.assertIsInstance(d.get("message"), str)
            self.assertTrue(d["message"])

    def test_bad_field_types(self):
        self.assertApiError(self.eng.create_task("test.noop", {}, priority="high"), 400, "bad_request")
        self.assertApiError(self.eng.create_task("test.noop", {}, run_at="tomorrow"), 400, "bad_request")

    def test_body_too_large(self):
        payload = json.dumps({"type": "test.noop", "input": {"blob": "x" * (1 << 20)}}).encode()
        self.assertGreater(len(payload), 1 << 20)
        status, headers, body = self.raw_post("/api/v1/tasks", payload)
        self.assertApiError((status, headers, body), 413, "payload_too_large")
        # the engine still serves on new connections
        self.assertEqual(self.eng.health()[0], 200)

    def raw_post(self, path, payload, ctype="application/json"):
        """POST on a fresh socket, tolerating the server closing before the body is sent."""
        sock = socket.create_connection((HOST, self.eng.port), timeout=15)
        try:
            head = ("POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                    "Connection: close\r\n\r\n" % (path, HOST, self.eng.port, ctype, len(payload)))
            send_error = None
            try:
                sock.sendall(head.encode())
                for i in range(0, len(payload), 65536):
                    sock.sendall(payload[i:i + 65536])
            except (BrokenPipeError, ConnectionResetError) as e:
                send_error = e
            resp = http.client.HTTPResponse(sock)
            try:
                resp.begin()
            except (http.client.HTTPException, OSError) as e:
                self.fail("no HTTP response to a %d-byte body (send error %r, read error %r)"
                          % (len(payload), send_error, e))
            data = resp.read().decode("utf-8", "replace")
            try:
                data = json.loads(data)
            except ValueError:
                pass
            return resp.status, resp.headers, data
        finally:
            sock.close()

    def chunked_post(self, body_iter):
        c = http.client.HTTPConnection(HOST, self.eng.port, timeout=15)
        try:
            try:
                c.request("POST", "/api/v1/tasks", body=body_iter, encode_chunked=True,
                          headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = c.getresponse()
            data = r.read().decode("utf-8", "replace")
            try:
                data = json.loads(data)
            except ValueError:
                pass
            return r.status, r.headers, data
        finally:
            c.close()

    def test_chunked_body(self):
        body = json.dumps({"type": "test.noop", "input": {"via": "chunked"}}).encode()
        st, _, t = self.chunked_post(iter([body[:10], body[10:]]))
        self.assertEqual(st, 201, "chunked create -> %s %r" % (st, t))
        self.assertEqual(t["input"], {"via": "chunked"})

    def test_chunked_body_too_large(self):
        # the size limit must hold without a Content-Length too
        def chunks():
            yield b'{"type": "test.noop", "input": {"blob": "'
            for _ in range(20):
                yield b"x" * 65536
            yield b'"}}'
        self.assertApiError(self.chunked_post(chunks()), 413, "payload_too_large")
        self.assertEqual(self.eng.health()[0], 200)

    def test_unknown_id(self):
        self.assertApiError(self.eng.request("GET", "/api/v1/tasks/987654321"), 404, "not_found")
        self.assertApiError(self.eng.request("GET", "/api/v1/tasks/987654321/events"), 404, "not_found")
        self.assertApiError(self.eng.request("POST", "/api/v1/tasks/987654321/execute"), 404, "not_found")
        self.assertApiError(self.eng.request("POST", "/api/v1/tasks/987654321/cancel"), 404, "not_found")

    def test_malformed_ids(self):
        for path in ("/api/v1/tasks/../../etc", "/api/v1/tasks/..%2F..%2Fetc", "/api/v1/tasks/abc",
                     "/api/v1/tasks/-1", "/api/v1/tasks/1.5", "/api/v1/tasks/99999999999999999999999"):
            with self.subTest(path=path):
                self.assertApiError(self.eng.request("GET", path), 404)

    def test_unknown_route(self):
        self.assertApiError(self.eng.request("GET", "/api/v1/no_such_route"), 404, "not_found")

    def test_method_not_allowed(self):
        self.assertApiError(self.eng.request("PUT", "/api/v1/health", body={}), 405, "method_not_allowed")

    def test_execute_succeeded_task_is_409(self):
        t = self.create("test.noop", {}, execute=True)
        self.eng.wait_status(t["id"], {"succeeded"}, timeout=10)
        self.assertApiError(self.eng.execute(t["id"]), 409, "invalid_state")
        self.assertApiError(self.eng.cancel(t["id"]), 409, "invalid_state")

    def test_wrong_content_type(self):
        resp = self.eng.request("POST", "/api/v1/tasks", raw=json.dumps({"type": "test.noop"}),
                                headers={"Content-Type": "text/plain"})
        self.assertApiError(resp, 415, "unsupported_media_type")

    def test_request_id_echoed(self):
        st, h, body = self.eng.request("GET", "/api/v1/tasks/987654321",
                                       headers={"X-Request-Id": "it-req-0001"})
        self.assertEqual(h.get("X-Request-Id"), "it-req-0001")
        self.assertEqual(body.get("request_id"), "it-req-0001")
        st, h, body = self.eng.health()
        self.assertTrue(h.get("X-Request-Id"), "success responses carry X-Request-Id too")

    # ---- execution behaviour ------------------------------------------------------

    def test_flaky_retries_then_succeeds(self):
        t = self.create("test.flaky", {}, execute=True)
        done = self.eng.wait_terminal(t["id"], timeout=20)
        self.assertEqual(done["status"], "succeeded", json.dumps(done)[:1500])
        self.assertEqual(done["attempts"], 3)
        self.assertEqual(done["result"], {"attempt": 3})
        ev = self.eng.events(t["id"])
        self.assertEqual(ev.get("task_id"), t["id"])
        events = ev.get("events")
        self.assertIsInstance(events, list)
        tos = [e.get("to") for e in events]
        failed = [e for e in events if e.get("to") == "failed"]
        self.assertEqual(len(failed), 2, "expected 2 failed transitions, events: %s" % json.dumps(events))
        for e in failed:
            self.assertIn("flaky failure", json.dumps(e.get("detail")), "failed event detail: %r" % (e,))
        self.assertEqual(tos.count("running"), 3, "events: %s" % json.dumps(events))
        self.assertEqual(tos[-1], "succeeded")
        for e in events:
            self.assertIn("from", e)
            self.assertIn("at", e)
            self.check_ts(e["at"], "event.at")
        ats = [parse_iso(e["at"]) for e in events]
        self.assertEqual(ats, sorted(ats), "events are not oldest first")
        for prev, cur in zip(events, events[1:]):
            self.assertEqual(cur.get("from"), prev.get("to"), "broken transition chain: %s" % json.dumps(events))

    def test_always_fail_goes_dead(self):
        t = self.create("test.always_fail", {}, execute=True)
        done = self.eng.wait_terminal(t["id"], timeout=20)
        self.assertEqual(done["status"], "dead", json.dumps(done)[:1500])
        self.assertEqual(done["attempts"], 2)
        self.assertEqual(done["max_attempts"], 2)
        self.assertIn("always fails", error_text(done))
        self.assertIsNone(done["result"])

    def test_spin_hits_cpu_budget(self):
        t = self.create("test.spin", {}, execute=True)
        done = self.eng.wait_status(t["id"], {"dead", "failed"}, timeout=30)
        self.assertRegex(error_text(done), re.compile(r"cpu|instruction", re.I),
                         "error should mention the CPU budget: %r" % (done.get("error"),))
        # the loop that ran it still serves other tasks
        n = self.create("test.noop", {}, execute=True)
        self.assertEqual(self.eng.wait_terminal(n["id"], timeout=10)["status"], "succeeded")

    def test_hog_hits_memory_limit(self):
        t = self.create("test.hog", {}, execute=True)
        done = self.eng.wait_terminal(t["id"], timeout=30)
        self.assertEqual(done["status"], "dead", json.dumps(done)[:1500])
        self.assertRegex(error_text(done), re.compile(r"memory", re.I),
                         "error should mention memory: %r" % (done.get("error"),))
        n = self.create("test.noop", {}, execute=True)
        self.assertEqual(self.eng.wait_terminal(n["id"], timeout=10)["status"], "succeeded")

    def test_run_at_in_the_future(self):
        run_at = time.time() + 2.0
        t = self.create("test.noop", {}, execute=True, run_at=iso_utc(run_at))
        self.assertAlmostEqual(parse_iso(t["run_at"]), run_at, delta=0.01)
        time.sleep(1.2)
        mid = self.eng.get_task(t["id"])
        self.assertNotIn(mid["status"], ("running", "succeeded"),
                         "task started before run_at: %s" % json.dumps(mid)[:1000])
        self.assertIsNone(mid["started_at"])
        done = self.eng.wait_status(t["id"], {"succeeded"}, timeout=10)
        self.assertGreaterEqual(parse_iso(done["started_at"]), run_at - 0.01,
                                "started_at %s is before run_at %s" % (done["started_at"], t["run_at"]))

    def test_cancel_running_task(self):
        t = self.create("test.sleepy", {"seconds": 30}, execute=True)
        self.eng.wait_status(t["id"], {"running"}, timeout=10)
        t0 = time.time()
        st, _, body = self.eng.cancel(t["id"])
        # docs/api.md: 202 with the still-running task; the cancel takes effect at its next yield
        self.assertEqual(st, 202, "cancel of a running task -> %s %r" % (st, body))
        self.assertEqual(body["status"], "running")
        done = self.eng.wait_status(t["id"], {"cancelled"}, timeout=5)
        self.assertLess(time.time() - t0, 5)
        self.assertIsNone(done["result"])
        self.assertApiError(self.eng.cancel(t["id"]), 409, "invalid_state")
        ev = self.eng.events(t["id"])["events"]
        self.assertEqual(ev[-1].get("to"), "cancelled", json.dumps(ev))

    def test_cancel_pending_task(self):
        t = self.create("test.noop", {})
        st, _, body = self.eng.cancel(t["id"])
        self.assertEqual(st, 200, "%s %r" % (st, body))
        self.assertEqual(body["status"], "cancelled")
        self.assertApiError(self.eng.execute(t["id"]), 409, "invalid_state")

    def test_events_chain_for_simple_task(self):
        t = self.create("test.noop", {})
        st, _, done = self.eng.execute(t["id"], wait=10)
        self.assertEqual(st, 200, "%s %r" % (st, done))
        events = self.eng.events(t["id"])["events"]
        pairs = [(e.get("from"), e.get("to")) for e in events]
        if pairs and pairs[0] == (None, "pending"):
            pairs = pairs[1:]   # a creation event is allowed
        self.assertEqual(pairs, [("pending", "queued"), ("queued", "running"), ("running", "succeeded")],
                         json.dumps(events))

    def test_idempotency_key_concurrent(self):
        from concurrent.futures import ThreadPoolExecutor
        key = "it-idem-race-%d" % time.time_ns()
        with ThreadPoolExecutor(max_workers=8) as ex:
            answers = list(ex.map(lambda _: self.eng.create_task("test.noop", {}, idempotency_key=key),
                                  range(16)))
        statuses = sorted(a[0] for a in answers)
        ids = {a[2].get("id") if isinstance(a[2], dict) else None for a in answers}
        self.assertEqual(len(ids), 1, "one key gave several tasks: %s (statuses %s)" % (ids, statuses))
        self.assertEqual(statuses.count(201), 1, "statuses: %s" % statuses)
        self.assertEqual(statuses.count(200), 15, "statuses: %s" % statuses)

    def test_max_attempts_override(self):
        t = self.create("test.always_fail", {}, execute=True, max_attempts=1)
        self.assertEqual(t["max_attempts"], 1)
        done = self.eng.wait_terminal(t["id"], timeout=10)
        self.assertEqual(done["status"], "dead")
        self.assertEqual(done["attempts"], 1)

    def test_max_attempts_out_of_range(self):
        for v in (0, 101):
            with self.subTest(max_attempts=v):
                resp = self.eng.create_task("test.noop", {}, max_attempts=v)
                self.assertIn(resp[0], (400, 422), "max_attempts=%d -> %s %r" % (v, resp[0], resp[2]))
                self.assertApiError(resp, resp[0])

    def test_bad_wait_value(self):
        t = self.create("test.noop", {})
        for w in ("abc", "-1", "301"):
            with self.subTest(wait=w):
                self.assertApiError(self.eng.request("POST", "/api/v1/tasks/%s/execute?wait=%s" % (t["id"], w)),
                                    400, "bad_request")

    def test_invalid_utf8_is_bad_json(self):
        raw = b'{"type": "test.noop", "input": {"s": "\xff\xfe"}}'
        self.assertApiError(self.eng.request("POST", "/api/v1/tasks", raw=raw), 400, "bad_json")

    def test_deeply_nested_json_does_not_crash(self):
        depth = 100000
        raw = b'{"type": "test.noop", "input": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
        resp = self.eng.request("POST", "/api/v1/tasks", raw=raw)
        self.assertTrue(self.eng.alive(), "engine died on a %d-deep JSON body" % depth)
        self.assertLess(resp[0], 500, "%s %r" % (resp[0], resp[2]))
        if resp[0] >= 400:
            self.assertApiError(resp, resp[0])
        self.assertEqual(self.eng.health()[0], 200)

    def test_timeout(self):
        t = self.create("test.timeout", {"seconds": 10}, execute=True)
        t0 = time.time()
        done = self.eng.wait_terminal(t["id"], timeout=8)
        self.assertEqual(done["status"], "dead", json.dumps(done)[:1500])
        self.assertLess(time.time() - t0, 5, "a 1 s timeout took %.1fs" % (time.time() - t0))
        self.assertRegex(error_text(done), re.compile(r"time", re.I),
                         "error should say it timed out: %r" % (done.get("error"),))

    def test_globals_available(self):
        echo = "Zo\u00eb \u6771\u4eac \U0001f389 \"q\" \\ \n"
        t = self.create("test.globals", {"echo": echo}, execute=True)
        done = self.eng.wait_terminal(t["id"], timeout=10)
        self.assertEqual(done["status"], "succeeded", json.dumps(done)[:1500])
        r = done["result"]
        expect = {"task_id": t["id"], "task_type": "test.globals", "task_domain": "test", "attempt": 1,
                  "echo": echo, "json_a": 1, "json_b2": "y", "now_is_number": True, "upper": "ABC",
                  "floor": 3, "utf8_len": 3, "co": 42, "sorted": "1,2,3", "pcall_ok": True,
                  "tostring_ok": True}
        for k, v in expect.items():
            self.assertEqual(r.get(k), v, "result[%r] = %r, expected %r; result %r" % (k, r.get(k), v, r))
        deadline = time.time() + 3
        while "globals agent says hello" not in self.eng.log_text() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("globals agent says hello", self.eng.log_text(), "log.info output not in the engine log")

    def test_unicode_input_round_trip(self):
        inp = {"name": "Zo\u00eb \u6771\u4eac \U0001f389", "esc": "quote\" backslash\\ nl\n tab\t",
               "nested": {"list": [1, 2.5, -3, True, False, None, "x"]}, "empty_obj": {}}
        t = self.create("test.noop", inp)
        self.assertEqual(t["input"], inp)
        self.assertEqual(self.eng.get_task(t["id"])["input"], inp)

    def test_input_empty_array_round_trip(self):
        # the API must return the input it was given: [] is not {}
        inp = {"tags": [], "nested": {"list": []}}
        t = self.create("test.noop", inp)
        self.assertEqual(t["input"], inp, "create answered a different input")
        self.assertEqual(self.eng.get_task(t["id"])["input"], inp, "GET returns a different input")

    def test_input_number_precision_round_trip(self):
        # JSON numbers that fit a double exactly must come back unchanged
        inp = {"fifteen_digits": 123456789012345, "max_safe_int": 9007199254740991,
               "seventeen_sig": 1234567.891234567, "tenth": 0.1, "neg": -98765432109876}
        t = self.create("test.noop", inp)
        self.assertEqual(t["input"], inp, "create answered a different input")
        self.assertEqual(self.eng.get_task(t["id"])["input"], inp, "GET returns a different input")

    def test_result_number_precision(self):
        t = self.create("test.numbers", {}, execute=True)
        done = self.eng.wait_terminal(t["id"], timeout=10)
        self.assertEqual(done["status"], "succeeded", json.dumps(done)[:1500])
        self.assertEqual(done["result"], {"small": 42, "neg": -7, "fifteen_digits": 123456789012345,
                                          "max_safe_int": 9007199254740991, "seventeen_sig": 1234567.891234567,
                                          "tenth": 0.1}, "numbers returned by the agent changed on the way out")

    def test_memory_set_get_delete(self):
        key = "it-key-%d" % time.time_ns()
        value = {"a": [1, 2], "s": "v\u00e9"}
        for typ, inp, want in (("test.mem_set", {"key": key, "value": value}, {"ok": True}),
                               ("test.mem_get", {"key": key}, {"found": True, "value": value}),
                               ("test.mem_get", {"key": key, "delete": True}, {"found": True, "value": value}),
                               ("test.mem_get", {"key": key}, {"found": False})):
            t = self.create(typ, inp, execute=True)
            done = self.eng.wait_terminal(t["id"], timeout=10)
            self.assertEqual(done["status"], "succeeded", json.dumps(done)[:1500])
            self.assertEqual(done["result"], want, "%s %r" % (typ, inp))

    # ---- health -------------------------------------------------------------------

    def test_health_shape(self):
        st, h, body = self.eng.health()
        self.assertEqual(st, 200, body)
        self.assertIn(body.get("status"), ("ok", "degraded"))
        self.assertIsInstance(body.get("version"), str)
        comps = body.get("components", {})
        self.assertEqual(comps.get("store", {}).get("status"), "ok", body)
        self.assertEqual(comps.get("store", {}).get("backend"), "sqlite", body)
        self.assertEqual(comps.get("loops", {}).get("threads"), 2, body)
        types = comps.get("scripts", {}).get("task_types", [])
        for tt in ("test.noop", "test.flaky", "test.sleepy", "sales.qualify_lead"):
            self.assertIn(tt, types, "task type %s not loaded: %r" % (tt, comps.get("scripts")))

    def test_zz_health_still_ok_after_all(self):
        # runs last (alphabetical order): the engine survived everything above
        self.assertEqual(self.crashes, [], "the engine died during: %r" % (self.crashes,))
        st, _, body = self.eng.health()
        self.assertEqual(st, 200, body)
        self.assertTrue(self.eng.alive())


if __name__ == "__main__":
    unittest.main()
