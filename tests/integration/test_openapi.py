"""The API contract, api/openapi.yaml: served by the engine, complete, and in step with the router.

- GET /api/v1/openapi.yaml is public and returns the file byte for byte;
- every route in api/server.c's routes[] is in the spec with the same method and scope, and every
  operation in the spec is routed (so the two cannot drift);
- the spec is well formed (every $ref resolves, operationIds unique, path parameters declared, ...);
- the checker (openapi_check.py, run on every response by harness.Engine.request) really rejects
  responses that break the contract, and the router's own answers (401, 403, 404, 405, 429,
  CORS preflight) follow it.
"""

import os
import re
import unittest

import yaml

import harness
import openapi_check
from harness import EngineTestCase, REPO_ROOT, run_cli

SPEC_FILE = os.path.join(REPO_ROOT, "api", "openapi.yaml")
SERVER_C = os.path.join(REPO_ROOT, "api", "server.c")
SECRET = "openapi-test-secret-0123456789abcdef"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_spec():
    with open(SPEC_FILE, "rb") as f:
        return yaml.safe_load(f)


C_STR = r'"((?:[^"\\]|\\.)*)"'
C_STR_OR_NULL = r'(?:"((?:[^"\\]|\\.)*)"|NULL)'
ROUTE_RE = re.compile(r'\{\s*' + C_STR + r'\s*,\s*' + C_STR + r'\s*,\s*' + C_STR_OR_NULL + r'\s*,\s*(\w+)\s*,\s*'
                      + C_STR_OR_NULL + r'\s*,\s*(\d+)\s*,\s*' + C_STR + r'\s*\}')


def server_routes():
    """[(METHOD, pattern, scope or None, has_body, handler)] from the routes[] table of api/server.c."""
    with open(SERVER_C) as f:
        src = f.read()
    m = re.search(r'static\s+const\s+route_t\s+routes\s*\[\s*\]\s*=\s*\{(.*?)\n\};', src, re.S)
    if m is None:
        raise AssertionError("routes[] table not found in api/server.c")
    table = re.sub(r'/\*.*?\*/', '', m.group(1), flags=re.S)
    table = re.sub(r'//[^\n]*', '', table)
    routes = []
    for rm in ROUTE_RE.finditer(table):
        method, prefix, suffix, fn, scope, has_body, pattern = rm.groups()
        routes.append((method, pattern, scope, int(has_body), fn))
    # every entry must have parsed: count the initializer lines
    entries = len(re.findall(r'^\s*\{\s*"', table, re.M))
    if entries != len(routes):
        raise AssertionError("parsed %d of %d routes[] entries in api/server.c" % (len(routes), entries))
    return routes


def operations(spec):
    for path, item in (spec.get("paths") or {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method], item


def op_scopes(spec, op):
    """The scopes an operation needs: [] for public operations, None when it lists no security."""
    sec = op.get("security", spec.get("security"))
    if sec is None:
        return None
    if sec == [] or any(req == {} for req in sec):
        return []
    scopes = []
    for req in sec:
        for _, s in req.items():
            scopes.extend(s)
    return scopes


def walk_refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append(v)
            else:
                walk_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            walk_refs(v, out)


class SpecFileTest(unittest.TestCase):
    """Static checks: no engine needed."""

    maxDiff = None

    def test_every_route_is_in_the_spec_and_every_operation_is_routed(self):
        spec = load_spec()
        routes = server_routes()
        self.assertGreater(len(routes), 5)
        routed = {(m.lower(), p): (scope, body, fn) for m, p, scope, body, fn in routes}
        documented = {(method, path): op for path, method, op, _ in operations(spec)}
        missing = sorted("%s %s (%s)" % (m.upper(), p, routed[(m, p)][2]) for m, p in set(routed) - set(documented))
        extra = sorted("%s %s" % (m.upper(), p) for m, p in set(documented) - set(routed))
        self.assertEqual(missing, [], "routes in api/server.c that api/openapi.yaml does not document")
        self.assertEqual(extra, [], "operations in api/openapi.yaml that api/server.c does not route")

    def test_scopes_bodies_and_router_statuses_match_the_route_table(self):
        spec = load_spec()
        problems = []
        for method, pattern, scope, has_body, fn in server_routes():
            op = (spec["paths"].get(pattern) or {}).get(method.lower())
            if op is None:
                continue  # reported by the test above
            name = "%s %s" % (method, pattern)
            scopes = op_scopes(spec, op)
            want = [] if scope is None else [scope]
            if scopes != want:
                problems.append("%s: security lists scopes %r, the router needs %r" % (name, scopes, want))
            statuses = set((op.get("responses") or {}).keys())
            need = {"413", "429"}  # any route: body over the limit, rate limit
            if scope is not None:
                need |= {"401", "403"}
            if "{id}" in pattern:
                need |= {"404"}
            if has_body:
                need |= {"400", "415"}
                if "requestBody" not in op:
                    problems.append("%s: the route takes a body, the spec has no requestBody" % name)
            elif "requestBody" in op:
                problems.append("%s: the spec has a requestBody, the route takes none" % name)
            for s in sorted(need - statuses):
                problems.append("%s: the router can answer %s, the spec does not document it" % (name, s))
            if not any(s.startswith("2") for s in statuses):
                problems.append("%s: no success response" % name)
        self.assertEqual(problems, [])

    def test_spec_is_well_formed(self):
        spec = load_spec()
        self.assertEqual(spec.get("openapi"), "3.1.0")
        self.assertIn("title", spec.get("info", {}))
        self.assertIn("version", spec.get("info", {}))
        problems = []
        refs = []
        walk_refs(spec, refs)
        self.assertGreater(len(refs), 10)
        for ref in sorted(set(refs)):
            try:
                openapi_check.resolve_pointer(spec, ref)
            except (KeyError, ValueError, IndexError) as e:
                problems.append("unresolved $ref %s: %s" % (ref, e))
        ids = {}
        schemes = spec.get("components", {}).get("securitySchemes", {})
        self.assertEqual(schemes.get("bearerAuth", {}).get("type"), "http")
        self.assertEqual(schemes.get("bearerAuth", {}).get("scheme"), "bearer")
        for path, method, op, item in operations(spec):
            name = "%s %s" % (method.upper(), path)
            if not path.startswith("/api/v1/") and path != "/metrics":
                problems.append("%s: outside /api/v1 (only /metrics is)" % name)
            oid = op.get("operationId")
            if not oid:
                problems.append("%s: no operationId" % name)
            elif oid in ids:
                problems.append("%s: operationId %s also used by %s" % (name, oid, ids[oid]))
            else:
                ids[oid] = name
            responses = op.get("responses")
            if not responses:
                problems.append("%s: no responses" % name)
                continue
            for status, resp in responses.items():
                if not re.fullmatch(r"[1-5](\d\d|XX)|default", str(status)):
                    problems.append("%s: bad status key %r" % (name, status))
                resp = openapi_check.Spec(spec).deref(resp)
                if "description" not in resp:
                    problems.append("%s %s: no description" % (name, status))
                if "X-Request-Id" not in (resp.get("headers") or {}):
                    problems.append("%s %s: X-Request-Id is not documented" % (name, status))
            for sec in op.get("security", []):
                for scheme in sec:
                    if scheme not in schemes:
                        problems.append("%s: unknown security scheme %s" % (name, scheme))
            # every {param} in the path is declared as a path parameter (on the path item or the operation)
            params = [openapi_check.Spec(spec).deref(p) for p in (item.get("parameters") or []) + (op.get("parameters") or [])]
            declared = {p.get("name") for p in params if p.get("in") == "path"}
            for p in re.findall(r"\{([^}]+)\}", path):
                if p not in declared:
                    problems.append("%s: path parameter {%s} is not declared" % (name, p))
            for p in params:
                if p.get("in") == "path" and p.get("name") not in re.findall(r"\{([^}]+)\}", path):
                    problems.append("%s: path parameter %s is not in the path" % (name, p.get("name")))
        for key in ("notFound", "methodNotAllowed", "preflight"):
            self.assertIn(key, spec.get("x-agency-unrouted", {}))
        self.assertEqual(problems, [])

    def test_checker_rejects_responses_that_break_the_contract(self):
        spec = openapi_check.load_spec()
        hdr = {"X-Request-Id": "r1", "Content-Type": "application/json"}
        task = {"id": 1, "type": "test.noop", "domain": "test", "agent": None, "status": "pending", "priority": 0,
                "input": {}, "result": None, "error": None, "attempts": 0, "max_attempts": 3,
                "idempotency_key": None, "script_version": "abc", "workflow_id": None,
                "run_at": None, "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
                "started_at": None, "finished_at": None}
        import json

        def check(method, path, status, body, headers=hdr):
            return spec.check_response(method, path, status, headers, json.dumps(body).encode())

        self.assertEqual(check("GET", "/api/v1/tasks/1", 200, task), [])
        err = {"error": {"code": "not_found", "message": "no such route", "details": []}, "request_id": "r1"}
        self.assertEqual(check("GET", "/api/v1/nope", 404, err), [])
        self.assertEqual(check("GET", "/api/v1/tasks/abc", 404, err), [])
        # a required field missing, a wrong type, an unknown field, a bad enum value
        self.assertTrue(check("GET", "/api/v1/tasks/1", 200, {k: v for k, v in task.items() if k != "id"}))
        self.assertTrue(check("GET", "/api/v1/tasks/1", 200, dict(task, priority="high")))
        self.assertTrue(check("GET", "/api/v1/tasks/1", 200, dict(task, surprise=1)))
        self.assertTrue(check("GET", "/api/v1/tasks/1", 200, dict(task, status="sleeping")))
        self.assertTrue(check("GET", "/api/v1/tasks/1", 200, dict(task, created_at=None)))
        # an undocumented status, an unrouted path answered 200, a wrong error code for the status
        self.assertTrue(check("GET", "/api/v1/tasks/1", 418, err))
        self.assertTrue(check("GET", "/api/v1/nope", 200, task))
        self.assertTrue(check("GET", "/api/v1/tasks/1", 404, dict(err, error=dict(err["error"], code="gone"))))
        # the error shape: request_id required, details an array
        self.assertTrue(check("GET", "/api/v1/tasks/1", 404, {"error": err["error"]}))
        self.assertTrue(check("GET", "/api/v1/tasks/1", 404, dict(err, error=dict(err["error"], details={}))))
        # a missing X-Request-Id, an undocumented content type, a non-JSON body
        self.assertTrue(check("GET", "/api/v1/tasks/1", 200, task, {"Content-Type": "application/json"}))
        self.assertTrue(check("GET", "/api/v1/tasks/1", 200, task, {"X-Request-Id": "r1", "Content-Type": "text/html"}))
        self.assertTrue(spec.check_response("GET", "/api/v1/tasks/1", 200, hdr, b"<html>"))
        # a method the path does not have must be 405
        self.assertEqual(check("DELETE", "/api/v1/tasks/1/events", 405,
                               dict(err, error=dict(err["error"], code="method_not_allowed"))), [])
        self.assertTrue(check("DELETE", "/api/v1/tasks/1/events", 200, task))
        # 429 needs Retry-After
        limited = dict(err, error=dict(err["error"], code="rate_limited"))
        self.assertTrue(check("GET", "/api/v1/health", 429, limited))
        self.assertEqual(check("GET", "/api/v1/health", 429, limited, dict(hdr, **{"Retry-After": "1"})), [])


class ServedSpecTest(EngineTestCase):
    """The engine serves the contract, and the router's own answers follow it."""

    def assertFollowsSpec(self, method, path, resp, request_headers=None):
        st, headers, _ = resp
        # Engine.request already recorded any violation; this makes the test itself fail too
        raw = resp[2]
        body = raw if isinstance(raw, str) else __import__("json").dumps(raw)
        problems = openapi_check.check_response(method, path, st, headers, body.encode(),
                                                preflight=bool(request_headers))
        self.assertEqual(problems, [], "%s %s -> %s does not follow api/openapi.yaml" % (method, path, st))

    def test_openapi_yaml_is_served_publicly_and_equals_the_file(self):
        eng = self.engine(extra_env={"AGENCY_JWT_SECRET": SECRET})
        st, headers, body = eng.request("GET", "/api/v1/openapi.yaml")
        self.assertEqual(st, 200, body)
        self.assertEqual(headers.get("Content-Type"), "application/yaml")
        self.assertTrue(headers.get("X-Request-Id"))
        with open(SPEC_FILE, encoding="utf-8") as f:
            on_disk = f.read()
        self.assertEqual(body, on_disk, "the served spec differs from api/openapi.yaml (rebuild the binary?)")
        self.assertEqual(yaml.safe_load(body), load_spec())
        self.assertFollowsSpec("GET", "/api/v1/openapi.yaml", (st, headers, body))
        # a routed path with another method
        resp = eng.request("POST", "/api/v1/openapi.yaml", body={})
        self.assertEqual(resp[0], 405)
        self.assertFollowsSpec("POST", "/api/v1/openapi.yaml", resp)

    def test_router_answers_follow_the_spec(self):
        eng = self.engine(extra_env={"AGENCY_JWT_SECRET": SECRET, "AGENCY_CORS_ORIGINS": "https://ok.example"})
        cases = []
        # no token, a bad token: 401 with WWW-Authenticate
        cases.append(("GET", "/api/v1/tasks/1", None, 401))
        cases.append(("GET", "/api/v1/tasks/1", {"Authorization": "Bearer nope.nope.nope"}, 401))
        out = run_cli(["token", "--sub", "reader", "--scope", "tasks:read"], env={"AGENCY_JWT_SECRET": SECRET})
        self.assertEqual(out.returncode, 0, out.stderr)
        reader = {"Authorization": "Bearer " + out.stdout.decode().strip()}
        # the token lacks the scope: 403; it has it: 404 for a task that does not exist, or a bad id
        cases.append(("POST", "/api/v1/tasks/1/cancel", reader, 403))
        cases.append(("GET", "/api/v1/tasks/999999", reader, 404))
        cases.append(("GET", "/api/v1/tasks/abc", reader, 404))
        # unknown path, known path with another method
        cases.append(("GET", "/api/v1/no/such/route", None, 404))
        cases.append(("DELETE", "/api/v1/health", None, 405))
        for method, path, hdrs, want in cases:
            resp = eng.request(method, path, headers=hdrs)
            self.assertEqual(resp[0], want, "%s %s: %r" % (method, path, resp[2]))
            self.assertFollowsSpec(method, path, resp)
        # CORS preflight: allowed origin 204 (no body), another origin 403
        pre = {"Origin": "https://ok.example", "Access-Control-Request-Method": "POST"}
        resp = eng.request("OPTIONS", "/api/v1/tasks", headers=pre)
        self.assertEqual(resp[0], 204)
        self.assertFollowsSpec("OPTIONS", "/api/v1/tasks", resp, pre)
        pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        resp = eng.request("OPTIONS", "/api/v1/tasks", headers=pre)
        self.assertEqual(resp[0], 403)
        self.assertFollowsSpec("OPTIONS", "/api/v1/tasks", resp, pre)

    def test_rate_limit_answers_follow_the_spec(self):
        eng = self.engine(extra_env={"AGENCY_RATE_LIMIT": "1", "AGENCY_RATE_BURST": "2"})
        seen = []
        for _ in range(10):
            resp = eng.request("GET", "/api/v1/health")
            self.assertFollowsSpec("GET", "/api/v1/health", resp)
            seen.append(resp)
            if resp[0] == 429:
                break
        self.assertEqual(seen[-1][0], 429, [r[0] for r in seen])
        self.assertTrue(seen[-1][1].get("Retry-After"))
        self.assertTrue(seen[-1][1].get("RateLimit-Limit"))

    def test_harness_records_violations(self):
        before = len(harness.SPEC_VIOLATIONS)
        problems = harness.check_against_spec("GET", "/api/v1/tasks/1", 200, {"X-Request-Id": "x"}, b"{}")
        self.assertTrue(problems)
        self.assertEqual(harness.SPEC_VIOLATIONS[before:], problems)
        del harness.SPEC_VIOLATIONS[before:]  # deliberate: not a violation of the engine


if __name__ == "__main__":
    unittest.main()
