/*
 * api_memory.c: the `memory` global, the domain's key-value store (table kv in the store).
 * Values are anything json.encode accepts; memory.get of an absent key returns nil. Only a running
 * task has a domain, so these raise at load time.
 */
#include <string.h>

#include "runtime_int.h"

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

static int l_memory_get(lua_State *L)
{
    const char *key = check_key(L);
    ag_run_t *run = check_run(L, "get");
    char *json = NULL;
    ag_err_t err;
    int rc = run->rt->store->ops->kv_get(run->rt->store, run->domain, key, &json, &err);
    if (rc == AG_ENOTFOUND) {
        lua_pushnil(L);
        return 1;
    }
    if (rc != 0)
        return ag_lua_raise(L, "store_error", err.msg, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->rt->decode_ref);
    lua_pushstring(L, json);
    free(json);
    lua_call(L, 1, 1);
    return 1;
}

static int l_memory_set(lua_State *L)
{
    const char *key = check_key(L);
    luaL_checkany(L, 2);
    ag_run_t *run = check_run(L, "set");
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->rt->encode_ref);
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    ag_err_t err;
    if (run->rt->store->ops->kv_set(run->rt->store, run->domain, key, lua_tostring(L, -1), &err) != 0)
        return ag_lua_raise(L, "store_error", err.msg, 1);
    return 0;
}

static int l_memory_delete(lua_State *L)
{
    const char *key = check_key(L);
    ag_run_t *run = check_run(L, "delete");
    ag_err_t err;
    if (run->rt->store->ops->kv_del(run->rt->store, run->domain, key, &err) != 0)
        return ag_lua_raise(L, "store_error", err.msg, 1);
    return 0;
}

static const luaL_Reg memory_funcs[] = {
    {"get", l_memory_get}, {"set", l_memory_set}, {"delete", l_memory_delete}, {NULL, NULL}};

int ag_lua_open_memory(lua_State *L)
{
    luaL_newlib(L, memory_funcs);
    return 1;
}
