/* provider.c: the provider table, wire-request helpers, the JSON bridge to the runtime's codec, and the helpers
 * the providers share (provider_int.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lua/runtime_int.h"
#include "provider.h"
#include "provider_int.h"

void ag_llm_wire_header(ag_llm_wire_t *w, const char *fmt, ...)
{
    AG_ASSERT(w->nheaders < AG_LLM_MAX_HEADERS);
    ag_buf_t b;
    ag_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    char tmp[2048];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    ag_buf_puts(&b, tmp);
    w->headers[w->nheaders++] = ag_buf_steal(&b);
}

void ag_llm_wire_free(ag_llm_wire_t *w)
{
    for (int i = 0; i < w->nheaders; i++)
        free(w->headers[i]);
    w->nheaders = 0;
}

const ag_llm_provider_t *ag_llm_provider(const char *name)
{
    static const ag_llm_provider_t *all[] = {&ag_llm_openai, &ag_llm_anthropic, &ag_llm_mock};
    for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

void ag_llm_json_encode(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ag_rt_of(L)->encode_ref);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
}

void ag_llm_json_decode(lua_State *L, const char *s, size_t n)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, ag_rt_of(L)->decode_ref);
    lua_pushlstring(L, s, n);
    lua_call(L, 1, 1);
}

/* ---- helpers for the providers (provider_int.h) ------------------------------------------------------------ */

int ag__llm_is_array(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_checkstack(L, 2))
        return 0;
    idx = lua_absindex(L, idx);
    lua_Integer n = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return 0;
        }
        if (lua_tointeger(L, -1) > max)
            max = lua_tointeger(L, -1);
        n++;
    }
    return max == n;
}

int ag__llm_is_object(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_checkstack(L, 2))
        return 0;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

int ag__llm_is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

void ag__llm_push_null(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, ag_rt_of(L)->null_ref);
}

int ag__llm_wants_json(lua_State *L, int req)
{
    lua_getfield(L, req, "schema");
    int yes = lua_istable(L, -1);
    lua_getfield(L, req, "json");
    yes = yes || lua_toboolean(L, -1);
    lua_pop(L, 2);
    return yes;
}

void ag__llm_push_system(lua_State *L, int req)
{
    req = lua_absindex(L, req);
    lua_getfield(L, req, "system"); /* system */
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "llm: system must be a string");
    if (!ag__llm_wants_json(L, req))
        return;
    /* Providers without a JSON mode need this to answer in JSON at all; OpenAI's JSON mode refuses requests
     * that do not mention JSON, and a schema reaches the model only as text. */
    int n = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
        lua_pushliteral(L, "\n\n"); /* system, "\n\n" */
        n = 2;
    } else {
        lua_pop(L, 1);
    }
    lua_pushliteral(L, "Respond with one JSON object only, with no other text and no code fences.");
    n++;
    lua_getfield(L, req, "schema"); /* ..., schema */
    if (lua_istable(L, -1)) {
        lua_pushliteral(L, " It must satisfy this JSON schema: ");
        lua_insert(L, -2);         /* ..., " It must...", schema */
        ag_llm_json_encode(L, -1); /* ..., " It must...", schema, text */
        lua_remove(L, -2);
        n += 2;
    } else {
        lua_pop(L, 1);
    }
    lua_concat(L, n); /* prompt */
}

void ag__llm_copy_field(lua_State *L, int req, int dst, const char *key, int type)
{
    dst = lua_absindex(L, dst);
    if (lua_getfield(L, req, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) != type)
        luaL_error(L, "llm: %s must be a %s", key, lua_typename(L, type));
    lua_setfield(L, dst, key);
}

void ag__llm_set_url(lua_State *L, ag_llm_wire_t *w, const char *base, const char *dflt, const char *path,
                     const char *key)
{
    if (base == NULL || *base == '\0')
        base = dflt;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    int n = snprintf(w->url, sizeof(w->url), "%.*s%s", (int)blen, base, path);
    if (n < 0 || (size_t)n >= sizeof(w->url))
        luaL_error(L, "llm: base_url is too long");
    for (const char *p = key; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            luaL_error(L, "llm: the API key contains a control character");
}

int ag__llm_parse_protected(lua_State *L, int body, lua_CFunction f, ag_err_t *err)
{
    body = lua_absindex(L, body);
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 3))
        return ag_err_set(err, AG_EINVAL, "not enough stack space to read the response");
    lua_pushcfunction(L, f);
    lua_pushvalue(L, body);
    int st = lua_pcall(L, 1, 1, 0);
    if (st == LUA_OK)
        return 0;
    const char *m = st == LUA_ERRMEM ? "not enough memory" : lua_tostring(L, -1);
    ag_err_set(err, AG_EINVAL, "%s", m ? m : "invalid response");
    lua_settop(L, top);
    return AG_EINVAL;
}

lua_Integer ag__llm_count(lua_State *L, int idx, const char *what)
{
    if (lua_isnil(L, idx) || ag__llm_is_null(L, idx))
        return 0;
    double d = lua_type(L, idx) == LUA_TNUMBER ? lua_tonumber(L, idx) : -1;
    if (!(d >= 0 && d <= 9007199254740992.0))
        luaL_error(L, "%s must be a non-negative number", what);
    return (lua_Integer)d;
}
