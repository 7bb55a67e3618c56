/*
 * api_memory.c: the `memory` global, the domain's shared key-value store (table kv in the store).
 *
 *   memory.get(key [, {domain = "<other>"}])   -> value or nil
 *   memory.set(key, value [, {ttl = seconds}])
 *   memory.incr(key [, by = 1] [, {ttl = seconds}]) -> the new integer
 *   memory.delete(key)
 *
 * Values are anything json.encode accepts; an absent or expired key reads as nil (absence is not failure).
 * A script writes only its own domain's memory: set, incr and delete take no domain option, and passing
 * one is misuse (a file:line error, no retry). Another domain's memory is readable, but only when get
 * names it. ttl: seconds (fractions allowed), > 0 and at most ten years; a set without ttl keeps the key
 * forever, even when an earlier set gave it one. incr counts a missing or expired key from 0 and gives it
 * the ttl; an existing count keeps its expiry (a fixed window: incr("calls:" .. day, 1, {ttl = 86400})).
 * The store does the increment in one transaction; a stored value that is not an integer raises the
 * structured error {code = "invalid_state"}. Store failures raise {code = "store_error", retryable = true}.
 * Only a running task has a domain, so these raise at load time.
 */
#include <math.h>
#include <string.h>

#include "runtime_int.h"

#define TTL_MAX_S (10.0 * 365 * 86400)

static ag_run_t *check_run(lua_State *L, const char *fn)
{
    ag_run_t *run = ag_lua_run(L);
    if (run == NULL || run->rt->store == NULL)
        luaL_error(L, "memory.%s: only callable while a task runs", fn);
    return run;
}

static const char *check_key(lua_State *L)
{
    size_t len;
    const char *key = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, len > 0 && len <= 512, 1, "key must be 1 to 512 bytes");
    return key;
}

/* Reads the options table at idx (absent or nil: none). Only the named option is allowed; for writes the
 * error for a domain option says why there is none. Returns 1 when the option is set (left on the stack
 * top), 0 when not (nothing pushed). */
static int check_opts(lua_State *L, int idx, const char *fn, const char *allowed)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    if (!lua_istable(L, idx))
        return luaL_error(L, "memory.%s: options must be a table like {%s = ...}, not a %s", fn, allowed,
                          luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (k != NULL && strcmp(k, allowed) == 0)
            continue;
        if (k != NULL && strcmp(k, "domain") == 0)
            return luaL_error(L, "memory.%s: no domain option: a script writes only its own domain's memory "
                                 "(another domain's is read-only, through memory.get(key, {domain = ...}))",
                              fn);
        if (k == NULL)
            return luaL_error(L, "memory.%s: options take names, like {%s = ...}", fn, allowed);
        return luaL_error(L, "memory.%s: unknown option '%s' (allowed: %s)", fn, k, allowed);
    }
    return lua_getfield(L, idx, allowed) != LUA_TNIL ? 1 : (lua_pop(L, 1), 0);
}

/* The ttl option of the options table at idx in ms, 0 when absent. */
static int64_t check_ttl(lua_State *L, int idx, const char *fn)
{
    if (!check_opts(L, idx, fn, "ttl"))
        return 0;
    int isnum;
    lua_Number ttl = lua_tonumberx(L, -1, &isnum);
    if (lua_type(L, -1) != LUA_TNUMBER || !isnum || !(ttl > 0) || ttl > TTL_MAX_S)
        return luaL_error(L, "memory.%s: ttl must be a number of seconds > 0 and at most 10 years (%d)", fn,
                          (int)TTL_MAX_S);
    lua_pop(L, 1);
    int64_t ms = (int64_t)ceil(ttl * 1000.0);
    return ms > 0 ? ms : 1;
}

/* Pushes the value of JSON text: integers as Lua integers (what incr counts), anything else decoded. */
static void push_value(lua_State *L, ag_rt_t *rt, const char *json)
{
    const char *p = json + (json[0] == '-');
    size_t n = strspn(p, "0123456789");
    if (n > 0 && n <= 18 && p[n] == '\0') {
        lua_pushinteger(L, (lua_Integer)strtoll(json, NULL, 10));
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->decode_ref);
    lua_pushstring(L, json);
    lua_call(L, 1, 1);
}

static int l_memory_get(lua_State *L)
{
    const char *key = check_key(L);
    ag_run_t *run = check_run(L, "get");
    const char *domain = run->domain;
    if (check_opts(L, 2, "get", "domain")) {
        size_t dl;
        domain = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &dl) : NULL;
        if (domain == NULL || !ag_script_name_valid(domain, dl))
            return luaL_error(L, "memory.get: domain must be a domain name (letters, digits, '_', '-')");
    }
    char *json = NULL;
    ag_err_t err;
    int rc = run->rt->store->ops->kv_get(run->rt->store, domain, key, &json, &err);
    if (rc == AG_ENOTFOUND) {
        lua_pushnil(L);
        return 1;
    }
    if (rc != 0)
        return ag_lua_raise(L, "store_error", err.msg, 1);
    lua_pushstring(L, json); /* anchored: the decoder may raise */
    free(json);
    push_value(L, run->rt, lua_tostring(L, -1));
    return 1;
}

static int l_memory_set(lua_State *L)
{
    const char *key = check_key(L);
    luaL_checkany(L, 2);
    ag_run_t *run = check_run(L, "set");
    int64_t ttl_ms = check_ttl(L, 3, "set");
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->rt->encode_ref);
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    ag_err_t err;
    if (run->rt->store->ops->kv_set(run->rt->store, run->domain, key, lua_tostring(L, -1), ttl_ms, &err) != 0)
        return ag_lua_raise(L, "store_error", err.msg, 1);
    return 0;
}

static int l_memory_incr(lua_State *L)
{
    const char *key = check_key(L);
    ag_run_t *run = check_run(L, "incr");
    int opts = 3;
    lua_Integer by = 1;
    if (lua_istable(L, 2)) { /* incr(key, {ttl = ...}) */
        opts = 2;
        if (!lua_isnone(L, 3))
            return luaL_error(L, "memory.incr: the options table comes last: incr(key [, by] [, {ttl = ...}])");
    } else if (!lua_isnoneornil(L, 2)) {
        int isint;
        by = lua_tointegerx(L, 2, &isint);
        if (!isint || lua_type(L, 2) != LUA_TNUMBER)
            return luaL_error(L, "memory.incr: by must be an integer, not %s",
                              lua_type(L, 2) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, 2));
    }
    int64_t ttl_ms = check_ttl(L, opts, "incr");
    int64_t out;
    ag_err_t err;
    int rc = run->rt->store->ops->kv_incr(run->rt->store, run->domain, key, by, ttl_ms, &out, &err);
    if (rc == AG_ESTATE) {
        char msg[600];
        snprintf(msg, sizeof(msg), "memory.incr: %s", err.msg);
        return ag_lua_raise(L, "invalid_state", msg, 0);
    }
    if (rc != 0)
        return ag_lua_raise(L, "store_error", err.msg, 1);
    lua_pushinteger(L, out);
    return 1;
}

static int l_memory_delete(lua_State *L)
{
    const char *key = check_key(L);
    ag_run_t *run = check_run(L, "delete");
    if (!lua_isnoneornil(L, 2)) {
        if (lua_istable(L, 2))
            check_opts(L, 2, "delete", "(none)"); /* names a domain option for what it is */
        return luaL_error(L, "memory.delete: takes only a key");
    }
    ag_err_t err;
    if (run->rt->store->ops->kv_del(run->rt->store, run->domain, key, &err) != 0)
        return ag_lua_raise(L, "store_error", err.msg, 1);
    return 0;
}

static const luaL_Reg memory_funcs[] = {{"get", l_memory_get},
                                        {"set", l_memory_set},
                                        {"incr", l_memory_incr},
                                        {"delete", l_memory_delete},
                                        {NULL, NULL}};

int ag_lua_open_memory(lua_State *L)
{
    luaL_newlib(L, memory_funcs);
    return 1;
}
