/*
 * test_runtime.c: the Lua runtime (runtime.h) on a real libuv loop, against a domains tree written by
 * the tests: runs, waiting calls, the script APIs, the sandbox (each escape attempt a named test), CPU
 * and memory limits, errors, hot reload through the registry (scripts.h), and task creation requests
 * (request.h).
 *
 * Tests that may hang or crash the process when the engine has a bug run their scenario in a child
 * process with a deadline, so one bug fails one test instead of the whole suite.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <lua.h>

#include "../../engine/lua/request.h"
#include "../../engine/lua/runtime.h"
#include "../../engine/lua/scripts.h"
#include "../../engine/store.h"

#define CPU_BUDGET 5000000
#define MEM_LIMIT (16 << 20)

typedef struct fixture_s {
    char root[64];
    ag_scripts_t *scripts;
    uv_loop_t loop;
    ag_store_t *store;
    ag_rt_t *rt;
} fixture_t;

typedef struct res_s {
    int called;
    ag_run_status_t status;
    char *result, *error;
    int retryable;
    char version[17];
    int seq; /* order in which runs ended */
} res_t;

static int g_seq;

static void res_clear(res_t *r)
{
    free(r->result);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

/* ---- files ----------------------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_at(fixture_t *fx, const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", fx->root, rel);
    write_file(p, text);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rescan(fixture_t *fx, int expect_changed)
{
    int changed = -1;
    ag_err_t err;
    assert_int_equal(ag_scripts_rescan(fx->scripts, &changed, &err), 0);
    if (expect_changed >= 0)
        assert_int_equal(changed, expect_changed);
}

/* The snapshot's entry for t/<kind>/<name>, found among every script (good or bad). */
static const ag_script_t *entry(const ag_snapshot_t *snap, const char *kind, const char *name)
{
    for (size_t i = 0; i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        if (strcmp(sc->domain, "t") == 0 && strcmp(sc->kind, kind) == 0 && strcmp(sc->name, name) == 0)
            return sc;
    }
    return NULL;
}

static void assert_script_good(fixture_t *fx, const char *kind, const char *name)
{
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    const ag_script_t *sc = entry(snap, kind, name);
    assert_non_null(sc);
    if (sc->error != NULL)
        fail_msg("script t/%s/%s.lua did not load: %s", kind, name, sc->error);
    ag_snapshot_release(snap);
}

/* Writes t/agents/<name>.lua (src as is) and t/tasks/<name>.lua (task_src, or a plain task type). */
static void add_agent_src(fixture_t *fx, const char *name, const char *src, const char *task_src)
{
    char rel[128], tsrc[1024];
    snprintf(rel, sizeof(rel), "t/agents/%s.lua", name);
    write_at(fx, rel, src);
    snprintf(rel, sizeof(rel), "t/tasks/%s.lua", name);
    if (task_src == NULL) {
        snprintf(tsrc, sizeof(tsrc), "return { agent = \"%s\" }\n", name);
        task_src = tsrc;
    }
    write_at(fx, rel, task_src);
    rescan(fx, -1);
    assert_script_good(fx, "agents", name);
    assert_script_good(fx, "tasks", name);
}

/* An agent whose run(task, ctx) is body; body starts on line 3 of the file. */
static void add_agent(fixture_t *fx, const char *name, const char *body)
{
    char src[8192];
    snprintf(src, sizeof(src), "local M = {}\nfunction M.run(task, ctx)\n%s\nend\nreturn M\n", body);
    add_agent_src(fx, name, src, NULL);
}

/* ---- fixture ---------------------------------------------------------------------------------------------- */

static void make_tree(const char *root)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/t", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/t/agents", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/t/tasks", root);
    mkdir(p, 0755);
    /* the normal run every sandbox test ends with: it exercises the string metatable and libraries */
    snprintf(p, sizeof(p), "%s/t/agents/ok.lua", root);
    write_file(p, "local M = {}\n"
                  "function M.run(task, ctx)\n"
                  "  return ('abc'):upper() .. string.format('%d', math.floor(2.5)) .. table.concat({'x', 'y'})\n"
                  "    .. tostring(#string.rep('z', 3))\n"
                  "end\n"
                  "return M\n");
    snprintf(p, sizeof(p), "%s/t/tasks/ok.lua", root);
    write_file(p, "return { agent = \"ok\" }\n");
}

static int rt_open(fixture_t *fx, int64_t cpu, int64_t mem)
{
    ag_err_t err;
    if (uv_loop_init(&fx->loop) != 0)
        return -1;
    if (ag_store_sqlite_open(&fx->store, ":memory:", &err) != 0)
        return -1;
    int applied;
    if (fx->store->ops->migrate(fx->store, &applied, &err) != 0)
        return -1;
    ag_rt_opts_t o = {.loop = &fx->loop, .store = fx->store, .scripts = fx->scripts, .cpu_budget = cpu,
                      .memory_limit = mem};
    if (ag_rt_new(&fx->rt, &o, &err) != 0)
        return -1;
    return 0;
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->root, sizeof(fx->root), "/tmp/ag_rt_XXXXXX");
    if (mkdtemp(fx->root) == NULL)
        return -1;
    make_tree(fx->root);
    ag_err_t err;
    if (ag_scripts_new(&fx->scripts, fx->root, &err) != 0)
        return -1;
    if (rt_open(fx, CPU_BUDGET, MEM_LIMIT) != 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(ag_rt_waiting(fx->rt), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT); /* closing run handles */
    ag_rt_free(fx->rt);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&fx->loop);
    ag_store_close(fx->store);
    ag_scripts_free(fx->scripts);
    nftw(fx->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    assert_int_equal(rc, 0); /* no handle left open */
    return 0;
}

/* ---- runs ------------------------------------------------------------------------------------------------- */

static void on_end(ag_run_t *run, ag_run_end_t *end, void *data)
{
    (void)run;
    res_t *r = data;
    r->called++;
    r->seq = ++g_seq;
    r->status = end->status;
    free(r->result);
    free(r->error);
    r->result = end->result;
    r->error = end->error;
    end->result = end->error = NULL;
    r->retryable = end->retryable;
    memcpy(r->version, end->version, sizeof(r->version));
}

static ag_run_t *start(fixture_t *fx, const char *type, const char *input, res_t *r)
{
    memset(r, 0, sizeof(*r));
    ag_run_spec_t spec = {.task_id = 1, .type = type, .input = input ? input : "{}", .attempt = 1};
    ag_run_t *run = (ag_run_t *)1;
    ag_rt_start(fx->rt, &spec, on_end, r, &run);
    if (run == NULL)
        assert_int_equal(r->called, 1);
    else
        assert_int_equal(r->called, 0);
    return run;
}

/* Drives the loop until r's callback fired. */
static void wait_end(fixture_t *fx, res_t *r)
{
    int64_t deadline = ag_now_ms() + 10000;
    while (r->called == 0) {
        int alive = uv_run(&fx->loop, UV_RUN_ONCE);
        if (r->called == 0 && !alive)
            fail_msg("the loop has nothing left to do but the run never ended");
        if (ag_now_ms() > deadline)
            fail_msg("the run did not end within 10 s");
    }
    assert_int_equal(r->called, 1);
}

static void run_task(fixture_t *fx, const char *type, const char *input, res_t *r)
{
    start(fx, type, input, r);
    wait_end(fx, r);
}

static void assert_ok(const res_t *r, const char *json)
{
    if (r->status != AG_RUN_OK)
        fail_msg("run failed: %s", r->error ? r->error : "(no error)");
    assert_non_null(r->result);
    assert_string_equal(r->result, json);
}

static void assert_error_contains(const res_t *r, const char *needle)
{
    if (r->status != AG_RUN_ERROR)
        fail_msg("expected an error containing '%s', got status %d result %s", needle, r->status,
                 r->result ? r->result : "(null)");
    assert_non_null(r->error);
    if (strstr(r->error, needle) == NULL)
        fail_msg("error '%s' does not contain '%s'", r->error, needle);
}

/* The state still works: the normal run succeeds with the real string metatable and libraries. */
static void assert_state_works(fixture_t *fx)
{
    res_t r;
    run_task(fx, "t.ok", NULL, &r);
    assert_ok(&r, "\"ABC2xy3\"");
    res_clear(&r);
    assert_int_equal(ag_rt_waiting(fx->rt), 0);
}

/* Runs agent `name` (with body) and asserts it did not escape: it errored, or it returned the JSON
 * text `safe` (the script reports what it could reach). Then a normal run must still work. */
static void expect_contained(fixture_t *fx, const char *name, const char *body, const char *safe,
                             const char *error_needle)
{
    add_agent(fx, name, body);
    char type[128];
    snprintf(type, sizeof(type), "t.%s", name);
    res_t r;
    run_task(fx, type, NULL, &r);
    if (r.status == AG_RUN_OK) {
        if (safe == NULL || strcmp(r.result, safe) != 0)
            fail_msg("escape attempt %s succeeded: result %s", name, r.result);
    } else {
        assert_int_equal(r.status, AG_RUN_ERROR);
        assert_non_null(r.error);
        if (error_needle && strstr(r.error, error_needle) == NULL)
            fail_msg("escape attempt %s: error '%s' does not contain '%s'", name, r.error, error_needle);
    }
    res_clear(&r);
    assert_state_works(fx);
}

/* ---- child processes for scenarios that may hang or crash the engine ----------------------------------------- */

typedef int (*child_fn)(fixture_t *fx, const char *arg);

/* Runs fn in a child with its own loop, store and runtime over the same tree; fails the test when the child
 * crashes, hangs past timeout_s, or returns nonzero. */
static void in_child(fixture_t *fx, child_fn fn, const char *arg, int timeout_s, const char *what)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fixture_t c = {0};
        memcpy(c.root, fx->root, sizeof(c.root));
        c.scripts = fx->scripts;
        if (rt_open(&c, CPU_BUDGET, MEM_LIMIT) != 0)
            _exit(90);
        int rc = fn(&c, arg);
        if (rc == 0) {
            uv_run(&c.loop, UV_RUN_DEFAULT);
            ag_rt_free(c.rt); /* closing the state runs pending finalizers too */
            uv_run(&c.loop, UV_RUN_DEFAULT);
            if (uv_loop_close(&c.loop) != 0)
                rc = 91;
            ag_store_close(c.store);
        }
        fflush(NULL);
        _exit(rc);
    }
    int status = 0;
    int64_t deadline = ag_now_ms() + timeout_s * 1000;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (ag_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("%s: the engine hung (no end after %d s; the loop thread would be stuck for good)", what,
                     timeout_s);
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (WIFSIGNALED(status))
        fail_msg("%s: the engine process died from signal %d (%s)", what, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    if (WEXITSTATUS(status) != 0)
        fail_msg("%s: the child scenario failed with code %d", what, WEXITSTATUS(status));
}

/* In a child: runs t.<arg>, then the normal run; 0 when both ended and the normal one succeeded. */
static int child_run_then_ok(fixture_t *fx, const char *arg)
{
    char type[128];
    snprintf(type, sizeof(type), "t.%s", arg);
    for (int round = 0; round < 2; round++) {
        res_t r = {0};
        ag_run_spec_t spec = {.task_id = 1, .type = round == 0 ? type : "t.ok", .input = "{}", .attempt = 1};
        ag_run_t *run;
        ag_rt_start(fx->rt, &spec, on_end, &r, &run);
        while (r.called == 0 && uv_run(&fx->loop, UV_RUN_ONCE)) {
        }
        if (r.called != 1)
            return 10 + round;
        if (round == 1 && (r.status != AG_RUN_OK || strcmp(r.result, "\"ABC2xy3\"") != 0))
            return 20;
        if (round == 0)
            fprintf(stderr, "child: first run status=%d error=%s result=%s\n", r.status, r.error ? r.error : "-",
                    r.result ? r.result : "-");
        res_clear(&r);
    }
    return 0;
}

/* ---- plain runs ------------------------------------------------------------------------------------------- */

static void test_plain_result(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "plain", "  return { n = task.input.n * 2, id = ctx.task_id, dom = ctx.domain, a = task.attempt }");
    res_t r;
    ag_run_t *run = start(fx, "t.plain", "{\"n\":21}", &r);
    assert_null(run); /* ended inside ag_rt_start */
    assert_int_equal(r.status, AG_RUN_OK);
    assert_non_null(strstr(r.result, "\"n\":42"));
    assert_non_null(strstr(r.result, "\"id\":1"));
    assert_non_null(strstr(r.result, "\"dom\":\"t\""));
    assert_non_null(strstr(r.result, "\"a\":1"));
    assert_null(r.error);
    assert_int_equal(strlen(r.version), 16);
    res_clear(&r);
    /* nil becomes null, strings and numbers encode as JSON */
    add_agent(fx, "nothing", "  return nil");
    run_task(fx, "t.nothing", NULL, &r);
    assert_ok(&r, "null");
    res_clear(&r);
    assert_state_works(fx);
}

static void test_sleep_then_result(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "sleeper", "  local t0 = time.ms()\n  sleep(0.01)\n  return { waited = time.ms() - t0 >= 0 }");
    res_t r;
    ag_run_t *run = start(fx, "t.sleeper", NULL, &r);
    assert_non_null(run); /* it waits */
    assert_int_equal(ag_rt_waiting(fx->rt), 1);
    assert_int_equal(ag_run_task_id(run), 1);
    wait_end(fx, &r);
    assert_ok(&r, "{\"waited\":true}");
    assert_int_equal(ag_rt_waiting(fx->rt), 0);
    res_clear(&r);
    /* sleep(0) yields once and comes back */
    add_agent(fx, "yield0", "  sleep(0)\n  sleep(0)\n  return 'back'");
    run = start(fx, "t.yield0", NULL, &r);
    assert_non_null(run);
    wait_end(fx, &r);
    assert_ok(&r, "\"back\"");
    res_clear(&r);
}

/* sleep(s) arms a libuv timer from the loop's cached clock; when the loop iteration already spent time (this
 * script's own work before the sleep, or earlier runs started in the same turn), the sleep comes back early. */
static void test_sleep_waits_its_full_time(void **state)
{
    fixture_t *fx = *state;
    add_agent_src(fx, "busysleep",
                  "local M = {}\n"
                  "function M.run()\n"
                  "  local t0 = time.ms()\n"
                  "  while time.ms() - t0 < 60 do end -- 60 ms of work in this loop iteration\n"
                  "  local t1 = time.ms()\n"
                  "  sleep(0.05)\n"
                  "  return time.ms() - t1\n"
                  "end\n"
                  "return M\n",
                  "return { agent = 'busysleep', cpu_budget = 1000000000 }\n");
    uv_update_time(&fx->loop);
    res_t r;
    assert_non_null(start(fx, "t.busysleep", NULL, &r));
    wait_end(fx, &r);
    assert_int_equal(r.status, AG_RUN_OK);
    long slept = atol(r.result);
    res_clear(&r);
    if (slept < 49)
        fail_msg("sleep(0.05) returned after %ld ms of wall time", slept);
}

static void test_concurrent_sleepers(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "nap", "  sleep(task.input.s)\n  return task.input.s");
    res_t r[3];
    uv_update_time(&fx->loop);
    assert_non_null(start(fx, "t.nap", "{\"s\":0.03}", &r[0]));
    assert_non_null(start(fx, "t.nap", "{\"s\":0.01}", &r[1]));
    assert_non_null(start(fx, "t.nap", "{\"s\":0.02}", &r[2]));
    assert_int_equal(ag_rt_waiting(fx->rt), 3);
    wait_end(fx, &r[0]);
    wait_end(fx, &r[1]);
    wait_end(fx, &r[2]);
    assert_true(r[1].seq < r[2].seq);
    assert_true(r[2].seq < r[0].seq);
    assert_ok(&r[0], "0.03");
    assert_ok(&r[1], "0.01");
    assert_ok(&r[2], "0.02");
    for (int i = 0; i < 3; i++)
        res_clear(&r[i]);
}

static void test_json_memory_time_log(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "apis",
              "  local s = json.encode({ list = { 1, 2, 3 } })\n"
              "  assert(json.encode({ e = json.array(), f = json.array({ 4, 5 }), o = {} }):find('\"e\":%[%]'))\n"
              "  assert(json.encode(json.array({ 4, 5 })) == '[4,5]')\n"
              "  assert(not pcall(json.encode, json.array({ x = 1 })))\n"
              "  assert(getmetatable(json.array()) == false)\n"
              "  assert(not pcall(json.array, setmetatable({}, {})))\n"
              "  local back = json.decode('{\"a\":[true,null,\"x\"]}')\n"
              "  assert(back.a[2] == json.null)\n"
              "  log.info('apis run', task.id, 42)\n"
              "  log.debug('hidden')\n"
              "  log.warn('warned')\n"
              "  assert(memory.get('absent') == nil)\n"
              "  memory.set('counter', { n = 7, tags = { 'a', 'b' } })\n"
              "  memory.set('gone', 1)\n"
              "  memory.delete('gone')\n"
              "  local now = time.now()\n"
              "  assert(type(now) == 'number' and now > 1.6e9)\n"
              "  assert(math.type(time.ms()) == 'integer')\n"
              "  return { s = s, x = back.a[3], iso = time.iso(0), gone = memory.get('gone') == nil }");
    res_t r;
    run_task(fx, "t.apis", NULL, &r);
    if (r.status != AG_RUN_OK)
        fail_msg("apis: %s", r.error);
    assert_non_null(strstr(r.result, "\"s\":\"{\\\"list\\\":[1,2,3]}\""));
    assert_non_null(strstr(r.result, "\"x\":\"x\""));
    assert_non_null(strstr(r.result, "\"iso\":\"1970-01-01T00:00:00.000Z\""));
    assert_non_null(strstr(r.result, "\"gone\":true"));
    res_clear(&r);
    /* a second run reads what the first stored */
    add_agent(fx, "reader", "  local v = memory.get('counter')\n  return { n = v.n, t2 = v.tags[2] }");
    run_task(fx, "t.reader", NULL, &r);
    assert_non_null(r.result);
    assert_non_null(strstr(r.result, "\"n\":7"));
    assert_non_null(strstr(r.result, "\"t2\":\"b\""));
    res_clear(&r);
    /* it is in the store, under the domain */
    char *v = NULL;
    ag_err_t err;
    assert_int_equal(fx->store->ops->kv_get(fx->store, "t", "counter", &v, &err), 0);
    assert_non_null(strstr(v, "\"n\":7"));
    free(v);
    /* bad keys are refused */
    add_agent(fx, "badkey", "  memory.set('', 1)");
    run_task(fx, "t.badkey", NULL, &r);
    assert_error_contains(&r, "key must be 1 to 512 bytes");
    res_clear(&r);
}

/* ---- sandbox ----------------------------------------------------------------------------------------------- */

static void test_sandbox_io_open_refused(void **state)
{
    expect_contained(*state, "io_open", "  local f = io.open('/etc/passwd')\n  return f:read('a')", NULL,
                     "undeclared global 'io'");
}

static void test_sandbox_os_execute_refused(void **state)
{
    expect_contained(*state, "os_exec", "  return os.execute('touch /tmp/ag_pwned')", NULL,
                     "undeclared global 'os'");
}

static void test_sandbox_load_of_bytecode_refused(void **state)
{
    /* A hand-made Lua 5.4 binary chunk header (string.dump is absent): load must refuse it in every mode. */
    expect_contained(*state, "bytecode",
                     "  local chunk = '\\27LuaT\\0\\25\\147\\r\\n\\26\\n\\4\\8\\8\\120\\86\\0\\0\\0\\0\\0\\0\\0\\0\\0'\n"
                     "    .. '\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\40\\119\\64\\1'\n"
                     "  local r = {}\n"
                     "  for _, mode in ipairs({ 'b', 'bt', 't' }) do\n"
                     "    local ok, f, e = pcall(load, chunk, 'x', mode)\n"
                     "    if ok and type(f) == 'function' then return 'loaded in mode ' .. mode end\n"
                     "    r[#r + 1] = ok and ('nil:' .. tostring(e)) or ('raised:' .. tostring(f))\n"
                     "  end\n"
                     "  local ok2, f2 = pcall(load, chunk)\n"
                     "  if ok2 and type(f2) == 'function' then return 'loaded by default' end\n"
                     "  return 'refused'",
                     "\"refused\"", NULL);
}

static void test_sandbox_debug_absent(void **state)
{
    expect_contained(*state, "dbg",
                     "  local ok = pcall(function() return debug end)\n"
                     "  if ok then return 'debug reachable' end\n"
                     "  return debug.getregistry()",
                     NULL, "undeclared global 'debug'");
}

static void test_sandbox_require_absent(void **state)
{
    expect_contained(*state, "req", "  return require('io')", NULL, "undeclared global 'require'");
}

static void test_sandbox_package_absent(void **state)
{
    expect_contained(*state, "pkg", "  return package.loaded.io ~= nil", NULL, "undeclared global 'package'");
}

static void test_sandbox_string_dump_absent(void **state)
{
    expect_contained(*state, "dump",
                     "  local via_lib = string.dump\n"
                     "  local via_mt = ('').dump\n"
                     "  if via_lib or via_mt then return 'dump present' end\n"
                     "  return 'absent'",
                     "\"absent\"", NULL);
}

static void test_sandbox_string_metatable_locked(void **state)
{
    expect_contained(*state, "strmt",
                     "  local mt = getmetatable('')\n"
                     "  if mt ~= false then return 'metatable visible: ' .. tostring(mt) end\n"
                     "  local ok = pcall(setmetatable, '', {})\n"
                     "  if ok then return 'setmetatable on a string worked' end\n"
                     "  local ok2 = pcall(function() getmetatable('').__index = {} end)\n"
                     "  if ok2 then return 'wrote the string metatable' end\n"
                     "  local ok3 = pcall(function() ('').upper = nil end)\n"
                     "  if ok3 then return 'assigned through a string' end\n"
                     "  return 'locked'",
                     "\"locked\"", NULL);
}

static void test_sandbox_setmetatable_on_library_proxy_refused(void **state)
{
    expect_contained(*state, "proxymt",
                     "  local hits = 0\n"
                     "  for _, lib in ipairs({ string, table, math, json, memory, time, log, coroutine, utf8 }) do\n"
                     "    if getmetatable(lib) ~= false then return 'metatable visible' end\n"
                     "    if pcall(setmetatable, lib, { __index = function() return 'pwned' end }) then\n"
                     "      hits = hits + 1\n"
                     "    end\n"
                     "  end\n"
                     "  return hits",
                     "0", NULL);
}

static void test_sandbox_writing_to_proxies_refused(void **state)
{
    expect_contained(*state, "proxyw",
                     "  local n = 0\n"
                     "  if pcall(function() string.upper = function() return 'pwned' end end) then n = n + 1 end\n"
                     "  if pcall(function() table.concat = nil end) then n = n + 1 end\n"
                     "  if pcall(function() math.floor = function() return 99 end end) then n = n + 1 end\n"
                     "  if pcall(function() json.encode = nil end) then n = n + 1 end\n"
                     "  if pcall(function() memory.get = nil end) then n = n + 1 end\n"
                     "  if pcall(function() string.newfield = 1 end) then n = n + 1 end\n"
                     "  return n",
                     "0", NULL);
}

/* BUG probe: __pairs of a proxy hands back the real table it hides; writing it changes the libraries of every
 * later run in the state (all domains of the thread). */
static void test_sandbox_pairs_on_proxy_cannot_reach_the_real_table(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "proxypairs",
              "  local _, real_string = pairs(string)\n"
              "  local _, real_math = pairs(math)\n"
              "  local n = 0\n"
              "  if pcall(function() real_string.upper = function() return 'pwned' end end) then n = n + 1 end\n"
              "  if pcall(function() real_math.floor = function() return 99 end end) then n = n + 1 end\n"
              "  return n");
    res_t r, next;
    run_task(fx, "t.proxypairs", NULL, &r);
    run_task(fx, "t.ok", NULL, &next); /* another run, possibly another domain */
    int escaped = r.status == AG_RUN_OK && strcmp(r.result, "0") != 0;
    int poisoned = next.status != AG_RUN_OK || strcmp(next.result, "\"ABC2xy3\"") != 0;
    char msg[512];
    snprintf(msg, sizeof(msg), "escape result %s; the next run returned %s", r.result ? r.result : r.error,
             next.result ? next.result : next.error);
    res_clear(&r);
    res_clear(&next);
    if (escaped || poisoned)
        fail_msg("pairs(proxy) exposed the real library table (%s)", msg);
}

static void test_sandbox_global_assignment_refused(void **state)
{
    fixture_t *fx = *state;
    expect_contained(fx, "globalw", "  x = 1\n  return x", NULL, "assignment to undeclared global 'x'");
    /* and reading an unknown global raises too */
    expect_contained(fx, "globalr", "  return undefined_thing", NULL, "undeclared global 'undefined_thing'");
    /* _ENV is locked as well */
    expect_contained(fx, "envmt",
                     "  if getmetatable(_ENV) ~= false then return 'env metatable visible' end\n"
                     "  if pcall(setmetatable, _ENV, {}) then return 'env metatable replaced' end\n"
                     "  return 'locked'",
                     "\"locked\"", NULL);
}

static void test_sandbox_dofile_loadfile_absent(void **state)
{
    fixture_t *fx = *state;
    expect_contained(fx, "dofile", "  return dofile('/etc/passwd')", NULL, "undeclared global 'dofile'");
    expect_contained(fx, "loadfile", "  return loadfile('/etc/passwd')", NULL, "undeclared global 'loadfile'");
}

static void test_sandbox_collectgarbage_absent(void **state)
{
    expect_contained(*state, "gc", "  collectgarbage('stop')\n  return collectgarbage('count')", NULL,
                     "undeclared global 'collectgarbage'");
}

static void test_sandbox_rawset_absent(void **state)
{
    expect_contained(*state, "rawset", "  rawset(string, 'upper', function() return 'pwned' end)\n  return 1", NULL,
                     "undeclared global 'rawset'");
}

static void test_sandbox_load_with_env_cannot_reach_real_globals(void **state)
{
    fixture_t *fx = *state;
    expect_contained(fx, "loadenv",
                     "  local f = assert(load('return _G, io, os, require, debug, package', 'c', 't', {}))\n"
                     "  local a, b, c, d, e, g = f()\n"
                     "  if a or b or c or d or e or g then return 'reached real globals' end\n"
                     "  local ok, v = pcall(assert(load('return io')))\n"
                     "  if ok and v then return 'default env has io' end\n"
                     "  local ok2 = pcall(assert(load('x_global = 1')))\n"
                     "  if ok2 then return 'default env writable' end\n"
                     "  local ok3, v3 = pcall(assert(load('return _G')))\n"
                     "  if ok3 and v3 then return 'default env has _G' end\n"
                     "  local h = assert(load('return string.rep(\"a\", 2)', 'c', 't', { string = string }))\n"
                     "  return h()",
                     "\"aa\"", NULL);
}

static void test_sandbox_getfenv_setfenv_absent(void **state)
{
    fixture_t *fx = *state;
    expect_contained(fx, "fenv",
                     "  local n = 0\n"
                     "  for _, k in ipairs({ 'getfenv', 'setfenv', 'module', 'loadstring', 'newproxy', 'print' }) do\n"
                     "    if pcall(function() return _ENV[k] end) and k ~= 'print' then n = n + 1 end\n"
                     "  end\n"
                     "  return n",
                     "0", NULL);
}

static void test_sandbox_coroutine_yield_at_task_level_fails(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "coyield", "  coroutine.yield('out')\n  return 'resumed'");
    res_t r;
    run_task(fx, "t.coyield", NULL, &r);
    assert_error_contains(&r, "coroutine.yield() outside a coroutine");
    assert_int_equal(r.retryable, 0);
    res_clear(&r);
    assert_int_equal(ag_rt_waiting(fx->rt), 0);
    /* a script's own coroutines work */
    add_agent(fx, "coown",
              "  local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)\n"
              "  return { co(1), co(10) }");
    run_task(fx, "t.coown", NULL, &r);
    assert_ok(&r, "[2,20]");
    res_clear(&r);
    /* sleep inside a script's own coroutine is refused (it would yield the wrong thread) */
    add_agent(fx, "cosleep",
              "  local co = coroutine.create(function() sleep(0.01) end)\n"
              "  local ok, e = coroutine.resume(co)\n"
              "  return { ok = ok, own = tostring(e):find('only callable from a task', 1, true) ~= nil }");
    run_task(fx, "t.cosleep", NULL, &r);
    assert_non_null(r.result);
    assert_non_null(strstr(r.result, "\"ok\":false"));
    assert_non_null(strstr(r.result, "\"own\":true"));
    res_clear(&r);
    assert_state_works(fx);
}

/* BUG probe: a __gc finalizer runs with hooks disabled, outside the run's CPU budget. */
static void test_sandbox_gc_finalizer_cannot_escape_the_cpu_budget(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "gcloop",
              "  setmetatable({}, { __gc = function() while true do end end })\n"
              "  local junk = {}\n"
              "  for i = 1, 20000 do junk[i % 100 + 1] = { i, tostring(i) } end\n"
              "  return 'planted'");
    in_child(fx, child_run_then_ok, "gcloop", 6, "a __gc finalizer with an endless loop");
}

/* BUG probe: the error object is read (lua_getfield) outside any protected call. */
static void test_sandbox_error_object_with_raising_index_cannot_crash(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "errindex",
              "  error(setmetatable({}, { __index = function(t, k) error('gotcha: ' .. tostring(k)) end }))");
    in_child(fx, child_run_then_ok, "errindex", 6, "an error object whose __index raises");
}

static void test_sandbox_error_object_with_looping_index_cannot_hang(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "errloop", "  error(setmetatable({}, { __index = function(t, k) while true do end end }))");
    in_child(fx, child_run_then_ok, "errloop", 6, "an error object whose __index loops");
}

/* BUG probe: C functions run without the count hook; a backtracking pattern never yields to it. */
static void test_sandbox_pathological_pattern_cannot_escape_the_cpu_budget(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "pattern",
              "  local s = string.rep('a', 4000)\n"
              "  return string.find(s, '.-.-.-.-.-.-.-.-b') ~= nil");
    in_child(fx, child_run_then_ok, "pattern", 6, "a backtracking string pattern");
}

/* ---- limits ---------------------------------------------------------------------------------------------------- */

static void test_cpu_budget_endless_loop(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "spin", "  while true do end");
    res_t r;
    run_task(fx, "t.spin", NULL, &r);
    assert_error_contains(&r, "cpu budget exceeded");
    assert_error_contains(&r, "agents/spin.lua:3:");
    assert_int_equal(r.retryable, 0);
    res_clear(&r);
    assert_state_works(fx);
}

static void test_cpu_budget_pcall_cannot_swallow(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "spinpcall", "  local ok = pcall(function() while true do end end)\n  return { survived = true }");
    res_t r;
    run_task(fx, "t.spinpcall", NULL, &r);
    assert_error_contains(&r, "cpu budget exceeded");
    assert_int_equal(r.retryable, 0);
    res_clear(&r);
    /* nor can xpcall, a retry loop, or a coroutine of the script's own */
    add_agent(fx, "spinx",
              "  for i = 1, 1000 do\n"
              "    xpcall(function() while true do end end, function(e) return e end)\n"
              "    pcall(coroutine.wrap(function() while true do end end))\n"
              "  end\n"
              "  return { survived = true }");
    run_task(fx, "t.spinx", NULL, &r);
    assert_error_contains(&r, "cpu budget exceeded");
    assert_int_equal(r.retryable, 0);
    res_clear(&r);
    assert_state_works(fx);
}

static void test_cpu_budget_per_task_type(void **state)
{
    fixture_t *fx = *state;
    add_agent_src(fx, "tight",
                  "local M = {}\nfunction M.run()\n  local n = 0\n  for i = 1, 200000 do n = n + i end\n"
                  "  return n\nend\nreturn M\n",
                  "return { agent = 'tight', cpu_budget = 10000 }\n");
    res_t r;
    run_task(fx, "t.tight", NULL, &r);
    assert_error_contains(&r, "cpu budget exceeded (10000 instructions)");
    res_clear(&r);
    assert_state_works(fx);
}

static void test_memory_cap_table_of_strings(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "hog", "  local t = {}\n  for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n  return #t");
    res_t r;
    run_task(fx, "t.hog", NULL, &r);
    assert_error_contains(&r, "memory limit exceeded");
    assert_error_contains(&r, "agents/hog.lua");
    assert_int_equal(r.retryable, 0);
    res_clear(&r);
    assert_state_works(fx);
    /* a single huge string too */
    add_agent(fx, "bigstr", "  return #string.rep('x', 1 << 30)");
    run_task(fx, "t.bigstr", NULL, &r);
    assert_error_contains(&r, "memory limit exceeded");
    res_clear(&r);
    assert_state_works(fx);
}

/* BUG probe: runtime_int.h says a killed run's "every later hook raises again"; for memory it does not. */
static void test_memory_cap_pcall_cannot_swallow(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "hogpcall",
              "  local ok = pcall(function()\n"
              "    local t = {}\n"
              "    for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n"
              "  end)\n"
              "  return { survived = true, caught = not ok }");
    res_t r;
    run_task(fx, "t.hogpcall", NULL, &r);
    int killed = r.status == AG_RUN_ERROR && r.error && strstr(r.error, "memory limit exceeded") && !r.retryable;
    char got[256];
    snprintf(got, sizeof(got), "status %d, result %s, error %s", r.status, r.result ? r.result : "-",
             r.error ? r.error : "-");
    res_clear(&r);
    assert_state_works(fx);
    if (!killed)
        fail_msg("the run survived its memory kill: %s", got);
}

/* ---- errors ---------------------------------------------------------------------------------------------------- */

static void test_error_carries_file_and_line(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "boom", "  local x = 1\n  local y = x + 1\n  error('kaboom ' .. y)");
    res_t r;
    run_task(fx, "t.boom", NULL, &r);
    assert_error_contains(&r, "agents/boom.lua:5: kaboom 2");
    assert_int_equal(r.retryable, 1);
    res_clear(&r);
    /* a runtime error (not error()) too */
    add_agent(fx, "nilcall", "  local t = nil\n  return t.field");
    run_task(fx, "t.nilcall", NULL, &r);
    assert_error_contains(&r, "agents/nilcall.lua:4:");
    res_clear(&r);
    /* a structured error keeps its code and retryable flag */
    add_agent(fx, "structured", "  error({ code = 'upstream', message = 'try later', retryable = false })");
    run_task(fx, "t.structured", NULL, &r);
    assert_error_contains(&r, "upstream: try later");
    assert_int_equal(r.retryable, 0);
    res_clear(&r);
    /* an error object that is neither string nor table */
    add_agent(fx, "errbool", "  error(true)");
    run_task(fx, "t.errbool", NULL, &r);
    assert_error_contains(&r, "boolean");
    res_clear(&r);
    assert_state_works(fx);
}

static void test_result_not_json_encodable(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "retfn", "  return function() end");
    res_t r;
    run_task(fx, "t.retfn", NULL, &r);
    assert_error_contains(&r, "not JSON-encodable");
    assert_int_equal(r.retryable, 0);
    res_clear(&r);
    add_agent(fx, "retcycle", "  local t = {}\n  t.self = t\n  return t");
    run_task(fx, "t.retcycle", NULL, &r);
    assert_error_contains(&r, "not JSON-encodable");
    res_clear(&r);
    assert_state_works(fx);
}

static void test_unknown_task_type_and_agent(void **state)
{
    fixture_t *fx = *state;
    res_t r;
    run_task(fx, "t.nope", NULL, &r);
    assert_error_contains(&r, "unknown task type 't.nope'");
    res_clear(&r);
    run_task(fx, "nodots", NULL, &r);
    assert_error_contains(&r, "unknown task type");
    res_clear(&r);
    /* direct runs of domain/agent */
    ag_run_spec_t spec = {.task_id = 5, .domain = "t", .agent = "ok", .input = "{}", .attempt = 1};
    ag_run_t *run;
    ag_rt_start(fx->rt, &spec, on_end, &r, &run);
    assert_null(run);
    assert_ok(&r, "\"ABC2xy3\"");
    res_clear(&r);
    spec.agent = "missing";
    ag_rt_start(fx->rt, &spec, on_end, &r, &run);
    assert_error_contains(&r, "agent 'missing' not found");
    res_clear(&r);
}

static void test_cancel_sleeping_run(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "longnap", "  sleep(30)\n  return 'woke'");
    res_t r;
    ag_run_t *run = start(fx, "t.longnap", NULL, &r);
    assert_non_null(run);
    assert_int_equal(ag_rt_waiting(fx->rt), 1);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    ag_rt_cancel(run);
    assert_int_equal(r.called, 1); /* inside the call */
    assert_int_equal(r.status, AG_RUN_CANCELLED);
    assert_int_equal(r.retryable, 0);
    assert_null(r.result);
    assert_int_equal(ag_rt_waiting(fx->rt), 0);
    res_clear(&r);
    /* the timer is gone: the loop drains without waiting 30 s */
    int64_t t0 = ag_now_ms();
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_true(ag_now_ms() - t0 < 1000);
    assert_state_works(fx);
}

static void test_cancel_runs_close_handlers_under_limits(void **state)
{
    fixture_t *fx = *state;
    /* a to-be-closed variable of a cancelled run runs its __close, under the run's CPU budget */
    add_agent(fx, "closer",
              "  local guard <close> = setmetatable({}, { __close = function() while true do end end })\n"
              "  sleep(30)\n"
              "  return 'woke'");
    res_t r;
    ag_run_t *run = start(fx, "t.closer", NULL, &r);
    assert_non_null(run);
    ag_rt_cancel(run);
    assert_int_equal(r.status, AG_RUN_CANCELLED);
    res_clear(&r);
    assert_state_works(fx);
}

static void test_task_timeout(void **state)
{
    fixture_t *fx = *state;
    add_agent_src(fx, "slow", "local M = {}\nfunction M.run()\n  sleep(10)\n  return 1\nend\nreturn M\n",
                  "return { agent = 'slow', timeout = 0.05 }\n");
    res_t r;
    int64_t t0 = ag_now_ms();
    assert_non_null(start(fx, "t.slow", NULL, &r));
    wait_end(fx, &r);
    assert_true(ag_now_ms() - t0 < 2000);
    assert_error_contains(&r, "timed out after 0.05 s");
    assert_int_equal(r.retryable, 1);
    res_clear(&r);
    assert_int_equal(ag_rt_waiting(fx->rt), 0);
}

/* ---- hot reload ---------------------------------------------------------------------------------------------- */

static const char *V1 = "local M = {}\nfunction M.run()\n  return { v = 1 }\nend\nreturn M\n";
static const char *V2 = "local M = {}\nfunction M.run()\n  return { v = 2 }\nend\nreturn M\n";
static const char *BAD = "local M = {}\nfunction M.run()\n  return { v = = 3 }\nend\nreturn M\n";

static void test_bad_reload_keeps_the_old_version(void **state)
{
    fixture_t *fx = *state;
    add_agent_src(fx, "hot", V1, NULL);
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    char h1[17];
    memcpy(h1, entry(snap, "agents", "hot")->hash, sizeof(h1));
    ag_snapshot_release(snap);
    res_t r;
    run_task(fx, "t.hot", NULL, &r);
    assert_ok(&r, "{\"v\":1}");
    assert_string_equal(r.version, h1);
    res_clear(&r);

    /* a syntax error: the registry keeps v1 and reports the error at file:line */
    write_at(fx, "t/agents/hot.lua", BAD);
    rescan(fx, 1);
    snap = ag_scripts_acquire(fx->scripts);
    const ag_script_t *sc = entry(snap, "agents", "hot");
    assert_non_null(sc);
    assert_string_equal(sc->hash, h1);
    assert_non_null(sc->source);
    assert_string_equal(sc->source, V1);
    assert_non_null(sc->error);
    assert_non_null(strstr(sc->error, "t/agents/hot.lua:3:"));
    assert_int_equal(sc->error_line, 3);
    assert_non_null(sc->bad_hash);
    assert_true(ag_snapshot_find(snap, "t", "agents", "hot") == sc); /* still runnable */
    size_t good, bad;
    ag_snapshot_counts(snap, &good, &bad);
    assert_int_equal(bad, 1);
    ag_snapshot_release(snap);
    /* the same bad content again publishes nothing new */
    rescan(fx, 0);
    /* runs keep using v1 */
    run_task(fx, "t.hot", NULL, &r);
    assert_ok(&r, "{\"v\":1}");
    assert_string_equal(r.version, h1);
    res_clear(&r);

    /* fixed: the error clears and new runs get v2 */
    write_at(fx, "t/agents/hot.lua", V2);
    rescan(fx, 1);
    snap = ag_scripts_acquire(fx->scripts);
    sc = entry(snap, "agents", "hot");
    assert_null(sc->error);
    assert_null(sc->bad_hash);
    assert_string_not_equal(sc->hash, h1);
    char h2[17];
    memcpy(h2, sc->hash, sizeof(h2));
    ag_snapshot_counts(snap, &good, &bad);
    assert_int_equal(bad, 0);
    ag_snapshot_release(snap);
    run_task(fx, "t.hot", NULL, &r);
    assert_ok(&r, "{\"v\":2}");
    assert_string_equal(r.version, h2);
    res_clear(&r);
}

static void test_bad_reload_of_a_shape_error_keeps_the_old_version(void **state)
{
    fixture_t *fx = *state;
    add_agent_src(fx, "shape", V1, NULL);
    /* compiles, but has no run function */
    write_at(fx, "t/agents/shape.lua", "local M = {}\n\nM.runn = function() end\nreturn M\n");
    rescan(fx, 1);
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    const ag_script_t *sc = entry(snap, "agents", "shape");
    assert_non_null(sc->error);
    assert_non_null(strstr(sc->error, "t/agents/shape.lua:"));
    assert_non_null(strstr(sc->error, "run(task, ctx)"));
    assert_string_equal(sc->source, V1);
    ag_snapshot_release(snap);
    res_t r;
    run_task(fx, "t.shape", NULL, &r);
    assert_ok(&r, "{\"v\":1}");
    res_clear(&r);
    /* a body that raises at load time, at its line */
    write_at(fx, "t/agents/shape.lua", "local M = {}\n\nerror('no way')\nreturn M\n");
    rescan(fx, 1);
    snap = ag_scripts_acquire(fx->scripts);
    sc = entry(snap, "agents", "shape");
    assert_non_null(strstr(sc->error, "t/agents/shape.lua:3: no way"));
    ag_snapshot_release(snap);
    run_task(fx, "t.shape", NULL, &r);
    assert_ok(&r, "{\"v\":1}");
    res_clear(&r);
    /* a body that never ends is stopped by the load budget */
    write_at(fx, "t/agents/shape.lua", "local M = {}\nwhile true do end\nreturn M\n");
    rescan(fx, 1);
    snap = ag_scripts_acquire(fx->scripts);
    sc = entry(snap, "agents", "shape");
    assert_non_null(strstr(sc->error, "load budget"));
    ag_snapshot_release(snap);
    run_task(fx, "t.shape", NULL, &r);
    assert_ok(&r, "{\"v\":1}");
    res_clear(&r);
}

static void test_running_task_keeps_its_version_across_a_reload(void **state)
{
    fixture_t *fx = *state;
    add_agent_src(fx, "hot2", "local M = {}\nfunction M.run()\n  sleep(0.05)\n  return { v = 1 }\nend\nreturn M\n",
                  NULL);
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    char h1[17];
    memcpy(h1, entry(snap, "agents", "hot2")->hash, sizeof(h1));
    ag_snapshot_release(snap);
    res_t old;
    assert_non_null(start(fx, "t.hot2", NULL, &old));
    /* a good edit while it sleeps */
    write_at(fx, "t/agents/hot2.lua", V2);
    rescan(fx, 1);
    res_t fresh;
    assert_null(start(fx, "t.hot2", NULL, &fresh)); /* v2 does not sleep */
    assert_ok(&fresh, "{\"v\":2}");
    assert_string_not_equal(fresh.version, h1);
    wait_end(fx, &old);
    assert_ok(&old, "{\"v\":1}");
    assert_string_equal(old.version, h1);
    res_clear(&old);
    res_clear(&fresh);
}

static void test_task_type_reload_and_removed_agent(void **state)
{
    fixture_t *fx = *state;
    /* a task type naming an agent that does not exist carries the error; the old good version stays */
    add_agent_src(fx, "tt", V1, NULL);
    write_at(fx, "t/tasks/tt.lua", "return {\n  agent = 'ghost',\n}\n");
    rescan(fx, 1);
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    const ag_script_t *sc = entry(snap, "tasks", "tt");
    assert_non_null(sc->error);
    assert_non_null(strstr(sc->error, "agent 'ghost' not found"));
    assert_non_null(strstr(sc->error, "t/tasks/tt.lua:2:"));
    ag_snapshot_release(snap);
}

/* ---- task creation requests ---------------------------------------------------------------------------------- */

static void add_validated_type(fixture_t *fx)
{
    add_agent_src(fx, "val", V1,
                  "return {\n"
                  "  agent = 'val',\n"
                  "  max_attempts = 4,\n"
                  "  input = {\n"
                  "    type = 'object',\n"
                  "    required = { 'email', 'name' },\n"
                  "    properties = {\n"
                  "      email = { type = 'string', format = 'email' },\n"
                  "      name = { type = 'string', minLength = 1 },\n"
                  "      count = { type = 'integer', minimum = 0 },\n"
                  "    },\n"
                  "  },\n"
                  "}\n");
}

static int parse(fixture_t *fx, const char *body, ag_create_req_t *req)
{
    return ag_rt_parse_create(fx->rt, body, strlen(body), req);
}

static void test_parse_create_bad_json(void **state)
{
    fixture_t *fx = *state;
    ag_create_req_t req;
    const char *bodies[] = {"{not json", "", "   ", "{\"type\": \"t.ok\",}", "\xff\xfe{}", "nul"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        assert_int_equal(parse(fx, bodies[i], &req), 400);
        assert_int_equal(req.err.status, 400);
        assert_string_equal(req.err.code, "bad_json");
        assert_true(req.err.message[0] != '\0');
        ag_create_req_clear(&req);
    }
    assert_int_equal(lua_gettop(ag_rt_lua(fx->rt)), 0); /* nothing left on the stack */
}

static void test_parse_create_array_body(void **state)
{
    fixture_t *fx = *state;
    ag_create_req_t req;
    const char *bodies[] = {"[1,2]", "[]", "\"t.ok\"", "42", "null"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        assert_int_equal(parse(fx, bodies[i], &req), 400);
        assert_string_equal(req.err.code, "bad_json");
        assert_non_null(strstr(req.err.message, "JSON object"));
        ag_create_req_clear(&req);
    }
}

static void test_parse_create_bad_request_fields(void **state)
{
    fixture_t *fx = *state;
    ag_create_req_t req;
    const char *bodies[][2] = {
        {"{}", "type:"},
        {"{\"type\": 5}", "type:"},
        {"{\"type\": \"t.ok\", \"input\": \"x\"}", "input:"},
        {"{\"type\": \"t.ok\", \"priority\": 1.5}", "priority:"},
        {"{\"type\": \"t.ok\", \"max_attempts\": 0}", "max_attempts:"},
        {"{\"type\": \"t.ok\", \"run_at\": \"tomorrow\"}", "run_at:"},
        {"{\"type\": \"t.ok\", \"execute\": \"yes\"}", "execute:"},
        {"{\"type\": \"t.ok\", \"idempotency_key\": \"\"}", "idempotency_key:"},
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        int st = parse(fx, bodies[i][0], &req);
        if (st != 400)
            fail_msg("body %s: status %d (%s %s), expected 400 bad_request", bodies[i][0], st,
                     req.err.code ? req.err.code : "-", req.err.message);
        assert_string_equal(req.err.code, "bad_request");
        if (strstr(req.err.message, bodies[i][1]) == NULL)
            fail_msg("body %s: message '%s' does not name %s", bodies[i][0], req.err.message, bodies[i][1]);
        ag_create_req_clear(&req);
    }
}

/* request.c's own message says "input: must be a JSON object"; a JSON array passes that check. */
static void test_parse_create_array_input(void **state)
{
    fixture_t *fx = *state;
    ag_create_req_t req;
    int st = parse(fx, "{\"type\": \"t.ok\", \"input\": [1, 2]}", &req);
    if (st != 400) {
        char got[128];
        snprintf(got, sizeof(got), "%s", req.input ? req.input : "-");
        ag_create_req_clear(&req);
        fail_msg("input [1, 2] accepted (status %d, input %s); expected 400 bad_request 'input: must be a JSON object'",
                 st, got);
    }
    assert_string_equal(req.err.code, "bad_request");
    ag_create_req_clear(&req);
}

static void test_parse_create_unknown_type(void **state)
{
    fixture_t *fx = *state;
    ag_create_req_t req;
    assert_int_equal(parse(fx, "{\"type\": \"t.nope\", \"input\": {}}", &req), 422);
    assert_string_equal(req.err.code, "unknown_task_type");
    assert_non_null(strstr(req.err.message, "t.nope"));
    assert_null(req.type);
    ag_create_req_clear(&req);
    assert_int_equal(parse(fx, "{\"type\": \"nodomain\"}", &req), 422);
    assert_string_equal(req.err.code, "unknown_task_type");
    ag_create_req_clear(&req);
}

static void test_parse_create_validation_failed(void **state)
{
    fixture_t *fx = *state;
    add_validated_type(fx);
    ag_create_req_t req;
    assert_int_equal(parse(fx, "{\"type\": \"t.val\", \"input\": {\"email\": \"not-an-email\", \"count\": -1}}", &req),
                     422);
    assert_string_equal(req.err.code, "validation_failed");
    assert_non_null(strstr(req.err.message, "t.val"));
    assert_non_null(req.err.details);
    assert_true(req.err.details[0] == '[');
    assert_non_null(strstr(req.err.details, "\"field\":\"email\""));
    assert_non_null(strstr(req.err.details, "\"field\":\"name\""));
    assert_non_null(strstr(req.err.details, "\"field\":\"count\""));
    assert_non_null(strstr(req.err.details, "\"message\":"));
    ag_create_req_clear(&req);
    /* missing input validates as {} */
    assert_int_equal(parse(fx, "{\"type\": \"t.val\"}", &req), 422);
    assert_string_equal(req.err.code, "validation_failed");
    assert_non_null(strstr(req.err.details, "\"field\":\"email\""));
    ag_create_req_clear(&req);
}

static void test_parse_create_ok(void **state)
{
    fixture_t *fx = *state;
    add_validated_type(fx);
    ag_create_req_t req;
    const char *body = "{\"type\": \"t.val\", \"input\": {\"email\": \"a@b.example\", \"name\": \"Ann\", \"count\": 3},"
                       " \"priority\": 5, \"execute\": true, \"idempotency_key\": \"k1\","
                       " \"run_at\": \"2030-01-02T03:04:05Z\"}";
    assert_int_equal(parse(fx, body, &req), 0);
    assert_int_equal(req.err.status, 0);
    assert_string_equal(req.type, "t.val");
    assert_string_equal(req.domain, "t");
    assert_string_equal(req.agent, "val");
    assert_int_equal(req.max_attempts, 4); /* from the task type */
    assert_int_equal(req.priority, 5);
    assert_int_equal(req.execute, 1);
    assert_string_equal(req.idempotency_key, "k1");
    assert_int_equal(req.run_at, 1893553445000LL);
    /* the input is stored exactly as the client sent it */
    assert_string_equal(req.input, "{\"email\": \"a@b.example\", \"name\": \"Ann\", \"count\": 3}");
    assert_null(req.err.details);
    ag_create_req_clear(&req);
    /* max_attempts from the request wins */
    assert_int_equal(parse(fx, "{\"type\": \"t.ok\", \"max_attempts\": 9, \"input\": null}", &req), 0);
    assert_int_equal(req.max_attempts, 9);
    assert_string_equal(req.input, "{}");
    ag_create_req_clear(&req);
    assert_int_equal(lua_gettop(ag_rt_lua(fx->rt)), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define N(name, fn) {name, fn, setup, teardown, NULL}
    const struct CMUnitTest tests[] = {
        N("run: plain result", test_plain_result),
        N("run: sleep then result", test_sleep_then_result),
        N("run: sleep waits its full time after work in the same loop turn", test_sleep_waits_its_full_time),
        N("run: concurrent sleepers end in timer order", test_concurrent_sleepers),
        N("api: json, memory, time and log", test_json_memory_time_log),
        N("sandbox: io.open refused", test_sandbox_io_open_refused),
        N("sandbox: os.execute refused", test_sandbox_os_execute_refused),
        N("sandbox: load of bytecode refused", test_sandbox_load_of_bytecode_refused),
        N("sandbox: debug absent", test_sandbox_debug_absent),
        N("sandbox: require absent", test_sandbox_require_absent),
        N("sandbox: package absent", test_sandbox_package_absent),
        N("sandbox: string.dump absent", test_sandbox_string_dump_absent),
        N("sandbox: string metatable locked", test_sandbox_string_metatable_locked),
        N("sandbox: setmetatable on a library proxy refused", test_sandbox_setmetatable_on_library_proxy_refused),
        N("sandbox: writing to string/table/math proxies refused", test_sandbox_writing_to_proxies_refused),
        N("sandbox: pairs on a library proxy cannot reach the real table",
          test_sandbox_pairs_on_proxy_cannot_reach_the_real_table),
        N("sandbox: global assignment refused", test_sandbox_global_assignment_refused),
        N("sandbox: dofile/loadfile absent", test_sandbox_dofile_loadfile_absent),
        N("sandbox: collectgarbage absent", test_sandbox_collectgarbage_absent),
        N("sandbox: rawset absent", test_sandbox_rawset_absent),
        N("sandbox: load with env cannot reach the real globals", test_sandbox_load_with_env_cannot_reach_real_globals),
        N("sandbox: getfenv/setfenv/module absent", test_sandbox_getfenv_setfenv_absent),
        N("sandbox: coroutine.yield at task level fails", test_sandbox_coroutine_yield_at_task_level_fails),
        N("sandbox: __gc finalizer cannot escape the cpu budget",
          test_sandbox_gc_finalizer_cannot_escape_the_cpu_budget),
        N("sandbox: error object with a raising __index cannot crash the engine",
          test_sandbox_error_object_with_raising_index_cannot_crash),
        N("sandbox: error object with a looping __index cannot hang the engine",
          test_sandbox_error_object_with_looping_index_cannot_hang),
        N("sandbox: backtracking string pattern cannot escape the cpu budget",
          test_sandbox_pathological_pattern_cannot_escape_the_cpu_budget),
        N("limits: cpu budget stops an endless loop", test_cpu_budget_endless_loop),
        N("limits: pcall cannot swallow the cpu kill", test_cpu_budget_pcall_cannot_swallow),
        N("limits: cpu budget per task type", test_cpu_budget_per_task_type),
        N("limits: memory cap stops a growing table", test_memory_cap_table_of_strings),
        N("limits: pcall cannot swallow the memory kill", test_memory_cap_pcall_cannot_swallow),
        N("errors: file:line, structured errors", test_error_carries_file_and_line),
        N("errors: result not JSON-encodable", test_result_not_json_encodable),
        N("errors: unknown task type and agent", test_unknown_task_type_and_agent),
        N("cancel: a sleeping run reports cancelled", test_cancel_sleeping_run),
        N("cancel: __close of a cancelled run stays under limits", test_cancel_runs_close_handlers_under_limits),
        N("timeout: a task type's timeout ends a waiting run", test_task_timeout),
        N("reload: bad reload keeps the old version", test_bad_reload_keeps_the_old_version),
        N("reload: shape and load-time errors keep the old version",
          test_bad_reload_of_a_shape_error_keeps_the_old_version),
        N("reload: a running task keeps its version", test_running_task_keeps_its_version_across_a_reload),
        N("reload: task type naming a missing agent", test_task_type_reload_and_removed_agent),
        N("request: bad JSON is 400 bad_json", test_parse_create_bad_json),
        N("request: a non-object body is 400", test_parse_create_array_body),
        N("request: bad fields are 400 bad_request", test_parse_create_bad_request_fields),
        N("request: an array input is 400 bad_request", test_parse_create_array_input),
        N("request: unknown type is 422 unknown_task_type", test_parse_create_unknown_type),
        N("request: schema failure is 422 validation_failed with details", test_parse_create_validation_failed),
        N("request: a valid body", test_parse_create_ok),
    };
#undef T
#undef N
    return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
