"""Test harness for the agency integration tests.

Starts the real `agency` binary on 127.0.0.1 with its own temp dir, SQLite
database and copy of the domains tree, and talks to it over HTTP.

    with Engine() as eng:
        status, headers, body = eng.create_task("test.noop", {}, execute=True)
        task = eng.wait_status(body["id"], {"succeeded"}, timeout=10)

Environment:
    AGENCY_BIN          path of the binary (default: <repo>/build/agency)
    AGENCY_TEST_KEEP    if set, temp dirs are kept (their paths are printed)
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TEST_DOMAIN = os.path.join(HERE, "domains", "test")
HOST = "127.0.0.1"  # never anything else

TERMINAL = frozenset({"succeeded", "dead", "cancelled"})

# Every response Engine.request() sees is checked against api/openapi.yaml (openapi_check.py); the
# violations collect here and run_all.py fails the run when there are any.
SPEC_VIOLATIONS = []


def check_against_spec(method, path, status, headers, payload, request_headers=None):
    """Record (in SPEC_VIOLATIONS) where a response disagrees with api/openapi.yaml; returns the problems."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import openapi_check
    req = {k.lower(): v for k, v in (request_headers or {}).items()}
    preflight = method.upper() == "OPTIONS" and "access-control-request-method" in req
    try:
        problems = openapi_check.check_response(method, path, status, headers, payload, preflight=preflight)
    except Exception as e:  # a broken spec is a violation too, not a crash of the test that hit it
        problems = ["checking %s %s -> %s raised %r" % (method, path, status, e)]
    for p in problems:
        if len(SPEC_VIOLATIONS) < 1000:
            SPEC_VIOLATIONS.append(p)
    return problems


def agency_bin():
    path = os.environ.get("AGENCY_BIN") or os.path.join("build", "agency")
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def error_text(task):
    """The task's error as a string (the engine may store a string or an object)."""
    err = task.get("error") if isinstance(task, dict) else None
    if err is None:
        return ""
    if isinstance(err, str):
        return err
    return json.dumps(err)


def iso_utc(ts):
    """A Unix timestamp as ISO 8601 UTC with milliseconds."""
    ms = int(round(ts * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def parse_iso(s):
    """ISO 8601 UTC (`2026-11-26T04:00:00.000Z` or with +00:00) -> Unix timestamp."""
    import datetime
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s).timestamp()


def run_cli(args, env=None, timeout=30, cwd=None, input_bytes=None):
    """Run `agency <args>`; returns CompletedProcess (stdout/stderr as text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([agency_bin()] + list(args), env=full_env, cwd=cwd or REPO_ROOT,
                          input=input_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


class EngineDied(AssertionError):
    pass


class Engine:
    """One `agency serve` process with its own temp dir, database and port."""

    def __init__(self, domains=None, lease_seconds=30, extra_env=None, threads=2,
                 start=True, startup_timeout=10.0):
        self.bin = agency_bin()
        if not os.path.exists(self.bin):
            raise unittest.SkipTest("agency binary not found at %s" % self.bin)
        self.tmp = tempfile.mkdtemp(prefix="agency-it-")
        self.domains_dir = os.path.join(self.tmp, "domains")
        self.db_path = os.path.join(self.tmp, "agency.db")
        self.log_path = os.path.join(self.tmp, "engine.log")
        self.port = free_port()
        self.lease_seconds = lease_seconds
        self.threads = threads
        self.extra_env = dict(extra_env or {})
        self.startup_timeout = startup_timeout
        self.proc = None
        self.returncode = None
        self._gen = 0                   # bumped on every start; stale keep-alive conns are dropped
        self._local = threading.local()
        self._log_cache = None
        self._closed = False
        self._copy_domains(domains)
        if start:
            try:
                self.start()
            except BaseException:
                self.close()
                raise

    # ---- setup ---------------------------------------------------------------

    def _copy_domains(self, domains):
        if domains is None:
            domains = [os.path.join(REPO_ROOT, "domains"), TEST_DOMAIN]
        os.makedirs(self.domains_dir)
        for src in domains:
            src = os.path.abspath(src)
            if not os.path.isdir(src):
                continue
            if os.path.basename(src) == "domains":
                # a whole domains tree: copy each domain folder
                for name in sorted(os.listdir(src)):
                    p = os.path.join(src, name)
                    if os.path.isdir(p):
                        shutil.copytree(p, os.path.join(self.domains_dir, name))
            else:
                shutil.copytree(src, os.path.join(self.domains_dir, os.path.basename(src)))

    def env(self):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("AGENCY_") and k != "AGENCY_BIN":
                del env[k]          # no leakage from the caller's shell
        env.update({
            "AGENCY_LISTEN": "%s:%d" % (HOST, self.port),
            "AGENCY_DATABASE_URL": "sqlite:%s" % self.db_path,
            "AGENCY_DOMAINS": self.domains_dir,
            "AGENCY_THREADS": str(self.threads),
            "AGENCY_LOG_FORMAT": "json",
            "AGENCY_LOG_LEVEL": "info",
            "AGENCY_LEASE_SECONDS": str(self.lease_seconds),
            # the suites drive thousands of requests from one client; the rate limiter has tests of its own
            "AGENCY_RATE_LIMIT": "0",
        })
        env.update(self.extra_env)
        return env

    @property
    def base_url(self):
        return "http://%s:%d" % (HOST, self.port)

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._gen += 1
        self.returncode = None
        with open(self.log_path, "ab") as f:
            f.write(("\n==== harness: start #%d (port %d) at %s ====\n"
                     % (self._gen, self.port, iso_utc(time.time()))).encode())
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([self.bin, "serve"], env=self.env(), cwd=REPO_ROOT,
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        finally:
            logf.close()
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.time() + self.startup_timeout
        last = None
        while time.time() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise EngineDied("engine exited with %s during startup\n%s" % (rc, self.log_tail()))
            try:
                c = http.client.HTTPConnection(HOST, self.port, timeout=2)
                try:
                    c.request("GET", "/api/v1/health")
                    c.getresponse().read()
                    return
                finally:
                    c.close()
            except (OSError, http.client.HTTPException) as e:
                last = e
                time.sleep(0.05)
        raise AssertionError("engine did not answer /api/v1/health within %.0fs (last error: %r)\n%s"
                             % (self.startup_timeout, last, self.log_tail()))

    # ---- process control -----------------------------------------------------

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.proc else None

    def kill(self, sig=signal.SIGKILL):
        """Send `sig` to the engine (by its own pid). For SIGKILL, waits for it to exit."""
        if not self.alive():
            return
        os.kill(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            self.returncode = self.proc.wait(timeout=10)
        self._drop_conn()

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with open(self.log_path, "ab") as f:
                    f.write(b"\n==== harness: no exit %.0fs after SIGTERM, sending SIGKILL ====\n" % timeout)
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        self._drop_conn()
        return self.returncode

    def restart(self):
        """Stop (if running) and start again on the same temp dir, database and port."""
        self.stop()
        self.start()

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            try:
                self._log_cache = self._read_log()
            except OSError:
                pass
            if os.environ.get("AGENCY_TEST_KEEP"):
                sys.stderr.write("[harness] kept %s\n" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- logs ------------------------------------------------------------------

    def _read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_text(self):
        if self._log_cache is not None and not os.path.exists(self.log_path):
            return self._log_cache
        try:
            return self._read_log()
        except OSError:
            return self._log_cache or ""

    def log_tail(self, lines=60):
        text = self.log_text().rstrip("\n").split("\n")
        return "\n".join(text[-lines:])

    # ---- HTTP ------------------------------------------------------------------

    def _drop_conn(self):
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
        self._local.conn = None

    def _conn(self, timeout):
        c = getattr(self._local, "conn", None)
        if c is None or getattr(self._local, "gen", None) != self._gen:
            if c is not None:
                c.close()
            c = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
            self._local.conn = c
            self._local.gen = self._gen
            self._local.fresh = True
        c.timeout = timeout
        if c.sock is not None:
            c.sock.settimeout(timeout)
        return c

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30.0):
        """Send one request on this thread's keep-alive connection.

        body: JSON-encoded when given; raw: bytes sent as-is (Content-Type defaults to JSON).
        Returns (status, headers, parsed JSON or text)."""
        hdrs = {}
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
            hdrs["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        if not path.startswith("/"):
            path = "/api/v1/" + path
        for attempt in (1, 2):
            c = self._conn(timeout)
            reused = not getattr(self._local, "fresh", True)
            try:
                c.request(method, path, body=data, headers=hdrs)
                resp = c.getresponse()
                payload = resp.read()
                self._local.fresh = False
                if resp.will_close:
                    self._drop_conn()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.BadStatusLine) as e:
                self._drop_conn()
                # a stale keep-alive connection closed by the server: retry once on a new one
                if attempt == 1 and reused and self.alive():
                    continue
                raise self._died_or(e)
            except (OSError, http.client.HTTPException) as e:
                self._drop_conn()
                raise self._died_or(e)
        check_against_spec(method, path, resp.status, resp.headers, payload, hdrs)
        ctype = resp.getheader("Content-Type", "") or ""
        text = payload.decode("utf-8", "replace")
        parsed = text
        if "json" in ctype or text[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
        return resp.status, resp.headers, parsed

    def _died_or(self, exc):
        if self.proc is not None and self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            return EngineDied("engine process exited (rc=%s): %r\n%s"
                              % (self.proc.returncode, exc, self.log_tail()))
        return exc

    # ---- API helpers -------------------------------------------------------------

    def health(self):
        return self.request("GET", "/api/v1/health")

    def create_task(self, type, input=None, **kw):
        body = {"type": type}
        if input is not None:
            body["input"] = input
        body.update(kw)
        return self.request("POST", "/api/v1/tasks", body=body)

    def create_ok(self, type, input=None, **kw):
        """create_task that must answer 201/200; returns the task object."""
        st, _, body = self.create_task(type, input, **kw)
        if st not in (200, 201) or not isinstance(body, dict) or "id" not in body:
            raise AssertionError("create %s -> %s %r" % (type, st, body))
        return body

    def execute(self, id, wait=None):
        path = "/api/v1/tasks/%s/execute" % id
        timeout = 30.0
        if wait is not None:
            path += "?wait=%s" % wait
            timeout = float(wait) + 30.0
        return self.request("POST", path, timeout=timeout)

    def cancel(self, id):
        return self.request("POST", "/api/v1/tasks/%s/cancel" % id)

    def get_task(self, id):
        st, _, body = self.request("GET", "/api/v1/tasks/%s" % id)
        if st != 200 or not isinstance(body, dict):
            raise AssertionError("GET task %s -> %s %r" % (id, st, body))
        return body

    def events(self, id):
        st, _, body = self.request("GET", "/api/v1/tasks/%s/events" % id)
        if st != 200 or not isinstance(body, dict):
            raise AssertionError("GET events %s -> %s %r" % (id, st, body))
        return body

    def wait_status(self, id, statuses, timeout=10.0, interval=0.05):
        """Poll until the task's status is in `statuses`; returns the task."""
        if isinstance(statuses, str):
            statuses = {statuses}
        deadline = time.time() + timeout
        task = None
        while True:
            task = self.get_task(id)
            if task.get("status") in statuses:
                return task
            if time.time() >= deadline:
                raise AssertionError("task %s: status %r after %.1fs, wanted one of %s\ntask: %s"
                                     % (id, task.get("status"), timeout, sorted(statuses),
                                        json.dumps(task)[:2000]))
            time.sleep(interval)

    def wait_terminal(self, id, timeout=10.0):
        return self.wait_status(id, TERMINAL, timeout)

    def wait_all_terminal(self, ids, timeout=60.0, workers=8):
        """Poll many tasks until all are terminal. Returns {id: task}. Raises on timeout."""
        from concurrent.futures import ThreadPoolExecutor
        pending = list(ids)
        done = {}
        deadline = time.time() + timeout
        with ThreadPoolExecutor(max_workers=workers) as ex:
            while pending:
                tasks = list(ex.map(self.get_task, pending))
                still = []
                for i, t in zip(pending, tasks):
                    if t.get("status") in TERMINAL:
                        done[i] = t
                    else:
                        still.append(i)
                pending = still
                if not pending:
                    break
                if time.time() >= deadline:
                    counts = {}
                    for t in tasks:
                        if t.get("status") not in TERMINAL:
                            counts[t.get("status")] = counts.get(t.get("status"), 0) + 1
                    raise AssertionError("%d of %d tasks not terminal after %.0fs: %s; e.g. %s"
                                         % (len(pending), len(ids), timeout, counts,
                                            json.dumps(self.get_task(pending[0]))[:1500]))
                time.sleep(0.25)
        return done


class EngineTestCase(unittest.TestCase):
    """Base class: tracks the engines a test uses and prints their log tails when it fails."""

    maxDiff = None

    def engine(self, **kw):
        eng = Engine(**kw)
        self.addCleanup(eng.close)
        self._engines_for_log().append(eng)
        return eng

    def _engines_for_log(self):
        if "_test_engines" not in self.__dict__:
            self._test_engines = []
        return self._test_engines

    def engines_to_report(self):
        return list(self._engines_for_log()) + list(getattr(type(self), "shared_engines", []))

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for eng in self.engines_to_report():
                sys.stderr.write("\n---- engine log tail for %s (%s) ----\n%s\n---- end of log ----\n"
                                 % (self.id(), eng.tmp, eng.log_tail(60)))
        return out

    # assertion helpers -----------------------------------------------------------

    def assertApiError(self, resp, status, code=None):
        """Check an error answer against the contract: status, code, message, request_id, X-Request-Id."""
        st, headers, body = resp
        self.assertEqual(st, status, "expected HTTP %s, got %s: %r" % (status, st, body))
        self.assertIsInstance(body, dict, "error body is not a JSON object: %r" % (body,))
        self.assertIsInstance(body.get("error"), dict, "no error object: %r" % (body,))
        if code is not None:
            self.assertEqual(body["error"].get("code"), code, "wrong error code: %r" % (body,))
        self.assertIsInstance(body["error"].get("code"), str, "error.code missing: %r" % (body,))
        self.assertIsInstance(body["error"].get("message"), str, "error.message missing: %r" % (body,))
        self.assertTrue(body["error"]["message"], "error.message empty: %r" % (body,))
        self.assertIsInstance(body.get("request_id"), str, "request_id missing: %r" % (body,))
        self.assertTrue(body["request_id"], "request_id empty")
        rid = headers.get("X-Request-Id")
        self.assertTrue(rid, "X-Request-Id header missing")
        self.assertEqual(rid, body["request_id"], "X-Request-Id header and body request_id differ")
        return body
