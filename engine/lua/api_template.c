/*
 * api_template.c: the `template` global and ctx.template: prompt templates of the run's domain.
 *
 *   template.render(name, vars) -> string       (ctx.template(name, vars) is the same function)
 *
 * A template is a file domains/<domain>/templates/<name>.txt (or .md; .txt wins when both exist) in the
 * script registry (scripts.c: never compiled, always good, hot reloaded like any script). Placeholders are
 * {{var}} and {{var.field.sub}}, with optional whitespace inside the braces; a segment of digits indexes an
 * array ({{items.1}}). Values render as: strings as they are, integers (and floats with an integral value)
 * without a fraction, other numbers as tostring, booleans as true/false, tables and json.null as JSON (the
 * runtime's encoder). A missing value raises "<template path>:<line>: missing value for {{x}}", pointing at
 * the placeholder; an unknown template raises with the path it expected (caller's file:line). There is no
 * escape syntax: text between "{{" and "}}" that is not a variable path, and a "{{" without its "}}", stay
 * literal ("{{{{x}}}}" renders "{{" value "}}").
 *
 * The template is looked up in the runtime's current snapshot (refreshed at every task start), so a task
 * created after an edit is reloaded renders the new text. Rendering is charged to the run's CPU budget, in
 * proportion to the template's length and to what the placeholders insert; the output is a luaL_Buffer,
 * so the run's memory cap applies and a raise anywhere leaks nothing.
 */
#include <math.h>
#include <string.h>

#include "runtime_int.h"

#define MAX_PATH_LEN 256      /* bytes of a placeholder's variable path */
#define CHARGE_PER_VALUE 32   /* instruction equivalents per placeholder, besides the bytes it inserts */

/* The template domain/name in snap: <name>.txt, else <name>.md, or NULL. */
static const ag_script_t *find_template(const ag_snapshot_t *snap, const char *domain, const char *name)
{
    const ag_script_t *found = NULL;
    for (size_t i = 0; snap != NULL && i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        if (sc->source == NULL || strcmp(sc->kind, "templates") != 0 || strcmp(sc->name, name) != 0 ||
            strcmp(sc->domain, domain) != 0)
            continue;
        size_t pl = strlen(sc->path);
        if (pl > 4 && strcmp(sc->path + pl - 4, ".txt") == 0)
            return sc;
        found = sc;
    }
    return found;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_path_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Checks that p[0..n) is a variable path: identifier segments ([A-Za-z_][A-Za-z0-9_]+) or digits, joined by '.'. */
static int valid_path(const char *p, size_t n)
{
    if (n == 0 || n > MAX_PATH_LEN)
        return 0;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        int digits = p[i] >= '0' && p[i] <= '9';
        while (i < n && p[i] != '.') {
            int d = p[i] >= '0' && p[i] <= '9';
            if (digits && !d)
                return 0;
            i++;
        }
        if (i == start || (i < n && i + 1 == n)) /* empty segment, or a trailing '.' */
            return 0;
        i++;
    }
    return 1;
}

/* If src[i] starts a placeholder, sets *path and *plen to its variable path and returns the index just past its
 * "}}"; otherwise returns 0. */
static size_t placeholder(const char *src, size_t len, size_t i, const char **path, size_t *plen)
{
    if (i + 1 >= len || src[i] != '{' || src[i + 1] != '{')
        return 0;
    size_t j = i + 2;
    while (j < len && is_space(src[j]))
        j++;
    size_t start = j;
    while (j < len && j - start <= MAX_PATH_LEN && is_path_char(src[j]))
        j++;
    size_t end = j;
    while (j < len && is_space(src[j]))
        j++;
    if (j + 1 >= len || src[j] != '}' || src[j + 1] != '}' || !valid_path(src + start, end - start))
        return 0;
    *path = src + start;
    *plen = end - start;
    return j + 2;
}

static int line_at(const char *src, size_t pos)
{
    int line = 1;
    for (size_t i = 0; i < pos; i++)
        line += src[i] == '\n';
    return line;
}

/* Raises the missing-value error for the placeholder at src[pos] of the template file tpath. */
static int missing(lua_State *L, const char *tpath, const char *src, size_t pos, const char *path, size_t plen)
{
    lua_Debug ar;
    char from[300] = "";
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        snprintf(from, sizeof(from), " (rendered from %s:%d)", ar.short_src, ar.currentline);
    lua_pushfstring(L, "%s:%d: missing value for {{%s}}%s", tpath, line_at(src, pos),
                    lua_pushlstring(L, path, plen), from);
    return lua_error(L);
}

/* Pushes the value of path looked up in the table at vars, or nothing (returns 0) when a part is missing. */
static int push_path(lua_State *L, int vars, const char *path, size_t plen)
{
    lua_pushvalue(L, vars);
    size_t i = 0;
    while (i < plen) {
        size_t start = i;
        while (i < plen && path[i] != '.')
            i++;
        if (!lua_istable(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
        if (path[start] >= '0' && path[start] <= '9') {
            char num[32];
            size_t n = i - start < sizeof(num) - 1 ? i - start : sizeof(num) - 1;
            memcpy(num, path + start, n);
            num[n] = '\0';
            lua_pushinteger(L, (lua_Integer)strtoll(num, NULL, 10));
        } else {
            lua_pushlstring(L, path + start, i - start);
        }
        lua_gettable(L, -2);
        lua_remove(L, -2);
        i++;
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Replaces the value at the top of the stack with its text. */
static void to_text(lua_State *L, ag_rt_t *rt, const char *path, size_t plen)
{
    char num[64];
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1)) {
            snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, -1));
        } else {
            double d = lua_tonumber(L, -1);
            if (d == floor(d) && fabs(d) < 1e15)
                snprintf(num, sizeof(num), "%.0f", d == 0 ? 0.0 : d);
            else
                snprintf(num, sizeof(num), LUA_NUMBER_FMT, d);
        }
        lua_pop(L, 1);
        lua_pushstring(L, num);
        return;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
        lua_remove(L, -2);
        return;
    case LUA_TTABLE:
    case LUA_TUSERDATA: /* json.null; the encoder refuses any other userdata */
    case LUA_TLIGHTUSERDATA:
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
        lua_insert(L, -2);
        lua_call(L, 1, 1);
        return;
    default: {
        const char *type = luaL_typename(L, -1);
        luaL_error(L, "template.render: {{%s}} is a %s, which has no text", lua_pushlstring(L, path, plen), type);
    }
    }
}

static int l_template_render(lua_State *L)
{
    if (lua_istable(L, 1) && lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "template.render: call ctx.template(name, vars) with a dot, not ctx:template(...)");
    size_t nl;
    const char *name = luaL_checklstring(L, 1, &nl);
    luaL_argcheck(L, ag_script_name_valid(name, nl), 1, "a template name (letters, digits, '_', '-'; no extension)");
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    ag_run_t *run = ag_lua_run(L);
    ag_rt_t *rt = ag_rt_of(L);
    if (run == NULL || rt->snap == NULL)
        return luaL_error(L, "template.render: only callable while a task runs");
    lua_settop(L, 2);
    if (lua_isnil(L, 2)) {
        lua_newtable(L);
        lua_replace(L, 2);
    }
    const ag_script_t *sc = find_template(rt->snap, run->domain, name);
    if (sc == NULL)
        return luaL_error(L, "template.render: no template '%s' in domain '%s' (expected %s/%s/templates/%s.txt)",
                          name, run->domain, rt->scripts ? ag_scripts_root(rt->scripts) : "domains", run->domain,
                          name);
    /* Copies anchored on the stack: script code that runs below (a vars table's __index, the encoder) could
     * make the runtime move to a newer snapshot and free this one. */
    ag__rt_charge(L, (int64_t)sc->len);
    size_t len;
    const char *src = (lua_pushlstring(L, sc->source, sc->len), lua_tolstring(L, 3, &len));
    const char *tpath = (lua_pushstring(L, sc->path), lua_tostring(L, 4));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t lit = 0; /* start of the literal text not yet copied */
    for (size_t i = 0; i + 1 < len; i++) {
        if (src[i] != '{' || src[i + 1] != '{')
            continue;
        const char *path;
        size_t plen, next = placeholder(src, len, i, &path, &plen);
        if (next == 0)
            continue;
        luaL_addlstring(&b, src + lit, i - lit);
        if (!push_path(L, 2, path, plen))
            return missing(L, tpath, src, i, path, plen);
        to_text(L, rt, path, plen);
        ag__rt_charge(L, CHARGE_PER_VALUE + (int64_t)lua_rawlen(L, -1));
        luaL_addvalue(&b);
        lit = next;
        i = next - 1;
    }
    luaL_addlstring(&b, src + lit, len - lit);
    luaL_pushresult(&b);
    return 1;
}

void ag_lua_push_template_render(lua_State *L)
{
    lua_pushcfunction(L, l_template_render);
}

static const luaL_Reg template_funcs[] = {{"render", l_template_render}, {NULL, NULL}};

int ag_lua_open_template(lua_State *L)
{
    luaL_newlib(L, template_funcs);
    return 1;
}
