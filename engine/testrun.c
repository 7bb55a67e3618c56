/*
 * testrun.c: `agency test [PATH]` runs the *_test.lua files beside the scripts (docs/scripting.md, "Testing
 * scripts").
 *
 * A test file belongs to the domain whose directory it sits in (<root>/<domain>/<kind>/<name>_test.lua, or
 * <root>/<domain>/<name>_test.lua); its scripts are read from <root> as the engine reads them. Each file gets a
 * fresh sandboxed Lua state (the runtime's, so the same globals and limits as scripts) and the test API of
 * engine/lua/test_lib.lua. Its body runs first and declares tests; then each test runs on its own: under an
 * instruction budget, with empty memory (a store that a test wrote to is replaced before the next one), and a
 * failure or an error ends only that test.
 *
 * run_agent/run_task start a run with ag_rt_start (task id 0: nothing is journaled; task.approve{} approves at
 * once, or returns the decision the test gives in opts.approve through rt->test_approve_ref) and drive this
 * command's uv loop until it ends. Every llm.chat is answered by the mock provider, whatever
 * the script or its domain asks for, or, when the test gives opts.llm.responses, by those answers in order (the
 * replay mode of `agency replay`, fed from the test instead of a journal). run_handoff evaluates one handoff with
 * the engine's own code (ag_rt_handoff_eval).
 *
 * Output: one line per test, "ok   FILE: NAME" or "FAIL FILE:LINE: NAME: MESSAGE", then a summary ending with the line
 * "N passed, N failed" (a file that did not run counts as one failure). Exit status: 0
 * when every test passed; 1 when any failed, a file did not run, a file declares no test or no test file was
 * found; 2 on bad usage or an unreadable PATH.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "llm/llm.h"
#include "log.h"
#include "lua/runtime_int.h"

extern const char ag_embed_test_lib_lua[];
extern const size_t ag_embed_test_lib_lua_len;

#define RUN_WALL_MS 60000 /* a run still going after this long is cancelled (a test is not a task) */

static const char *kinds[] = {"agents", "tasks", "tools", "handoffs", "templates", NULL};

/* ---- memory: a store per test that writes to it ------------------------------------------------------------- */

static ag_store_ops_t tracked_ops;
static const ag_store_ops_t *base_ops;
static int mem_dirty;

static int tr_kv_set(ag_store_t *s, const char *domain, const char *key, const char *value, int64_t ttl_ms,
                     ag_err_t *err)
{
    mem_dirty = 1;
    return base_ops->kv_set(s, domain, key, value, ttl_ms, err);
}

static int tr_kv_incr(ag_store_t *s, const char *domain, const char *key, int64_t by, int64_t ttl_ms, int64_t *out,
                      ag_err_t *err)
{
    mem_dirty = 1;
    return base_ops->kv_incr(s, domain, key, by, ttl_ms, out, err);
}

static int tr_kv_del(ag_store_t *s, const char *domain, const char *key, ag_err_t *err)
{
    mem_dirty = 1;
    return base_ops->kv_del(s, domain, key, err);
}

static int open_memory_store(ag_store_t **out, int track, ag_err_t *err)
{
    int rc = ag_store_open(out, "sqlite::memory:", err);
    if (rc == 0 && (rc = (*out)->ops->migrate(*out, NULL, err)) != 0) {
        ag_store_close(*out);
        *out = NULL;
    }
    if (rc == 0 && track) { /* the backend's ops with the writes to memory noted */
        if (base_ops == NULL) {
            base_ops = (*out)->ops;
            tracked_ops = *base_ops;
            tracked_ops.kv_set = tr_kv_set;
            tracked_ops.kv_incr = tr_kv_incr;
            tracked_ops.kv_del = tr_kv_del;
        }
        (*out)->ops = &tracked_ops;
    }
    return rc;
}

/* ---- a domains root and what its files share ------------------------------------------------------------------ */

typedef struct suite_s {
    char *root;
    ag_scripts_t *scripts;
    uv_loop_t loop;
    uv_timer_t wall; /* RUN_WALL_MS */
    ag_store_t *scratch; /* the LLM contexts' store: spend caps read it, nothing is written (task id 0) */
    ag_store_t *mem;     /* memory.* of the running test */
    ag_llm_shared_t *llm;
    ag_llm_loop_t *ll, *ll_scripted; /* mock; replay mode fed with a test's responses (created on first use) */
    const ag_config_t *cfg;
} suite_t;

static void suite_free(suite_t *su)
{
    if (su == NULL)
        return;
    ag_llm_loop_close(su->ll);
    ag_llm_loop_close(su->ll_scripted);
    uv_close((uv_handle_t *)&su->wall, NULL);
    uv_run(&su->loop, UV_RUN_DEFAULT); /* the HTTP clients' and the timer's handles close */
    uv_loop_close(&su->loop);
    ag_llm_shared_free(su->llm);
    ag_store_close(su->mem);
    ag_store_close(su->scratch);
    ag_scripts_free(su->scripts);
    free(su->root);
    free(su);
}

static suite_t *suite_new(const ag_config_t *cfg, const char *root, ag_err_t *err)
{
    suite_t *su = ag_xcalloc(1, sizeof(*su));
    su->cfg = cfg;
    su->root = ag_xstrdup(root);
    uv_loop_init(&su->loop);
    uv_timer_init(&su->loop, &su->wall);
    uv_unref((uv_handle_t *)&su->wall); /* a run that waits on nothing else is stuck, not 60 s from done */
    ag_llm_config_t lc = cfg->llm;
    snprintf(lc.provider, sizeof(lc.provider), "mock");
    lc.model[0] = lc.fallback[0] = '\0';
    lc.task_budget = lc.domain_daily_budget = 0;
    lc.offline = 1;
    su->llm = ag_llm_shared_new(&lc);
    if (ag_scripts_new(&su->scripts, root, err) != 0 || open_memory_store(&su->scratch, 0, err) != 0 ||
        ag_llm_loop_new(&su->ll, &su->loop, su->llm, su->scratch, err) != 0) {
        suite_free(su);
        return NULL;
    }
    return su;
}

/* Gives the next test empty memory: a new store when the last one was written to. */
static int fresh_memory(suite_t *su, ag_err_t *err)
{
    if (su->mem != NULL && !mem_dirty)
        return 0;
    ag_store_close(su->mem);
    su->mem = NULL;
    mem_dirty = 0;
    return open_memory_store(&su->mem, 1, err);
}

/* ---- one test file ------------------------------------------------------------------------------------------- */

typedef struct tfile_s {
    suite_t *su;
    ag_rt_t *rt;
    const char *path;   /* as shown */
    char chunk[PATH_MAX + 2]; /* "@" path */
    char domain[128];
    char short_src[LUA_IDSIZE]; /* the file's name as Lua's error positions give it (long paths are cut) */
    const char *filter; /* run only the tests whose name contains it, or NULL */
    int passed, failed, selected, file_error;
    int err_line;       /* set by the message handler */
} tfile_t;

typedef struct run_out_s {
    ag_run_t *run; /* while it waits on the loop */
    int done, status, stuck, timed_out, missing_seq;
    char *result, *error;
} run_out_t;

static void on_run_end(ag_run_t *run, ag_run_end_t *end, void *data)
{
    (void)run;
    run_out_t *o = data;
    o->run = NULL;
    o->done = 1;
    o->status = end->status;
    o->result = end->result;
    o->error = end->error;
    end->result = end->error = NULL;
}

static void on_scripted_call(int seq, const ag_llm_call_t *row, const char *hash, void *data)
{
    (void)hash;
    run_out_t *o = data;
    if (row == NULL && o->missing_seq == 0)
        o->missing_seq = seq;
}

static void on_wall(uv_timer_t *t)
{
    run_out_t *o = t->data;
    if (o->run != NULL) {
        o->timed_out = 1;
        ag_rt_cancel(o->run);
    }
}

/* The error of the script domain/kind/name when it does not load as the engine would run it, or NULL. */
static const char *script_error(tfile_t *f, const char *domain, const char *kind, const char *name)
{
    ag_snapshot_t *snap = f->rt->snap;
    for (size_t i = 0; snap && i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        if (sc->error && strcmp(sc->name, name) == 0 && strcmp(sc->kind, kind) == 0 && strcmp(sc->domain, domain) == 0)
            return sc->error;
    }
    return NULL;
}

/* Raises the message without a position (luaL_error's would be the test library's line): the message handler
 * finds the test's own line. */
static int fail_plain(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

/* Replaces the value at idx with its JSON text (json.encode raises on a value JSON cannot hold). */
static const char *encode_at(lua_State *L, ag_rt_t *rt, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    lua_replace(L, idx);
    return lua_tostring(L, idx);
}

/* Pushes the decoded JSON text s (NULL: nil). */
static void push_decoded(lua_State *L, ag_rt_t *rt, const char *s)
{
    if (s == NULL) {
        lua_pushnil(L);
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->decode_ref);
    lua_pushstring(L, s);
    lua_call(L, 1, 1);
}

/* Pushes {name=, to=, status=, reasons=, input=} for an evaluated handoff. */
static void push_handoff(lua_State *L, ag_rt_t *rt, const ag_handoff_new_t *h)
{
    lua_createtable(L, 0, 5);
    lua_pushstring(L, h->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, h->to_type);
    lua_setfield(L, -2, "to");
    lua_pushstring(L, h->accepted ? "accepted" : "rejected");
    lua_setfield(L, -2, "status");
    if (h->reasons)
        push_decoded(L, rt, h->reasons);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "reasons");
    if (h->accepted) {
        push_decoded(L, rt, h->input);
        lua_setfield(L, -2, "input");
    }
}

typedef struct handoffs_arg_s {
    ag_rt_t *rt;
    ag_handoff_new_t *h;
    size_t n;
} handoffs_arg_t;

/* Protected: pushes the list of evaluated handoffs (so that a memory error cannot leak them). */
static int l_push_handoffs(lua_State *L)
{
    handoffs_arg_t *a = lua_touserdata(L, 1);
    lua_createtable(L, (int)a->n, 0);
    for (size_t i = 0; i < a->n; i++) {
        push_handoff(L, a->rt, &a->h[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int push_handoffs_owned(lua_State *L, ag_rt_t *rt, ag_handoff_new_t *h, size_t n)
{
    handoffs_arg_t a = {rt, h, n};
    lua_pushcfunction(L, l_push_handoffs);
    lua_pushlightuserdata(L, &a);
    int st = lua_pcall(L, 1, 1, 0);
    ag_handoffs_new_free(h, n);
    return st == LUA_OK ? 0 : lua_error(L);
}

/* run(is_task, name, input, responses, workflow_id, attempt, approve) -> result [, handoffs] (upvalue: the file) */
static int l_run(lua_State *L)
{
    tfile_t *f = lua_touserdata(L, lua_upvalueindex(1));
    ag_rt_t *rt = f->rt;
    suite_t *su = f->su;
    int is_task = lua_toboolean(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const char *fn = is_task ? "run_task" : "run_agent";
    lua_settop(L, 7);
    if (L != rt->L)
        return fail_plain(L, "%s: call it from the test itself, not from inside a coroutine", fn);
    const char *wf = lua_tostring(L, 5);
    int attempt = lua_isinteger(L, 6) ? (int)lua_tointeger(L, 6) : 1;
    const char *input = encode_at(L, rt, 3);
    char type[300], domain[128];
    snprintf(domain, sizeof(domain), "%s", f->domain);
    const char *err_text;
    if (is_task) {
        const char *dot = strchr(name, '.');
        if (dot == NULL)
            snprintf(type, sizeof(type), "%s.%s", f->domain, name);
        else
            snprintf(type, sizeof(type), "%s", name);
        dot = strchr(type, '.');
        snprintf(domain, sizeof(domain), "%.*s", (int)(dot - type), type);
        if ((err_text = script_error(f, domain, "tasks", dot + 1)) != NULL)
            return fail_plain(L, "%s(\"%s\"): %s", fn, type, err_text);
        ag_err_t err;
        if (ag_rt_push_task_type(rt, type, &err) != 0)
            return fail_plain(L, "%s(\"%s\"): %s", fn, type, err.msg);
        ag_tasktype_t tt;
        if (ag_rt_task_type(rt, type, &tt, &err) == 0 && (err_text = script_error(f, domain, "agents", tt.agent)))
            return fail_plain(L, "%s(\"%s\"): %s", fn, type, err_text);
        if (lua_getfield(L, -1, "input") == LUA_TTABLE) { /* the schema checks the input as the API would */
            push_decoded(L, rt, input);
            ag_rt_push_validation(rt, -2, -1);
            size_t nerr = lua_rawlen(L, -1);
            if (nerr > 0) {
                luaL_Buffer b;
                int list = lua_gettop(L);
                luaL_buffinit(L, &b);
                lua_pushfstring(L, "%s(\"%s\"): the input does not match the task type's schema: ", fn, type);
                luaL_addvalue(&b);
                for (size_t i = 1; i <= nerr; i++) {
                    lua_rawgeti(L, list, (lua_Integer)i);
                    lua_getfield(L, -1, "field");
                    lua_getfield(L, -2, "message");
                    lua_pushfstring(L, "%s%s%s%s", i > 1 ? "; " : "", lua_tostring(L, -2) ? lua_tostring(L, -2) : "",
                                    lua_tostring(L, -2) && *lua_tostring(L, -2) ? ": " : "",
                                    lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
                    lua_replace(L, -4);
                    lua_pop(L, 2);
                    luaL_addvalue(&b);
                }
                luaL_pushresult(&b);
                return lua_error(L);
            }
        }
        lua_settop(L, 7);
    } else if ((err_text = script_error(f, domain, "agents", name)) != NULL) {
        return fail_plain(L, "%s(\"%s\"): %s", fn, name, err_text);
    }
    ag_err_t err;
    if (lua_istable(L, 4) && su->ll_scripted == NULL &&
        ag_llm_loop_new(&su->ll_scripted, &su->loop, su->llm, su->scratch, &err) != 0)
        return fail_plain(L, "%s: %s", fn, err.msg);
    if (lua_isfunction(L, 7)) { /* task.approve{} answers with the test's decision */
        lua_pushvalue(L, 7);
        rt->test_approve_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    /* from here nothing raises until the run has ended and its strings are on the stack */
    run_out_t out;
    memset(&out, 0, sizeof(out));
    ag_llm_call_t *rows = NULL;
    size_t nrows = 0;
    if (lua_istable(L, 4)) {
        nrows = lua_rawlen(L, 4);
        rows = ag_xcalloc(nrows ? nrows : 1, sizeof(*rows));
        for (size_t i = 0; i < nrows; i++) {
            lua_rawgeti(L, 4, (lua_Integer)i + 1);
            rows[i].seq = (int)i + 1;
            rows[i].response = (char *)lua_tostring(L, -1); /* borrowed: the list stays at index 4 */
            lua_pop(L, 1);
        }
        ag_llm_loop_replay(su->ll_scripted, rows, nrows, on_scripted_call, &out);
        rt->llm = su->ll_scripted;
    }
    rt->store = su->mem;
    ag_run_spec_t spec = {.task_id = 0, .type = is_task ? type : NULL, .domain = domain, .agent = is_task ? NULL : name,
                          .input = input, .workflow_id = wf, .attempt = attempt};
    ag_rt_start(rt, &spec, on_run_end, &out, &out.run);
    if (!out.done) {
        su->wall.data = &out;
        uv_timer_start(&su->wall, on_wall, RUN_WALL_MS, 0);
        while (!out.done) {
            if (uv_run(&su->loop, UV_RUN_ONCE) == 0 && !out.done) { /* nothing left that could wake it */
                out.stuck = 1;
                ag_rt_cancel(out.run);
            }
        }
        uv_timer_stop(&su->wall);
    }
    rt->llm = su->ll;
    free(rows);
    if (rt->test_approve_ref > 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, rt->test_approve_ref);
        rt->test_approve_ref = 0;
    }
    /* push what is owned, then free it, then what may raise */
    lua_pushstring(L, out.result);
    lua_pushstring(L, out.error);
    free(out.result);
    free(out.error);
    const char *who = is_task ? type : name;
    if (out.status != AG_RUN_OK) {
        const char *e = lua_tostring(L, -1) ? lua_tostring(L, -1) : "failed";
        if (out.missing_seq > 0 && strstr(e, "replay_missing") != NULL)
            return fail_plain(L, "%s(\"%s\") failed: llm.chat call %d has no answer in opts.llm.responses (it has %d)",
                              fn, who, out.missing_seq, (int)nrows);
        if (out.timed_out)
            return fail_plain(L, "%s(\"%s\"): still running after %d s: cancelled", fn, who, RUN_WALL_MS / 1000);
        if (out.stuck)
            return fail_plain(L, "%s(\"%s\"): the run waits on nothing that can wake it: cancelled", fn, who);
        if (out.status == AG_RUN_WAITING)
            return fail_plain(L, "%s(\"%s\"): the run waits for an approval", fn, who);
        return fail_plain(L, "%s(\"%s\") failed: %s", fn, who, e);
    }
    int res = lua_gettop(L) - 1;
    push_decoded(L, rt, lua_tostring(L, res));
    if (!is_task)
        return 1;
    /* what the engine would hand off on this success */
    ag_handoff_src_t src = {.task_id = 0, .type = type, .domain = domain, .workflow_id = wf, .input = input,
                            .result = lua_tostring(L, res)};
    ag_handoff_new_t *hs = NULL;
    size_t n = ag_rt_handoffs(rt, &src, &hs);
    push_handoffs_owned(L, rt, hs, n);
    return 2;
}

/* handoff(name, result, meta) -> {status=, reasons=, input=, to=, name=} (upvalue: the file) */
static int l_handoff(lua_State *L)
{
    tfile_t *f = lua_touserdata(L, lua_upvalueindex(1));
    ag_rt_t *rt = f->rt;
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    const char *e = script_error(f, f->domain, "handoffs", name);
    if (e != NULL)
        return fail_plain(L, "run_handoff(\"%s\"): %s", name, e);
    if (ag_snapshot_find(rt->snap, f->domain, "handoffs", name) == NULL)
        return fail_plain(L, "run_handoff(\"%s\"): no handoff %s/%s/handoffs/%s.lua", name, f->su->root, f->domain, name);
    const char *result = encode_at(L, rt, 2);
    lua_getfield(L, 3, "task_id");
    lua_Integer task_id = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
    lua_getfield(L, 3, "workflow_id");
    const char *wf = lua_tostring(L, -1);
    if (lua_getfield(L, 3, "input") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    const char *input = encode_at(L, rt, -1);
    const char *type = NULL;
    if (lua_getfield(L, 3, "task_type") == LUA_TSTRING) {
        type = lua_tostring(L, -1);
    } else { /* the source task type: the handoff's own `on` (the first, for a list) */
        ag_err_t err;
        if (ag__rt_push_script(rt, f->domain, "handoffs", name, &err) != 0)
            return fail_plain(L, "run_handoff(\"%s\"): %s", name, err.msg);
        if (lua_istable(L, -1) && lua_getfield(L, -1, "on") == LUA_TTABLE)
            lua_rawgeti(L, -1, 1);
        type = lua_tostring(L, -1);
    }
    ag_handoff_src_t src = {.task_id = task_id, .type = type ? type : "", .domain = f->domain, .workflow_id = wf,
                            .input = input, .result = result};
    ag_handoff_new_t *h = NULL;
    ag_err_t err;
    int rc = ag_rt_handoff_eval(rt, &src, name, &h, &err);
    if (rc < 0)
        return fail_plain(L, "run_handoff(\"%s\"): %s", name, err.msg);
    if (rc == 0) {
        lua_createtable(L, 0, 3);
        lua_pushliteral(L, "skipped");
        lua_setfield(L, -2, "status");
        lua_newtable(L);
        lua_setfield(L, -2, "reasons");
        lua_pushstring(L, name);
        lua_setfield(L, -2, "name");
        return 1;
    }
    push_handoffs_owned(L, rt, h, 1);
    lua_rawgeti(L, -1, 1);
    return 1;
}

static int l_print(lua_State *L)
{
    fprintf(stdout, "     %s\n", luaL_checkstring(L, 1));
    fflush(stdout);
    return 0;
}

/* The line of the test file that called test() (level 2: caller_line, test, the file). */
static int l_caller_line(lua_State *L)
{
    lua_Debug ar;
    int line = 0;
    if (lua_getstack(L, 2, &ar) && lua_getinfo(L, "l", &ar))
        line = ar.currentline;
    lua_pushinteger(L, line);
    return 1;
}

/* Message handler: notes the innermost line of the test file on the stack, and gives the error as text. */
static int l_msgh(lua_State *L)
{
    tfile_t *f = lua_touserdata(L, lua_upvalueindex(1));
    lua_Debug ar;
    f->err_line = 0;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && strcmp(ar.source, f->chunk) == 0) {
            f->err_line = ar.currentline;
            break;
        }
    }
    if (lua_type(L, 1) == LUA_TSTRING)
        return 1;
    if (lua_istable(L, 1)) { /* a structured error: "code: message", raw reads */
        lua_pushliteral(L, "message");
        lua_rawget(L, 1);
        lua_pushliteral(L, "code");
        lua_rawget(L, 1);
        if (lua_type(L, -2) == LUA_TSTRING) {
            if (lua_type(L, -1) == LUA_TSTRING)
                lua_pushfstring(L, "%s: %s", lua_tostring(L, -1), lua_tostring(L, -2));
            else
                lua_pushvalue(L, -2);
            return 1;
        }
    }
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    return 1;
}

/* try(fn): fn() under the message handler -> true, or false and the error text (upvalue: the file) */
static int l_try(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, l_msgh, 1);
    lua_insert(L, 1);
    int st = lua_pcall(L, lua_gettop(L) - 2, 0, 1);
    if (st == LUA_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

/* Calls the function on top of the stack bounded, under the message handler. 0 when it returned; else 1 with the
 * message ("path:line: " of the test file taken off) in msg and its line in *line. */
static int try_call(tfile_t *f, char *msg, size_t msgsz, int *line)
{
    lua_State *L = f->rt->L;
    int fn = lua_gettop(L);
    lua_pushlightuserdata(L, f);
    lua_pushcclosure(L, l_try, 1);
    lua_insert(L, fn);
    f->err_line = 0;
    int st = ag__rt_pcall_bounded(f->rt, 1, 2);
    if (st == LUA_OK && lua_toboolean(L, -2)) {
        lua_settop(L, fn - 1);
        return 0;
    }
    const char *m = lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error)";
    *line = f->err_line;
    const char *path = f->short_src;
    size_t pl = strlen(path);
    if (strncmp(m, path, pl) == 0 && m[pl] == ':' && m[pl + 1] >= '0' && m[pl + 1] <= '9') {
        char *end;
        long n = strtol(m + pl + 1, &end, 10);
        if (end[0] == ':' && end[1] == ' ') {
            *line = (int)n;
            m = end + 2;
        }
    }
    const char *budget = strstr(m, "module body exceeded its load budget");
    if (budget != NULL)
        snprintf(msg, msgsz, "the test exceeded its budget%s", budget + strlen("module body exceeded its load budget"));
    else
        snprintf(msg, msgsz, "%s", m);
    lua_settop(L, fn - 1);
    return 1;
}

static void report_file_error(tfile_t *f, int line, const char *what, const char *msg)
{
    printf("FAIL %s:%d: %s: %s\n", f->path, line, what, msg);
    fflush(stdout);
    f->file_error = 1;
}

/* Protected: the whole file (lightuserdata tfile_t, source, length). */
static int l_file(lua_State *L)
{
    tfile_t *f = lua_touserdata(L, 1);
    const char *src = lua_touserdata(L, 2);
    size_t len = (size_t)lua_tointeger(L, 3);
    ag_rt_t *rt = f->rt;
    lua_settop(L, 0);
    ag_err_t err;
    if (ag_rt_load_module(rt, "engine/lua/test_lib.lua", ag_embed_test_lib_lua, ag_embed_test_lib_lua_len, &err) != 0)
        return luaL_error(L, "embedded test library: %s", err.msg);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->sandbox_ref);
    static const luaL_Reg prims[] = {{"run", l_run},
                                     {"handoff", l_handoff},
                                     {"print", l_print},
                                     {"caller_line", l_caller_line},
                                     {NULL, NULL}};
    lua_createtable(L, 0, 4);
    lua_pushlightuserdata(L, f);
    luaL_setfuncs(L, prims, 1);
    lua_call(L, 2, 3); /* env, tests, set_running */
    int env = 1, tests = 2, set_running = 3;

    char msg[4096];
    int line = 0;
    if (luaL_loadbufferx(L, src, len, f->chunk, "t") != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        const char *p = strstr(m, ".lua:");
        report_file_error(f, p ? atoi(p + 5) : 0, "the file does not load",
                          p && strchr(p + 5, ' ') ? strchr(p + 5, ' ') + 1 : m);
        return 0;
    }
    lua_Debug ar;
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">S", &ar);
    snprintf(f->short_src, sizeof(f->short_src), "%s", ar.short_src);
    lua_pushvalue(L, env);
    lua_setupvalue(L, -2, 1);
    if (fresh_memory(f->su, &err) != 0)
        return luaL_error(L, "%s", err.msg);
    rt->store = f->su->mem;
    if (try_call(f, msg, sizeof(msg), &line) != 0) {
        report_file_error(f, line, "error outside test()", msg);
        return 0;
    }
    lua_pushvalue(L, set_running);
    lua_pushboolean(L, 1);
    lua_call(L, 1, 0);
    lua_Integer n = (lua_Integer)lua_rawlen(L, tests);
    if (n == 0) {
        report_file_error(f, 1, "no tests", "the file declares no test(name, fn)");
        return 0;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, tests, i);
        lua_getfield(L, -1, "name");
        const char *name = lua_tostring(L, -1);
        if (f->filter != NULL && strstr(name, f->filter) == NULL) {
            lua_pop(L, 2);
            continue;
        }
        f->selected++;
        lua_getfield(L, -2, "line");
        int decl_line = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (fresh_memory(f->su, &err) != 0)
            return luaL_error(L, "%s", err.msg);
        rt->store = f->su->mem;
        lua_getfield(L, -2, "fn");
        if (try_call(f, msg, sizeof(msg), &line) == 0) {
            printf("ok   %s: %s\n", f->path, name);
            f->passed++;
        } else {
            printf("FAIL %s:%d: %s: %s\n", f->path, line > 0 ? line : decl_line, name, msg);
            f->failed++;
        }
        fflush(stdout);
        lua_pop(L, 2);
    }
    return 0;
}

static void run_file(suite_t *su, tfile_t *f)
{
    char *src = NULL;
    size_t len = 0;
    ag_err_t err;
    int rc = ag_read_file(f->path, &src, &len);
    if (rc != 0) {
        report_file_error(f, 0, "cannot read", ag_strerror(rc));
        return;
    }
    ag_rt_opts_t o = {.loop = &su->loop, .store = su->mem, .scripts = su->scripts, .llm = su->ll,
                      .cpu_budget = su->cfg->cpu_budget, .memory_limit = su->cfg->memory_limit};
    if (ag_rt_new(&f->rt, &o, &err) != 0) {
        report_file_error(f, 0, "cannot start a Lua state", err.msg);
        free(src);
        return;
    }
    lua_State *L = f->rt->L;
    lua_pushcfunction(L, l_file);
    lua_pushlightuserdata(L, f);
    lua_pushlightuserdata(L, src);
    lua_pushinteger(L, (lua_Integer)len);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        report_file_error(f, 0, "internal error", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_pop(L, 1);
    }
    ag_rt_free(f->rt);
    f->rt = NULL;
    free(src);
}

/* ---- finding the files --------------------------------------------------------------------------------------- */

typedef struct paths_s {
    char **v;
    size_t n, cap;
} paths_t;

static void paths_add(paths_t *p, const char *s)
{
    if (p->n == p->cap)
        p->v = ag_xrealloc(p->v, (p->cap = p->cap ? p->cap * 2 : 32) * sizeof(char *));
    p->v[p->n++] = ag_xstrdup(s);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_dirent(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void collect(const char *dir, int depth, paths_t *out)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, cmp_dirent);
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char p[PATH_MAX];
        struct stat st;
        if (name[0] != '.' && snprintf(p, sizeof(p), "%s/%s", dir, name) < (int)sizeof(p) && stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth < 8)
                collect(p, depth + 1, out);
            else if (S_ISREG(st.st_mode) && ends_with(name, "_test.lua"))
                paths_add(out, p);
        }
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
}

static int is_kind(const char *s)
{
    for (const char **k = kinds; *k; k++)
        if (strcmp(s, *k) == 0)
            return 1;
    return 0;
}

/* Splits p at its last '/' into dir (or "." without one) and the last component. */
static void split(const char *p, char *dir, size_t dsz, const char **base)
{
    const char *slash = strrchr(p, '/');
    if (slash == NULL) {
        snprintf(dir, dsz, ".");
        *base = p;
    } else if (slash == p) {
        snprintf(dir, dsz, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, dsz, "%.*s", (int)(slash - p), p);
        *base = slash + 1;
    }
}

static int has_config(const char *dir)
{
    char probe[PATH_MAX + 20];
    struct stat st;
    snprintf(probe, sizeof(probe), "%.4000s/config.lua", dir);
    return stat(probe, &st) == 0 && S_ISREG(st.st_mode);
}

/* The domains root and the domain of the test file at path: the directory above its kind directory
 * (<root>/<domain>/agents/x_test.lua), else the nearest directory above the file, up to three levels, that holds a
 * config.lua (<root>/<domain>/x_test.lua, <root>/<domain>/checks/x_test.lua). -1 with why when there is none. */
static int resolve(const char *path, char *root, size_t rsz, char *domain, size_t dsz, char *why, size_t wsz)
{
    char dir[PATH_MAX + 8], ddir[PATH_MAX + 8], parent[PATH_MAX + 8], real[PATH_MAX];
    const char *base, *dname;
    split(path, dir, sizeof(dir), &base);
    split(dir, parent, sizeof(parent), &dname);
    if (strcmp(dname, ".") == 0 || strcmp(dname, "..") == 0) { /* no names left to walk: go absolute */
        if (realpath(dir, real) == NULL) {
            snprintf(why, wsz, "cannot resolve %.300s: %s", dir, strerror(errno));
            return -1;
        }
        snprintf(dir, sizeof(dir), "%s", real);
        split(dir, parent, sizeof(parent), &dname);
    }
    int found = 0;
    if (is_kind(dname) && strcmp(parent, "/") != 0) {
        snprintf(ddir, sizeof(ddir), "%s", parent);
        found = 1;
    }
    snprintf(ddir, sizeof(ddir), "%s", found ? parent : dir);
    for (int up = 0; !found && up < 4; up++) {
        if (has_config(ddir)) {
            found = 1;
            break;
        }
        split(ddir, parent, sizeof(parent), &dname);
        if (strcmp(dname, ".") == 0 || strcmp(dname, "..") == 0 || strcmp(parent, ddir) == 0 || dname[0] == '\0')
            break;
        snprintf(ddir, sizeof(ddir), "%s", parent);
    }
    split(ddir, parent, sizeof(parent), &dname);
    if (found && (strcmp(dname, ".") == 0 || strcmp(dname, "..") == 0)) { /* "./agents/x_test.lua" */
        if (realpath(ddir, real) == NULL) {
            snprintf(why, wsz, "cannot resolve %.300s: %s", ddir, strerror(errno));
            return -1;
        }
        snprintf(ddir, sizeof(ddir), "%s", real);
        split(ddir, parent, sizeof(parent), &dname);
    }
    if (!found || !ag_script_name_valid(dname, strlen(dname))) {
        snprintf(why, wsz, "not in a domain (expected <domains>/<domain>/<kind>/<name>_test.lua, or a directory "
                           "below a domain's config.lua)");
        return -1;
    }
    snprintf(root, rsz, "%s", parent);
    snprintf(domain, dsz, "%s", dname);
    return 0;
}

/* ---- the command --------------------------------------------------------------------------------------------- */

int ag_cmd_test(const ag_config_t *cfg, int argc, char **argv)
{
    const char *path = NULL, *filter = NULL;
    int verbose = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
        else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (path == NULL && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: agency test [PATH] [--filter TEXT] [-v]\n");
            return 2;
        }
    }
    /* scripts log at info; a test run shows warnings and errors only, unless asked */
    if (verbose)
        ag_log_level = cfg->log_level < AG_LOG_INFO ? cfg->log_level : AG_LOG_INFO;
    else if (getenv("AGENCY_LOG_LEVEL") == NULL)
        ag_log_level = AG_LOG_WARN;
    if (getenv("AGENCY_LOG_FORMAT") == NULL)
        ag_log_json = 0;

    char given[PATH_MAX];
    snprintf(given, sizeof(given), "%s", path ? path : cfg->domains);
    while (strncmp(given, "./", 2) == 0 && given[2] != '\0')
        memmove(given, given + 2, strlen(given + 2) + 1);
    for (size_t l = strlen(given); l > 1 && given[l - 1] == '/'; l--)
        given[l - 1] = '\0';
    struct stat st;
    if (stat(given, &st) != 0) {
        fprintf(stderr, "agency test: cannot read %s: %s\n", given, strerror(errno));
        return 2;
    }
    paths_t files = {NULL, 0, 0};
    if (S_ISDIR(st.st_mode))
        collect(given, 0, &files);
    else
        paths_add(&files, given);
    if (files.n == 0) {
        fprintf(stderr, "agency test: no *_test.lua files under %s\n", given);
        free(files.v);
        return 1;
    }
    int passed = 0, failed = 0, bad_files = 0, selected = 0, status = 1;
    suite_t *su = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int64_t t0 = ag_now_ms();
    for (size_t i = 0; i < files.n; i++) {
        tfile_t f;
        memset(&f, 0, sizeof(f));
        f.path = files.v[i];
        f.filter = filter;
        snprintf(f.chunk, sizeof(f.chunk), "@%s", f.path);
        char root[PATH_MAX + 8], why[600];
        if (resolve(f.path, root, sizeof(root), f.domain, sizeof(f.domain), why, sizeof(why)) != 0) {
            report_file_error(&f, 0, "cannot tell its domain", why);
            bad_files++;
            continue;
        }
        if (su == NULL || strcmp(su->root, root) != 0) {
            suite_free(su);
            ag_err_t err;
            if ((su = suite_new(cfg, root, &err)) == NULL) {
                fprintf(stderr, "agency test: %s\n", err.msg);
                status = 2;
                goto done;
            }
        }
        f.su = su;
        run_file(su, &f);
        passed += f.passed;
        failed += f.failed;
        selected += f.selected;
        bad_files += f.file_error;
    }
    /* the last line is "N passed, N failed" alone; a file that did not run counts as one failure */
    printf("\n%zu test file%s, %.2f s", files.n, files.n == 1 ? "" : "s", (double)(ag_now_ms() - t0) / 1000.0);
    if (bad_files > 0)
        printf("; %d did not run (each counts as a failure)", bad_files);
    if (filter != NULL && selected == 0 && bad_files == 0)
        printf("; no test name contains \"%s\"", filter);
    printf("\n%d passed, %d failed\n", passed, failed + bad_files);
    status = failed == 0 && bad_files == 0 && selected > 0 ? 0 : 1;
done:
    suite_free(su);
    curl_global_cleanup();
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i]);
    free(files.v);
    return status;
}
