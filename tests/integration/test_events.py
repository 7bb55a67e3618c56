"""GET /api/v1/events (docs/api.md "Events"): the event log as Server-Sent Events.

- backlog then live: task transitions arrive in order, ids increasing, each frame's data an Event;
- filters: types (exact and prefix patterns), domain; malformed values are 400;
- resume: a client that disconnects and reconnects with Last-Event-ID misses no event and gets none
  twice (checked against the events table itself);
- keep-alive comments; scopes (tasks:read); agent.* and script.* events;
- 50 clients all get a burst; a client that never reads is dropped without hurting the others;
- SIGTERM with streams open still stops the engine promptly.

The stream is read with raw sockets (HTTP/1.1, chunked decoded here), not Engine.request(): the spec
checker reads whole bodies. Error answers (400/401/403) do go through Engine.request() and the checker.
"""

import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_check  # noqa: E402
from harness import HOST, EngineTestCase, run_cli  # noqa: E402

SECRET = "events-test-secret-0123456789abcdef"
EVENT_SCHEMA = {"$ref": "#/components/schemas/Event"}


def type_matches(patterns, t):
    """The engine's filter (engine/events.c ag_event_type_matches), for computing what a client should get."""
    if not patterns:
        return True
    for p in patterns.split(","):
        if p.endswith("*"):
            if t.startswith(p[:-1]):
                return True
        elif p == t:
            return True
    return False


class SseClient:
    """One /api/v1/events stream over a raw socket. Bytes are kept across read timeouts, so waiting for
    something that does not come never loses what did."""

    def __init__(self, eng, query="", headers=None, rcvbuf=None, timeout=10.0):
        self.eng = eng
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, eng.port))
        hdrs = {"Host": "%s:%d" % (HOST, eng.port), "Accept": "text/event-stream"}
        hdrs.update(headers or {})
        req = "GET /api/v1/events%s HTTP/1.1\r\n%s\r\n" % (query, "".join("%s: %s\r\n" % kv for kv in hdrs.items()))
        self.sock.sendall(req.encode())
        self.raw = b""
        self.body = b""
        self.ended = False   # the final chunk arrived
        self.closed = False  # the server closed the connection
        self.events = []     # {"id", "event", "data"} in arrival order
        self.comments = []
        self.status = None
        self.headers = {}
        self.error = None
        self._read_headers(timeout)

    def _recv(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
        return data

    def _read_headers(self, timeout):
        deadline = time.time() + timeout
        while b"\r\n\r\n" not in self.raw:
            d = self._recv(deadline)
            if not d:
                raise AssertionError("connection closed before the response headers: %r" % self.raw)
            self.raw += d
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n:
                d = self._recv(deadline)
                if not d:
                    break
                self.raw += d
            self.error = json.loads(self.raw[:n].decode())
        else:
            assert "chunked" in self.headers.get("transfer-encoding", ""), self.headers
            self._decode()  # what came with the headers

    def _decode(self):
        while not self.ended:
            i = self.raw.find(b"\r\n")
            if i < 0:
                break
            size = int(self.raw[:i].split(b";")[0], 16)
            if size == 0:
                self.ended = True
                break
            if len(self.raw) < i + 2 + size + 2:
                break
            self.body += self.raw[i + 2:i + 2 + size]
            assert self.raw[i + 2 + size:i + 4 + size] == b"\r\n", "bad chunk framing"
            self.raw = self.raw[i + 4 + size:]
        while b"\n\n" in self.body:
            block, self.body = self.body.split(b"\n\n", 1)
            fields = {}
            for line in block.decode("utf-8").split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                k, _, v = line.partition(":")
                fields[k] = v[1:] if v.startswith(" ") else v
            if fields:
                self.events.append({"id": int(fields["id"]), "event": fields["event"],
                                    "data": json.loads(fields["data"])})

    def pump(self, timeout):
        """Reads for up to timeout seconds (less when the stream ends)."""
        deadline = time.time() + timeout
        while not self.closed and not self.ended:
            try:
                d = self._recv(deadline)
            except socket.timeout:
                return
            self.raw += d
            self._decode()

    def wait_for(self, pred, timeout=15.0, what="condition"):
        deadline = time.time() + timeout
        while not pred(self):
            if self.closed or self.ended:
                raise AssertionError("stream ended while waiting for %s; got %d events" % (what, len(self.events)))
            if time.time() >= deadline:
                raise AssertionError("no %s within %.0fs; got %d events, last %r"
                                     % (what, timeout, len(self.events), self.events[-3:]))
            self.pump(min(0.2, max(0.01, deadline - time.time())))

    def ids(self):
        return [e["id"] for e in self.events]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class EventsTest(EngineTestCase):

    # ---- helpers ------------------------------------------------------------------------------------

    def sse(self, eng, query="", **kw):
        c = SseClient(eng, query, **kw)
        self.addCleanup(c.close)
        return c

    def open_stream(self, eng, query="", **kw):
        """A stream that is known to be established (its first comment arrived)."""
        c = self.sse(eng, query, **kw)
        self.assertEqual(c.status, 200, c.error)
        self.assertEqual(c.headers.get("content-type"), "text/event-stream")
        self.assertEqual(c.headers.get("cache-control"), "no-cache")
        self.assertTrue(c.headers.get("x-request-id"))
        c.wait_for(lambda s: "ok" in s.comments, what="the opening comment")
        return c

    def db_events(self, eng, after=0, upto=None):
        """[(id, type, domain)] of the events table, read directly."""
        db = sqlite3.connect("file:%s?mode=ro" % eng.db_path, uri=True, timeout=10)
        try:
            q = "SELECT id, type, domain FROM events WHERE id > ?"
            args = [after]
            if upto is not None:
                q += " AND id <= ?"
                args.append(upto)
            return db.execute(q + " ORDER BY id", args).fetchall()
        finally:
            db.close()

    def last_id(self, eng):
        rows = self.db_events(eng)
        return rows[-1][0] if rows else 0

    def expected(self, eng, after, upto=None, types=None, domain=None):
        return [i for i, t, d in self.db_events(eng, after, upto)
                if type_matches(types, t) and (domain is None or d == domain)]

    def check_frames(self, c):
        """Every frame: event = data.type, id = data.id, ids strictly increasing, data is an Event."""
        spec = openapi_check.load_spec()
        prev = 0
        for e in c.events:
            self.assertEqual(e["event"], e["data"]["type"], e)
            self.assertEqual(e["id"], e["data"]["id"], e)
            self.assertGreater(e["id"], prev, "ids must increase: %r" % c.ids())
            prev = e["id"]
            self.assertEqual(spec.validate(EVENT_SCHEMA, e["data"]), [], e)

    def create_tasks(self, eng, n, type="test.noop", threads=8):
        def one(_):
            return eng.create_ok(type, {}, execute=True)["id"]
        with ThreadPoolExecutor(max_workers=threads) as ex:
            return list(ex.map(one, range(n)))

    # ---- tests --------------------------------------------------------------------------------------

    def test_live_task_transitions_in_order(self):
        eng = self.engine()
        before = eng.create_ok("test.noop", {}, execute=True)["id"]
        eng.wait_terminal(before)
        c = self.open_stream(eng)
        ids = self.create_tasks(eng, 5, threads=1)
        c.wait_for(lambda s: {e["data"]["task_id"] for e in s.events if e["event"] == "task.succeeded"} >= set(ids),
                   what="task.succeeded for every task")
        self.check_frames(c)
        self.assertNotIn(before, {e["data"]["task_id"] for e in c.events}, "events from before the stream started")
        for tid in ids:
            seq = [e["event"] for e in c.events if e["data"]["task_id"] == tid]
            self.assertEqual(seq, ["task.queued", "task.running", "task.succeeded"], (tid, seq))
            q = [e for e in c.events if e["data"]["task_id"] == tid][0]["data"]
            self.assertEqual((q["domain"], q["from"], q["to"]), ("test", None, "queued"))
        # nothing was skipped: exactly the log's ids after the first one received
        self.assertEqual(c.ids(), self.expected(eng, c.ids()[0] - 1, c.ids()[-1]))

    def test_backlog_from_after_then_live(self):
        eng = self.engine()
        first = self.create_tasks(eng, 3, threads=1)
        eng.wait_all_terminal(first)
        c = self.open_stream(eng, "?after=0")
        c.wait_for(lambda s: len(s.events) >= 9, what="the 9 backlog events")
        self.assertEqual(c.ids()[:9], self.expected(eng, 0)[:9])
        more = eng.create_ok("test.noop", {}, execute=True)["id"]
        c.wait_for(lambda s: any(e["data"]["task_id"] == more and e["event"] == "task.succeeded" for e in s.events),
                   what="the live task's events")
        self.check_frames(c)
        self.assertEqual(c.ids(), self.expected(eng, 0, c.ids()[-1]))
        # a backlog longer than one store page (500) arrives whole, in order
        eng.wait_all_terminal(self.create_tasks(eng, 200), timeout=60)
        total = self.last_id(eng)
        d = self.open_stream(eng, "?after=0")
        d.wait_for(lambda s: s.events and s.events[-1]["id"] >= total, what="the whole log (%d events)" % total)
        self.check_frames(d)
        self.assertEqual(d.ids()[:len(self.expected(eng, 0, total))], self.expected(eng, 0, total))

    def test_filters_types_and_domain(self):
        eng = self.engine()
        only_done = self.open_stream(eng, "?types=task.succeeded")
        agents_or_fail = self.open_stream(eng, "?types=agent.*,task.failed")
        sales = self.open_stream(eng, "?domain=sales")
        test = self.open_stream(eng, "?domain=test&types=task.*")
        start = self.last_id(eng)
        st, _, a1 = eng.request("POST", "/api/v1/agents", body={"name": "s1", "domain": "sales",
                                                                "script": "qualifier"})
        self.assertEqual(st, 201, a1)
        st, _, a2 = eng.request("POST", "/api/v1/agents", body={"name": "t1", "domain": "test", "script": "noop"})
        self.assertEqual(st, 201, a2)
        ok = self.create_tasks(eng, 3, threads=1)
        bad = eng.create_ok("test.always_fail", {}, execute=True)["id"]
        eng.wait_all_terminal(ok + [bad], timeout=30)
        end = self.last_id(eng)
        cases = [(only_done, "task.succeeded", None), (agents_or_fail, "agent.*,task.failed", None),
                 (sales, None, "sales"), (test, "task.*", "test")]
        for c, types, domain in cases:
            want = self.expected(eng, start, end, types, domain)
            self.assertTrue(want, (types, domain))
            c.wait_for(lambda s: s.events and s.events[-1]["id"] >= want[-1], what="events for %s/%s" % (types, domain))
            c.pump(0.3)
            self.check_frames(c)
            self.assertEqual(c.ids(), want, "types=%s domain=%s" % (types, domain))
        self.assertEqual({e["event"] for e in only_done.events}, {"task.succeeded"})
        self.assertEqual({e["event"] for e in agents_or_fail.events}, {"agent.created", "task.failed"})
        self.assertEqual([e["data"]["data"]["name"] for e in sales.events], ["s1"])
        self.assertTrue(all(e["data"]["domain"] == "test" and e["event"].startswith("task.") for e in test.events))

    def test_resume_with_last_event_id_misses_nothing(self):
        eng = self.engine()
        c1 = self.open_stream(eng, "?types=task.*")
        stop = threading.Event()
        created = []

        def producer():
            while not stop.is_set():
                created.append(eng.create_ok("test.noop", {}, execute=True)["id"])
                time.sleep(0.01)

        t = threading.Thread(target=producer)
        t.start()
        try:
            c1.wait_for(lambda s: len(s.events) >= 15, what="15 events before the disconnect")
            last = c1.events[-1]["id"]
            got1 = c1.ids()
            c1.close()  # disconnect mid-stream, with events still being written
            time.sleep(0.5)  # tasks go on being created and run while no client is connected
        finally:
            stop.set()
            t.join()
        extra = self.create_tasks(eng, 5, threads=1)
        eng.wait_all_terminal(created + extra, timeout=30)
        end = self.last_id(eng)
        # ?after=0 is there to show that Last-Event-ID wins over it
        c2 = self.open_stream(eng, "?types=task.*&after=0", headers={"Last-Event-ID": str(last)})
        c2.wait_for(lambda s: s.events and s.events[-1]["id"] >= end, what="the events up to %d" % end)
        self.check_frames(c2)
        got2 = c2.ids()
        self.assertGreater(got2[0], last, "the resumed stream repeats events")
        union = got1 + got2
        self.assertEqual(len(union), len(set(union)), "an event arrived twice")
        want = self.expected(eng, got1[0] - 1, end, "task.*")
        self.assertEqual(union, want, "events missing or out of order across the reconnect")
        done = {e["data"]["task_id"] for e in c2.events if e["event"] == "task.succeeded"}
        self.assertTrue(set(extra) <= done)
        # ?after= alone resumes the same way
        c3 = self.open_stream(eng, "?types=task.*&after=%d" % last)
        c3.wait_for(lambda s: s.events and s.events[-1]["id"] >= end, what="the events up to %d" % end)
        self.assertEqual(c3.ids(), got2)

    def test_keepalive_comment_on_an_idle_stream(self):
        eng = self.engine(extra_env={"AGENCY_SSE_KEEPALIVE": "1"})
        c = self.open_stream(eng)
        c.wait_for(lambda s: "keep-alive" in s.comments, timeout=4, what="a keep-alive comment")
        n = c.comments.count("keep-alive")
        c.pump(2.5)
        self.assertGreaterEqual(c.comments.count("keep-alive"), n + 1)
        self.assertEqual(c.events, [])
        out = run_cli(["config"], env={"AGENCY_SSE_KEEPALIVE": "0"})
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(b"AGENCY_SSE_KEEPALIVE", out.stderr + out.stdout)

    def test_bad_requests_are_400(self):
        eng = self.engine()
        for q in ("?types=task.*x", "?types=", "?types=task.succeeded,", "?types=a%0Ab", "?types=task%20x",
                  "?domain=../x", "?domain=", "?domain=a%2Fb", "?after=-1", "?after=1.5", "?after=x",
                  "?after=1234567890123456789"):
            self.assertApiError(eng.request("GET", "/api/v1/events" + q), 400, "bad_request")
        for h in ("abc", "-3", "1e3", "99999999999999999999"):
            self.assertApiError(eng.request("GET", "/api/v1/events", headers={"Last-Event-ID": h}), 400,
                                "bad_request")
        self.assertApiError(eng.request("POST", "/api/v1/events", body={}), 405, "method_not_allowed")
        # the raw client sees the same error, not a stream
        c = self.sse(eng, "?types=*x")
        self.assertEqual(c.status, 400)
        self.assertEqual(c.error["error"]["code"], "bad_request")
        self.assertIn("types", c.error["error"]["message"])

    def test_scopes(self):
        eng = self.engine(extra_env={"AGENCY_JWT_SECRET": SECRET})

        def token(scope):
            p = run_cli(["token", "--sub", "sse", "--scope", scope], env={"AGENCY_JWT_SECRET": SECRET})
            self.assertEqual(p.returncode, 0, p.stderr)
            return {"Authorization": "Bearer " + p.stdout.decode().strip()}

        self.assertApiError(eng.request("GET", "/api/v1/events"), 401, "unauthorized")
        self.assertApiError(eng.request("GET", "/api/v1/events", headers=token("agents:read tasks:write")), 403,
                            "forbidden")
        self.assertEqual(self.sse(eng, headers=token("agents:read")).status, 403)
        for scope in ("tasks:read", "admin"):
            c = self.open_stream(eng, headers=token(scope))
            eng.request("POST", "/api/v1/tasks", body={"type": "test.noop"}, headers=token("tasks:write"))
            c.wait_for(lambda s: any(e["event"] == "task.pending" for e in s.events), what="task.pending")

    def test_agent_and_script_events(self):
        eng = self.engine()
        c = self.open_stream(eng, "?types=agent.*,script.*")
        st, _, a = eng.request("POST", "/api/v1/agents", body={"name": "ev", "domain": "test", "script": "noop"})
        self.assertEqual(st, 201, a)
        c.wait_for(lambda s: len(s.events) >= 1, what="agent.created")
        e = c.events[0]
        self.assertEqual(e["event"], "agent.created")
        self.assertEqual(e["data"]["domain"], "test")
        self.assertEqual(e["data"]["data"], {"id": a["id"], "name": "ev", "domain": "test", "script": "noop",
                                             "status": "active"})
        st, _, b = eng.request("PUT", "/api/v1/agents/%d" % a["id"],
                               body={"name": "ev2", "domain": "test", "script": "sleepy", "status": "paused"})
        self.assertEqual(st, 200, b)
        st, _, _ = eng.request("DELETE", "/api/v1/agents/%d" % a["id"])
        self.assertEqual(st, 204)
        st, _, _ = eng.request("DELETE", "/api/v1/agents/%d" % a["id"])  # already gone: no event
        self.assertEqual(st, 404)
        c.wait_for(lambda s: len(s.events) >= 3, what="agent.updated and agent.deleted")
        self.assertEqual([e["event"] for e in c.events], ["agent.created", "agent.updated", "agent.deleted"])
        upd = {"id": a["id"], "name": "ev2", "domain": "test", "script": "sleepy", "status": "paused"}
        self.assertEqual(c.events[1]["data"]["data"], upd)
        self.assertEqual(c.events[2]["data"]["data"], upd)
        # a new script: script.reloaded (from the API's reload or the file watcher, whichever saw it first)
        path = os.path.join(eng.domains_dir, "test", "tasks", "sse_new.lua")

        def put(text):  # whole files only (a rename), so the watcher never sees a half-written one
            tmp = os.path.join(eng.tmp, "sse_new.tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, path)

        put('return { agent = "noop" }\n')
        st, _, r = eng.request("POST", "/api/v1/scripts/reload")
        self.assertEqual(st, 200, r)
        c.wait_for(lambda s: any(e["event"] == "script.reloaded" for e in s.events), what="script.reloaded")
        ev = [e for e in c.events if e["event"] == "script.reloaded"][-1]["data"]
        self.assertEqual(ev["data"]["errors"], 0)
        self.assertGreaterEqual(ev["data"]["generation"], 2)
        self.assertIsNone(ev["domain"])
        # a broken one: script.error, counting it
        self.assertNotIn("script.error", [e["event"] for e in c.events])
        put("return {{{\n")
        st, _, r = eng.request("POST", "/api/v1/scripts/reload")
        self.assertEqual(st, 200, r)
        c.wait_for(lambda s: any(e["event"] == "script.error" for e in s.events), what="script.error")
        ev = [e for e in c.events if e["event"] == "script.error"][-1]["data"]
        self.assertEqual(ev["data"]["errors"], 1)
        self.check_frames(c)
        # a domain filter leaves the domain-less script events out
        d = self.open_stream(eng, "?after=0&domain=test&types=script.*,agent.*")
        d.wait_for(lambda s: len(s.events) >= 3, what="the test domain's agent events")
        d.pump(0.5)
        self.assertEqual([e["event"] for e in d.events], ["agent.created", "agent.updated", "agent.deleted"])

    def test_fifty_clients_all_get_a_burst(self):
        eng = self.engine()
        clients = [self.open_stream(eng) for _ in range(50)]
        start = self.last_id(eng)
        ids = self.create_tasks(eng, 170)
        eng.wait_all_terminal(ids, timeout=60)
        want = self.expected(eng, start)
        self.assertGreaterEqual(len(want), 500)

        def drain(c):
            c.wait_for(lambda s: s.events and s.events[-1]["id"] >= want[-1], timeout=30, what="the burst")
            return c.ids()

        with ThreadPoolExecutor(max_workers=50) as ex:
            got = list(ex.map(drain, clients))
        for i, g in enumerate(got):
            self.assertEqual(g, want, "client %d" % i)
        self.check_frames(clients[0])

    def test_a_client_that_never_reads_does_not_hurt_others(self):
        eng = self.engine()
        stuck = self.open_stream(eng, rcvbuf=4096)  # reads its headers, then nothing more
        live = self.open_stream(eng)
        start = self.last_id(eng)
        stop = threading.Event()

        def reader():
            while not stop.is_set() and not live.closed:
                live.pump(0.2)

        t = threading.Thread(target=reader)
        t.start()
        try:
            created = []
            # Enough events to fill the socket buffers and then more than 1 MiB unsent at the engine
            for _ in range(12):
                created += self.create_tasks(eng, 500)
                if "reason=slow_reader" in eng.log_text():
                    break
            eng.wait_all_terminal(created, timeout=120)
            deadline = time.time() + 10
            while "reason=slow_reader" not in eng.log_text() and time.time() < deadline:
                time.sleep(0.1)
            self.assertTrue("reason=slow_reader" in eng.log_text(), "the stuck client was never dropped")
            want = self.expected(eng, start)
            deadline = time.time() + 30
            while (not live.events or live.events[-1]["id"] < want[-1]) and time.time() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            t.join()
        self.assertEqual(live.ids(), want, "the reading client lost events")
        st, _, h = eng.health()
        self.assertEqual(st, 200, h)
        # the stuck client's connection is closed by the engine: draining it ends
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        deadline = time.time() + 20
        while not stuck.closed and not stuck.ended and time.time() < deadline:
            stuck.pump(1.0)
        self.assertTrue(stuck.closed or stuck.ended, "the dropped client's connection stayed open")
        self.assertLess(len(stuck.raw) + len(stuck.body), 8 << 20)

    def test_sigterm_with_streams_open_exits_promptly(self):
        eng = self.engine()
        self.create_tasks(eng, 20)
        clients = [self.open_stream(eng) for _ in range(5)] + [self.open_stream(eng, "?after=0")]
        clients.append(self.open_stream(eng, rcvbuf=4096))
        t0 = time.time()
        os.kill(eng.pid(), signal.SIGTERM)
        rc = eng.proc.wait(timeout=10)
        dt = time.time() - t0
        self.assertEqual(rc, 0, eng.log_tail())
        self.assertLess(dt, 3.0, "the engine took %.1fs to stop with event streams open" % dt)
        for c in clients[:6]:
            c.pump(2.0)
            self.assertTrue(c.closed or c.ended)


if __name__ == "__main__":
    unittest.main()
