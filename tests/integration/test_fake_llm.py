"""The fake LLM providers themselves (tests/fakes/fake_llm.js through fake_llm.FakeLLM), over HTTP.

The LLM tests trust what the fake answers and records; these tests pin that behaviour down: default
answers in the OpenAI and Anthropic formats, JSON mode, tool calls, scripted failures (429 with
Retry-After, 500 then 200, malformed JSON, empty body, delay, hang, close), the request log, reset
and the counters.
"""

import http.client
import json
import socket
import threading
import time
import unittest
import urllib.error
import urllib.request

from fake_llm import FakeLLM, FakeLLMError

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

OPENAI_HEADERS = {"Authorization": "Bearer sk-test-openai"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}


def call(url, body=None, raw=None, headers=None, method="POST", timeout=10.0):
    """One request with urllib; returns (status, headers, body bytes) for any status."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        try:
            return e.code, e.headers, e.read()
        finally:
            e.close()


def openai_req(text="hello", model="gpt-test", **extra):
    body = {"model": model, "messages": [{"role": "system", "content": "be brief"},
                                         {"role": "user", "content": text}]}
    body.update(extra)
    return body


def anthropic_req(text="hello", model="claude-test", **extra):
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return body


class FakeLLMTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = FakeLLM().start()

    @classmethod
    def tearDownClass(cls):
        cls.llm.close()

    def setUp(self):
        self.assertTrue(self.llm.alive(), "fake_llm died:\n" + self.llm.stderr_text())
        self.llm.reset()

    # ---- helpers ----

    def openai(self, body, **kw):
        kw.setdefault("headers", OPENAI_HEADERS)
        return call(self.llm.openai_base_url + "/chat/completions", body, **kw)

    def anthropic(self, body, **kw):
        kw.setdefault("headers", ANTHROPIC_HEADERS)
        return call(self.llm.anthropic_base_url + "/v1/messages", body, **kw)

    def wait_stats(self, pred, timeout=5.0):
        deadline = time.time() + timeout
        st = self.llm.stats()
        while not pred(st) and time.time() < deadline:
            time.sleep(0.02)
            st = self.llm.stats()
        self.assertTrue(pred(st), "stats never got there: %r" % st)
        return st

    # ---- addresses ----

    def test_base_urls(self):
        self.assertGreater(self.llm.port, 0)
        self.assertEqual(self.llm.openai_base_url, "http://127.0.0.1:%d/v1" % self.llm.port)
        self.assertEqual(self.llm.anthropic_base_url, "http://127.0.0.1:%d" % self.llm.port)

    # ---- default answers ----

    def test_openai_default_answer(self):
        body = openai_req()
        body["messages"] += [{"role": "assistant", "content": "earlier answer"},
                             {"role": "user", "content": [{"type": "text", "text": "second"},
                                                          {"type": "text", "text": "question"}]}]
        st, hdrs, raw = self.openai(body)
        self.assertEqual(st, 200, raw)
        self.assertIn("application/json", hdrs.get("Content-Type"))
        r = json.loads(raw)
        self.assertTrue(r["id"])
        self.assertEqual(r["object"], "chat.completion")
        self.assertIsInstance(r["created"], int)
        self.assertEqual(r["model"], "gpt-test")
        self.assertEqual(len(r["choices"]), 1)
        ch = r["choices"][0]
        self.assertEqual(ch["index"], 0)
        self.assertEqual(ch["message"], {"role": "assistant", "content": "echo: second\nquestion"})
        self.assertEqual(ch["finish_reason"], "stop")
        u = r["usage"]
        self.assertGreaterEqual(u["prompt_tokens"], 1)
        self.assertGreaterEqual(u["completion_tokens"], 1)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])
        # deterministic: the same request gives the same counts
        _, _, raw2 = self.openai(body)
        self.assertEqual(json.loads(raw2)["usage"], u)

    def test_anthropic_default_answer(self):
        body = anthropic_req("hi there", system="You are terse.")
        st, hdrs, raw = self.anthropic(body)
        self.assertEqual(st, 200, raw)
        r = json.loads(raw)
        self.assertTrue(r["id"])
        self.assertEqual(r["type"], "message")
        self.assertEqual(r["role"], "assistant")
        self.assertEqual(r["model"], "claude-test")
        self.assertEqual(r["content"], [{"type": "text", "text": "echo: hi there"}])
        self.assertEqual(r["stop_reason"], "end_turn")
        self.assertGreaterEqual(r["usage"]["input_tokens"], 1)
        self.assertGreaterEqual(r["usage"]["output_tokens"], 1)
        # content as blocks works too
        st, _, raw = self.anthropic(anthropic_req([{"type": "text", "text": "blocks"}]))
        self.assertEqual(json.loads(raw)["content"][0]["text"], "echo: blocks")

    def test_invalid_requests_get_400(self):
        st, _, raw = self.openai({"messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(st, 400)
        self.assertIn("model", json.loads(raw)["error"]["message"])
        st, _, raw = self.anthropic({"model": "c", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(st, 400)
        err = json.loads(raw)
        self.assertEqual(err["type"], "error")
        self.assertEqual(err["error"]["type"], "invalid_request_error")
        self.assertIn("max_tokens", err["error"]["message"])
        st, _, raw = self.anthropic(anthropic_req(messages=[{"role": "system", "content": "x"}]))
        self.assertEqual(st, 400)
        st, _, raw = self.openai(None, raw=b"this is not json")
        self.assertEqual(st, 400)
        log = self.llm.requests()
        self.assertEqual(log[-1]["body"], "this is not json")

    # ---- JSON mode ----

    def test_openai_json_mode(self):
        for rf in ({"type": "json_object"},
                   {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}):
            st, _, raw = self.openai(openai_req("give json", response_format=rf))
            self.assertEqual(st, 200, raw)
            content = json.loads(raw)["choices"][0]["message"]["content"]
            self.assertEqual(json.loads(content), {"echo": "give json", "ok": True}, rf)
        st, _, raw = self.openai(openai_req("plain", response_format={"type": "text"}))
        self.assertEqual(json.loads(raw)["choices"][0]["message"]["content"], "echo: plain")

    def test_anthropic_json_mode(self):
        st, _, raw = self.anthropic(anthropic_req("give json", system="Answer with JSON only."))
        self.assertEqual(st, 200, raw)
        text = json.loads(raw)["content"][0]["text"]
        self.assertEqual(json.loads(text), {"echo": "give json", "ok": True})
        st, _, raw = self.anthropic(anthropic_req("x", system=[{"type": "text", "text": "reply in json"}]))
        self.assertEqual(json.loads(json.loads(raw)["content"][0]["text"]), {"echo": "x", "ok": True})
        st, _, raw = self.anthropic(anthropic_req("x", system="no structured output"))
        self.assertEqual(json.loads(raw)["content"][0]["text"], "echo: x")

    # ---- tool calls ----

    def test_openai_tool_call_exchange(self):
        self.llm.enqueue({"tool_call": {"name": "lookup", "arguments": {"q": "weather", "n": 2}}})
        body = openai_req("what is the weather?",
                          tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}])
        st, _, raw = self.openai(body)
        self.assertEqual(st, 200, raw)
        ch = json.loads(raw)["choices"][0]
        self.assertEqual(ch["finish_reason"], "tool_calls")
        msg = ch["message"]
        self.assertEqual(msg["role"], "assistant")
        self.assertIsNone(msg["content"])
        self.assertEqual(len(msg["tool_calls"]), 1)
        tc = msg["tool_calls"][0]
        self.assertEqual(tc["id"], "call_1")
        self.assertEqual(tc["type"], "function")
        self.assertEqual(tc["function"]["name"], "lookup")
        self.assertIsInstance(tc["function"]["arguments"], str)
        self.assertEqual(json.loads(tc["function"]["arguments"]), {"q": "weather", "n": 2})
        # step two: the tool's result goes back, the fake answers as usual
        body["messages"] += [msg, {"role": "tool", "tool_call_id": tc["id"], "content": "{\"temp\": 20}"}]
        st, _, raw = self.openai(body)
        ch = json.loads(raw)["choices"][0]
        self.assertEqual(ch["finish_reason"], "stop")
        self.assertEqual(ch["message"]["content"], "echo: what is the weather?")
        log = self.llm.requests()
        self.assertEqual(len(log), 2)
        self.assertEqual(log[1]["body"]["messages"][-1]["tool_call_id"], "call_1")

    def test_anthropic_tool_call_exchange(self):
        self.llm.enqueue({"tool_call": {"name": "lookup", "arguments": {"q": "weather"}}})
        body = anthropic_req("what is the weather?", tools=[{"name": "lookup", "input_schema": {"type": "object"}}])
        st, _, raw = self.anthropic(body)
        self.assertEqual(st, 200, raw)
        r = json.loads(raw)
        self.assertEqual(r["stop_reason"], "tool_use")
        self.assertEqual(r["content"], [{"type": "tool_use", "id": "toolu_1", "name": "lookup",
                                         "input": {"q": "weather"}}])
        body["messages"] += [{"role": "assistant", "content": r["content"]},
                             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                           "content": "20 degrees"}]}]
        st, _, raw = self.anthropic(body)
        r = json.loads(raw)
        self.assertEqual(r["stop_reason"], "end_turn")
        self.assertEqual(r["content"], [{"type": "text", "text": "echo: what is the weather?"}])

    def test_tool_call_with_text_and_numbering(self):
        self.llm.enqueue({"tool_call": [{"name": "a", "arguments": {}}, {"name": "b", "arguments": "{bad"}],
                          "text": "thinking"},
                         {"tool_call": {"name": "c"}})
        st, _, raw = self.openai(openai_req())
        msg = json.loads(raw)["choices"][0]["message"]
        self.assertEqual(msg["content"], "thinking")
        self.assertEqual([t["id"] for t in msg["tool_calls"]], ["call_1", "call_2"])
        self.assertEqual(msg["tool_calls"][1]["function"]["arguments"], "{bad")  # a string goes as is
        st, _, raw = self.anthropic(anthropic_req())
        r = json.loads(raw)
        self.assertEqual(r["content"], [{"type": "tool_use", "id": "toolu_3", "name": "c", "input": {}}])

    # ---- scripted failures ----

    def test_429_with_retry_after(self):
        self.llm.enqueue({"status": 429, "headers": {"Retry-After": "1"}},
                         {"status": 429, "headers": {"Retry-After": 2}})
        st, hdrs, raw = self.openai(openai_req())
        self.assertEqual(st, 429)
        self.assertEqual(hdrs.get("Retry-After"), "1")
        self.assertEqual(json.loads(raw)["error"]["type"], "rate_limit_exceeded")
        st, hdrs, raw = self.anthropic(anthropic_req())
        self.assertEqual(st, 429)
        self.assertEqual(hdrs.get("Retry-After"), "2")
        self.assertEqual(json.loads(raw), {"type": "error", "error": {"type": "rate_limit_error",
                                                                     "message": "fake error 429"}})

    def test_500_then_200(self):
        self.assertEqual(self.llm.enqueue({"status": 500}), 1)
        st, _, raw = self.openai(openai_req("again"))
        self.assertEqual(st, 500)
        self.assertEqual(json.loads(raw)["error"]["type"], "server_error")
        st, _, raw = self.openai(openai_req("again"))
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(raw)["choices"][0]["message"]["content"], "echo: again")
        self.assertEqual(self.llm.stats()["pending"], 0)

    def test_queue_is_shared_fifo(self):
        self.llm.enqueue({"text": "first"})
        self.llm.enqueue({"text": "second"}, {"status": 503})
        _, _, raw = self.anthropic(anthropic_req())
        self.assertEqual(json.loads(raw)["content"][0]["text"], "first")
        _, _, raw = self.openai(openai_req())
        self.assertEqual(json.loads(raw)["choices"][0]["message"]["content"], "second")
        st, _, _ = self.anthropic(anthropic_req())
        self.assertEqual(st, 503)

    def test_body_step(self):
        self.llm.enqueue({"body": {"choices": []}}, {"status": 400, "body": {"error": {"message": "nope"}}})
        st, _, raw = self.openai(openai_req())
        self.assertEqual((st, json.loads(raw)), (200, {"choices": []}))
        st, _, raw = self.openai(openai_req())
        self.assertEqual((st, json.loads(raw)), (400, {"error": {"message": "nope"}}))

    def test_raw_malformed(self):
        self.llm.enqueue({"raw": '{"choices": [ {"message": '})
        st, hdrs, raw = self.openai(openai_req())
        self.assertEqual(st, 200)
        self.assertEqual(raw, b'{"choices": [ {"message": ')
        self.assertIn("application/json", hdrs.get("Content-Type"))
        with self.assertRaises(ValueError):
            json.loads(raw)

    def test_empty(self):
        self.llm.enqueue({"empty": True})
        st, hdrs, raw = self.anthropic(anthropic_req())
        self.assertEqual(st, 200)
        self.assertEqual(raw, b"")
        self.assertEqual(hdrs.get("Content-Length"), "0")

    def test_delay_ms(self):
        self.llm.enqueue({"delay_ms": 300})
        t0 = time.monotonic()
        st, _, _ = self.openai(openai_req())
        dt = time.monotonic() - t0
        self.assertEqual(st, 200)
        # only a lower bound (5 ms of slack for the timer's millisecond granularity)
        self.assertGreaterEqual(dt, 0.295)

    def test_global_delay_ms(self):
        with FakeLLM(delay_ms=300) as slow:
            t0 = time.monotonic()
            st, _, raw = call(slow.anthropic_base_url + "/v1/messages", anthropic_req(), headers=ANTHROPIC_HEADERS)
            dt = time.monotonic() - t0
            self.assertEqual(st, 200, raw)
            self.assertGreaterEqual(dt, 0.295)
            slow.enqueue({"status": 500, "delay_ms": 400})
            t0 = time.monotonic()
            st, _, raw = call(slow.anthropic_base_url + "/v1/messages", anthropic_req(), headers=ANTHROPIC_HEADERS)
            self.assertEqual(st, 500)
            self.assertGreaterEqual(time.monotonic() - t0, 0.395)

    def test_hang_until_client_timeout(self):
        self.llm.enqueue({"hang": True})
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError, urllib.error.URLError)):
            self.openai(openai_req(), timeout=0.5)
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)
        st = self.llm.stats()
        self.assertEqual(st["received"], 1)
        self.assertEqual(st["answered"], 0)
        # the client closed its socket: the fake notices and the request is no longer in flight
        self.wait_stats(lambda s: s["in_flight"] == 0)
        # only one step was consumed: the next call is answered
        st, _, _ = self.openai(openai_req())
        self.assertEqual(st, 200)

    def test_hang_holds_connection_open(self):
        self.llm.enqueue({"hang": True})
        c = http.client.HTTPConnection("127.0.0.1", self.llm.port, timeout=5)
        try:
            c.request("POST", "/v1/chat/completions", body=json.dumps(openai_req()),
                      headers={"Content-Type": "application/json"})
            self.assertEqual(self.llm.wait_received(1)["received"], 1)
            with self.assertRaises(FakeLLMError):
                self.llm.wait_received(2, timeout=0.2)
            time.sleep(1.0)
            st = self.llm.stats()
            self.assertEqual((st["in_flight"], st["answered"]), (1, 0))
        finally:
            c.close()
        self.wait_stats(lambda s: s["in_flight"] == 0)

    def test_close(self):
        self.llm.enqueue({"close": True})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
            self.openai(openai_req())
        st = self.wait_stats(lambda s: s["in_flight"] == 0)
        self.assertEqual((st["received"], st["answered"]), (1, 0))

    # ---- the request log ----

    def test_request_log(self):
        before = time.time() * 1000
        self.openai(openai_req("one"))
        self.anthropic(anthropic_req("two"), headers=dict(ANTHROPIC_HEADERS, **{"X-Custom-Thing": "v"}))
        call(self.llm.base_url + "/v1/models", method="GET")  # not a chat request: not logged
        log = self.llm.requests()
        self.assertEqual(len(log), 2)
        a, b = log
        self.assertEqual((a["path"], a["method"]), ("/v1/chat/completions", "POST"))
        self.assertEqual(a["headers"]["authorization"], "Bearer sk-test-openai")
        self.assertEqual(a["headers"]["content-type"], "application/json")
        self.assertNotIn("x-api-key", a["headers"])
        self.assertEqual(a["body"], openai_req("one"))
        self.assertEqual((b["path"], b["method"]), ("/v1/messages", "POST"))
        self.assertEqual(b["headers"]["x-api-key"], "sk-ant-test")
        self.assertEqual(b["headers"]["anthropic-version"], "2023-06-01")
        self.assertEqual(b["headers"]["x-custom-thing"], "v")
        self.assertNotIn("authorization", b["headers"])
        self.assertEqual(b["body"], anthropic_req("two"))
        for h in (a["headers"], b["headers"]):
            self.assertEqual(list(h), [k.lower() for k in h])
        self.assertTrue(before - 1000 <= a["at"] <= b["at"] <= time.time() * 1000 + 1000)

    def test_no_log(self):
        with FakeLLM(log=False) as quiet:
            st, _, _ = call(quiet.openai_base_url + "/chat/completions", openai_req())
            self.assertEqual(st, 200)
            self.assertEqual(quiet.requests(), [])
            self.assertEqual(quiet.stats()["received"], 1)

    def test_reset(self):
        self.llm.enqueue({"status": 500}, {"status": 500}, {"tool_call": {"name": "t"}})
        st, _, _ = self.openai(openai_req())
        self.assertEqual(st, 500)
        self.llm.reset()
        self.assertEqual(self.llm.requests(), [])
        st = self.llm.stats()
        self.assertEqual((st["received"], st["answered"], st["pending"]), (0, 0, 0))
        st, _, raw = self.openai(openai_req("fresh"))
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(raw)["choices"][0]["message"]["content"], "echo: fresh")
        self.llm.enqueue({"tool_call": {"name": "t"}})
        _, _, raw = self.openai(openai_req())
        self.assertEqual(json.loads(raw)["choices"][0]["message"]["tool_calls"][0]["id"], "call_1")

    def test_stats(self):
        self.assertEqual(self.llm.stats(), {"received": 0, "answered": 0, "in_flight": 0,
                                            "max_in_flight": 0, "pending": 0})
        self.llm.enqueue(*[{"delay_ms": 600}] * 3)
        results = []

        def one():
            results.append(self.openai(openai_req())[0])

        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
        self.wait_stats(lambda s: s["in_flight"] == 3, timeout=3)
        for t in threads:
            t.join(10)
        self.assertEqual(results, [200, 200, 200])
        st = self.wait_stats(lambda s: s["in_flight"] == 0)
        self.assertEqual(st, {"received": 3, "answered": 3, "in_flight": 0, "max_in_flight": 3, "pending": 0})

    # ---- control API and routing ----

    def test_bad_steps_rejected(self):
        for bad in ({"stauts": 500}, {"status": "500"}, {"hang": True, "close": True},
                    {"raw": "x", "text": "y"}, {"tool_call": {"arguments": {}}}, 7,
                    {"headers": {"Content-Length": "5"}}, {"headers": {"X-A": "a\r\nX-B: b"}},
                    {"headers": {"bad name": "v"}}):
            with self.assertRaises(FakeLLMError, msg=repr(bad)):
                self.llm.enqueue(bad)
        self.assertEqual(self.llm.stats()["pending"], 0)

    def test_unknown_paths_404(self):
        for method, path in (("GET", "/v1/models"), ("GET", "/v1/chat/completions"), ("POST", "/v2/messages"),
                             ("GET", "/_control/nothing")):
            st, hdrs, raw = call(self.llm.base_url + path, method=method,
                                 body={} if method == "POST" else None)
            self.assertEqual(st, 404, path)
            self.assertEqual(json.loads(raw)["error"]["type"], "not_found")
        self.assertEqual(self.llm.stats()["received"], 0)

    # ---- the fake's own HTTP/1.1 layer (it is written on `net`, so it is tested here) ----

    def raw_socket(self):
        s = socket.create_connection(("127.0.0.1", self.llm.port), timeout=5)
        self.addCleanup(s.close)
        return s

    @staticmethod
    def read_responses(s, n):
        """Reads n complete responses (Content-Length framed) from s: [(status line, headers, body)]."""
        buf = b""
        out = []
        while len(out) < n:
            he = buf.find(b"\r\n\r\n")
            if he >= 0:
                lines = buf[:he].decode("latin1").split("\r\n")
                hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
                end = he + 4 + int(hdrs.get("content-length", "0"))
                if lines[0].split()[1] == "100":
                    end = he + 4
                if len(buf) >= end:
                    out.append((lines[0], hdrs, buf[he + 4:end]))
                    buf = buf[end:]
                    continue
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return out

    @staticmethod
    def raw_request(path, body, extra=""):
        data = json.dumps(body).encode()
        return (("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                 % (path, len(data), extra)).encode() + data)

    def test_keep_alive_connection_reused(self):
        c = http.client.HTTPConnection("127.0.0.1", self.llm.port, timeout=5)
        try:
            socks = set()
            for i in range(3):
                c.request("POST", "/v1/chat/completions", body=json.dumps(openai_req("n%d" % i)),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.getheader("Connection"), "keep-alive")
                self.assertEqual(json.loads(r.read())["choices"][0]["message"]["content"], "echo: n%d" % i)
                socks.add(id(c.sock))
            self.assertEqual(len(socks), 1)
        finally:
            c.close()

    def test_pipelined_requests_answered_in_order(self):
        self.llm.enqueue({"delay_ms": 300, "text": "slow first"}, {"text": "fast second"})
        s = self.raw_socket()
        s.sendall(self.raw_request("/v1/chat/completions", openai_req("a"))
                  + self.raw_request("/v1/chat/completions", openai_req("b")))
        (l1, _, b1), (l2, _, b2) = self.read_responses(s, 2)
        self.assertIn(" 200 ", l1)
        self.assertEqual(json.loads(b1)["choices"][0]["message"]["content"], "slow first")
        self.assertEqual(json.loads(b2)["choices"][0]["message"]["content"], "fast second")

    def test_chunked_request_body(self):
        c = http.client.HTTPConnection("127.0.0.1", self.llm.port, timeout=5)
        try:
            data = json.dumps(openai_req("chunked")).encode()
            c.request("POST", "/v1/chat/completions", body=iter([data[:10], data[10:]]),
                      headers={"Content-Type": "application/json"}, encode_chunked=True)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())["choices"][0]["message"]["content"], "echo: chunked")
        finally:
            c.close()
        self.assertEqual(self.llm.requests()[-1]["body"], openai_req("chunked"))
        self.assertEqual(self.llm.requests()[-1]["headers"]["transfer-encoding"], "chunked")

    def test_expect_100_continue_and_large_body(self):
        big = "x" * 3000000
        req = self.raw_request("/v1/chat/completions", openai_req(big), "Expect: 100-continue\r\n")
        head, body = req.split(b"\r\n\r\n", 1)
        s = self.raw_socket()
        s.sendall(head + b"\r\n\r\n")
        (line, _, _), = self.read_responses(s, 1)
        self.assertEqual(line, "HTTP/1.1 100 Continue")
        for i in range(0, len(body), 100000):   # in pieces, as a client would
            s.sendall(body[i:i + 100000])
        (line, _, b), = self.read_responses(s, 1)
        self.assertIn(" 200 ", line)
        self.assertEqual(json.loads(b)["choices"][0]["message"]["content"], "echo: " + big)

    def test_http10_and_connection_close(self):
        for first_line, extra in (("POST /v1/messages HTTP/1.0", ""), ("POST /v1/messages HTTP/1.1", "Connection: close\r\n")):
            s = self.raw_socket()
            req = self.raw_request("/v1/messages", anthropic_req("bye"), extra).replace(
                b"POST /v1/messages HTTP/1.1", first_line.encode(), 1)
            s.sendall(req)
            (line, hdrs, b), = self.read_responses(s, 1)
            self.assertIn(" 200 ", line)
            self.assertEqual(hdrs["connection"], "close")
            self.assertEqual(json.loads(b)["content"][0]["text"], "echo: bye")
            self.assertEqual(s.recv(100), b"", "the fake closes the connection after the answer")

    def test_malformed_http_gets_400(self):
        s = self.raw_socket()
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        (line, hdrs, _), = self.read_responses(s, 1)
        self.assertIn(" 400 ", line)
        self.assertEqual(s.recv(100), b"")
        self.assertEqual(self.llm.stats()["received"], 0)

    def test_stop_by_sigterm(self):
        f = FakeLLM().start()
        port = f.port
        self.assertTrue(f.alive())
        self.assertEqual(f.stop(), 0)
        self.assertFalse(f.alive())
        f.close()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()
