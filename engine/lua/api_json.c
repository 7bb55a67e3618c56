/* api_json.c: the `json` global: lua-cjson's decoder configured for the sandbox (depth limit, no NaN),
 * and our own encoder (json_encode.c). */
#include <math.h>

#include "runtime_int.h"

#include <lua5.4/lua-cjson.h>

/* Integral numbers within 2^53 become Lua integers: lua-cjson decodes every number as a float, so 5 would
 * print as "5.0" and math.type would say float. */
static void integers(lua_State *L, int idx, int depth)
{
    if (depth > 200)
        return;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number n = lua_tonumber(L, -1);
            if (n == floor(n) && n >= -9007199254740992.0 && n <= 9007199254740992.0) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)n);
                lua_rawset(L, idx);
            }
        } else if (lua_type(L, -1) == LUA_TTABLE) {
            integers(L, lua_gettop(L), depth + 1);
        }
        lua_pop(L, 1);
    }
}

/* json.decode(text) (upvalue 1: lua-cjson's decode) */
static int l_json_decode(lua_State *L)
{
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 1, 1);
    if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1)) {
        lua_Number n = lua_tonumber(L, 1);
        if (n == floor(n) && n >= -9007199254740992.0 && n <= 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)n);
    } else if (lua_istable(L, 1)) {
        integers(L, 1, 0);
    }
    return 1;
}

int ag_lua_open_json(lua_State *L)
{
    luaopen_cjson(L); /* cjson */
    static const char *cfg[][2] = {{"encode_sparse_array", NULL}, {"decode_max_depth", "128"},
                                   {"encode_max_depth", "128"}};
    lua_getfield(L, -1, cfg[0][0]);
    lua_pushboolean(L, 1);
    lua_call(L, 1, 0);
    for (int i = 1; i < 3; i++) {
        lua_getfield(L, -1, cfg[i][0]);
        lua_pushinteger(L, 128);
        lua_call(L, 1, 0);
    }
    lua_getfield(L, -1, "encode_number_precision");
    lua_pushinteger(L, 14);
    lua_call(L, 1, 0);
    /* Configuration functions change shared state: scripts do not get them. */
    /* JSON has no NaN or Infinity: refuse them on input too. */
    lua_getfield(L, -1, "decode_invalid_numbers");
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
    static const char *hide[] = {"encode_sparse_array", "decode_max_depth", "encode_max_depth",
                                 "encode_number_precision", "encode_keep_buffer", "encode_invalid_numbers",
                                 "decode_invalid_numbers", "new", NULL};
    for (const char **h = hide; *h; h++) {
        lua_pushnil(L);
        lua_setfield(L, -2, *h);
    }
    ag_lua_register_json_encode(L); /* exact numbers: see json_encode.c */
    lua_getfield(L, -1, "decode");
    lua_pushcclosure(L, l_json_decode, 1);
    lua_setfield(L, -2, "decode");
    return 1;
}
