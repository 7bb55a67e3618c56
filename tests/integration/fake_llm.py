"""A fake LLM provider on loopback for the integration tests (wraps tests/fakes/fake_llm.js).

    from fake_llm import FakeLLM

    with FakeLLM() as llm:                       # node tests/fakes/fake_llm.js on 127.0.0.1, any port
        llm.enqueue({"status": 429, "headers": {"Retry-After": "1"}}, {"text": "hello"})
        with Engine(extra_env={"AGENCY_LLM_PROVIDER": "openai",
                               "OPENAI_BASE_URL": llm.openai_base_url,
                               "OPENAI_API_KEY": "sk-test"}) as eng:
            ...
        llm.wait_received(2)                     # wait until 2 chat requests have arrived
        reqs = llm.requests()                    # what the fake received: path, method, headers, body, at
        assert llm.stats()["received"] == 2

The fake speaks the OpenAI chat completions format at openai_base_url + "/chat/completions" and the
Anthropic messages format at anthropic_base_url + "/v1/messages". With nothing queued it answers
"echo: <last user text>" (or {"echo": ..., "ok": true} when JSON is asked for). Scripted steps
(status, headers, body, raw, delay_ms, hang, empty, close, tool_call, text, usage) are consumed FIFO,
one per chat request on either endpoint; see the header of tests/fakes/fake_llm.js for every detail.

The node process is started with --exit-with-stdin, so it also dies when the test process does.
Needs Debian's nodejs (`node` or `nodejs` on PATH); Python stdlib only.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(REPO_ROOT, "tests", "fakes", "fake_llm.js")
HOST = "127.0.0.1"

# Control calls go straight to loopback, never through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def node_bin():
    """Path of node (`node` or Debian's `nodejs`); raises when there is none."""
    for name in ("node", "nodejs"):
        p = shutil.which(name)
        if p:
            return p
    raise RuntimeError("fake_llm: neither `node` nor `nodejs` is on PATH")


class FakeLLMError(RuntimeError):
    pass


class FakeLLM:
    """One fake provider process (node tests/fakes/fake_llm.js) on 127.0.0.1."""

    def __init__(self, delay_ms=0, log=True, startup_timeout=10.0):
        self.delay_ms = int(delay_ms)
        self.log = bool(log)
        self.startup_timeout = startup_timeout
        self.proc = None
        self._port = None
        self._stderr = None

    # ---- process control ---------------------------------------------------------------------

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        args = [node_bin(), SCRIPT, "--port", "0", "--delay-ms", str(self.delay_ms), "--exit-with-stdin"]
        if not self.log:
            args.append("--no-log")
        self._stderr = tempfile.TemporaryFile(prefix="fake-llm-stderr-")
        self.proc = subprocess.Popen(args, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        try:
            self._port = self._read_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_port(self):
        fd = self.proc.stdout.fileno()
        deadline = time.time() + self.startup_timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.time()
            if left <= 0:
                raise FakeLLMError("fake_llm did not print `listening <port>` within %.0fs\n%s"
                                   % (self.startup_timeout, self.stderr_text()))
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if not ready:
                if self.proc.poll() is not None:
                    raise FakeLLMError("fake_llm exited with %s during startup\n%s"
                                       % (self.proc.returncode, self.stderr_text()))
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                self.proc.wait(timeout=5)
                raise FakeLLMError("fake_llm exited with %s during startup\n%s"
                                   % (self.proc.returncode, self.stderr_text()))
            buf += chunk
        line = buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        parts = line.split()
        if len(parts) != 2 or parts[0] != "listening" or not parts[1].isdigit():
            raise FakeLLMError("fake_llm printed %r instead of `listening <port>`\n%s"
                               % (line, self.stderr_text()))
        return int(parts[1])

    def stderr_text(self):
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM to the fake's own pid, wait up to `timeout`, then SIGKILL. Returns the exit code."""
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
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        return self.proc.returncode

    def close(self):
        self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self):
        if not self.alive():
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- addresses ----------------------------------------------------------------------------

    @property
    def port(self):
        if self._port is None:
            raise FakeLLMError("fake_llm is not started")
        return self._port

    @property
    def base_url(self):
        return "http://%s:%d" % (HOST, self.port)

    @property
    def openai_base_url(self):
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self):
        return self.base_url

    # ---- control API ----------------------------------------------------------------------------

    def _control(self, method, path, body=None, timeout=10.0):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise FakeLLMError("fake_llm %s %s -> %s %s" % (method, path, e.code, e.read().decode("utf-8", "replace")))

    def enqueue(self, *steps):
        """Queue scripted steps (dicts), consumed FIFO, one per chat request. Returns the pending count."""
        return self._control("POST", "/_control/enqueue", list(steps))["queued"]

    def requests(self):
        """Every chat request received so far: [{path, method, headers, body, at}], oldest first."""
        return self._control("GET", "/_control/requests")

    def reset(self):
        """Clear the queue, the request log, the counters and the tool-call numbering."""
        self._control("POST", "/_control/reset", {})

    def stats(self):
        """{received, answered, in_flight, max_in_flight, pending}."""
        return self._control("GET", "/_control/stats")

    def wait_received(self, n, timeout=10.0):
        """Wait until at least n chat requests have arrived; returns stats(). Raises on timeout."""
        deadline = time.time() + timeout
        while True:
            st = self.stats()
            if st["received"] >= n:
                return st
            if time.time() >= deadline:
                raise FakeLLMError("fake_llm received %d chat request(s), not %d, within %.1fs"
                                   % (st["received"], n, timeout))
            time.sleep(0.02)
