"""`agency test [PATH]`: the runner of *_test.lua files, on the fixtures under
tests/scripts/agency_test/domains/shop (agents/ and handoffs/ hold passing tests, failing/ fails on purpose)."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO_ROOT, agency_bin  # noqa: E402

ROOT = "tests/scripts/agency_test/domains"
SHOP = ROOT + "/shop"
FAILING = SHOP + "/failing/assertions_test.lua"
GUIDE = os.path.join(REPO_ROOT, "docs", "scripting.md")
# docs/scripting.md in document order: a `## ` heading, or a marked fenced block (the marker on the line before)
GUIDE_TOKEN = re.compile(r"^## [^\n]*$|^<!-- (?P<kind>example-[a-z]+)(?:: (?P<arg>[^\n]*?))? -->\n"
                         r"```(?P<lang>\w*)\n(?P<code>.*?)^```$", re.M | re.S)
LOOP = ("offer", "marketing", "sales", "fulfillment", "feedback")


def line_of(path, needle):
    """The 1-based line of the first line of the fixture containing needle."""
    with open(os.path.join(REPO_ROOT, path)) as f:
        for i, line in enumerate(f, 1):
            if needle in line:
                return i
    raise AssertionError("%r not in %s" % (needle, path))


def domains_table():
    """The guide's table of the shipped domains, from the files: the loop's five in order, then any other."""
    root = os.path.join(REPO_ROOT, "domains")
    names = sorted((d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "config.lua"))),
                   key=lambda d: (LOOP.index(d) if d in LOOP else len(LOOP), d))

    def scripts(domain, kind):
        d = os.path.join(root, domain, kind)
        return sorted(f[:-4] for f in os.listdir(d) if f.endswith(".lua") and not f.endswith("_test.lua")) \
            if os.path.isdir(d) else []

    # each module's fields, as lua5.4 reads them (the files are plain Lua tables)
    files = [os.path.join(root, d, "config.lua") for d in names] + \
        [os.path.join(root, d, "handoffs", h + ".lua") for d in names for h in scripts(d, "handoffs")]
    probe = ("for _, p in ipairs(arg) do local m = assert(loadfile(p, 't', setmetatable({}, {__index = _G})))() "
             "local on = type(m.on) == 'table' and table.concat(m.on, ',') or m.on "
             "print(p .. '\\t' .. tostring(m.entry) .. '\\t' .. tostring(on) .. '\\t' .. tostring(m.to)) end")
    out = subprocess.run([shutil.which("lua5.4"), "-e", probe, "-"] + files, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    fields = {p: (entry, on, to) for p, entry, on, to in (l.split("\t") for l in out.splitlines())}
    rows = ["| domain | agents | entry task | handoffs out (file: source task → target task) |\n",
            "|---|---|---|---|\n"]
    for d in names:
        entry = fields[os.path.join(root, d, "config.lua")][0]
        hs = []
        for h in scripts(d, "handoffs"):
            _, on, to = fields[os.path.join(root, d, "handoffs", h + ".lua")]
            hs.append("`%s`: `%s` → `%s`" % (h, on, to))
        rows.append("| `%s` | %s | %s | %s |\n" % (
            d, ", ".join("`%s`" % a for a in scripts(d, "agents")),
            "`%s.%s`" % (d, entry) if entry != "nil" else "—", "<br>".join(hs) or "—"))
    return "".join(rows)


class AgencyTestCommand(unittest.TestCase):

    def run_test(self, *args, cwd=None, env=None, timeout=120):
        full = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_") or k == "AGENCY_BIN"}
        full.update(env or {})
        binary = os.path.abspath(os.path.join(REPO_ROOT, agency_bin()))
        p = subprocess.run([binary, "test"] + list(args), cwd=cwd or REPO_ROOT, env=full,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def summary(self, out):
        """(tests passed, tests failed, files that did not run, test files) from the closing lines."""
        m = re.search(r"^(\d+) test files?, [\d.]+ s(?:; (\d+) did not run \(each counts as a failure\))?"
                      r"(?:; no test name contains .*)?\n(\d+) passed, (\d+) failed\n\Z", out, re.M)
        self.assertIsNotNone(m, out)
        files, bad, passed, failed = (int(x or 0) for x in m.groups())
        return passed, failed - bad, bad, files

    # ---- passing runs ----------------------------------------------------------------------------------------

    def test_a_passing_directory_exits_0_with_one_line_per_test(self):
        rc, out, err = self.run_test(SHOP + "/agents")
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("FAIL", out)
        for line in (
            "ok   %s/agents/quoter_test.lua: run_agent returns the result table; the mock answers even though "
            "config.lua names openai" % SHOP,
            "ok   %s/agents/quoter_test.lua: memory written by the previous test is gone" % SHOP,
            "ok   %s/agents/quoter_test.lua: run_task raises the schema errors" % SHOP,
            "ok   %s/agents/quoter_test.lua: a run that waits on the loop (sleep) is driven to its end" % SHOP,
            "ok   %s/agents/writer_test.lua: scripted answers: a tool call, then the text" % SHOP,
            "ok   %s/agents/writer_test.lua: too few scripted answers is an error naming the call" % SHOP,
            "ok   %s/agents/boss_test.lua: opts.approve gives the decision" % SHOP,
        ):
            self.assertIn(line + "\n", out)
        passed, failed, bad, files = self.summary(out)
        self.assertEqual((failed, bad, files), (0, 0, 3))
        self.assertEqual(passed, out.count("\nok   ") + out.startswith("ok   "))
        self.assertGreaterEqual(passed, 15)
        self.assertEqual(err, "", "no log lines by default")

    def test_handoffs_accepted_rejected_skipped(self):
        rc, out, err = self.run_test(SHOP + "/handoffs/to_ship_test.lua")
        self.assertEqual(rc, 0, out + err)
        for name in ("accepted: the target task's input", "rejected by validate, with its reasons",
                     "skipped when `when` says no", "rejected by the target task type's schema",
                     "an unknown handoff is an error", "the result of a real run hands off"):
            self.assertIn("ok   %s/handoffs/to_ship_test.lua: %s\n" % (SHOP, name), out)
        self.assertEqual(self.summary(out), (6, 0, 0, 1))

    def test_filter_runs_matching_tests_only(self):
        rc, out, _ = self.run_test(SHOP + "/agents/quoter_test.lua", "--filter", "memory")
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.summary(out)[:2], (2, 0))
        rc, out, _ = self.run_test(SHOP + "/agents/quoter_test.lua", "--filter", "no such test name")
        self.assertEqual(rc, 1, out)
        self.assertIn('; no test name contains "no such test name"\n0 passed, 0 failed\n', out)

    # ---- failures --------------------------------------------------------------------------------------------

    def test_failures_name_the_line_and_the_difference(self):
        rc, out, err = self.run_test(FAILING)
        self.assertEqual(rc, 1, out + err)
        f = FAILING
        expect = [
            (line_of(f, "{ a = { b = { 1, 2, 3 } }"), "nested difference", "at .a.b[3]: expected 4, got 3"),
            (line_of(f, 'eq({ x = 1 }'), "missing key",
             'the order: at .y: expected "why", got nil (no such key)'),
            (line_of(f, 'string.rep("a", 50) .. "XYZ"'), "long strings",
             'strings differ at byte 52: expected "...aaaaaaaaaaaaaaaaaaaaaaaaaaaaaXQZ", '
             'got "...aaaaaaaaaaaaaaaaaaaaaaaaaaaaaXYZ"'),
            (line_of(f, "ok(nil"), "ok fails", "the lead has a score: got nil"),
            (line_of(f, 'match("hello"'), "match fails", '"hello" does not match "^%d+$"'),
            (line_of(f, "raises(function() return 1 end)"), "raises without an error",
             "expected an error, but the function returned"),
            (line_of(f, "return lead.score"), "an error in the test itself",
             "attempt to index a nil value (local 'lead')"),
            (line_of(f, 'run_agent("crash"'), "the agent fails",
             'run_agent("crash") failed: %s/agents/crash.lua:%d: crashed at depth 2'
             % (SHOP, line_of(SHOP + "/agents/crash.lua", "error("))),
            (line_of(f, "rate_limited"), "a structured error", "rate_limited: slow down"),
            (line_of(f, "while true do"), "an endless loop", "the test exceeded its budget of"),
        ]
        for line, name, msg in expect:
            prefix = "FAIL %s:%d: %s: %s" % (f, line, name, msg)
            self.assertTrue(any(l.startswith(prefix) for l in out.splitlines()), "%r not in\n%s" % (prefix, out))
        # a failure ends only its own test
        for name in ("passes before", "passes between", "passes after"):
            self.assertIn("ok   %s: %s\n" % (f, name), out)
        self.assertEqual(self.summary(out), (3, 10, 0, 1))

    def test_a_syntax_error_fails_the_file_with_its_line(self):
        path = SHOP + "/failing/syntax_test.lua"
        rc, out, _ = self.run_test(path)
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL %s:3: the file does not load: unexpected symbol near '='\n" % path, out)
        self.assertEqual(self.summary(out), (0, 0, 1, 1))

    def test_an_error_outside_test_fails_the_file(self):
        path = SHOP + "/failing/outside_test.lua"
        rc, out, _ = self.run_test(path)
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL %s:3: error outside test(): attempt to index a nil value (local 'x')\n" % path, out)
        self.assertNotIn("declared but never run", out)

    def test_a_file_without_tests_is_not_green(self):
        path = SHOP + "/failing/empty_test.lua"
        rc, out, _ = self.run_test(path)
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL %s:1: no tests:" % path, out)

    def test_the_whole_root_reports_every_file(self):
        rc, out, _ = self.run_test(ROOT)
        self.assertEqual(rc, 1, out)
        passed, failed, bad, files = self.summary(out)
        self.assertEqual((failed, bad, files), (10, 3, 8))
        self.assertGreaterEqual(passed, 27)
        # files run in path order
        order = [m.group(1) for m in re.finditer(r"^(?:ok  |FAIL) (\S+?\.lua)", out, re.M)]
        self.assertEqual(order, sorted(order))

    def test_no_test_files_and_bad_paths(self):
        empty = tempfile.mkdtemp(prefix="agency-test-empty-")
        self.addCleanup(shutil.rmtree, empty, True)
        rc, out, err = self.run_test(empty)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("no *_test.lua files under %s" % empty, err)
        rc, out, err = self.run_test(ROOT + "/no_such_domain")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("cannot read %s/no_such_domain" % ROOT, err)
        rc, out, err = self.run_test("--bogus")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("usage: agency test", err)

    def test_default_path_is_agency_domains(self):
        rc, out, err = self.run_test(env={"AGENCY_DOMAINS": SHOP + "/handoffs"})
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.summary(out), (6, 0, 0, 1))

    # ---- domains, scripts that do not load, paths ------------------------------------------------------------

    def test_domain_resolution_and_broken_scripts(self):
        tmp = tempfile.mkdtemp(prefix="agency-test-")
        self.addCleanup(shutil.rmtree, tmp, True)
        dom = os.path.join(tmp, "domains", "shop")
        shutil.copytree(os.path.join(REPO_ROOT, SHOP), dom)
        shutil.rmtree(os.path.join(dom, "failing"))
        with open(os.path.join(dom, "agents", "broken.lua"), "w") as f:
            f.write("local agent = {}\nfunction agent.run(task)\n  return { 1, 2\nend\nreturn agent\n")
        with open(os.path.join(dom, "handoffs", "broken_h.lua"), "w") as f:
            f.write("return { on = 'shop.quote', to = 'shop.ship' }\n")
        # a test at the top of the domain, one in a directory of its own
        with open(os.path.join(dom, "flow_test.lua"), "w") as f:
            f.write('test("a broken agent reports its own file and line", function()\n'
                    '  raises(function() run_agent("broken", {}) end, "agents/broken%.lua:4:")\n'
                    'end)\n'
                    'test("a broken handoff reports why", function()\n'
                    '  raises(function() run_handoff("broken_h", {}) end, "transform")\n'
                    'end)\n')
        os.makedirs(os.path.join(dom, "checks"))
        with open(os.path.join(dom, "checks", "deep_test.lua"), "w") as f:
            f.write('test("the domain is the one above", function()\n'
                    '  eq(run_task("quote", { item = "widget", qty = 4 }).total, 10.0)\n'
                    'end)\n')
        rc, out, err = self.run_test("domains", cwd=tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("ok   domains/shop/flow_test.lua: a broken agent reports its own file and line\n", out)
        self.assertIn("ok   domains/shop/checks/deep_test.lua: the domain is the one above\n", out)
        # from inside the domain, with relative paths
        rc, out, err = self.run_test("agents/boss_test.lua", cwd=dom)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("ok   agents/boss_test.lua: opts.approve gives the decision\n", out)
        rc, out, err = self.run_test(".", cwd=os.path.join(dom, "handoffs"))
        self.assertEqual(rc, 0, out + err)
        # a test file outside any domain
        stray = os.path.join(tmp, "stray_test.lua")
        with open(stray, "w") as f:
            f.write('test("x", function() end)\n')
        rc, out, err = self.run_test(stray)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("cannot tell its domain", out)

    def test_annotations_cover_the_sandbox_api(self):
        """scripts/lua/agency.d.lua (LuaLS) declares every function the sandbox really has, and loads as Lua."""
        ann_path = os.path.join(REPO_ROOT, "scripts", "lua", "agency.d.lua")
        with open(ann_path) as f:
            ann = f.read()
        self.assertTrue(ann.startswith("---@meta"))
        lua = shutil.which("lua5.4")
        self.assertIsNotNone(lua, "lua5.4 is needed to load the annotation file")
        p = subprocess.run([lua, "-e", "assert(loadfile(%r))" % ann_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        # what the sandbox has, as a test file sees it
        tmp = tempfile.mkdtemp(prefix="agency-test-probe-")
        self.addCleanup(shutil.rmtree, tmp, True)
        dom = os.path.join(tmp, "domains", "probe")
        os.makedirs(os.path.join(dom, "agents"))
        with open(os.path.join(dom, "config.lua"), "w") as f:
            f.write("return {}\n")
        with open(os.path.join(dom, "agents", "probe_test.lua"), "w") as f:
            f.write('test("probe", function()\n'
                    '  for _, lib in ipairs({ "json", "log", "time", "memory", "llm", "task", "template" }) do\n'
                    '    local ks = {}\n'
                    '    for k in pairs(_ENV[lib]) do if not k:find("^_") then ks[#ks + 1] = k end end\n'
                    '    print("LIB " .. lib .. " " .. table.concat(ks, " "))\n'
                    '  end\n'
                    '  for _, g in ipairs({ "sleep", "print", "test", "eq", "ok", "match", "raises", "run_agent",\n'
                    '                       "run_task", "run_handoff" }) do\n'
                    '    print("GLOBAL " .. g .. " " .. type(_ENV[g]))\n'
                    '  end\n'
                    'end)\n')
        rc, out, err = self.run_test("domains", cwd=tmp)
        self.assertEqual(rc, 0, out + err)
        libs = re.findall(r"^\s+LIB (\w+) ?(.*)$", out, re.M)
        self.assertEqual(len(libs), 7, out)
        for lib, keys in libs:
            self.assertRegex(ann, r"(?m)^%s = \{\}$" % lib)
            for key in keys.split():
                declared = re.search(r"(?m)^function %s\.%s\(" % (lib, key), ann) or \
                    re.search(r"(?m)^---@field %s " % key, ann)
                self.assertTrue(declared, "%s.%s is not annotated in agency.d.lua" % (lib, key))
        globs = re.findall(r"^\s+GLOBAL (\w+) (\w+)$", out, re.M)
        self.assertEqual(len(globs), 10, out)
        for name, typ in globs:
            self.assertEqual(typ, "function", name)
            self.assertRegex(ann, r"(?m)^function %s\(" % name)
        # the editor configuration points at it
        with open(os.path.join(REPO_ROOT, "domains", ".luarc.json")) as f:
            luarc = json.load(f)
        self.assertEqual(luarc["runtime"]["version"], "Lua 5.4")
        for lib_path in luarc["workspace"]["library"]:
            self.assertTrue(os.path.exists(os.path.join(REPO_ROOT, "domains", lib_path)), lib_path)

    def test_the_examples_in_the_scripting_guide_pass(self):
        """docs/scripting.md, read top to bottom like a new staff member would, with its examples run on the way.

        The guide works in a copy of the repository's domains/ tree (the workspace, the current directory of
        its commands). A marker on the line before a fenced block says what to do with the block:
          <!-- example-file: PATH -->      write the block to PATH in the workspace (a later one replaces it:
                                           the guide edits the file)
          <!-- example-patch: PATH -->     a ```diff block: replace its ' '/'-' lines in PATH by its ' '/'+'
                                           lines; undone at the next file, patch or test marker or `## ` heading
          <!-- example-run[: exit N] -->   a ```sh block: each `agency ...` line runs (AGENCY_* unset, so the
                                           default ./domains applies) and must exit N (default 0)
          <!-- example-output -->         the output of the run before: a ```json block equals its stdout as
                                           JSON; any other block equals stdout then stderr line by line, with
                                           durations ("0.12 s"), "N scripts ok" counts and the engine's JSON
                                           log lines left out, and a `...` line matching any number of lines
          <!-- example-test: DIR -->       a ```lua block run as a test file of the domain DIR: in the
                                           workspace when DIR is under domains/, else in a copy of DIR's parent
                                           (fixtures); it must pass, every test() in it
          <!-- example-compiles -->        a ```lua block that must load as Lua
        """
        with open(GUIDE) as f:
            doc = f.read()
        tmp = tempfile.mkdtemp(prefix="agency-test-doc-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ws = os.path.join(tmp, "guide")
        shutil.copytree(os.path.join(REPO_ROOT, "domains"), os.path.join(ws, "domains"))
        lua = shutil.which("lua5.4")
        counts = {}
        patch = None   # (path, its text before the patch)
        last = None    # (what ran, rc, stdout, stderr) of the last example-run
        for m in GUIDE_TOKEN.finditer(doc):
            kind, arg, lang, code = m.group("kind"), m.group("arg"), m.group("lang"), m.group("code")
            where = "docs/scripting.md:%d" % (doc.count("\n", 0, m.start()) + 1)
            if patch and (kind is None or kind in ("example-file", "example-patch", "example-test")):
                with open(patch[0], "w") as f:
                    f.write(patch[1])
                patch = None
            if kind is None:  # a heading
                last = None
                continue
            counts[kind] = counts.get(kind, 0) + 1
            if kind in ("example-file", "example-patch"):
                self.assertTrue(arg and not os.path.isabs(arg) and ".." not in arg.split("/"), where)
                path = os.path.join(ws, arg)
            if kind == "example-file":
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(code)
            elif kind == "example-patch":
                self.assertEqual(lang, "diff", where)
                lines = code.splitlines()
                self.assertTrue(all(l[:1] in (" ", "-", "+") for l in lines), where + ": a diff line starts with ' ', - or +")
                old = "\n".join(l[1:] for l in lines if l[:1] in (" ", "-")) + "\n"
                new = "\n".join(l[1:] for l in lines if l[:1] in (" ", "+")) + "\n"
                with open(path) as f:
                    text = f.read()
                self.assertEqual(text.count(old), 1, "%s: the lines to patch are not once in %s:\n%s" % (where, arg, old))
                with open(path, "w") as f:
                    f.write(text.replace(old, new))
                patch = (path, text)
            elif kind == "example-run":
                self.assertEqual(lang, "sh", where)
                want = int(re.fullmatch(r"exit (\d+)", arg).group(1)) if arg else 0
                cmds = [l for l in (re.sub(r"\s+#.*$", "", l).strip() for l in code.splitlines()) if l and l[0] != "#"]
                self.assertTrue(cmds, where)
                for cmd in cmds:
                    argv = shlex.split(cmd)
                    self.assertEqual(argv[0], "agency", "%s: %s" % (where, cmd))
                    rc, out, err = self.run_agency(argv[1:], cwd=ws)
                    self.assertEqual(rc, want, "%s: %s exited %d:\n%s%s" % (where, cmd, rc, out, err))
                    last = (cmd, rc, out, err)
            elif kind == "example-output":
                self.assertIsNotNone(last, where + ": an example-output with no example-run before it")
                cmd, rc, out, err = last
                if lang == "json":
                    self.assertEqual(json.loads(out), json.loads(code), "%s: %s" % (where, cmd))
                else:
                    self.assert_lines(code, out + err, "%s: %s" % (where, cmd))
            elif kind == "example-test":
                self.assertEqual(lang, "lua", where)
                if arg.startswith("domains/"):
                    domain = os.path.join(ws, arg)
                else:
                    root = os.path.join(tmp, str(counts[kind]), "domains")
                    shutil.copytree(os.path.join(REPO_ROOT, os.path.dirname(arg)), root,
                                    ignore=shutil.ignore_patterns("*_test.lua"))
                    domain = os.path.join(root, os.path.basename(arg))
                path = os.path.join(domain, "agents", "doc_example_test.lua")
                with open(path, "w") as f:
                    f.write(code)
                rc, out, err = self.run_test(path)
                os.unlink(path)
                self.assertEqual(rc, 0, "%s (%s):\n%s\n%s%s" % (where, arg, code, out, err))
                self.assertEqual(self.summary(out)[:2], (len(re.findall(r"(?m)^test\(", code)), 0), where + "\n" + out)
            elif kind == "example-compiles":
                self.assertEqual(lang, "lua", where)
                p = subprocess.run([lua, "-e", "assert(load(io.read('a'), '=example'))"], input=code.encode(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self.assertEqual(p.returncode, 0, where + "\n" + code + p.stderr.decode())
            else:
                self.fail("%s: unknown marker <!-- %s -->" % (where, kind))
        for kind, least in (("example-file", 8), ("example-patch", 3), ("example-run", 8), ("example-output", 6),
                            ("example-test", 4), ("example-compiles", 2)):
            self.assertGreaterEqual(counts.get(kind, 0), least, "%s blocks in the guide: %r" % (kind, counts))

    def run_agency(self, args, cwd):
        full = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
        binary = os.path.abspath(os.path.join(REPO_ROOT, agency_bin()))
        p = subprocess.run([binary] + list(args), cwd=cwd, env=full, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def assert_lines(self, expected, actual, what):
        """actual's lines equal expected's, durations and script counts aside and the engine's own log lines (JSON
        objects with a "level", on stderr) left out; a `...` line matches any lines."""
        def norm(s):
            s = re.sub(r"\b\d+(?:\.\d+)? s\b", "N s", s)
            return re.sub(r"^\d+ scripts ok", "N scripts ok", s)
        exp = [norm(l) for l in expected.splitlines()]
        act = [norm(l) for l in actual.splitlines() if not re.match(r'\{"ts":"[^"]*","level":', l)]
        pattern = "".join(r"(?:[^\n]*\n)*?" if l == "..." else re.escape(l) + r"\n" for l in exp)
        self.assertRegex("\n".join(act) + "\n", re.compile(r"\A" + pattern + r"\Z"),
                         "%s: the output differs from the guide's" % what)

    def test_every_lua_block_of_the_guide_is_checked(self):
        """A ```lua block of docs/scripting.md that is Lua (it loads) carries a marker, so it is run or compiled."""
        with open(GUIDE) as f:
            doc = f.read()
        lua = shutil.which("lua5.4")
        unmarked = []
        for m in re.finditer(r"(?m)^(?P<before>[^\n]*)\n```lua\n(?P<code>.*?)```", doc, re.S):
            if re.fullmatch(r"<!-- example-(?:file|test|compiles)(?:: .*)? -->", m.group("before")):
                continue
            p = subprocess.run([lua, "-e", "assert(load(io.read('a'), '=example'))"], input=m.group("code").encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if p.returncode == 0:
                unmarked.append("docs/scripting.md:%d" % (doc.count("\n", 0, m.start("code"))))
        self.assertEqual(unmarked, [], "Lua blocks without an example marker")

    def test_the_guides_links_point_at_its_headings(self):
        """Every [text](#anchor) of docs/scripting.md names one of its headings (GitHub's anchors)."""
        with open(GUIDE) as f:
            doc = f.read()
        anchors, fenced = set(), False
        for line in doc.splitlines():
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and re.match(r"#{1,6} ", line):
                anchors.add(re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-"))
        links = set(re.findall(r"\]\(#([^)]+)\)", doc))
        self.assertGreaterEqual(len(links), 15)
        self.assertEqual(sorted(links - anchors), [])
        with open(os.path.join(REPO_ROOT, "README.md")) as f:
            for link in re.findall(r"docs/scripting\.md#([\w-]+)", f.read()):
                self.assertIn(link, anchors, "README.md links to docs/scripting.md#" + link)

    def test_the_guides_domain_table_matches_the_files(self):
        """The table after <!-- domains-table --> in docs/scripting.md is what domains/ holds (domains_table())."""
        with open(GUIDE) as f:
            doc = f.read()
        m = re.search(r"<!-- domains-table -->\n((?:\|[^\n]*\n)+)", doc)
        self.assertIsNotNone(m, "no <!-- domains-table --> in the guide")
        self.assertEqual(m.group(1), domains_table(),
                         "regenerate it: python3 tests/integration/test_agency_test.py --domains-table")

    def test_help_lists_the_command(self):
        binary = os.path.abspath(os.path.join(REPO_ROOT, agency_bin()))
        out = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, check=True).stdout.decode()
        self.assertIn("test [PATH]", out)


if __name__ == "__main__":
    if sys.argv[1:] == ["--domains-table"]:  # print the guide's domains table (docs/scripting.md)
        sys.stdout.write(domains_table())
    else:
        unittest.main()
