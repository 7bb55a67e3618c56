/*
 * runtime.c: the sandboxed Lua state of one loop thread, module loading, and task runs.
 *
 * Design: the sandbox globals live in one read-only table G (never the state's real _G); each loaded
 * module gets its own _ENV whose reads fall through to G and raise on unknown names, and whose writes
 * raise. Library tables reach scripts through read-only proxies. The allocator attributes bytes to the
 * run being resumed (rt->cur) and refuses past its cap; the count hook does the same for instructions
 * and, once a limit is hit, fires on every line so a pcall cannot swallow the kill (STYLE §8).
 */
#include "runtime.h"

#include <lualib.h>
#include <math.h>
#include <string.h>

#include "../buf.h"
#include "../log.h"
#include "runtime_int.h"

#define AG_LOG_MODULE "lua"
#define HOOK_STEP 1000
#define LOAD_BUDGET 20000000 /* instructions a module body may run at load time */
#define STATE_CAP_FACTOR 8   /* the whole state may hold this many per-run caps */

extern const char ag_embed_schema_lua[];
extern const size_t ag_embed_schema_lua_len;

static void on_hook(lua_State *L, lua_Debug *ar);

/* ---- allocator and hook ----------------------------------------------------------------------------------- */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ag_rt_t *rt = ud;
    size_t old = ptr ? osize : 0;
    ag_run_t *run = rt->cur;
    if (nsize == 0) {
        free(ptr);
        rt->mem_total -= (int64_t)old;
        if (run)
            run->mem -= (int64_t)old;
        return NULL;
    }
    if (nsize > old) {
        int64_t delta = (int64_t)(nsize - old);
        if (run && run->mem + delta > run->memory_limit) {
            if (run->killed == KILL_NONE && run->co != NULL) {
                run->killed = KILL_MEM;
                /* the hook makes the kill stick even if a pcall catches this allocation failure */
                lua_sethook(run->co, on_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
            }
            return NULL;
        }
        if (rt->mem_total + delta > rt->mem_cap)
            return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    rt->mem_total += (int64_t)nsize - (int64_t)old;
    if (run)
        run->mem += (int64_t)nsize - (int64_t)old;
    return p;
}

/* Raises msg at the line the hook interrupted (level 0 inside a hook is the running function). */
static void hook_raise(lua_State *L, const char *msg, lua_Integer n)
{
    luaL_where(L, 0);
    lua_pushfstring(L, msg, n);
    lua_concat(L, 2);
    lua_error(L);
}

static void on_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    ag_rt_t *rt = ag_rt_of(L);
    ag_run_t *run = rt->cur;
    if (run == NULL) {
        if (rt->loading && (rt->load_instructions += HOOK_STEP) > LOAD_BUDGET)
            hook_raise(L, "module body exceeded its load budget of %I instructions", LOAD_BUDGET);
        return;
    }
    if (run->killed == KILL_NONE) {
        run->instructions += HOOK_STEP;
        if (run->instructions <= run->cpu_budget)
            return;
        run->killed = KILL_CPU;
    }
    /* Once killed, every line raises again, so no pcall or message handler can carry on. */
    lua_sethook(L, on_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    if (run->killed == KILL_MEM)
        hook_raise(L, "memory limit exceeded (%I bytes)", (lua_Integer)run->memory_limit);
    hook_raise(L, "cpu budget exceeded (%I instructions)", (lua_Integer)run->cpu_budget);
}

void ag__rt_charge(lua_State *L, int64_t steps)
{
    ag_rt_t *rt = ag_rt_of(L);
    ag_run_t *run = rt->cur;
    if (run == NULL) {
        if (rt->loading && (rt->load_instructions += steps) > LOAD_BUDGET)
            luaL_error(L, "module body exceeded its load budget of %d instructions", LOAD_BUDGET);
        return;
    }
    if (run->killed == KILL_NONE && (run->instructions += steps) > run->cpu_budget)
        run->killed = KILL_CPU;
    if (run->killed != KILL_NONE) {
        lua_sethook(L, on_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
        luaL_error(L, "cpu budget exceeded (%I instructions)", (lua_Integer)run->cpu_budget);
    }
}

/* ---- sandbox ----------------------------------------------------------------------------------------------- */

int ag_lua_raise(lua_State *L, const char *code, const char *message, int retryable)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    luaL_where(L, 1);
    lua_pushstring(L, message);
    lua_concat(L, 2);
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, retryable);
    lua_setfield(L, -2, "retryable");
    return lua_error(L);
}

static int l_readonly(lua_State *L)
{
    return luaL_error(L, "attempt to modify a read-only table (field '%s')", luaL_optstring(L, 2, "?"));
}

/* The iterator pairs() gets for a proxy: it walks the real table (upvalue 1) without handing it out. */
static int l_proxy_next(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1)))
        return 2;
    lua_pushnil(L);
    return 1;
}

static int l_proxy_pairs(lua_State *L)
{
    luaL_getmetafield(L, 1, "__index"); /* real */
    lua_pushcclosure(L, l_proxy_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Replaces the table at the top of the stack with a read-only proxy of it. */
static void make_readonly(lua_State *L)
{
    lua_newtable(L);                 /* real, proxy */
    lua_createtable(L, 0, 4);        /* real, proxy, mt */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, l_proxy_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);         /* real, proxy */
    lua_remove(L, -2);               /* proxy */
}

/* _ENV reads: G[k], or an error naming the undeclared global (upvalue 1 = G). */
static int l_env_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "undeclared global '%s' (the sandbox has no such global)", lua_tostring(L, 2));
    return luaL_error(L, "undeclared global");
}

static int l_env_newindex(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "assignment to undeclared global '%s' (declare it local)", lua_tostring(L, 2));
    return luaL_error(L, "assignment to undeclared global");
}

/* Pushes a fresh module environment. */
static void push_env(lua_State *L, ag_rt_t *rt)
{
    lua_newtable(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->envmt_ref);
    lua_setmetatable(L, -2);
}

/* load(chunk [, chunkname [, mode [, env]]]): text only; without env the chunk gets a fresh sandbox env. */
static int l_load(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    if (strchr(mode, 'b') != NULL && strchr(mode, 't') == NULL)
        return luaL_error(L, "load: binary chunks are not allowed in the sandbox");
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        push_env(L, ag_rt_of(L));
    lua_setupvalue(L, -2, 1);
    return 1;
}

/* setmetatable without finalizers: Lua runs __gc with hooks off, outside any run's budget. */
static int l_setmetatable(lua_State *L)
{
    if (lua_istable(L, 2)) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc finalizers are not allowed in the sandbox");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int l_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    if (AG_LOG_INFO >= ag_log_level) {
        lua_Debug ar;
        const char *src = "?";
        int line = 0;
        if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)) {
            src = ar.short_src;
            line = ar.currentline;
        }
        ag__log(AG_LOG_INFO, "script", "print %s:%d: %s", src, line, lua_tostring(L, -1));
    }
    return 0;
}

static const char *base_allowed[] = {"assert",   "error",    "ipairs",       "next",         "pairs",
                                     "pcall",    "select",   "tonumber",     "tostring",     "type",
                                     "xpcall",   "rawequal", "rawget",       "rawlen",       "getmetatable",
                                     "_VERSION", NULL};

static void open_std(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},         {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table},   {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},   {LUA_COLIBNAME, luaopen_coroutine},
                                    {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
}

/* Builds G, the sandbox's globals, and stores it in the registry. */
static void build_sandbox(lua_State *L, ag_rt_t *rt)
{
    open_std(L);
    lua_newtable(L); /* G */
    for (const char **n = base_allowed; *n; n++) {
        lua_getglobal(L, *n);
        lua_setfield(L, -2, *n);
    }
    lua_pushcfunction(L, l_load);
    lua_setfield(L, -2, "load");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, l_setmetatable, 1);
    lua_setfield(L, -2, "setmetatable");
    lua_pushcfunction(L, l_print);
    lua_setfield(L, -2, "print");

    /* string without dump, also behind the string metatable, which scripts cannot reach */
    lua_newtable(L); /* G, strcopy */
    lua_getglobal(L, "string");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (strcmp(lua_tostring(L, -2), "dump") != 0) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -5);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);             /* G, strcopy */
    ag_lua_register_patterns(L); /* find/match/gmatch/gsub charged to the CPU budget */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);   /* G, strcopy, "", strmt */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);             /* G, strcopy */
    make_readonly(L);
    lua_setfield(L, -2, "string");

    static const char *libs[] = {"table", "math", "utf8", "coroutine", NULL};
    for (const char **n = libs; *n; n++) {
        lua_getglobal(L, *n);
        make_readonly(L);
        lua_setfield(L, -2, *n);
    }
    ag_lua_open_json(L);
    lua_getfield(L, -1, "encode");
    rt->encode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "decode");
    rt->decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "null");
    rt->null_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    make_readonly(L);
    lua_setfield(L, -2, "json");
    ag_lua_open_log(L);
    make_readonly(L);
    lua_setfield(L, -2, "log");
    ag_lua_open_time(L);
    make_readonly(L);
    lua_setfield(L, -2, "time");
    ag_lua_open_memory(L);
    make_readonly(L);
    lua_setfield(L, -2, "memory");
    ag_lua_open_template(L);
    make_readonly(L);
    lua_setfield(L, -2, "template");
    ag_lua_open_task(L);
    make_readonly(L);
    lua_setfield(L, -2, "task");
    ag_lua_register_sleep(L);

    lua_pushvalue(L, -1);
    rt->sandbox_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* the metatable of every module env */
    lua_createtable(L, 0, 3); /* G, envmt */
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, l_env_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_env_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    rt->envmt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
}

static int l_init(lua_State *L)
{
    ag_rt_t *rt = lua_touserdata(L, 1);
    build_sandbox(L, rt);
    lua_newtable(L);
    rt->modcache_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    rt->types_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* Sets G.llm (after the schema library, which llm.chat uses). */
static int l_install_llm(lua_State *L)
{
    ag_rt_t *rt = ag_rt_of(L);
    ag_lua_open_llm(L);
    make_readonly(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->sandbox_ref);
    lua_insert(L, -2);
    lua_setfield(L, -2, "llm");
    lua_pop(L, 1);
    return 0;
}

int ag_rt_new(ag_rt_t **out, const ag_rt_opts_t *opts, ag_err_t *err)
{
    ag_rt_t *rt = ag_xcalloc(1, sizeof(*rt));
    rt->loop = opts->loop;
    rt->store = opts->store;
    rt->scripts = opts->scripts;
    rt->llm = opts->llm;
    rt->cpu_budget = opts->cpu_budget > 0 ? opts->cpu_budget : 50000000;
    rt->memory_limit = opts->memory_limit > 0 ? opts->memory_limit : 64 << 20;
    rt->mem_cap = rt->memory_limit * STATE_CAP_FACTOR + (256 << 20);
    rt->L = lua_newstate(l_alloc, rt);
    if (rt->L == NULL) {
        free(rt);
        return ag_err_set(err, AG_ESCRIPT, "cannot create a Lua state");
    }
    *(ag_rt_t **)lua_getextraspace(rt->L) = rt;
    lua_pushcfunction(rt->L, l_init);
    lua_pushlightuserdata(rt->L, rt);
    if (lua_pcall(rt->L, 1, 0, 0) != LUA_OK) {
        ag_err_set(err, AG_ESCRIPT, "Lua sandbox: %s", lua_tostring(rt->L, -1));
        lua_close(rt->L);
        free(rt);
        return AG_ESCRIPT;
    }
    ag_err_t e2;
    if (ag_rt_load_module(rt, "scripts/lua/schema.lua", ag_embed_schema_lua, ag_embed_schema_lua_len, &e2) != 0) {
        ag_err_set(err, AG_ESCRIPT, "embedded schema library: %s", e2.msg);
        lua_close(rt->L);
        free(rt);
        return AG_ESCRIPT;
    }
    rt->schema_ref = luaL_ref(rt->L, LUA_REGISTRYINDEX);
    lua_pushcfunction(rt->L, l_install_llm);
    if (lua_pcall(rt->L, 0, 0, 0) != LUA_OK) {
        ag_err_set(err, AG_ESCRIPT, "%s", lua_tostring(rt->L, -1));
        lua_close(rt->L);
        free(rt);
        return AG_ESCRIPT;
    }
    if (rt->scripts)
        rt->snap = ag_scripts_acquire(rt->scripts);
    *out = rt;
    return 0;
}

void ag_rt_free(ag_rt_t *rt)
{
    if (rt == NULL)
        return;
    lua_close(rt->L);
    if (rt->snap)
        ag_snapshot_release(rt->snap);
    free(rt);
}

lua_State *ag_rt_lua(ag_rt_t *rt)
{
    return rt->L;
}

int ag_rt_waiting(const ag_rt_t *rt)
{
    return rt->waiting;
}

/* ---- modules ------------------------------------------------------------------------------------------------ */

int ag__rt_pcall_bounded(ag_rt_t *rt, int nargs, int nres)
{
    lua_State *L = rt->L;
    ag_run_t *saved = rt->cur;
    int was_loading = rt->loading;
    int64_t was_count = rt->load_instructions;
    lua_Hook was_hook = lua_gethook(L); /* nested in a bounded call (agency test): give the outer bound back */
    int was_mask = lua_gethookmask(L), was_step = lua_gethookcount(L);
    rt->cur = NULL;
    rt->loading = 1;
    rt->load_instructions = 0;
    lua_sethook(L, on_hook, LUA_MASKCOUNT, HOOK_STEP);
    int rc = lua_pcall(L, nargs, nres, 0);
    lua_sethook(L, was_hook, was_mask, was_step);
    rt->loading = was_loading;
    rt->load_instructions = was_count;
    rt->cur = saved;
    return rc;
}

int ag_rt_load_module(ag_rt_t *rt, const char *path, const char *src, size_t len, ag_err_t *err)
{
    lua_State *L = rt->L;
    char chunk[1100];
    snprintf(chunk, sizeof(chunk), "@%s", path);
    if (luaL_loadbufferx(L, src, len, chunk, "t") != LUA_OK) {
        ag_err_set(err, AG_ESCRIPT, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return AG_ESCRIPT;
    }
    push_env(L, rt);
    lua_setupvalue(L, -2, 1);
    ag_run_t *saved = rt->cur;
    int was_loading = rt->loading;
    int64_t was_count = rt->load_instructions;
    lua_Hook was_hook = lua_gethook(L); /* loaded inside a bounded call (agency test): give the outer bound back */
    int was_mask = lua_gethookmask(L), was_step = lua_gethookcount(L);
    rt->cur = NULL;
    rt->loading = 1;
    rt->load_instructions = 0;
    lua_sethook(L, on_hook, LUA_MASKCOUNT, HOOK_STEP);
    int rc = lua_pcall(L, 0, 1, 0);
    lua_sethook(L, was_hook, was_mask, was_step);
    rt->loading = was_loading;
    rt->load_instructions = was_count;
    rt->cur = saved;
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL && lua_istable(L, -1)) {
            lua_getfield(L, -1, "message");
            msg = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        if (rc == LUA_ERRMEM)
            ag_err_set(err, AG_ESCRIPT, "%s:1: not enough memory to load the module", path);
        else
            ag_err_set(err, AG_ESCRIPT, "%s", msg ? msg : "error object is not a string");
        lua_pop(L, 1);
        return AG_ESCRIPT;
    }
    return 0;
}

/* The first line of src that contains needle (1 when none), to point a shape error at the right line. */
static int line_of(const char *src, const char *needle)
{
    const char *p = needle ? strstr(src, needle) : NULL;
    if (p == NULL) {
        p = strstr(src, "return");
        if (p == NULL)
            return 1;
    }
    int line = 1;
    for (const char *q = src; q < p; q++)
        line += *q == '\n';
    return line;
}

static int shape_error(ag_err_t *err, const char *path, const char *src, const char *key, const char *msg)
{
    return ag_err_set(err, AG_ESCRIPT, "%s:%d: %s", path, src ? line_of(src, key) : 1, msg);
}

static int check_positive(lua_State *L, int idx, const char *key, int integer, double max)
{
    int t = lua_getfield(L, idx, key);
    int ok = 1;
    if (t != LUA_TNIL) {
        double v = lua_tonumber(L, -1);
        ok = t == LUA_TNUMBER && v > 0 && v <= max && (!integer || v == floor(v));
    }
    lua_pop(L, 1);
    return ok;
}

static int l_check_schema(lua_State *L)
{
    /* schema */
    ag_rt_t *rt = ag_rt_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->schema_ref);
    lua_getfield(L, -1, "check_schema");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
}

int ag_rt_check_module(ag_rt_t *rt, const char *kind, int idx, const char *path, const char *src, ag_err_t *err)
{
    lua_State *L = rt->L;
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        return shape_error(err, path, src, "return", "the module must return a table");
    if (strcmp(kind, "agents") == 0) {
        lua_getfield(L, idx, "run");
        int ok = lua_isfunction(L, -1);
        lua_pop(L, 1);
        if (!ok)
            return shape_error(err, path, src, "run", "an agent must have a run(task, ctx) function");
    } else if (strcmp(kind, "handoffs") == 0) {
        lua_getfield(L, idx, "to");
        const char *to = lua_tostring(L, -1);
        int ok = lua_type(L, -1) == LUA_TSTRING && strchr(to, '.') != NULL && to[0] != '.';
        lua_pop(L, 1);
        if (!ok)
            return shape_error(err, path, src, "to", "a handoff must name its target task type: to = \"<domain>.<task>\"");
        int t = lua_getfield(L, idx, "on");
        ok = t == LUA_TSTRING || t == LUA_TTABLE;
        lua_pop(L, 1);
        if (!ok)
            return shape_error(err, path, src, "on", "a handoff must name the task type that triggers it: on = "
                                                    "\"<domain>.<task>\" (or a list of them)");
        lua_getfield(L, idx, "transform");
        ok = lua_isfunction(L, -1);
        lua_pop(L, 1);
        if (!ok)
            return shape_error(err, path, src, "transform", "a handoff must have a transform(data, meta) function");
        static const char *optional[] = {"when", "validate", "extract", NULL};
        for (const char **f = optional; *f; f++) {
            t = lua_getfield(L, idx, *f);
            lua_pop(L, 1);
            if (t != LUA_TNIL && t != LUA_TFUNCTION) {
                char msg[80];
                snprintf(msg, sizeof(msg), "%s must be a function", *f);
                return shape_error(err, path, src, *f, msg);
            }
        }
    } else if (strcmp(kind, "tools") == 0) {
        lua_getfield(L, idx, "run");
        int ok = lua_isfunction(L, -1);
        lua_pop(L, 1);
        if (!ok)
            return shape_error(err, path, src, "run", "a tool must have a run(args, ctx) function");
        lua_getfield(L, idx, "description");
        ok = lua_isnil(L, -1) || lua_type(L, -1) == LUA_TSTRING;
        lua_pop(L, 1);
        if (!ok)
            return shape_error(err, path, src, "description", "a tool's description must be a string");
        int t = lua_getfield(L, idx, "parameters");
        if (t != LUA_TNIL && t != LUA_TTABLE) {
            lua_pop(L, 1);
            return shape_error(err, path, src, "parameters", "parameters must be a schema table");
        }
        if (t == LUA_TTABLE) {
            lua_pushcfunction(L, l_check_schema);
            lua_insert(L, -2);
            if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_isnil(L, -1)) {
                char msg[400];
                snprintf(msg, sizeof(msg), "parameters %s",
                         lua_tostring(L, -1) ? lua_tostring(L, -1) : "is not a schema");
                lua_pop(L, 1);
                return shape_error(err, path, src, "parameters", msg);
            }
        }
        lua_pop(L, 1);
    } else if (strcmp(kind, "tasks") == 0) {
        lua_getfield(L, idx, "agent");
        int ok = lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0;
        lua_pop(L, 1);
        if (!ok)
            return shape_error(err, path, src, "agent", "a task type must name its agent: agent = \"<name>\"");
        if (!check_positive(L, idx, "timeout", 0, 86400 * 7))
            return shape_error(err, path, src, "timeout", "timeout must be a number of seconds > 0");
        if (!check_positive(L, idx, "max_attempts", 1, 100))
            return shape_error(err, path, src, "max_attempts", "max_attempts must be an integer from 1 to 100");
        if (!check_positive(L, idx, "cpu_budget", 1, 1e15))
            return shape_error(err, path, src, "cpu_budget", "cpu_budget must be a positive integer");
        if (!check_positive(L, idx, "memory_limit", 1, 1e13))
            return shape_error(err, path, src, "memory_limit", "memory_limit must be a positive integer (bytes)");
        int t = lua_getfield(L, idx, "retry");
        if (t != LUA_TNIL) {
            int rok = t == LUA_TTABLE && check_positive(L, -1, "base_ms", 0, 86400e3) &&
                      check_positive(L, -1, "max_ms", 0, 86400e3 * 7);
            lua_pop(L, 1);
            if (!rok)
                return shape_error(err, path, src, "retry", "retry must be {base_ms = >0, max_ms = >0}");
        } else {
            lua_pop(L, 1);
        }
        t = lua_getfield(L, idx, "input");
        if (t != LUA_TNIL && t != LUA_TTABLE) {
            lua_pop(L, 1);
            return shape_error(err, path, src, "input", "input must be a schema table");
        }
        if (t == LUA_TTABLE) {
            lua_pushcfunction(L, l_check_schema);
            lua_insert(L, -2);
            if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_isnil(L, -1)) {
                char msg[400];
                snprintf(msg, sizeof(msg), "input %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "is not a schema");
                lua_pop(L, 1);
                return shape_error(err, path, src, "input", msg);
            }
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* ---- task types -------------------------------------------------------------------------------------------- */

static void refresh(ag_rt_t *rt)
{
    if (rt->scripts == NULL || ag_scripts_generation(rt->scripts) == rt->snap->generation)
        return;
    ag_snapshot_release(rt->snap);
    rt->snap = ag_scripts_acquire(rt->scripts);
    lua_newtable(rt->L);
    lua_rawseti(rt->L, LUA_REGISTRYINDEX, rt->types_ref);
}

/* Pushes the module of script sc, from the cache when its hash is unchanged. */
static int push_module(ag_rt_t *rt, const ag_script_t *sc, ag_err_t *err)
{
    lua_State *L = rt->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->modcache_ref); /* cache */
    if (lua_getfield(L, -1, sc->path) == LUA_TTABLE) {   /* cache, entry */
        lua_getfield(L, -1, "hash");
        int same = strcmp(lua_tostring(L, -1), sc->hash) == 0;
        lua_pop(L, 1);
        if (same) {
            lua_getfield(L, -1, "mod");
            lua_replace(L, -3);
            lua_pop(L, 1);
            return 0;
        }
    }
    lua_pop(L, 1); /* cache */
    if (ag_rt_load_module(rt, sc->path, sc->source, sc->len, err) != 0) {
        lua_pop(L, 1);
        return AG_ESCRIPT;
    }
    lua_createtable(L, 0, 2); /* cache, mod, entry */
    lua_pushstring(L, sc->hash);
    lua_setfield(L, -2, "hash");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "mod");
    lua_setfield(L, -3, sc->path); /* cache, mod */
    lua_replace(L, -2);
    return 0;
}

/* The domain's default max_attempts from its config.lua, or 3. */
static lua_Integer domain_max_attempts(ag_rt_t *rt, const char *domain)
{
    const ag_script_t *cfg = ag_snapshot_find(rt->snap, domain, "config", "config");
    ag_err_t err;
    if (cfg == NULL || push_module(rt, cfg, &err) != 0)
        return 3;
    lua_Integer v = 3;
    if (lua_istable(rt->L, -1)) {
        lua_getfield(rt->L, -1, "max_attempts");
        if (lua_isinteger(rt->L, -1) && lua_tointeger(rt->L, -1) >= 1 && lua_tointeger(rt->L, -1) <= 100)
            v = lua_tointeger(rt->L, -1);
        lua_pop(rt->L, 1);
    }
    lua_pop(rt->L, 1);
    return v;
}

int ag__rt_push_script(ag_rt_t *rt, const char *domain, const char *kind, const char *name, ag_err_t *err)
{
    refresh(rt);
    const ag_script_t *sc = rt->snap ? ag_snapshot_find(rt->snap, domain, kind, name) : NULL;
    if (sc == NULL)
        return ag_err_set(err, AG_ENOTFOUND, "no script domains/%s/%s/%s.lua", domain, kind, name);
    return push_module(rt, sc, err);
}

/* Pushes the types-cache entry {tt=, agent=, domain=, name=, max_attempts=} for type. */
static int push_type_entry(ag_rt_t *rt, const char *type, ag_err_t *err)
{
    lua_State *L = rt->L;
    refresh(rt);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->types_ref);
    if (lua_getfield(L, -1, type) == LUA_TTABLE) {
        lua_replace(L, -2);
        return 0;
    }
    lua_pop(L, 2);
    const char *dot = strchr(type, '.');
    if (dot == NULL || dot == type || dot[1] == '\0' || rt->snap == NULL)
        return ag_err_set(err, AG_ENOTFOUND, "unknown task type '%s' (expected <domain>.<task>)", type);
    char domain[256];
    snprintf(domain, sizeof(domain), "%.*s", (int)(dot - type), type);
    const ag_script_t *sc = ag_snapshot_find(rt->snap, domain, "tasks", dot + 1);
    if (sc == NULL)
        return ag_err_set(err, AG_ENOTFOUND, "unknown task type '%s'", type);
    if (push_module(rt, sc, err) != 0)
        return AG_ESCRIPT;
    lua_createtable(L, 0, 5); /* tt, entry */
    lua_insert(L, -2);
    lua_getfield(L, -1, "agent");
    lua_setfield(L, -3, "agent");
    lua_getfield(L, -1, "max_attempts");
    lua_Integer ma = lua_isnumber(L, -1) ? lua_tointeger(L, -1) : domain_max_attempts(rt, domain);
    lua_pop(L, 1);
    lua_pushinteger(L, ma > 0 ? ma : 3);
    lua_setfield(L, -3, "max_attempts");
    lua_setfield(L, -2, "tt");
    lua_pushstring(L, domain);
    lua_setfield(L, -2, "domain");
    lua_pushstring(L, type);
    lua_setfield(L, -2, "name");
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->types_ref);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, type);
    lua_pop(L, 1);
    return 0;
}

int ag__rt_type_has_handoffs(ag_rt_t *rt, const char *type)
{
    lua_State *L = rt->L;
    int top = lua_gettop(L);
    ag_err_t err;
    if (push_type_entry(rt, type, &err) != 0) {
        lua_settop(L, top);
        return 0;
    }
    int entry = lua_gettop(L), has;
    if (lua_getfield(L, entry, "has_handoffs") == LUA_TBOOLEAN) {
        has = lua_toboolean(L, -1);
    } else {
        lua_getfield(L, entry, "domain");
        char domain[256];
        snprintf(domain, sizeof(domain), "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        has = ag__handoffs_any(rt, domain, type);
        lua_pushboolean(L, has);
        lua_setfield(L, entry, "has_handoffs");
    }
    lua_settop(L, top);
    return has;
}

int ag_rt_task_type(ag_rt_t *rt, const char *type, ag_tasktype_t *out, ag_err_t *err)
{
    lua_State *L = rt->L;
    int rc = push_type_entry(rt, type, err);
    if (rc != 0)
        return rc;
    /* The strings stay alive in the cache entry until the cache is replaced. */
    lua_getfield(L, -1, "name");
    out->name = lua_tostring(L, -1);
    lua_getfield(L, -2, "domain");
    out->domain = lua_tostring(L, -1);
    lua_getfield(L, -3, "agent");
    out->agent = lua_tostring(L, -1);
    lua_getfield(L, -4, "max_attempts");
    out->max_attempts = (int)lua_tointeger(L, -1);
    lua_pop(L, 5);
    return 0;
}

int ag_rt_push_task_type(ag_rt_t *rt, const char *type, ag_err_t *err)
{
    int rc = push_type_entry(rt, type, err);
    if (rc != 0)
        return rc;
    lua_getfield(rt->L, -1, "tt");
    lua_replace(rt->L, -2);
    return 0;
}

void ag_rt_push_validation(ag_rt_t *rt, int sidx, int idx)
{
    lua_State *L = rt->L;
    sidx = lua_absindex(L, sidx);
    idx = lua_absindex(L, idx);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->schema_ref);
    lua_getfield(L, -1, "validate");
    lua_replace(L, -2);
    lua_pushvalue(L, sidx);
    lua_pushvalue(L, idx);
    lua_createtable(L, 0, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->null_ref);
    lua_setfield(L, -2, "null");
    lua_call(L, 3, 1);
}

/* ---- runs --------------------------------------------------------------------------------------------------- */

int64_t ag_run_task_id(const ag_run_t *run)
{
    return run->task_id;
}

static void on_run_handle_closed(uv_handle_t *h)
{
    ag_run_t *run = h->data;
    if (--run->handles_open == 0)
        free(run);
}

static void run_free(ag_run_t *run)
{
    free(run->end.result);
    free(run->end.error);
    free(run->end.approval_reason);
    free(run->end.approval_data);
    free(run->domain);
    free((char *)run->end.agent_path);
    run->end.result = run->end.error = NULL;
    if (run->handles_open == 0) {
        free(run);
        return;
    }
    int n = run->handles_open;
    if (run->sleep_timer.data == run)
        uv_close((uv_handle_t *)&run->sleep_timer, on_run_handle_closed), n--;
    if (run->deadline.data == run)
        uv_close((uv_handle_t *)&run->deadline, on_run_handle_closed), n--;
    AG_ASSERT(n == 0);
}

/* Ends the run: releases its coroutine, reports, frees. */
static void finish(ag_run_t *run)
{
    ag_rt_t *rt = run->rt;
    lua_State *L = rt->L;
    run->finished = 1;
    if (run->pending_cancel != NULL) {
        run->pending_cancel(run);
        run->pending_cancel = NULL;
    }
    if (run->is_waiting) {
        run->is_waiting = 0;
        rt->waiting--;
    }
    if (run->deadline.data == run)
        uv_timer_stop(&run->deadline);
    if (run->co != NULL) {
        /* Closing pending to-be-closed variables runs script code: keep it under the run's limits. */
        ag_run_t *saved = rt->cur;
        rt->cur = run;
        lua_resetthread(run->co);
        rt->cur = saved;
        luaL_unref(L, LUA_REGISTRYINDEX, run->co_ref);
        run->co = NULL;
    }
    run->cb(run, &run->end, run->cb_data);
    run_free(run);
}

static void fail(ag_run_t *run, int retryable, const char *fmt, const char *detail)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), fmt, detail);
    run->end.status = AG_RUN_ERROR;
    run->end.retryable = retryable;
    free(run->end.error);
    run->end.error = ag_xstrdup(msg);
    finish(run);
}

/* Turns the error object on top of co into a message; structured errors give their retryable flag. */
static char *error_text(lua_State *co, int *retryable)
{
    *retryable = 1;
    if (lua_type(co, -1) == LUA_TSTRING)
        return ag_xstrdup(lua_tostring(co, -1));
    if (lua_istable(co, -1)) {
        /* raw reads: the error object's metamethods must not run outside the run */
        lua_pushliteral(co, "message");
        lua_rawget(co, -2);
        lua_pushliteral(co, "code");
        lua_rawget(co, -3);
        lua_pushliteral(co, "retryable");
        lua_rawget(co, -4);
        if (lua_isboolean(co, -1))
            *retryable = lua_toboolean(co, -1);
        ag_buf_t b;
        ag_buf_init(&b);
        const char *code = lua_type(co, -2) == LUA_TSTRING ? lua_tostring(co, -2) : NULL;
        const char *m = lua_type(co, -3) == LUA_TSTRING ? lua_tostring(co, -3) : NULL;
        if (code)
            ag_buf_printf(&b, "%s: ", code);
        ag_buf_puts(&b, m ? m : "(error table without a message)");
        lua_pop(co, 3);
        return ag_buf_steal(&b);
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "(error object is a %s value)", luaL_typename(co, -1));
    return ag_xstrdup(msg);
}

static int l_encode_result(lua_State *L)
{
    /* value */
    ag_rt_t *rt = ag_rt_of(L);
    if (lua_isnoneornil(L, 1)) {
        lua_pushliteral(L, "null");
        return 1;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
}

static void on_deadline(uv_timer_t *t)
{
    ag_run_t *run = t->data;
    run->timed_out = 1;
    char d[64];
    snprintf(d, sizeof(d), "%.3g", run->timeout_ms / 1000.0);
    fail(run, 1, "timed out after %s s", d);
}

int ag__rt_resume(ag_run_t *run, int nargs)
{
    ag_rt_t *rt = run->rt;
    lua_State *L = rt->L;
    if (run->is_waiting) {
        run->is_waiting = 0;
        rt->waiting--;
    }
    run->pending_cancel = NULL;
    ag_run_t *saved = rt->cur;
    rt->cur = run;
    int nres = 0;
    int st = lua_resume(run->co, L, nargs, &nres);
    rt->cur = saved;
    if (st == LUA_YIELD) {
        lua_pop(run->co, nres);
        if (run->parked) { /* task.approve{}: the run ends here; the task waits for a decision */
            run->end.status = AG_RUN_WAITING;
            run->end.retryable = 0;
            finish(run);
            return 0;
        }
        if (run->pending_cancel == NULL) {
            fail(run, 0, "%s", "coroutine.yield() outside a coroutine of the script's own: tasks wait only "
                               "through engine calls such as sleep()");
            return 0;
        }
        run->is_waiting = 1;
        rt->waiting++;
        if (run->timeout_ms > 0 && run->deadline.data != run && rt->loop) {
            uv_update_time(rt->loop); /* the cached loop time may be a whole batch of runs old */
            uv_timer_init(rt->loop, &run->deadline);
            run->deadline.data = run;
            run->handles_open++;
            uv_timer_start(&run->deadline, on_deadline, (uint64_t)run->timeout_ms, 0);
        }
        return 1;
    }
    if (st == LUA_OK) {
        lua_pushcfunction(L, l_encode_result);
        if (nres > 0) {
            lua_xmove(run->co, L, 1);
            lua_pop(run->co, nres - 1);
        } else {
            lua_pushnil(L);
        }
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            char *m = ag_xstrdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            lua_pop(L, 1);
            fail(run, 0, "the result of run() is not JSON-encodable: %s", m);
            free(m);
            return 0;
        }
        run->end.status = AG_RUN_OK;
        run->end.result = ag_xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
        finish(run);
        return 0;
    }
    if (run->killed == KILL_MEM || st == LUA_ERRMEM) {
        char d[300];
        snprintf(d, sizeof(d), "%s: memory limit exceeded (the run held more than %lld bytes)", run->end.agent_path,
                 (long long)run->memory_limit);
        fail(run, 0, "%s", d);
        return 0;
    }
    int retryable;
    char *msg = error_text(run->co, &retryable);
    if (run->killed == KILL_CPU)
        retryable = 0;
    fail(run, retryable, "%s", msg);
    free(msg);
    return 0;
}

static lua_Integer field_int(lua_State *L, int idx, const char *k, lua_Integer dflt)
{
    lua_getfield(L, idx, k);
    lua_Integer v = lua_isnumber(L, -1) ? (lua_Integer)lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

/* Protected part of a start: resolve scripts, build the coroutine and its arguments. */
static int l_prepare(lua_State *L)
{
    ag_run_t *run = lua_touserdata(L, 1);
    const ag_run_spec_t *spec = lua_touserdata(L, 2);
    ag_rt_t *rt = run->rt;
    ag_err_t err;
    const char *agent = spec->agent;
    const char *domain = spec->domain;
    int tt = 0;
    if (spec->type != NULL) {
        if (push_type_entry(rt, spec->type, &err) != 0)
            return luaL_error(L, "%s", err.msg);
        lua_getfield(L, -1, "tt");
        tt = lua_gettop(L);
        lua_getfield(L, -2, "agent");
        agent = lua_tostring(L, -1);
        lua_getfield(L, -3, "domain");
        domain = lua_tostring(L, -1);
        run->cpu_budget = field_int(L, tt, "cpu_budget", rt->cpu_budget);
        run->memory_limit = field_int(L, tt, "memory_limit", rt->memory_limit);
        lua_getfield(L, tt, "timeout");
        run->timeout_ms = lua_isnumber(L, -1) ? (int)(lua_tonumber(L, -1) * 1000) : 0;
        lua_pop(L, 1);
        if (lua_getfield(L, tt, "retry") == LUA_TTABLE) {
            run->end.retry_base_ms = (int)field_int(L, -1, "base_ms", 0);
            run->end.retry_max_ms = (int)field_int(L, -1, "max_ms", 0);
        }
        lua_pop(L, 1);
    }
    run->domain = ag_xstrdup(domain);
    const ag_script_t *sc = rt->snap ? ag_snapshot_find(rt->snap, domain, "agents", agent) : NULL;
    if (sc == NULL) {
        /* a file that never loaded: its error says why, not "not found" */
        for (size_t i = 0; rt->snap && i < rt->snap->n; i++) {
            const ag_script_t *bad = &rt->snap->items[i];
            if (bad->error && strcmp(bad->kind, "agents") == 0 && strcmp(bad->name, agent) == 0 &&
                strcmp(bad->domain, domain) == 0)
                return luaL_error(L, "%s", bad->error);
        }
        return luaL_error(L, "agent '%s' not found in domain '%s' (domains/%s/agents/%s.lua)", agent, domain, domain,
                          agent);
    }
    memcpy(run->end.version, sc->hash, sizeof(run->end.version));
    run->end.agent_path = ag_xstrdup(sc->path);
    if (push_module(rt, sc, &err) != 0)
        return luaL_error(L, "%s", err.msg);
    int mod = lua_gettop(L);
    if (lua_getfield(L, mod, "run") != LUA_TFUNCTION)
        return luaL_error(L, "%s: the agent has no run function", sc->path);
    int fn = lua_gettop(L);

    lua_State *co = lua_newthread(L);
    run->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, fn);

    lua_createtable(L, 0, 6); /* task */
    lua_pushinteger(L, spec->task_id);
    lua_setfield(L, -2, "id");
    if (spec->type) {
        lua_pushstring(L, spec->type);
        lua_setfield(L, -2, "type");
    }
    lua_pushstring(L, domain);
    lua_setfield(L, -2, "domain");
    lua_pushstring(L, agent);
    lua_setfield(L, -2, "agent");
    lua_pushinteger(L, spec->attempt);
    lua_setfield(L, -2, "attempt");
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->decode_ref);
    lua_pushstring(L, spec->input ? spec->input : "{}");
    lua_call(L, 1, 1);
    lua_setfield(L, -2, "input");
    /* task.approve{} works on the run's own task table too (it shadows the `task` global in run(task, ctx)) */
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->sandbox_ref);
    lua_getfield(L, -1, "task");
    lua_getfield(L, -1, "approve");
    lua_setfield(L, -4, "approve");
    lua_pop(L, 2);

    lua_createtable(L, 0, 4); /* ctx */
    lua_pushstring(L, domain);
    lua_setfield(L, -2, "domain");
    lua_pushinteger(L, spec->task_id);
    lua_setfield(L, -2, "task_id");
    lua_pushinteger(L, spec->attempt);
    lua_setfield(L, -2, "attempt");
    lua_pushstring(L, sc->hash);
    lua_setfield(L, -2, "script_version");
    ag_lua_push_template_render(L); /* ctx.template(name, vars) = template.render */
    lua_setfield(L, -2, "template");
    lua_getfield(L, mod, "tools"); /* the agent's tools, for llm.chat{tools = ctx.tools} */
    lua_setfield(L, -2, "tools");
    const ag_script_t *cfgsc = ag_snapshot_find(rt->snap, domain, "config", "config");
    if (cfgsc != NULL && push_module(rt, cfgsc, &err) == 0) /* ctx.config: the domain's config.lua */
        lua_setfield(L, -2, "config");
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->bind_tool_ref); /* ctx.tool(name, args) */
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    lua_setfield(L, -2, "tool");
    if (spec->workflow_id) {
        lua_pushstring(L, spec->workflow_id);
        lua_setfield(L, -2, "workflow_id");
    }

    lua_xmove(L, co, 3); /* fn, task, ctx now on co */
    run->co = co;
    return 0;
}

void ag_rt_cancel(ag_run_t *run)
{
    run->end.status = AG_RUN_CANCELLED;
    run->end.retryable = 0;
    free(run->end.error);
    run->end.error = ag_xstrdup("cancelled");
    finish(run);
}

void ag_rt_start(ag_rt_t *rt, const ag_run_spec_t *spec, ag_run_cb cb, void *data, ag_run_t **out)
{
    lua_State *L = rt->L;
    ag_run_t *run = ag_xcalloc(1, sizeof(*run));
    run->rt = rt;
    run->task_id = spec->task_id;
    run->attempt = spec->attempt;
    run->cb = cb;
    run->cb_data = data;
    run->cpu_budget = rt->cpu_budget;
    run->memory_limit = rt->memory_limit;
    run->co_ref = LUA_NOREF;
    *out = NULL;
    int top = lua_gettop(L);
    lua_pushcfunction(L, l_prepare);
    lua_pushlightuserdata(L, run);
    lua_pushlightuserdata(L, (void *)spec);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        char *m = ag_xstrdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot start the run");
        lua_settop(L, top);
        if (run->co_ref != LUA_NOREF && run->co == NULL)
            luaL_unref(L, LUA_REGISTRYINDEX, run->co_ref);
        if (run->domain == NULL)
            run->domain = ag_xstrdup(spec->domain ? spec->domain : "");
        fail(run, 1, "%s", m);
        free(m);
        return;
    }
    lua_settop(L, top);
    lua_sethook(run->co, on_hook, LUA_MASKCOUNT, HOOK_STEP);
    if (ag__rt_resume(run, 2))
        *out = run; /* it waits on the loop; otherwise it has ended and is freed */
}
