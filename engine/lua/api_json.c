/* api_json.c: the `json` global: lua-cjson's decoder configured for the sandbox (depth limit, no NaN),
 * and our own encoder (json_encode.c). */
#include "runtime_int.h"

#include <lua5.4/lua-cjson.h>

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
    return 1;
}
