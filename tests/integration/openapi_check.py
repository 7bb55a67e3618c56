"""Checks HTTP responses against api/openapi.yaml (the API contract).

A small validator of our own for the JSON Schema subset the spec uses: type (a name or a list of
names, so `[string, "null"]` is a nullable string), properties, required, additionalProperties,
items, enum, const, $ref (to anywhere in the document), oneOf/anyOf/allOf, minimum/maximum,
minLength/maxLength, pattern; `format`, `description` and the like are ignored.

    errors = check_response("GET", "/api/v1/tasks/42", 200, headers, body_bytes)

finds the operation by matching the path templates (literal segments win over `{param}`), checks that
the status is documented, that the response's Content-Type is one the status documents, that the body
matches its schema, and that headers marked `required` are there. A path no route matches must be a
404, a routed path with an undocumented method a 405, a CORS preflight a 204 or 403: the spec's
`x-agency-unrouted` says how those look.
"""

import json
import os
import re
import threading

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SPEC_PATH = os.path.join(REPO_ROOT, "api", "openapi.yaml")

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_lock = threading.Lock()
_cache = {}


def load_spec(path=SPEC_PATH):
    with _lock:
        if path not in _cache:
            with open(path, "rb") as f:
                _cache[path] = Spec(yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
        return _cache[path]


def resolve_pointer(doc, ref):
    """'#/components/schemas/Task' -> the object; KeyError when it does not resolve."""
    if not ref.startswith("#"):
        raise KeyError("only local $refs are supported: %s" % ref)
    node = doc
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError("unresolved $ref %s (at %r)" % (ref, part))
    return node


class Spec:
    def __init__(self, doc):
        self.doc = doc
        self.templates = []  # (regex, literal segment count, template, path item)
        for tmpl, item in (doc.get("paths") or {}).items():
            segs = tmpl.strip("/").split("/")
            rx = "^/" + "/".join("[^/]+" if re.fullmatch(r"\{[^}]+\}", s) else re.escape(s) for s in segs) + "$"
            literal = sum(1 for s in segs if not s.startswith("{"))
            self.templates.append((re.compile(rx), literal, tmpl, item))
        self.templates.sort(key=lambda t: -t[1])

    def deref(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            node = resolve_pointer(self.doc, node["$ref"])
            seen += 1
            if seen > 50:
                raise KeyError("$ref loop")
        return node

    def match_path(self, path):
        """(template, path item) for a concrete path, or (None, None)."""
        path = path.split("?", 1)[0].split("#", 1)[0]
        while len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        for rx, _, tmpl, item in self.templates:
            if rx.match(path):
                return tmpl, item
        return None, None

    # ---- schema validation -------------------------------------------------------------------

    def validate(self, schema, value, where="$"):
        """A list of error strings (empty when value matches schema)."""
        errs = []
        self._validate(schema, value, where, errs)
        return errs

    def _validate(self, schema, value, where, errs):
        if schema is True or schema is None:
            return
        if schema is False:
            errs.append("%s: no value is allowed here" % where)
            return
        if not isinstance(schema, dict):
            errs.append("%s: bad schema %r" % (where, schema))
            return
        if "$ref" in schema:
            try:
                target = resolve_pointer(self.doc, schema["$ref"])
            except KeyError as e:
                errs.append("%s: %s" % (where, e))
                return
            self._validate(target, value, where, errs)
            # 2020-12: siblings of $ref apply too
            schema = {k: v for k, v in schema.items() if k != "$ref"}
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, t) for t in types):
                errs.append("%s: expected %s, got %s" % (where, " or ".join(types), _json_type(value)))
                return
        if "const" in schema and not _json_equal(value, schema["const"]):
            errs.append("%s: expected %r, got %r" % (where, schema["const"], value))
        if "enum" in schema and not any(_json_equal(value, e) for e in schema["enum"]):
            errs.append("%s: %r is not one of %r" % (where, value, schema["enum"]))
        if _is_type(value, "number"):
            if "minimum" in schema and value < schema["minimum"]:
                errs.append("%s: %r is below the minimum %r" % (where, value, schema["minimum"]))
            if "maximum" in schema and value > schema["maximum"]:
                errs.append("%s: %r is above the maximum %r" % (where, value, schema["maximum"]))
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                errs.append("%s: %r is shorter than %d" % (where, value, schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                errs.append("%s: %r is longer than %d" % (where, value[:80], schema["maxLength"]))
            if "pattern" in schema and not re.search(schema["pattern"], value):
                errs.append("%s: %r does not match %s" % (where, value[:80], schema["pattern"]))
        if isinstance(value, dict):
            props = schema.get("properties") or {}
            for name in schema.get("required") or []:
                if name not in value:
                    errs.append("%s: %r is required" % (where, name))
            for name, sub in props.items():
                if name in value:
                    self._validate(sub, value[name], "%s.%s" % (where, name), errs)
            extra = schema.get("additionalProperties", True)
            if extra is not True:
                for name in value:
                    if name in props:
                        continue
                    if extra is False:
                        errs.append("%s: %r is not in the schema" % (where, name))
                    else:
                        self._validate(extra, value[name], "%s.%s" % (where, name), errs)
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                self._validate(schema["items"], item, "%s[%d]" % (where, i), errs)
        for sub in schema.get("allOf") or []:
            self._validate(sub, value, where, errs)
        if "anyOf" in schema:
            branches = [self.validate(sub, value, where) for sub in schema["anyOf"]]
            if all(branches):
                errs.append("%s: matches none of anyOf: %s" % (where, "; ".join(b[0] for b in branches)))
        if "oneOf" in schema:
            branches = [self.validate(sub, value, where) for sub in schema["oneOf"]]
            ok = sum(1 for b in branches if not b)
            if ok == 0:
                errs.append("%s: matches none of oneOf: %s" % (where, "; ".join(b[0] for b in branches)))
            elif ok > 1:
                errs.append("%s: matches %d branches of oneOf" % (where, ok))

    # ---- responses ---------------------------------------------------------------------------

    def find_response(self, method, path, status, preflight=False):
        """(description of what was matched, response object) or (problem text, None)."""
        method = method.lower()
        unrouted = self.doc.get("x-agency-unrouted") or {}
        if preflight:
            resp = (unrouted.get("preflight") or {}).get(str(status))
            if resp is None:
                return "CORS preflight %s: status %s is not documented" % (path, status), None
            return "preflight", self.deref(resp)
        tmpl, item = self.match_path(path)
        if tmpl is None:
            if status != 404:
                return "%s %s: no path in the spec matches, so the answer must be 404, got %s" % (
                    method.upper(), path, status), None
            return "unrouted path", self.deref(unrouted["notFound"])
        op = item.get(method)
        if op is None:
            if status != 405:
                return "%s %s: the spec has no %s on %s, so the answer must be 405, got %s" % (
                    method.upper(), path, method.upper(), tmpl, status), None
            return "unrouted method", self.deref(unrouted["methodNotAllowed"])
        responses = op.get("responses") or {}
        resp = responses.get(str(status))
        if resp is None:
            resp = responses.get("%dXX" % (status // 100)) or responses.get("default")
        if resp is None:
            return "%s %s (%s): status %s is not documented (documented: %s)" % (
                method.upper(), path, tmpl, status, ", ".join(sorted(responses))), None
        return "%s %s" % (method.upper(), tmpl), self.deref(resp)

    def check_response(self, method, path, status, headers, body, preflight=False):
        """A list of problems (empty when the response follows the spec).

        headers: a mapping with case-insensitive get() (http.client's message) or a plain dict;
        body: the raw bytes (or str)."""
        what, resp = self.find_response(method, path, status, preflight)
        if resp is None:
            return [what]
        errs = []
        hget = _header_getter(headers)
        for name, h in (resp.get("headers") or {}).items():
            h = self.deref(h)
            val = hget(name)
            if val is None:
                if h.get("required"):
                    errs.append("%s -> %s: header %s is missing" % (what, status, name))
                continue
            schema = h.get("schema") or {}
            if "integer" in (schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]):
                try:
                    val = int(val)
                except ValueError:
                    errs.append("%s -> %s: header %s: %r is not an integer" % (what, status, name, val))
                    continue
            for e in self.validate(schema, val, "header " + name):
                errs.append("%s -> %s: %s" % (what, status, e))
        if isinstance(body, str):
            body = body.encode()
        body = body or b""
        content = resp.get("content") or {}
        ctype = (hget("Content-Type") or "").split(";", 1)[0].strip().lower()
        if not content:
            if body:
                errs.append("%s -> %s: the spec documents no body, got %d bytes (%s)" % (
                    what, status, len(body), ctype or "no Content-Type"))
            return errs
        media = content.get(ctype)
        if media is None:
            errs.append("%s -> %s: Content-Type %r is not documented (documented: %s)" % (
                what, status, ctype, ", ".join(sorted(content))))
            return errs
        schema = media.get("schema")
        if schema is None:
            return errs
        if ctype == "application/json" or ctype.endswith("+json"):
            try:
                value = json.loads(body.decode("utf-8"))
            except ValueError as e:
                errs.append("%s -> %s: the body is not JSON (%s): %r" % (what, status, e, body[:200]))
                return errs
        else:
            value = body.decode("utf-8", "replace")
        for e in self.validate(schema, value):
            errs.append("%s -> %s: %s" % (what, status, e))
        return errs


def check_response(method, path, status, headers, body, preflight=False):
    return load_spec().check_response(method, path, status, headers, body, preflight)


def _header_getter(headers):
    if headers is None:
        return lambda name: None
    if hasattr(headers, "get_all") or hasattr(headers, "getheader"):
        return lambda name: headers.get(name)
    lower = {k.lower(): v for k, v in dict(headers).items()}
    return lambda name: lower.get(name.lower())


def _json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _is_type(v, t):
    jt = _json_type(v)
    if t == "number":
        return jt in ("integer", "number")
    if t == "integer":
        return jt == "integer" or (jt == "number" and float(v).is_integer())
    return jt == t


def _json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b
