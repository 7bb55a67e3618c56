"""LLM calls over the real interfaces: the engine (HTTP on loopback) talks to fake OpenAI and Anthropic
servers (tests/fakes/fake_llm.js) that answer slowly, rate-limit, fail, return garbage, hang, or drive a
tool-call exchange. The tests assert on what the script got back AND on what the fake received."""

import json
import os
import re
import signal
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_llm import FakeLLM  # noqa: E402
from harness import EngineTestCase, run_cli  # noqa: E402

KEY = "sk-test-SECRET-0123456789"
ANT_KEY = "sk-ant-SECRET-9876543210"


class LLMTestCase(EngineTestCase):
    def setUp(self):
        self.fake = FakeLLM()
        self.fake.start()
        self.addCleanup(self.fake.stop)

    def llm_engine(self, provider="openai", **env):
        e = {"AGENCY_LLM_PROVIDER": provider,
             "OPENAI_BASE_URL": self.fake.openai_base_url, "OPENAI_API_KEY": KEY,
             "ANTHROPIC_BASE_URL": self.fake.anthropic_base_url, "ANTHROPIC_API_KEY": ANT_KEY,
             "AGENCY_LLM_RETRY_BASE_MS": "50"}
        e.update({k: str(v) for k, v in env.items()})
        lease = int(e.pop("_LEASE", 30))
        return self.engine(extra_env=e, lease_seconds=lease)

    def run_task(self, eng, type, input, timeout=20):
        t = eng.create_ok(type, input, execute=True)
        return eng.wait_terminal(t["id"], timeout=timeout)

    def llm_calls(self, eng, id):
        st, _, body = eng.request("GET", "/api/v1/tasks/%d/llm-calls" % id)
        self.assertEqual(st, 200, body)
        return body["items"]

    def assert_no_key_anywhere(self, eng):
        log = eng.log_text()
        self.assertNotIn(KEY, log)
        self.assertNotIn(ANT_KEY, log)
        con = sqlite3.connect(eng.db_path)
        try:
            for table in ("llm_calls", "tasks", "events"):
                for row in con.execute("SELECT * FROM %s" % table):
                    text = json.dumps(row, default=str)
                    self.assertNotIn(KEY, text, table)
                    self.assertNotIn(ANT_KEY, text, table)
        finally:
            con.close()


class ProviderWireTest(LLMTestCase):
    def test_openai_round_trip_headers_body_journal(self):
        eng = self.llm_engine("openai")
        t = self.run_task(eng, "test.llm_echo", {"prompt": "hello world", "system": "Be brief."})
        self.assertEqual(t["status"], "succeeded", t)
        reply = t["result"]["replies"][0]
        self.assertEqual(reply["text"], "echo: hello world")
        self.assertEqual(reply["provider"], "openai")
        self.assertEqual(reply["model"], "gpt-4o-mini")
        self.assertGreater(reply["cost"], 0)
        reqs = self.fake.requests()
        self.assertEqual(len(reqs), 1)
        r = reqs[0]
        self.assertEqual(r["path"], "/v1/chat/completions")
        self.assertEqual(r["headers"]["authorization"], "Bearer " + KEY)
        self.assertNotIn("x-api-key", r["headers"])
        self.assertEqual(r["headers"]["content-type"], "application/json")
        self.assertEqual(r["body"]["model"], "gpt-4o-mini")
        self.assertEqual(r["body"]["messages"][0], {"role": "system", "content": "Be brief."})
        self.assertEqual(r["body"]["messages"][1], {"role": "user", "content": "hello world"})
        calls = self.llm_calls(eng, t["id"])
        self.assertEqual(len(calls), 1)
        c = calls[0]
        self.assertEqual((c["attempt"], c["seq"], c["provider"], c["model"]), (1, 1, "openai", "gpt-4o-mini"))
        self.assertRegex(c["request_hash"], r"^[0-9a-f]{16}$")
        self.assertEqual(c["usage"]["prompt_tokens"], reply["usage"]["prompt_tokens"])
        self.assertGreater(c["usage"]["completion_tokens"], 0)
        self.assertIsNone(c["error"])
        self.assertEqual(c["response"]["text"], "echo: hello world")
        self.assert_no_key_anywhere(eng)

    def test_anthropic_round_trip_and_json_mode(self):
        eng = self.llm_engine("anthropic")
        schema = {"type": "object", "required": ["echo"], "properties": {"echo": {"type": "string"}}}
        t = self.run_task(eng, "test.llm_echo", {"prompt": "ping", "schema": schema})
        self.assertEqual(t["status"], "succeeded", t)
        reply = t["result"]["replies"][0]
        self.assertEqual(reply["provider"], "anthropic")
        self.assertEqual(reply["data"], {"echo": "ping", "ok": True})
        r = self.fake.requests()[0]
        self.assertEqual(r["path"], "/v1/messages")
        self.assertEqual(r["headers"]["x-api-key"], ANT_KEY)
        self.assertEqual(r["headers"]["anthropic-version"], "2023-06-01")
        self.assertNotIn("authorization", r["headers"])
        self.assertIn("JSON", r["body"]["system"])
        self.assertEqual(r["body"]["max_tokens"], 1024)
        self.assertEqual(r["body"]["messages"], [{"role": "user", "content": [{"type": "text", "text": "ping"}]}])
        self.assert_no_key_anywhere(eng)

    def test_mock_is_the_default_without_keys(self):
        eng = self.engine()
        t = self.run_task(eng, "test.llm_echo", {"prompt": "offline please"})
        self.assertEqual(t["status"], "succeeded", t)
        reply = t["result"]["replies"][0]
        self.assertEqual(reply["provider"], "mock")
        self.assertIn("offline please", reply["text"])
        self.assertEqual(self.fake.stats()["received"], 0)


class ReliabilityTest(LLMTestCase):
    def test_429_with_retry_after_is_honoured(self):
        eng = self.llm_engine("openai")
        self.fake.enqueue({"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"message": "slow down"}}})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "again"})
        self.assertEqual(t["status"], "succeeded", t)
        reqs = self.fake.requests()
        self.assertEqual(len(reqs), 2)
        self.assertGreaterEqual(reqs[1]["at"] - reqs[0]["at"], 950)  # Retry-After: 1 beats the 50 ms backoff

    def test_500_then_success(self):
        eng = self.llm_engine("openai")
        self.fake.enqueue({"status": 500}, {"status": 503})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "x"})
        self.assertEqual(t["status"], "succeeded", t)
        self.assertEqual(len(self.fake.requests()), 3)
        self.assertEqual(t["result"]["replies"][0]["text"], "echo: x")

    def test_other_4xx_is_not_retried_and_not_retryable(self):
        eng = self.llm_engine("openai")
        self.fake.enqueue({"status": 400, "body": {"error": {"message": "bad model"}}})
        t = self.run_task(eng, "test.llm_catch", {"provider": "openai"})
        self.assertEqual(t["status"], "succeeded", t)
        r = t["result"]
        self.assertEqual((r["ok"], r["code"], r["retryable"]), (False, "provider_error", False))
        self.assertIn("400", r["message"])
        self.assertEqual(len(self.fake.requests()), 1)
        self.assert_no_key_anywhere(eng)

    def test_uncaught_error_fails_the_task_and_retries_only_when_retryable(self):
        eng = self.llm_engine("openai", AGENCY_LLM_RETRIES=0)
        self.fake.enqueue({"status": 401, "body": {"error": {"message": "invalid key"}}})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "x"})
        self.assertEqual(t["status"], "dead", t)  # not retryable: no second attempt
        self.assertEqual(t["attempts"], 1)
        self.assertIn("provider_error", t["error"])
        self.fake.reset()
        self.fake.enqueue({"status": 500})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "y"})
        self.assertEqual(t["status"], "succeeded", t)  # retryable: the queue's second attempt succeeds
        self.assertEqual(t["attempts"], 2)

    def test_malformed_json_is_retried_then_invalid_response(self):
        eng = self.llm_engine("openai", AGENCY_LLM_RETRIES=1)
        self.fake.enqueue({"raw": "{not json"}, {"raw": '{"choices": "nope"}'})
        t = self.run_task(eng, "test.llm_catch", {"provider": "openai"})
        self.assertEqual(t["result"]["code"], "invalid_response", t)
        self.assertTrue(t["result"]["retryable"])
        self.assertEqual(len(self.fake.requests()), 2)
        self.fake.reset()
        self.fake.enqueue({"raw": "garbage"})
        t = self.run_task(eng, "test.llm_catch", {"provider": "openai"})
        self.assertEqual(t["result"], {"ok": True, "text": "echo: hello"}, t)

    def test_empty_body_is_an_invalid_response(self):
        eng = self.llm_engine("openai", AGENCY_LLM_RETRIES=0)
        self.fake.enqueue({"empty": True})
        t = self.run_task(eng, "test.llm_catch", {"provider": "openai"})
        self.assertEqual(t["result"]["code"], "invalid_response", t)

    def test_hang_past_the_timeout(self):
        eng = self.llm_engine("openai", AGENCY_LLM_RETRIES=0)
        self.fake.enqueue({"hang": True})
        t0 = time.time()
        t = self.run_task(eng, "test.llm_catch", {"provider": "openai", "timeout": 0.5})
        self.assertEqual(t["result"]["code"], "timeout", t)
        self.assertTrue(t["result"]["retryable"])
        self.assertLess(time.time() - t0, 10)

    def test_slow_answer_within_the_timeout(self):
        eng = self.llm_engine("openai")
        self.fake.enqueue({"delay_ms": 700, "text": "took a while"})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "x"})
        self.assertEqual(t["result"]["replies"][0]["text"], "took a while", t)
        calls = self.llm_calls(eng, t["id"])
        self.assertGreaterEqual(calls[0]["latency_ms"], 650)

    def test_connection_closed_is_retried(self):
        eng = self.llm_engine("openai")
        self.fake.enqueue({"close": True})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "x"})
        self.assertEqual(t["status"], "succeeded", t)
        self.assertEqual(len(self.fake.requests()), 2)

    def test_fallback_to_the_next_provider(self):
        eng = self.llm_engine("openai", AGENCY_LLM_FALLBACK="anthropic", AGENCY_LLM_RETRIES=1)
        self.fake.enqueue({"status": 500}, {"status": 502})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "x"})
        self.assertEqual(t["status"], "succeeded", t)
        self.assertEqual(t["result"]["replies"][0]["provider"], "anthropic")
        paths = [r["path"] for r in self.fake.requests()]
        self.assertEqual(paths, ["/v1/chat/completions", "/v1/chat/completions", "/v1/messages"])

    def test_circuit_breaker_opens_then_probes(self):
        eng = self.llm_engine("openai", AGENCY_LLM_RETRIES=0, AGENCY_LLM_CIRCUIT_FAILURES=2,
                              AGENCY_LLM_CIRCUIT_COOLDOWN=2)
        self.fake.enqueue({"status": 500}, {"status": 500})
        for _ in range(2):
            t = self.run_task(eng, "test.llm_catch", {"provider": "openai"})
            self.assertEqual(t["result"]["code"], "provider_error", t)
        t = self.run_task(eng, "test.llm_catch", {"provider": "openai"})
        self.assertIn("circuit breaker", t["result"]["message"], t)
        self.assertEqual(len(self.fake.requests()), 2)  # the open breaker sent nothing
        time.sleep(2.2)
        t = self.run_task(eng, "test.llm_catch", {"provider": "openai"})  # the probe succeeds
        self.assertEqual(t["result"], {"ok": True, "text": "echo: hello"}, t)
        self.assertEqual(len(self.fake.requests()), 3)

    def test_concurrency_limit_makes_calls_wait_not_fail(self):
        eng = self.llm_engine("openai", AGENCY_LLM_CONCURRENCY=1)
        self.fake.enqueue(*[{"delay_ms": 300} for _ in range(4)])
        t0 = time.time()
        ids = [eng.create_ok("test.llm_echo", {"prompt": "p%d" % i}, execute=True)["id"] for i in range(4)]
        done = eng.wait_all_terminal(ids, timeout=30)
        self.assertTrue(all(t["status"] == "succeeded" for t in done.values()), done)
        self.assertEqual(self.fake.stats()["max_in_flight"], 1)
        self.assertGreaterEqual(time.time() - t0, 1.1)

    def test_task_budget_exceeded(self):
        eng = self.llm_engine("openai", AGENCY_LLM_TASK_BUDGET="0.001", AGENCY_LLM_PRICES="gpt-4o-mini=1000/1000")
        t = self.run_task(eng, "test.llm_echo", {"prompt": "x", "calls": 2})
        self.assertEqual(t["status"], "dead", t)   # budget_exceeded is not retryable
        self.assertIn("budget_exceeded", t["error"])
        self.assertEqual(len(self.fake.requests()), 1)  # the second call was refused before the network

    def test_cancel_aborts_the_transfer(self):
        eng = self.llm_engine("openai")
        self.fake.enqueue({"hang": True})
        t = eng.create_ok("test.llm_echo", {"prompt": "x"}, execute=True)
        deadline = time.time() + 10
        while self.fake.stats()["in_flight"] < 1:
            self.assertLess(time.time(), deadline, "the call never reached the fake")
            time.sleep(0.05)
        st, _, body = eng.cancel(t["id"])
        self.assertIn(st, (200, 202), body)
        self.assertEqual(eng.wait_terminal(t["id"])["status"], "cancelled")
        deadline = time.time() + 5
        while self.fake.stats()["in_flight"] > 0:
            self.assertLess(time.time(), deadline, "the engine kept the transfer open after the cancel")
            time.sleep(0.05)


class ToolsTest(LLMTestCase):
    def check_tool_exchange(self, provider):
        eng = self.llm_engine(provider)
        self.fake.enqueue({"tool_call": {"name": "crm_lookup", "arguments": {"company": "Acme"}}},
                          {"text": "Acme is on the pro plan."})
        t = self.run_task(eng, "test.llm_tools", {"provider": provider})
        self.assertEqual(t["status"], "succeeded", t)
        self.assertEqual(t["result"]["text"], "Acme is on the pro plan.")
        reqs = self.fake.requests()
        self.assertEqual(len(reqs), 2)
        return reqs

    def test_openai_two_step_tool_call(self):
        reqs = self.check_tool_exchange("openai")
        tools = reqs[0]["body"]["tools"]
        self.assertEqual(tools[0]["type"], "function")
        self.assertEqual(tools[0]["function"]["name"], "crm_lookup")
        self.assertEqual(tools[0]["function"]["parameters"]["required"], ["company"])
        msgs = reqs[1]["body"]["messages"]
        self.assertEqual(msgs[1]["role"], "assistant")
        call = msgs[1]["tool_calls"][0]
        self.assertEqual(json.loads(call["function"]["arguments"]), {"company": "Acme"})
        self.assertEqual(msgs[2]["role"], "tool")
        self.assertEqual(msgs[2]["tool_call_id"], call["id"])
        self.assertEqual(json.loads(msgs[2]["content"]),
                         {"company": "Acme", "plan": "pro", "seats": 12, "looked_up_by": "test"})

    def test_anthropic_two_step_tool_call(self):
        reqs = self.check_tool_exchange("anthropic")
        self.assertEqual(reqs[0]["body"]["tools"][0]["name"], "crm_lookup")
        self.assertIn("input_schema", reqs[0]["body"]["tools"][0])
        msgs = reqs[1]["body"]["messages"]
        use = [b for b in msgs[1]["content"] if b["type"] == "tool_use"][0]
        self.assertEqual(use["input"], {"company": "Acme"})
        result = msgs[2]["content"][0]
        self.assertEqual((msgs[2]["role"], result["type"], result["tool_use_id"]), ("user", "tool_result", use["id"]))
        self.assertEqual(json.loads(result["content"])["plan"], "pro")

    def test_schema_mismatch_gets_one_repair_attempt(self):
        eng = self.llm_engine("openai")
        schema = {"type": "object", "required": ["score"], "properties": {"score": {"type": "integer"}}}
        self.fake.enqueue({"text": "the score is high"}, {"text": '{"score": 7}'})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "rate", "schema": schema})
        self.assertEqual(t["result"]["replies"][0]["data"], {"score": 7}, t)
        reqs = self.fake.requests()
        self.assertEqual(len(reqs), 2)
        repair = reqs[1]["body"]["messages"][-1]
        self.assertEqual(repair["role"], "user")
        self.assertIn("not valid", repair["content"])
        self.fake.reset()
        self.fake.enqueue({"text": '{"score": "high"}'}, {"text": '{"score": "still high"}'})
        t = self.run_task(eng, "test.llm_echo", {"prompt": "rate", "schema": schema})
        self.assertIn("invalid_response", t["error"] or "", t)


class JournalReplayTest(LLMTestCase):
    def test_killed_after_first_of_two_calls_makes_exactly_one_new_call(self):
        eng = self.llm_engine("openai", _LEASE=2)
        self.fake.enqueue({"text": "first answer"}, {"hang": True})
        t = eng.create_ok("test.llm_echo", {"prompt": "q", "calls": 2, "show_replayed": True}, execute=True)
        deadline = time.time() + 10
        while self.fake.stats()["received"] < 2:
            self.assertLess(time.time(), deadline, "the second call never reached the fake")
            time.sleep(0.05)
        eng.kill(signal.SIGKILL)
        eng.start()
        done = eng.wait_terminal(t["id"], timeout=30)
        self.assertEqual(done["status"], "succeeded", done)
        replies = done["result"]["replies"]
        self.assertEqual(replies[0]["text"], "first answer")
        self.assertTrue(replies[0]["replayed"])
        self.assertFalse(replies[1].get("replayed", False))
        self.assertEqual(replies[1]["text"], "echo: q #2")
        self.assertEqual(self.fake.stats()["received"], 3)  # call 1 once, call 2 twice (the hang, then again)
        calls = self.llm_calls(eng, t["id"])
        self.assertEqual([(c["attempt"], c["seq"]) for c in calls], [(1, 1), (2, 2)])

    def test_queue_retry_answers_from_the_journal(self):
        eng = self.llm_engine("openai")
        t = self.run_task(eng, "test.llm_echo", {"prompt": "same", "calls": 2, "fail_first": True,
                                                 "show_replayed": True})
        self.assertEqual(t["status"], "succeeded", t)
        self.assertEqual(t["attempts"], 2)
        self.assertEqual([r["replayed"] for r in t["result"]["replies"]], [True, True])
        self.assertEqual([r["text"] for r in t["result"]["replies"]], ["echo: same", "echo: same #2"])
        self.assertEqual(self.fake.stats()["received"], 2)  # attempt 2 paid for nothing
        calls = self.llm_calls(eng, t["id"])
        self.assertEqual([(c["attempt"], c["seq"]) for c in calls], [(1, 1), (1, 2)])

    def test_agency_replay_matches_then_diverges_after_an_edit(self):
        eng = self.llm_engine("openai")
        t = self.run_task(eng, "test.llm_echo", {"prompt": "replay me", "calls": 2})
        self.assertEqual(t["status"], "succeeded", t)
        env = {"AGENCY_DATABASE_URL": "sqlite:" + eng.db_path, "AGENCY_DOMAINS": eng.domains_dir}
        before = self.fake.stats()["received"]
        p = run_cli(["replay", str(t["id"])], env=env)
        out = p.stdout.decode() if isinstance(p.stdout, bytes) else p.stdout
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("call 1: same request", out)
        self.assertIn("call 2: same request", out)
        self.assertIn("result: same as recorded", out)
        self.assertEqual(self.fake.stats()["received"], before)  # offline
        path = os.path.join(eng.domains_dir, "test", "agents", "llm_echo.lua")
        with open(path) as f:
            src = f.read()
        with open(path, "w") as f:
            f.write(src.replace('(" #" .. i)', '(" number " .. i)'))
        p = run_cli(["replay", str(t["id"])], env=env)
        out = p.stdout.decode() if isinstance(p.stdout, bytes) else p.stdout
        self.assertEqual(p.returncode, 1, out)
        self.assertIn("call 1: same request", out)
        self.assertRegex(out, r"call 2: DIVERGES: the request differs")
        p = run_cli(["replay", "999999"], env=env)
        self.assertEqual(p.returncode, 2)
        p = run_cli(["replay", "abc"], env=env)
        self.assertEqual(p.returncode, 2)

    def test_metrics_count_calls_tokens_and_cost(self):
        eng = self.llm_engine("openai")
        self.run_task(eng, "test.llm_echo", {"prompt": "m"})
        st, _, text = eng.request("GET", "/metrics")
        self.assertEqual(st, 200)
        text = text if isinstance(text, str) else text.decode()
        self.assertRegex(text, r'agency_llm_calls_total\{provider="openai",model="gpt-4o-mini",outcome="ok"\} 1')
        self.assertRegex(text, r'agency_llm_tokens_total\{provider="openai",model="gpt-4o-mini",kind="completion"\} [1-9]')
        self.assertRegex(text, r'agency_llm_cost_usd_total\{provider="openai",model="gpt-4o-mini"\} [0-9.e-]+')
        self.assertIn('agency_llm_call_duration_seconds_bucket{provider="openai",model="gpt-4o-mini"', text)


if __name__ == "__main__":
    unittest.main()
