"""Middleware against the issue: JWT bearer tokens (HS256, exp/nbf/iss/aud, scopes), `agency token`,
refusing to serve off loopback without a secret, CORS, the rate limiter, the body limit and the
request timeout.

Tokens are minted by an implementation that is not ours: tests/integration/jwt_node.js, which uses
only Node's built-in `crypto` module. `agency token` output is checked back in Node too."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, Engine, EngineTestCase, free_port, run_cli  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_SCRIPT = os.path.join(HERE, "jwt_node.js")

SECRET = "it-secret-0123456789-abcdefghijklmnop"
ISSUER = "https://issuer.agency.test"
AUDIENCE = "agency-api"
AUTH_ENV = {"AGENCY_JWT_SECRET": SECRET, "AGENCY_JWT_ISSUER": ISSUER, "AGENCY_JWT_AUDIENCE": AUDIENCE}

ACCEPTED = ("good", "good_aud_array", "admin", "exp_past_10s", "nbf_future_10s")
FORGED = ("alg_none", "alg_none_sig", "alg_None_case", "no_alg", "wrong_key", "rs256_header_hs_key", "rs256_real",
          "hs512", "expired", "exp_past_60s", "nbf_future", "wrong_aud", "wrong_iss", "missing_aud", "missing_iss",
          "missing_exp", "exp_string", "tampered_payload", "truncated_sig", "sig_noncanonical", "sig_padded", "two_parts", "garbage")
NO_SCOPE = ("no_scope", "read_only", "empty_scope", "scope_prefix")


def node(*args):
    p = subprocess.run(["node", NODE_SCRIPT] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def node_tokens(**claims):
    opts = {"secret": SECRET, "iss": ISSUER, "aud": AUDIENCE}
    opts.update(claims)
    rc, out, err = node("mint", json.dumps(opts))
    if rc != 0:
        raise AssertionError("jwt_node.js mint failed (rc %s): %s" % (rc, err))
    return json.loads(out)


def cli(args, env):
    """`agency ARGS` -> (returncode, stdout text, stderr text)."""
    p = run_cli(args, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def raw_request(port, data, source=None, timeout=10.0):
    """Sends bytes on a new connection (optionally from a given loopback source address); returns
    (status, headers dict with lower-case names, body bytes)."""
    s = socket.create_connection((HOST, port), timeout=timeout, source_address=(source, 0) if source else None)
    try:
        s.sendall(data)
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


class JwtTest(EngineTestCase):
    eng = None
    shared_engines = []

    @classmethod
    def setUpClass(cls):
        cls.eng = Engine(extra_env=AUTH_ENV)
        cls.shared_engines = [cls.eng]
        cls.tok = node_tokens()

    @classmethod
    def tearDownClass(cls):
        if cls.eng is not None:
            cls.eng.close()

    def tearDown(self):
        self.assertTrue(self.eng.alive(), "engine died:\n" + self.eng.log_tail())

    def create(self, headers, status=201):
        r = self.eng.request("POST", "/api/v1/tasks", body={"type": "test.noop", "input": {}}, headers=headers)
        self.assertEqual(r[0], status, "create -> %s %r" % (r[0], r[2]))
        return r

    def assert_401(self, r, what):
        body = self.assertApiError(r, 401, "unauthorized")
        self.assertTrue(r[1].get("WWW-Authenticate", "").startswith("Bearer"),
                        "%s: 401 without WWW-Authenticate: Bearer (%r)" % (what, r[1].get("WWW-Authenticate")))
        return body

    def test_node_tokens_accepted(self):
        tok = node_tokens()  # fresh: exp_past_10s must be 10 s old, not 10 s plus the tests before this one
        for name in ACCEPTED:
            with self.subTest(token=name):
                _, _, task = self.create(bearer(tok[name]))
                st, _, got = self.eng.request("GET", "/api/v1/tasks/%d" % task["id"], headers=bearer(tok[name]))
                self.assertEqual(st, 200, "%s: GET -> %s %r" % (name, st, got))
                self.assertEqual(got["id"], task["id"])

    def test_forged_tokens_refused_401(self):
        for name in FORGED:
            with self.subTest(token=name):
                r = self.eng.request("POST", "/api/v1/tasks", body={"type": "test.noop"}, headers=bearer(self.tok[name]))
                self.assert_401(r, name)
                r = self.eng.request("GET", "/api/v1/tasks/1", headers=bearer(self.tok[name]))
                self.assert_401(r, name + " (GET)")

    def test_missing_scope_403(self):
        for name in NO_SCOPE:
            with self.subTest(token=name):
                r = self.eng.request("POST", "/api/v1/tasks", body={"type": "test.noop"}, headers=bearer(self.tok[name]))
                self.assertApiError(r, 403, "forbidden")
                self.assertIn("tasks:write", r[2]["error"]["message"])
        # read-only may read
        _, _, task = self.create(bearer(self.tok["good"]))
        st, _, _ = self.eng.request("GET", "/api/v1/tasks/%d" % task["id"], headers=bearer(self.tok["read_only"]))
        self.assertEqual(st, 200)
        r = self.eng.request("POST", "/api/v1/tasks/%d/cancel" % task["id"], headers=bearer(self.tok["read_only"]))
        self.assertApiError(r, 403, "forbidden")
        r = self.eng.request("GET", "/api/v1/tasks/%d" % task["id"], headers=bearer(self.tok["no_scope"]))
        self.assertApiError(r, 403, "forbidden")

    def test_missing_or_malformed_authorization_401(self):
        for hdrs in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "}, {"Authorization": "Basic YTpi"},
                     {"Authorization": "Token " + self.tok["good"]}, {"Authorization": self.tok["good"]},
                     {"Authorization": "Bearer  " + self.tok["good"] + "x"},
                     {"Authorization": "Bearer " + "a" * 9000 + "." + "b" * 10 + "." + "c" * 43},
                     {"Authorization": "Bearer ..."}, {"Authorization": "Bearer a.b.c.d"}):
            with self.subTest(headers=str(hdrs)[:80]):
                self.assert_401(self.eng.request("GET", "/api/v1/tasks/1", headers=hdrs), str(hdrs)[:60])

    def test_bearer_scheme_case_insensitive(self):
        self.create({"Authorization": "bearer " + self.tok["good"]})

    def test_health_stays_public(self):
        for hdrs in ({}, bearer("garbage"), bearer(self.tok["expired"])):
            st, _, body = self.eng.health()[0:3] if not hdrs else self.eng.request("GET", "/api/v1/health",
                                                                                     headers=hdrs)
            self.assertEqual(st, 200, "health with %r -> %s %r" % (hdrs, st, body))

    def test_leeway_fresh_tokens(self):
        tok = node_tokens()  # fresh, so "10 s ago" is still 10 s ago
        self.create(bearer(tok["exp_past_10s"]))
        self.create(bearer(tok["nbf_future_10s"]))
        self.assert_401(self.eng.request("GET", "/api/v1/tasks/1", headers=bearer(tok["exp_past_60s"])), "60 s")

    def test_agency_token_cli_accepted_and_verifies_in_node(self):
        rc, out, err = cli(["token", "--sub", "cli-user", "--scope", "tasks:read tasks:write", "--ttl", "1h"], AUTH_ENV)
        self.assertEqual(rc, 0, err)
        tok = out.strip()
        self.assertEqual(tok.count("."), 2, tok)
        _, _, task = self.create(bearer(tok))
        rc, out, err = node("verify", SECRET, tok)
        self.assertEqual(rc, 0, "Node does not verify agency's token: %s %s" % (out, err))
        claims = json.loads(out)["payload"]
        self.assertEqual(json.loads(out)["header"]["alg"], "HS256")
        self.assertEqual(claims["sub"], "cli-user")
        self.assertEqual(claims["scope"], "tasks:read tasks:write")
        self.assertEqual(claims["iss"], ISSUER)
        self.assertEqual(claims["aud"], AUDIENCE)
        self.assertEqual(claims["exp"] - claims["iat"], 3600)
        self.assertLess(abs(claims["iat"] - time.time()), 60)
        # Node, with another key, refuses it
        rc, out, _ = node("verify", SECRET + "x", tok)
        self.assertNotEqual(rc, 0, out)
        # a read-only CLI token cannot write
        rc, out, err = cli(["token", "--sub", "cli-ro", "--scope", "tasks:read", "--ttl", "15m"], AUTH_ENV)
        self.assertEqual(rc, 0, err)
        ro = out.strip()
        self.assertApiError(self.eng.request("POST", "/api/v1/tasks", body={"type": "test.noop"}, headers=bearer(ro)),
                            403, "forbidden")
        self.assertEqual(self.eng.request("GET", "/api/v1/tasks/%d" % task["id"], headers=bearer(ro))[0], 200)

    def test_agency_token_cli_errors(self):
        env = dict(AUTH_ENV)
        for args in (["--sub", "x"], ["--scope", "admin"], ["--sub", "x", "--scope", "admin", "--ttl", "0"],
                     ["--sub", "x", "--scope", "admin", "--ttl", "abc"], ["--sub", "x", "--scope", "admin", "--bogus", "1"]):
            with self.subTest(args=args):
                rc, out, err = cli(["token"] + args, env)
                self.assertNotEqual(rc, 0, out)
                self.assertEqual(out.strip(), "")
                self.assertTrue(err.strip())
        env["AGENCY_JWT_SECRET"] = ""
        rc, out, err = cli(["token", "--sub", "x", "--scope", "admin"], env)
        self.assertNotEqual(rc, 0)
        self.assertEqual(out.strip(), "")
        self.assertIn("AGENCY_JWT_SECRET", err)

    def test_other_secret_cli_token_refused(self):
        env = dict(AUTH_ENV, AGENCY_JWT_SECRET="another-secret-0123456789")
        rc, out, err = cli(["token", "--sub", "x", "--scope", "admin"], env)
        self.assertEqual(rc, 0, err)
        self.assert_401(self.eng.request("GET", "/api/v1/tasks/1", headers=bearer(out.strip())), "other secret")


class JwtLeewayZeroTest(EngineTestCase):
    def test_leeway_zero_refuses_10s_old_exp(self):
        eng = self.engine(extra_env=dict(AUTH_ENV, AGENCY_JWT_LEEWAY="0"))
        tok = node_tokens()
        r = eng.request("GET", "/api/v1/tasks/1", headers=bearer(tok["exp_past_10s"]))
        self.assertEqual(r[0], 401, r)
        self.assertEqual(eng.request("GET", "/api/v1/tasks/1", headers=bearer(tok["good"]))[0], 404)


class ServeBindTest(EngineTestCase):
    def serve(self, extra):
        eng = Engine(start=False)
        self.addCleanup(eng.close)
        env = eng.env()
        env.pop("AGENCY_JWT_SECRET", None)
        env.update(extra)
        return eng, subprocess.Popen([eng.bin, "serve"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)

    def test_no_secret_refuses_non_loopback(self):
        for host in ("0.0.0.0", "[::]"):
            with self.subTest(host=host):
                _, p = self.serve({"AGENCY_LISTEN": "%s:%d" % (host, free_port())})
                try:
                    out, err = p.communicate(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
                    self.fail("serve on %s without a secret kept running" % host)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("AGENCY_JWT_SECRET", err.decode())

    def test_with_secret_serves_on_all_addresses(self):
        port = free_port()
        _, p = self.serve({"AGENCY_LISTEN": "0.0.0.0:%d" % port, "AGENCY_JWT_SECRET": SECRET})
        try:
            deadline = time.time() + 15
            st = None
            while time.time() < deadline and p.poll() is None:
                try:
                    c = http.client.HTTPConnection(HOST, port, timeout=2)
                    c.request("GET", "/api/v1/health")
                    st = c.getresponse().status
                    c.close()
                    break
                except OSError:
                    time.sleep(0.1)
            self.assertIsNone(p.poll(), "serve exited: %s" % (p.stderr.read().decode()[-2000:] if p.poll() is not None else ""))
            self.assertEqual(st, 200)
            c = http.client.HTTPConnection(HOST, port, timeout=5)
            c.request("GET", "/api/v1/tasks/1")
            r = c.getresponse()
            self.assertEqual(r.status, 401)
            c.close()
        finally:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(p.returncode, 0)


CORS_HDRS = ("access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
             "access-control-allow-credentials", "access-control-expose-headers")


def preflight(port, origin, path="/api/v1/tasks", method="POST"):
    return raw_request(port, ("OPTIONS %s HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\nAccess-Control-Request-Method: %s\r\n"
                              "Access-Control-Request-Headers: authorization, content-type\r\nConnection: close\r\n\r\n"
                              % (path, origin, method)).encode())


class CorsTest(EngineTestCase):
    def cors_headers(self, headers):
        return {k.lower(): v for k, v in headers.items() if k.lower() in CORS_HDRS}

    def test_nothing_allowed_by_default(self):
        eng = self.engine()
        st, h, _ = eng.request("GET", "/api/v1/health", headers={"Origin": "https://app.example"})
        self.assertEqual(st, 200)
        self.assertEqual(self.cors_headers(h), {})
        st, h, body = preflight(eng.port, "https://app.example")
        self.assertEqual(st, 403, body)
        self.assertFalse({k for k in h if k in CORS_HDRS}, h)
        self.assertEqual(json.loads(body)["error"]["code"], "cors_forbidden")

    def test_configured_origin(self):
        eng = self.engine(extra_env=dict(AUTH_ENV, AGENCY_CORS_ORIGINS="https://app.example, https://other.example"))
        tok = node_tokens()
        # simple requests: allowed origin echoed, on success and on errors alike
        for method, path, hdrs, want in (("GET", "/api/v1/health", {}, 200),
                                         ("GET", "/api/v1/tasks/1", bearer(tok["good"]), 404),
                                         ("GET", "/api/v1/tasks/1", {}, 401),
                                         ("GET", "/api/v1/nope", {}, 404)):
            with self.subTest(path=path, want=want):
                st, h, _ = eng.request(method, path, headers=dict(hdrs, Origin="https://app.example"))
                self.assertEqual(st, want)
                self.assertEqual(h.get("Access-Control-Allow-Origin"), "https://app.example")
                self.assertIn("Origin", h.get("Vary", ""))
        st, h, _ = eng.request("GET", "/api/v1/health", headers={"Origin": "https://other.example"})
        self.assertEqual(h.get("Access-Control-Allow-Origin"), "https://other.example")
        # preflight: no token needed, 204 with methods and headers
        st, h, body = preflight(eng.port, "https://app.example")
        self.assertEqual(st, 204, body)
        self.assertEqual(h.get("access-control-allow-origin"), "https://app.example")
        self.assertIn("POST", h.get("access-control-allow-methods", ""))
        allow_h = h.get("access-control-allow-headers", "").lower()
        self.assertIn("authorization", allow_h)
        self.assertIn("content-type", allow_h)
        self.assertEqual(body, b"")
        # another origin: no CORS headers, preflight 403
        for origin in ("https://evil.example", "https://app.example.evil", "null", "http://app.example",
                       "https://app.exampl"):
            with self.subTest(origin=origin):
                st, h, _ = eng.request("GET", "/api/v1/health", headers={"Origin": origin})
                self.assertEqual(st, 200)
                self.assertEqual(self.cors_headers(h), {})
                st, h, body = preflight(eng.port, origin)
                self.assertEqual(st, 403, body)
                self.assertFalse({k for k in h if k in CORS_HDRS}, h)
                err = json.loads(body)
                self.assertEqual(err["error"]["code"], "cors_forbidden")
                self.assertTrue(err["request_id"])


class RateLimitTest(EngineTestCase):
    def rl_engine(self):
        return self.engine(extra_env=dict(AUTH_ENV, AGENCY_RATE_LIMIT="5", AGENCY_RATE_BURST="5"))

    def burst(self, eng, n, headers):
        out = []
        for _ in range(n):
            out.append(eng.request("GET", "/api/v1/tasks/999999", headers=headers))
        return out

    def test_bucket_per_subject(self):
        eng = self.rl_engine()
        tok_a = node_tokens(sub="alice")["good"]
        tok_b = node_tokens(sub="bob")["good"]
        rs = self.burst(eng, 6, bearer(tok_a))
        for i, (st, h, body) in enumerate(rs[:5]):
            self.assertEqual(st, 404, "request %d: %s %r" % (i + 1, st, body))
            self.assertEqual(h.get("RateLimit-Limit"), "5")
            self.assertEqual(int(h.get("RateLimit-Remaining")), 4 - i)
            self.assertIsNotNone(h.get("RateLimit-Reset"))
        st, h, body = rs[5]
        self.assertApiError(rs[5], 429, "rate_limited")
        retry = int(h.get("Retry-After"))
        self.assertGreaterEqual(retry, 1)
        self.assertLessEqual(retry, 2)
        self.assertEqual(h.get("RateLimit-Limit"), "5")
        self.assertEqual(h.get("RateLimit-Remaining"), "0")
        self.assertGreaterEqual(int(h.get("RateLimit-Reset")), 1)
        # another subject has its own bucket
        st, h, _ = eng.request("GET", "/api/v1/tasks/999999", headers=bearer(tok_b))
        self.assertEqual(st, 404)
        self.assertEqual(h.get("RateLimit-Remaining"), "4")
        # so does the anonymous client address (health is public)
        self.assertEqual(eng.health()[0], 200)
        # after Retry-After the first subject may go on
        time.sleep(retry + 0.05)
        st, _, body = eng.request("GET", "/api/v1/tasks/999999", headers=bearer(tok_a))
        self.assertEqual(st, 404, body)

    def test_bucket_per_client_address_without_token(self):
        eng = self.rl_engine()
        tok = node_tokens(sub="carol")["good"]
        statuses = [eng.health()[0] for _ in range(12)]
        self.assertIn(429, statuses, statuses)
        self.assertEqual(statuses[0], 200)
        # the same client address with a token: a separate bucket
        self.assertEqual(eng.request("GET", "/api/v1/tasks/999999", headers=bearer(tok))[0], 404)
        # another client address (127.0.0.2 is loopback too): its own bucket
        st, h, body = raw_request(eng.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                  source="127.0.0.2")
        self.assertEqual(st, 200, body)
        self.assertEqual(h.get("ratelimit-remaining"), "4")
        st, h, body = raw_request(eng.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                  source="127.0.0.1")
        self.assertEqual(st, 429, body)
        self.assertIn("retry-after", h)

    def test_invalid_tokens_do_not_escape_the_limit(self):
        eng = self.rl_engine()
        statuses = [eng.request("GET", "/api/v1/tasks/1", headers=bearer("x.y.z%d" % i))[0] for i in range(12)]
        self.assertIn(429, statuses, statuses)
        self.assertTrue(set(statuses) <= {401, 429}, statuses)


class LimitsTest(EngineTestCase):
    def test_body_limit_413_json(self):
        eng = self.engine(extra_env={"AGENCY_MAX_BODY": "2048"})
        body = json.dumps({"type": "test.noop", "input": {"pad": "x" * 3000}})
        self.assertGreater(len(body), 3000)
        self.assertApiError(eng.request("POST", "/api/v1/tasks", raw=body), 413, "payload_too_large")
        # just under the limit is fine
        ok = json.dumps({"type": "test.noop", "input": {"pad": "x" * 1900}})
        self.assertLess(len(ok), 2048)
        self.assertEqual(eng.request("POST", "/api/v1/tasks", raw=ok)[0], 201)
        # chunked, without a Content-Length
        data = body.encode()
        st, h, out = raw_request(eng.port, b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                           + b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n")
        self.assertEqual(st, 413, out)
        self.assertEqual(json.loads(out)["error"]["code"], "payload_too_large")
        self.assertEqual(eng.health()[0], 200)

    def test_body_far_over_limit_413_json(self):
        eng = self.engine(extra_env={"AGENCY_MAX_BODY": "2048"})
        body = json.dumps({"type": "test.noop", "input": {"pad": "x" * 100000}})
        self.assertApiError(eng.request("POST", "/api/v1/tasks", raw=body), 413, "payload_too_large")
        self.assertEqual(eng.health()[0], 200)

    def test_request_timeout_disconnects_stalled_clients(self):
        eng = self.engine(extra_env={"AGENCY_REQUEST_TIMEOUT": "1"})
        stalls = {
            "partial headers": b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n",
            "headers, no body": b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                b"Content-Length: 100\r\n\r\n{\"type\":",
            "nothing at all": b"",
        }
        socks = {}
        t0 = time.time()
        for name, data in stalls.items():
            s = socket.create_connection((HOST, eng.port), timeout=10)
            if data:
                s.sendall(data)
            socks[name] = s
        # others are served meanwhile
        self.assertEqual(eng.health()[0], 200)
        for name, s in socks.items():
            with self.subTest(stall=name):
                try:
                    got = s.recv(65536)
                    # a 408 answer is fine too; then the connection must close
                    while got and not got.endswith(b"}") and s.recv(65536):
                        pass
                    closed_after = time.time() - t0
                except socket.timeout:
                    closed_after = None
                finally:
                    s.close()
                self.assertIsNotNone(closed_after, "%s: still connected after 10 s" % name)
                self.assertLess(closed_after, 5.0, name)
        self.assertTrue(eng.alive())
        self.assertEqual(eng.health()[0], 200)
        self.assertEqual(eng.request("POST", "/api/v1/tasks", body={"type": "test.noop"})[0], 201)


if __name__ == "__main__":
    unittest.main()
