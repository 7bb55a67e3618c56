/*
 * json_encode.c: json.encode for the sandbox, replacing lua-cjson's encoder (decoding stays cjson's).
 *
 * Why our own: Debian's lua-cjson 2.1.0 prints numbers with at most 14 significant digits, so
 * 123456789012345 became 123456789012340 on the way out. Here Lua integers are printed exactly, and
 * floats with the shortest of %.15g/%.16g/%.17g that reads back to the same double (integral floats
 * print without a fraction: 20000.0 -> 20000). Tables whose keys are exactly 1..n (holes allowed up
 * to twice the count) become arrays; other tables become objects, integer and float keys written as
 * strings; an empty table is {} unless json.array marked it ([]). NaN, infinities, functions, userdata (except json.null), other key
 * types, and nesting past 128 (cycles included) raise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../buf.h"
#include "runtime_int.h"

#define MAX_DEPTH 128

typedef struct enc_s {
    lua_State *L;
    ag_buf_t *buf; /* lives in a userdata with __gc, so a raise anywhere cannot leak it */
    void *null;    /* json.null */
    const void *array_mt; /* the metatable json.array sets: such a table is an array, even empty */
} enc_t;

static int fail(enc_t *e, const char *msg)
{
    return luaL_error(e->L, "json.encode: %s", msg);
}

static void put_number(enc_t *e, int idx)
{
    lua_State *L = e->L;
    char tmp[64];
    if (lua_isinteger(L, idx)) {
        snprintf(tmp, sizeof(tmp), "%lld", (long long)lua_tointeger(L, idx));
        ag_buf_puts(e->buf, tmp);
        return;
    }
    double d = lua_tonumber(L, idx);
    if (isnan(d) || isinf(d)) {
        fail(e, "cannot encode NaN or infinity");
        return;
    }
    if (d == floor(d) && fabs(d) < 9007199254740992.0) {
        snprintf(tmp, sizeof(tmp), "%.0f", d);
        ag_buf_puts(e->buf, strcmp(tmp, "-0") == 0 ? "0" : tmp);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    ag_buf_puts(e->buf, tmp);
}

/* Returns n >= 0 when the table at idx is an array of n slots, -1 when it is an object. */
static lua_Integer array_size(lua_State *L, int idx)
{
    lua_Integer max = 0, count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return -1;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k > max)
            max = k;
        count++;
    }
    if (count == 0)
        return -1; /* {} */
    return max <= count * 2 ? max : -1;
}

static void put_value(enc_t *e, int idx, int depth);

static void put_table(enc_t *e, int idx, int depth)
{
    lua_State *L = e->L;
    if (depth > MAX_DEPTH) {
        fail(e, "nesting deeper than 128 (or a table that contains itself)");
        return;
    }
    luaL_checkstack(L, 4, "json.encode");
    lua_Integer n = array_size(L, idx);
    if (n < 0 && lua_getmetatable(L, idx)) { /* json.array(t): [] when empty */
        int marked = lua_topointer(L, -1) == e->array_mt;
        lua_pop(L, 1);
        if (marked) {
            lua_pushnil(L);
            if (lua_next(L, idx)) {
                lua_pop(L, 2);
                fail(e, "a json.array table has keys that are not 1..n");
                return;
            }
            n = 0;
        }
    }
    if (n >= 0) {
        ag_buf_putc(e->buf, '[');
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1)
                ag_buf_putc(e->buf, ',');
            lua_rawgeti(L, idx, i);
            put_value(e, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
        }
        ag_buf_putc(e->buf, ']');
        return;
    }
    ag_buf_putc(e->buf, '{');
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2);
        if (!first)
            ag_buf_putc(e->buf, ',');
        first = 0;
        if (kt == LUA_TSTRING) {
            size_t kl;
            const char *k = lua_tolstring(L, -2, &kl);
            ag_buf_json_str(e->buf, k, kl);
        } else if (kt == LUA_TNUMBER) {
            ag_buf_putc(e->buf, '"');
            put_number(e, lua_gettop(L) - 1);
            ag_buf_putc(e->buf, '"');
        } else {
            fail(e, "table keys must be strings or numbers");
            return;
        }
        ag_buf_putc(e->buf, ':');
        put_value(e, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    ag_buf_putc(e->buf, '}');
}

static void put_value(enc_t *e, int idx, int depth)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        ag_buf_puts(e->buf, "null");
        break;
    case LUA_TBOOLEAN:
        ag_buf_puts(e->buf, lua_toboolean(L, idx) ? "true" : "false");
        break;
    case LUA_TNUMBER:
        put_number(e, idx);
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        ag_buf_json_str(e->buf, s, len);
        break;
    }
    case LUA_TTABLE:
        put_table(e, idx, depth);
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == e->null) {
            ag_buf_puts(e->buf, "null");
            break;
        }
        /* fall through */
    default: {
        char msg[80];
        snprintf(msg, sizeof(msg), "cannot encode a %s value", luaL_typename(L, idx));
        fail(e, msg);
    }
    }
}

static int l_buf_gc(lua_State *L)
{
    ag_buf_free(lua_touserdata(L, 1));
    return 0;
}

/* json.encode(value) -> string (upvalue 1: json.null, upvalue 2: the buffer metatable) */
static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    ag_buf_t *b = lua_newuserdatauv(L, sizeof(*b), 0); /* 2 */
    ag_buf_init(b);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_setmetatable(L, 2);
    enc_t e = {.L = L, .buf = b, .null = lua_touserdata(L, lua_upvalueindex(1)),
               .array_mt = lua_topointer(L, lua_upvalueindex(3))};
    put_value(&e, 1, 1);
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    ag_buf_free(b);
    return 1;
}

/* json.array([t]) -> t (a new table without t), marked so that json.encode writes it as an array even when it is
 * empty (an empty Lua table is otherwise {}). (upvalue 1: the marker metatable) */
static int l_json_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (lua_getmetatable(L, 1)) {
        int same = lua_rawequal(L, -1, lua_upvalueindex(1));
        lua_pop(L, 1);
        if (!same)
            return luaL_error(L, "json.array: the table already has a metatable");
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setmetatable(L, 1);
    return 1;
}

void ag_lua_register_json_encode(lua_State *L)
{
    /* json table at the top */
    lua_createtable(L, 0, 2); /* the json.array marker: hidden from getmetatable */
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    int marker = lua_gettop(L);
    lua_getfield(L, -2, "null");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_buf_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, marker);
    lua_pushcclosure(L, l_json_encode, 3);
    lua_setfield(L, -3, "encode");
    lua_pushcclosure(L, l_json_array, 1); /* takes the marker */
    lua_setfield(L, -2, "array");
}
