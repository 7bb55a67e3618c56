"""GET /metrics: Prometheus text format that promtool accepts, with the figures the engine promises."""
import re
import subprocess
import unittest

from harness import Engine, EngineTestCase


def series(text, name, **labels):
    """The value of the sample `name{labels...}` (labels matched as a subset), or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


class MetricsTest(EngineTestCase):
    def setUp(self):
        self.eng = self.engine()

    def scrape(self):
        st, headers, body = self.eng.request("GET", "/metrics")
        self.assertEqual(st, 200)
        ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        return body if isinstance(body, str) else body.decode()

    def test_promtool_accepts_the_exposition(self):
        for _ in range(3):
            self.eng.create_ok("test.noop", {}, execute=True)
        text = self.scrape()
        p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
        self.assertEqual(p.returncode, 0, "promtool: %s %s" % (p.stdout.decode(), p.stderr.decode()))

    def test_task_outcomes_durations_and_queue_depth(self):
        before = series(self.scrape(), "agency_tasks_total", domain="test", agent="noop", outcome="succeeded") or 0
        ids = [self.eng.create_ok("test.noop", {}, execute=True)["id"] for _ in range(5)]
        for i in ids:
            self.eng.wait_status(i, {"succeeded"}, timeout=10)
        dead = self.eng.create_ok("test.always_fail", {}, execute=True)["id"]
        self.eng.wait_status(dead, {"dead"}, timeout=10)
        text = self.scrape()
        self.assertEqual(series(text, "agency_tasks_total", domain="test", agent="noop", outcome="succeeded"),
                         before + 5)
        self.assertGreaterEqual(series(text, "agency_tasks_total", domain="test", agent="always_fail",
                                       outcome="dead"), 1)
        self.assertGreaterEqual(series(text, "agency_tasks_total", domain="test", agent="always_fail",
                                       outcome="failed"), 1)
        self.assertGreaterEqual(series(text, "agency_task_duration_seconds_count", domain="test", agent="noop"), 5)
        self.assertGreaterEqual(series(text, "agency_tasks", state="succeeded"), 5)
        self.assertGreaterEqual(series(text, "agency_tasks", state="dead"), 1)
        self.assertEqual(series(text, "agency_tasks", state="running"), 0)

    def test_http_requests_per_route_and_status(self):
        self.eng.request("GET", "/api/v1/tasks/999999999")
        self.eng.request("GET", "/api/v1/tasks/999999999")
        text = self.scrape()
        self.assertGreaterEqual(series(text, "agency_http_requests_total", route="/api/v1/tasks/{id}", method="GET",
                                       status="404"), 2)
        self.assertGreaterEqual(series(text, "agency_http_request_duration_seconds_count",
                                       route="/api/v1/tasks/{id}", method="GET"), 2)
        # raw paths never become labels
        self.assertNotIn("999999999", text)

    def test_script_reloads_and_errors(self):
        text = self.scrape()
        reloads = series(text, "agency_script_reloads_total")
        self.assertIsNotNone(reloads)
        self.assertEqual(series(text, "agency_script_errors"), 0)
        self.assertGreater(series(text, "agency_scripts_loaded"), 3)


if __name__ == "__main__":
    unittest.main()
