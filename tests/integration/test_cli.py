"""The `agency` command line: help, version, check, config, migrate, run, and
configuration errors at start."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import shutil
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REPO_ROOT, TEST_DOMAIN, Engine, EngineTestCase, agency_bin,  # noqa: E402
                     free_port)

LEAD = {"email": "ana@example.com", "company": "Acme", "budget": 20000,
        "authority": "decision_maker", "need": "high", "timeline_days": 30}

BROKEN_AGENT = '''local agent = { name = "broken1" }

function agent.run(task, ctx)
  local x = { 1, 2
  return x
end

return agent
'''
BROKEN_AGENT_LINE = 5   # luac: broken1.lua:5: '}' expected (to close '{' at line 4) near 'return'

BROKEN_TASK = '''return {
  agent = "ok",
  timeout = = 10,
}
'''
BROKEN_TASK_LINE = 3    # luac: broken2.lua:3: unexpected symbol near '='


class CliTest(EngineTestCase):

    def setUp(self):
        if not os.path.exists(agency_bin()):
            self.skipTest("agency binary not found at %s" % agency_bin())
        self.tmp = tempfile.mkdtemp(prefix="agency-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def cli(self, args, env=None, timeout=30):
        full = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_") or k == "AGENCY_BIN"}
        full.setdefault("AGENCY_DATABASE_URL", "sqlite:%s" % os.path.join(self.tmp, "cli.db"))
        full["AGENCY_LOG_LEVEL"] = "info"
        full.update(env or {})
        try:
            p = subprocess.run([agency_bin()] + list(args), env=full, cwd=REPO_ROOT,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail("agency %s did not exit within %ss; output: %r %r"
                      % (" ".join(args), timeout, e.stdout, e.stderr))
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        return p.returncode, out, err

    def describe(self, rc, out, err):
        return "exit %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (rc, out[-3000:], err[-3000:])

    # ---- help / version -------------------------------------------------------

    def test_help(self):
        rc, out, err = self.cli(["--help"])
        self.assertEqual(rc, 0, self.describe(rc, out, err))
        text = out + err
        for sub in ("serve", "migrate", "check", "run", "config"):
            self.assertRegex(text, r"\b%s\b" % sub, "--help does not list '%s'\n%s" % (sub, text))

    def test_version(self):
        rc, out, err = self.cli(["--version"])
        self.assertEqual(rc, 0, self.describe(rc, out, err))
        self.assertRegex(out + err, r"\d+\.\d+\.\d+")

    def test_unknown_subcommand(self):
        rc, out, err = self.cli(["no-such-command"])
        self.assertNotEqual(rc, 0, self.describe(rc, out, err))
        self.assertIn("no-such-command", out + err)

    # ---- check ---------------------------------------------------------------------

    def test_check_good_tree(self):
        rc, out, err = self.cli(["check", os.path.join(REPO_ROOT, "domains")])
        self.assertEqual(rc, 0, self.describe(rc, out, err))

    def test_check_good_tree_with_test_domain(self):
        tree = os.path.join(self.tmp, "domains")
        shutil.copytree(os.path.join(REPO_ROOT, "domains"), tree)
        shutil.copytree(TEST_DOMAIN, os.path.join(tree, "test"))
        rc, out, err = self.cli(["check", tree])
        self.assertEqual(rc, 0, self.describe(rc, out, err))

    def test_check_bad_tree(self):
        tree = os.path.join(self.tmp, "domains")
        d = os.path.join(tree, "bad")
        os.makedirs(os.path.join(d, "agents"))
        os.makedirs(os.path.join(d, "tasks"))
        files = {
            "config.lua": 'return { description = "bad domain" }\n',
            "agents/ok.lua": 'local agent = { name = "ok" }\nfunction agent.run(task, ctx)\n  return { ok = true }\nend\nreturn agent\n',
            "tasks/ok.lua": 'return { agent = "ok", timeout = 5, max_attempts = 1 }\n',
            "agents/broken1.lua": BROKEN_AGENT,
            "tasks/broken2.lua": BROKEN_TASK,
        }
        for rel, text in files.items():
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        rc, out, err = self.cli(["check", tree])
        self.assertNotEqual(rc, 0, self.describe(rc, out, err))
        text = out + err
        self.assertIn("broken1.lua:%d:" % BROKEN_AGENT_LINE, text, self.describe(rc, out, err))
        self.assertIn("broken2.lua:%d:" % BROKEN_TASK_LINE, text, self.describe(rc, out, err))

    # ---- config --------------------------------------------------------------------

    def test_config_prints_and_masks_secrets(self):
        rc, out, err = self.cli(["config"], env={
            "AGENCY_LISTEN": "127.0.0.1:9999",
            "AGENCY_DATABASE_URL": "postgres://u:secret@h/db",
            "AGENCY_THREADS": "3",
        })
        self.assertEqual(rc, 0, self.describe(rc, out, err))
        self.assertIn("AGENCY_LISTEN", out)
        self.assertIn("127.0.0.1:9999", out)
        self.assertIn("AGENCY_DATABASE_URL", out)
        self.assertIn("AGENCY_THREADS", out)
        self.assertNotIn("secret", out + err, "the database password is printed")
        self.assertIn("postgres://", out)

    def test_invalid_threads_rejected_at_start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
        env.update({
            "AGENCY_LISTEN": "127.0.0.1:%d" % free_port(),
            "AGENCY_DATABASE_URL": "sqlite:%s" % os.path.join(self.tmp, "t.db"),
            "AGENCY_DOMAINS": os.path.join(REPO_ROOT, "domains"),
            "AGENCY_THREADS": "abc",
        })
        p = subprocess.Popen([agency_bin(), "serve"], env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            self.fail("serve with AGENCY_THREADS=abc kept running\n%s" % (out + err).decode()[-2000:])
        text = (out + err).decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, text)
        self.assertIn("AGENCY_THREADS", text)

    # ---- migrate -----------------------------------------------------------------------

    def test_migrate_fresh_db(self):
        db = os.path.join(self.tmp, "fresh.db")
        env = {"AGENCY_DATABASE_URL": "sqlite:%s" % db}
        rc, out, err = self.cli(["migrate"], env=env)
        self.assertEqual(rc, 0, self.describe(rc, out, err))
        self.assertTrue(os.path.exists(db), "migrate did not create %s" % db)
        con = sqlite3.connect(db)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
        self.assertIn("tasks", tables, "tables: %s" % sorted(tables))
        # running it again is a no-op
        rc, out, err = self.cli(["migrate"], env=env)
        self.assertEqual(rc, 0, "second migrate: " + self.describe(rc, out, err))

    # ---- run ---------------------------------------------------------------------------

    def test_run_qualifier(self):
        inp = os.path.join(self.tmp, "lead.json")
        with open(inp, "w") as f:
            json.dump(LEAD, f)
        rc, out, err = self.cli(["run", "sales/qualifier", "--input", inp],
                                env={"AGENCY_DOMAINS": os.path.join(REPO_ROOT, "domains")})
        self.assertEqual(rc, 0, self.describe(rc, out, err))
        doc = None
        try:
            doc = json.loads(out)
        except ValueError:
            for line in reversed(out.strip().splitlines()):
                try:
                    doc = json.loads(line)
                    break
                except ValueError:
                    continue
        self.assertIsInstance(doc, dict, "stdout is not a JSON object: " + self.describe(rc, out, err))
        result = doc.get("result", doc) if isinstance(doc.get("result"), dict) else doc
        self.assertEqual(result.get("score"), 95, "result: %r" % (doc,))
        self.assertIs(result.get("qualified"), True, "result: %r" % (doc,))

    # ---- serve lifecycle ----------------------------------------------------------------

    def test_serve_sigterm_exits_zero(self):
        eng = self.engine()
        self.assertEqual(eng.health()[0], 200)
        t0 = time.time()
        rc = eng.stop(timeout=10)
        self.assertLess(time.time() - t0, 10, "serve took too long to stop on SIGTERM")
        self.assertEqual(rc, 0, "serve exited %s on SIGTERM" % rc)


if __name__ == "__main__":
    unittest.main()
