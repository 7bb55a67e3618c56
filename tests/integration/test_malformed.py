"""A seeded matrix of malformed requests over every route in api/server.c's routes[] (read from the
source, so new routes are covered without editing this file): bad JSON, wrong types for every field,
huge numbers, deep nesting, invalid UTF-8, wrong or missing content types, absurd query values, path
traversal and junk in ids, wrong methods, oversized headers.

What must hold for every request:
  - never a 5xx;
  - a request that is well-formed HTTP ("app" class) gets a response, and every 4xx body is the JSON
    error shape {"error": {"code", "message", "details"}, "request_id"} with a matching X-Request-Id;
    every 2xx JSON body is valid UTF-8 JSON;
  - a request that is malformed at the HTTP level ("proto" class: bad request line, too many or too
    large headers, bad chunked framing, Content-Length lies) may be refused by h2o itself (400 text, or
    the connection closed), but never a 5xx;
  - after each batch of 100 the engine process is alive and /api/v1/health answers 200.
A summary of status counts is printed.

AGENCY_MALFORMED_SEED overrides the seed (the failing request's label and seed are in the message)."""

import collections
import json
import os
import random
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, REPO_ROOT, EngineTestCase  # noqa: E402

SEED = int(os.environ.get("AGENCY_MALFORMED_SEED", "20261126"))
SECRET = "malformed-secret-0123456789abcdef"
# set so the incoming webhook routes answer (401, unsigned) instead of 503 not_configured
WEBHOOK_SECRET = "malformed-webhook-secret-0123456789"

# Fields each resource's body knows (others get the generic list); every one gets every wrong type.
FIELDS = {
    "/api/v1/tasks": {"type": "test.noop", "input": {}, "idempotency_key": None, "priority": 0, "run_at": None,
                      "execute": False, "max_attempts": 1},
    "/api/v1/agents": {"name": "fuzz-agent", "domain": "sales", "script": "qualifier", "config": {},
                       "status": "active"},
}
GENERIC_FIELDS = {"name": "x", "type": "x", "input": {}, "config": {}, "status": "x", "id": 1}

WRONG_VALUES = ["null", "true", "false", "0", "-1", "1.5", "-0", "1e400", "-1e400", "99999999999999999999",
                "9223372036854775808", "-9223372036854775809", "1e-400", '""', '"' + "x" * 5000 + '"', "[]", "{}",
                "[1,2,3]", '{"a":1}', '"\\u0000"', '"\\ud800"', '"2026-13-45T99:99:99Z"', '" "', '"../../etc/passwd"',
                '"%00"', '"\\n\\r\\t"', '"DROP TABLE tasks;--"', '[[[[[]]]]]']

BAD_JSON = [b"", b" ", b"{", b"}", b"[", b'{"type":', b'{"type":"test.noop"', b'{"type":"test.noop"}garbage',
            b'{"type":"test.noop"} {}', b'{"type":"test.noop"}}', b"NaN", b'{"priority":NaN}', b'{"priority":Infinity}',
            b'{"priority":-Infinity}', b"{'type':'test.noop'}", b'{"type":"test.noop" /* c */}',
            b'// c\n{"type":"test.noop"}', b'{"type":"test.noop",}', b'[1,2,]', b'{"priority":01}', b'{"priority":.5}',
            b'{"priority":1.}', b'{"priority":+1}', b'{"priority":0x10}', b'{"type":"\\x41"}', b'{"type":"\\u12"}',
            b'{"type":"unterminated}', b'{"type" "test.noop"}', b'{"execute":tru}', b"null", b"true", b"1", b'"str"',
            b"[]", b'[{"type":"test.noop"}]', b'{"type":"test.noop"}\x00', b'\xef\xbb\xbf{"type":"test.noop"}',
            b'{"type":"te\x01st"}', b'{"type":"line\nbreak"}', b"{{}}", b'{"":""}', b'{"__proto__":{"admin":true}}',
            b'{"type":"a","type":"b","type":{}}', b'{"type":"test.noop","input":{"a":}}', b"\x00\x00\x00",
            b'{"type":"test.noop","input":[}', b"\xff\xfe{\x00}\x00", b'{"a":"b"]', b'{"a"::1}', b'{,}', b'{"a":1,,"b":2}']

INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xe2\x82",
                b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"a\xc3", b"\xc3\x28"]

CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/jsonp", "application/json-patch+json", "application/xml", "*/*", "json",
                 "application/ json", "application/json\tx", "text/json", "APPLICATION/JSON", None, ""]

QUERIES = ["wait=-1", "wait=1e999", "wait=abc", "wait=", "wait=NaN", "wait=inf", "wait=-0", "wait=0x10", "wait=1&wait=2",
           "wait=301", "wait=%00", "wait=%zz", "wait=1e-400", "wait=" + "9" * 100, "limit=-1", "limit=0",
           "limit=1e999", "limit=abc", "limit=99999999999999999999", "limit=1.5", "limit=1&limit=1000000",
           "limit=%2d1", "cursor=junk", "cursor=%00", "cursor=" + "x" * 5000, "cursor=-1", "cursor=%ff%fe",
           "status=junk", "status=%00", "status=running&status=dead", "domain=../..", "domain=%2e%2e%2f",
           "type=%ff", "force=maybe", "force=", "after=-1", "after=99999999999999999999", "", "&&&", "=", "wait",
           "a=" + "b" * 6000, "%", "%%%", "wait=1;limit=2", "wait[]=1", "wait=%E2%80%AE1"]

JUNK_IDS = ["..", "../", "../../etc/passwd", "%2e%2e", "%2e%2e%2f", "..%2f..%2fetc%2fpasswd", "%00", "1%00", "%001",
            "99999999999999999999", "9223372036854775808", "9223372036854775807", "999999999999999999", "-1", "0",
            "00", "0x10", "1e3", "+1", "%201", "1%20", "%EF%BC%91", "\xef\xbc\x91", "%C3%A9", "\xc3\xa9", "%ff",
            "1.0", "01", "1;", "1,2", "a" * 5000, "%", "%%", "~", "*", "null", "1%2f2", "%u0031", "1#frag"]

METHODS = ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "get", "POST", "GET"]


def parse_routes():
    """[(method, template path with {id}, has_body, public)] from api/server.c's routes[]."""
    src = open(os.path.join(REPO_ROOT, "api", "server.c"), encoding="utf-8").read()
    table = src[src.index("routes[] = {"):]
    table = table[:table.index("};")]
    out = []
    for m in re.finditer(r'\{"([A-Z]+)",\s*"([^"]*)",\s*(NULL|"[^"]*"),\s*\w+,\s*(NULL|"[^"]*"),\s*(\d)', table):
        method, prefix, suffix, scope, has_body = m.groups()
        path = prefix if suffix == "NULL" else prefix + "{id}" + suffix.strip('"')
        out.append((method, path, has_body == "1", scope == "NULL"))
    return out


def resource_fields(path):
    base = re.sub(r"/\{id\}.*$", "", path)
    return FIELDS.get(base, GENERIC_FIELDS)


def obj_text(fields, override=None):
    """A JSON object's text from fields, with override {name: raw JSON text}."""
    parts = []
    for k, v in fields.items():
        raw = (override or {}).get(k)
        parts.append(json.dumps(k) + ":" + (raw if raw is not None else json.dumps(v)))
    for k, raw in (override or {}).items():
        if k not in fields:
            parts.append(json.dumps(k) + ":" + raw)
    return ("{" + ",".join(parts) + "}").encode("utf-8", "surrogatepass")


def http_request(method, target, body=None, ctype="application/json", headers=None):
    """Raw HTTP/1.1 bytes. target is str (encoded as latin-1 so raw bytes pass through) or bytes."""
    if isinstance(target, str):
        target = target.encode("latin-1", "replace") if all(ord(ch) < 256 for ch in target) else target.encode()
    m = method.encode() if isinstance(method, str) else method
    lines = [m + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if body is not None:
        if ctype is not None:
            lines.append(b"Content-Type: " + ctype.encode("latin-1"))
        lines.append(b"Content-Length: %d" % len(body))
    for k, v in (headers or []):
        lines.append((k.encode("latin-1") if isinstance(k, str) else k) + b": " +
                     (v.encode("latin-1") if isinstance(v, str) else v))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def fill(path, id_text):
    return path.replace("{id}", id_text)


def generate(rng, routes):
    """[(label, cls, bytes)]: cls is "app" (well-formed HTTP) or "proto"."""
    reqs = []

    def add(label, data, cls="app"):
        reqs.append((label, cls, data))

    def some_id():
        return str(rng.choice([1, 2, 3, 999999, 123456789]))

    body_routes = [r for r in routes if r[2]]
    for method, path, _, _ in body_routes:
        target = fill(path, some_id())
        fields = resource_fields(path)
        # 1. bad JSON
        for b in BAD_JSON:
            add("%s %s bad json %r" % (method, path, b[:40]), http_request(method, target, b))
        # 2. wrong types for every field, 3. huge numbers among them
        for f in fields:
            for v in WRONG_VALUES:
                add("%s %s %s=%s" % (method, path, f, v[:30]), http_request(method, target, obj_text(fields, {f: v})))
        # a field nested inside input/config
        for v in rng.sample(WRONG_VALUES, 8):
            add("%s %s nested %s" % (method, path, v[:30]),
                http_request(method, target, obj_text(fields, {"input": '{"a":%s}' % v, "config": '{"a":%s}' % v})))
        # unknown members, huge member counts
        add("%s %s 20000 members" % (method, path),
            http_request(method, target, b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(20000)) + b"}"))
        add("%s %s unknown member" % (method, path), http_request(method, target, obj_text(fields, {"zzz": "[1]"})))
        # 4. deep nesting
        for depth in (10000, 100000):
            add("%s %s [ x%d" % (method, path, depth), http_request(method, target, b"[" * depth + b"]" * depth))
            add("%s %s [ x%d unbalanced" % (method, path, depth), http_request(method, target, b"[" * depth))
        for where in ("input", "config", "type", "name"):
            deep = '{"a":' * 10000 + "1" + "}" * 10000
            add("%s %s deep %s" % (method, path, where), http_request(method, target, obj_text(fields, {where: deep})))
        add("%s %s deep object body" % (method, path),
            http_request(method, target, b'{"a":' * 10000 + b"1" + b"}" * 10000))
        # 5. invalid UTF-8, in bodies and in strings
        for bad in INVALID_UTF8:
            for f in list(fields)[:4]:
                add("%s %s utf8 %s=%r" % (method, path, f, bad),
                    http_request(method, target, obj_text(fields).replace(b"{", b"{" + json.dumps(f).encode() +
                                                                          b':"x' + bad + b'x",', 1)))
            add("%s %s utf8 key %r" % (method, path, bad),
                http_request(method, target, b'{"' + bad + b'":1,' + obj_text(fields)[1:]))
            add("%s %s utf8 raw %r" % (method, path, bad), http_request(method, target, bad + obj_text(fields)))
        for esc in ("\\ud800", "\\udc00", "\\ud800\\u0041", "\\udbff\\udfff", "\\u0000", "\\uFFFF", "\\uD834\\uDD1E"):
            add("%s %s escaped %s" % (method, path, esc),
                http_request(method, target, obj_text(fields, {f: '"a%sb"' % esc for f in list(fields)[:4]})))
        # 6. wrong or missing content types
        for ct in CONTENT_TYPES:
            add("%s %s content-type %r" % (method, path, ct), http_request(method, target, obj_text(fields), ctype=ct))
            add("%s %s content-type %r, bad body" % (method, path, ct),
                http_request(method, target, b"a=1&b=2", ctype=ct))
        # bodies over the limit (1 MiB default): under h2o's own cap (4x), and over it
        add("%s %s 1.5 MiB body" % (method, path),
            http_request(method, target, obj_text(fields, {"input": '"' + "x" * (3 << 19) + '"'})))
        add("%s %s 5 MiB body" % (method, path),
            http_request(method, target, obj_text(fields, {"input": '"' + "x" * (5 << 20) + '"'})))
    # 7. absurd query values, on every route
    for method, path, has_body, _ in routes:
        for q in QUERIES:
            target = fill(path, rng.choice(["999999", "1"])) + "?" + q
            body = obj_text(resource_fields(path)) if has_body else None
            if "/execute" in path and re.search(r"wait=(\d|%E2)", q) and "1e999" not in q:
                target = fill(path, "999999") + "?" + q  # a valid wait on a real task would just wait
            add("%s %s?%s" % (method, path, q[:40]), http_request(method, target, body))
    # 8. path traversal and junk in ids
    for method, path, has_body, _ in routes:
        if "{id}" not in path:
            continue
        for junk in JUNK_IDS:
            body = obj_text(resource_fields(path)) if has_body else None
            add("%s %s id=%r" % (method, path, junk[:30]), http_request(method, fill(path, junk), body))
    for target in ("/api/v1/tasks/../agents/1", "/api/v1/./tasks/1", "//api//v1//tasks//1", "/api/v1/tasks/1/../../health",
                   "/api/v1/tasks/%2e%2e/%2e%2e/health", "/api/v1/tasks/1/events/extra", "/api/v1/tasks/1/", "/api/v1/",
                   "/api/v1", "/api/v2/tasks", "/API/V1/TASKS", "/api/v1/tasks%2f1", "/api/v1/tasks/1%2fevents",
                   "/%2e%2e/%2e%2e/etc/passwd", "/../../../etc/passwd", "/api/v1/tasks/1\\..\\..\\", "*",
                   "http://evil.example/api/v1/health", "/api/v1/health#x", "/" + "a/" * 2000):
        for method in ("GET", "POST"):
            add("%s %s" % (method, target[:40]), http_request(method, target))
    # 9. wrong methods
    for _, path, _, _ in routes:
        for m in METHODS:
            body = b'{"type":"test.noop"}' if rng.random() < 0.5 else None
            add("%s %s (method)" % (m, path), http_request(m, fill(path, "999999"), body))
    # 10. oversized and odd headers (valid HTTP)
    for _, path, has_body, _ in rng.sample(routes, min(len(routes), 6)):
        target = fill(path, "999999")
        m = "POST" if has_body else "GET"
        body = b"{}" if has_body else None
        for name, hdrs in (("10 KiB header", [("X-Junk", "a" * 10240)]),
                           ("64 KiB header", [("X-Junk", "a" * 65536)]),
                           ("90 headers", [("X-H%d" % i, "v" * 100) for i in range(90)]),
                           ("long x-request-id", [("X-Request-Id", "r" * 500)]),
                           ("bad x-request-id", [("X-Request-Id", "a b<script>\"'")]),
                           ("utf8 x-request-id", [("X-Request-Id", b"\xc3\xa9\xff")]),
                           ("junk authorization", [("Authorization", "Bearer \xff\xfe.\x80.\xa0")]),
                           ("huge authorization", [("Authorization", "Bearer " + "a" * 60000)]),
                           ("junk origin", [("Origin", "\xff" * 300)]),
                           ("many cookies", [("Cookie", "; ".join("c%d=%d" % (i, i) for i in range(2000)))]),
                           ("duplicate content-type", [("Content-Type", "text/plain"), ("Content-Type", "application/json")]),
                           ("expect 100", [("Expect", "100-continue")]),
                           ("accept junk", [("Accept", "\xff" * 100)])):
            add("%s %s %s" % (m, path, name), http_request(m, target, body, headers=hdrs))
    # proto class: malformed HTTP framing; h2o may refuse it itself
    proto = [
        b"GET /api/v1/health\r\n\r\n",
        b"GET /api/v1/health HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET  HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET /api/v1/tasks/\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /api/v1/tasks/\t1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /api/v1/tasks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \x01.\x02.\x7f\r\n\r\n",
        b"GET /api/v1/tasks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: \x7f\x7f\r\n\r\n",
        b"GET /api/v1/tasks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Bad\x01Name: v\r\n\r\n",
        b"GET /api/v1/tasks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nno-colon-here\r\n\r\n",
        b"GET /api/v1/tasks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
        b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
        b"GET /api/v1/tasks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Junk: " + b"a" * 600000 + b"\r\n\r\n",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: -1\r\n\r\n{}",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 50\r\n\r\n{}",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ffffffffffffffff\r\n{}\r\n0\r\n\r\n",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /api/v1/health HTTP/1.0\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\nHost: x\nConnection: close\n\n",
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n Connection: close\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings, close\r\n"
        b"HTTP2-Settings: !!!\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\r\n",
    ]
    for i, data in enumerate(proto):
        add("proto #%d %r" % (i, data[:60]), data, "proto")
    return reqs


def is_open_stream(buf):
    """True once buf holds a 200 text/event-stream answer's headers (the stream itself never ends)."""
    head, sep, _ = buf.partition(b"\r\n\r\n")
    return bool(sep) and head.startswith(b"HTTP/1.1 200 ") and \
        re.search(rb"(?im)^content-type:\s*text/event-stream", head) is not None


def send(port, data, timeout=20.0):
    """(status or 0 when there was no answer, headers {lower: value}, body bytes, seconds)."""
    t0 = time.time()
    s = socket.create_connection((HOST, port), timeout=timeout)
    buf = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        while True:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            buf += d
            if is_open_stream(buf):
                break  # a valid GET /api/v1/events: an endless SSE stream; its headers are the answer
    finally:
        s.close()
    dt = time.time() - t0
    while re.match(rb"HTTP/1\.[01] 1\d\d ", buf) and b"\r\n\r\n" in buf:  # interim (100 Continue)
        buf = buf.split(b"\r\n\r\n", 1)[1]
    if not buf.startswith(b"HTTP/"):
        return 0, {}, buf, dt
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("content-type", "").startswith("text/event-stream"):
        body = b""  # cut off mid-stream: nothing to decode
    elif hdrs.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return status, hdrs, body, dt


def check_error_shape(status, hdrs, body):
    """None, or what is wrong with a 4xx answer."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "4xx body is not JSON: %r" % body[:200]
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), dict):
        return "4xx body lacks the error object: %r" % body[:200]
    e = doc["error"]
    if not isinstance(e.get("code"), str) or not e["code"] or not isinstance(e.get("message"), str) or not e["message"]:
        return "error.code/message missing: %r" % body[:200]
    if "details" in e and not isinstance(e["details"], list):
        return "error.details is not a list: %r" % body[:200]
    if not isinstance(doc.get("request_id"), str) or not doc["request_id"]:
        return "request_id missing: %r" % body[:200]
    if hdrs.get("x-request-id") != doc["request_id"]:
        return "X-Request-Id %r != request_id %r" % (hdrs.get("x-request-id"), doc["request_id"])
    return None


class MalformedRequestsTest(EngineTestCase):
    def run_matrix(self, eng, reqs, seed):
        counts = collections.Counter()
        by_class = collections.Counter()
        problems = []
        slowest = (0.0, "")
        for start in range(0, len(reqs), 100):
            for label, cls, data in reqs[start:start + 100]:
                status, hdrs, body, dt = send(eng.port, data, 20.0 if cls == "app" else 5.0)
                counts[status] += 1
                by_class["%s %s" % (cls, status // 100 if status else "no answer")] += 1
                if dt > slowest[0]:
                    slowest = (dt, label)
                why = None
                if status >= 500:
                    why = "5xx: %s %r" % (status, body[:300])
                elif cls == "app" and status == 0:
                    why = "no HTTP answer (got %r after %.1fs)" % (body[:100], dt)
                elif cls == "app" and 400 <= status < 500:
                    why = check_error_shape(status, hdrs, body)
                elif cls == "app" and 200 <= status < 300 and "json" in hdrs.get("content-type", "") and body:
                    try:
                        json.loads(body.decode("utf-8"))
                    except (UnicodeDecodeError, ValueError) as e:
                        why = "2xx body is not valid UTF-8 JSON (%s): %r" % (e, body[:200])
                elif cls == "proto" and status not in (0, 400, 404, 405, 411, 413, 414, 415, 431, 501, 505) and \
                        not 200 <= status < 300:
                    why = "unexpected %s %r" % (status, body[:200])
                if why:
                    problems.append("[%s] %s: %s" % (cls, label[:160], why))
                if not eng.alive():
                    self.fail("ENGINE DIED on request %r (seed %d)\n%s" % (label, seed, eng.log_tail(80)))
            self.assertTrue(eng.alive(), "engine died in batch at %d (seed %d)" % (start, seed))
            st, _, hb = eng.health()
            self.assertEqual(st, 200, "health after batch at %d -> %s %r" % (start, st, hb))
        summary = ", ".join("%s: %d" % (k, counts[k]) for k in sorted(counts))
        sys.stdout.write("\n[malformed] %d requests (seed %d); status counts: %s\n[malformed] by class: %s\n"
                         "[malformed] slowest: %.2fs %s\n"
                         % (len(reqs), seed, summary, dict(sorted(by_class.items())), slowest[0], slowest[1][:100]))
        sys.stdout.flush()
        self.assertFalse(problems, "%d of %d malformed requests broke the contract (seed %d):\n  %s"
                         % (len(problems), len(reqs), seed, "\n  ".join(problems[:40])))
        return counts

    def test_malformed_matrix(self):
        routes = parse_routes()
        self.assertGreaterEqual(len(routes), 6, routes)
        rng = random.Random(SEED)
        reqs = generate(rng, routes)
        self.assertGreaterEqual(len(reqs), 1000)
        # authentication off (loopback), limits at their defaults but a short request timeout, so
        # framing lies (a Content-Length longer than the body) end quickly
        eng = self.engine(extra_env={"AGENCY_REQUEST_TIMEOUT": "2", "AGENCY_WEBHOOK_SECRET": WEBHOOK_SECRET})
        # a few real rows, so ids 1-3 exist for some of the requests
        for _ in range(3):
            eng.create_ok("test.noop", {})
        counts = self.run_matrix(eng, reqs, SEED)
        self.assertGreater(sum(v for k, v in counts.items() if 400 <= k < 500), len(reqs) // 2)
        self.assertEqual(eng.health()[0], 200)

    def test_malformed_with_authentication(self):
        """The same kinds of junk with authentication on: bad tokens never reach a handler, never a 5xx."""
        routes = parse_routes()
        rng = random.Random(SEED + 1)
        reqs = []
        junk_auth = ["Bearer", "Bearer ", "Bearer .", "Bearer ..", "Bearer a.b.c", "Bearer \xff.\xfe.\xfd",
                     "Bearer " + "a" * 8200 + ".b.c", "Bearer e30.e30.", "Bearer e30.e30." + "A" * 43,
                     "Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24." + "A" * 43, "Basic Zm9vOmJhcg==", "bearer",
                     "Bearer e30.e30." + "_" * 86, "Bearer e30.e30." + "=" * 43, "Bearer %00.%00.%00"]
        for method, path, has_body, public in routes:
            for a in junk_auth:
                target = fill(path, rng.choice(["1", "999999", "..", "%00"]))
                body = obj_text(resource_fields(path)) if has_body else None
                reqs.append(("%s %s auth %r" % (method, path, a[:30]), "app",
                             http_request(method, target, body, headers=[("Authorization", a)])))
        eng = self.engine(extra_env={"AGENCY_JWT_SECRET": SECRET, "AGENCY_REQUEST_TIMEOUT": "2",
                                     "AGENCY_WEBHOOK_SECRET": WEBHOOK_SECRET})
        counts = self.run_matrix(eng, reqs, SEED + 1)
        self.assertGreater(counts[401], len(reqs) // 2, counts)


if __name__ == "__main__":
    unittest.main()
