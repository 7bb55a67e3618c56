/*
 * request_agents.c: see request_agents.h. Everything that can raise runs inside one lua_pcall; the
 * result strings are built in C buffers that are freed by ag_agent_req_clear whatever happened.
 *
 * lua-cjson decodes [] and {} to the same empty table, so whether an empty capabilities/tools/config
 * was an array or an object is read from the body itself (ag_json_member, which finds the same last
 * member cjson keeps).
 */
#include "request_agents.h"

#include <string.h>

#include "../buf.h"
#include "../json_scan.h"
#include "runtime_int.h"

#define NAME_MAX_CHARS 100

#define user_error(L, r, status, code, fmt, arg) ag_body_fail((L), &(r)->err, (status), (code), (fmt), (arg))

static int is_null(lua_State *L, int idx, ag_rt_t *rt)
{
    if (lua_isnil(L, idx))
        return 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->null_ref);
    int eq = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return eq;
}

/* The first byte of member key's value in the body, or 0 when it is absent (or spelt with escapes). */
static char raw_first(const char *body, size_t blen, const char *key, size_t *vs, size_t *vl)
{
    if (!ag_json_member(body, blen, key, vs, vl) || *vl == 0)
        return 0;
    return body[*vs];
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* The table at idx as a JSON array of strings into *out (new), or 0 when it is not one. */
static int string_array(lua_State *L, int idx, char raw, char **out)
{
    if (!lua_istable(L, idx) || raw == '{')
        return 0;
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    lua_Integer keys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) { /* key, value */
        keys++;
        lua_pop(L, 1);
    }
    if (keys != n)
        return 0; /* an object, or an array with nulls (holes) */
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_putc(&b, '[');
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, idx, i) != LUA_TSTRING) {
            lua_pop(L, 1);
            ag_buf_free(&b);
            return 0;
        }
        size_t sl;
        const char *s = lua_tolstring(L, -1, &sl);
        if (i > 1)
            ag_buf_putc(&b, ',');
        ag_buf_json_str(&b, s, sl);
        lua_pop(L, 1);
    }
    ag_buf_putc(&b, ']');
    *out = ag_buf_steal(&b);
    return 1;
}

/* Does the snapshot hold any script of domain (good or not)? */
static int domain_known(const ag_snapshot_t *snap, const char *domain)
{
    for (size_t i = 0; snap != NULL && i < snap->n; i++)
        if (strcmp(snap->items[i].domain, domain) == 0)
            return 1;
    return 0;
}

static int l_parse(lua_State *L)
{
    ag_agent_req_t *r = lua_touserdata(L, 1);
    size_t blen;
    const char *body = lua_tolstring(L, 2, &blen);
    ag_rt_t *rt = ag_rt_of(L);
    lua_settop(L, 2);

    if (ag_lua_body_object(L, &r->err) != 0)
        return 0;

    size_t vs, vl, sl;
    /* name */
    lua_getfield(L, 3, "name"); /* 4 */
    const char *s = lua_type(L, 4) == LUA_TSTRING ? lua_tolstring(L, 4, &sl) : NULL;
    if (s == NULL || sl == 0 || utf8_chars(s, sl) > NAME_MAX_CHARS || memchr(s, '\0', sl) != NULL)
        return user_error(L, r, 400, "bad_request", "%s", "name: required, a string of 1 to 100 characters");
    /* domain */
    lua_getfield(L, 3, "domain"); /* 5 */
    s = lua_type(L, 5) == LUA_TSTRING ? lua_tolstring(L, 5, &sl) : NULL;
    if (s == NULL || sl == 0 || sl > 100 || memchr(s, '\0', sl) != NULL)
        return user_error(L, r, 400, "bad_request", "%s", "domain: required, a string such as \"sales\"");
    /* script: defaults to name */
    lua_getfield(L, 3, "script"); /* 6 */
    if (is_null(L, 6, rt)) {
        lua_pop(L, 1);
        lua_pushvalue(L, 4);
    }
    s = lua_type(L, 6) == LUA_TSTRING ? lua_tolstring(L, 6, &sl) : NULL;
    if (s == NULL || sl == 0 || sl > 100 || memchr(s, '\0', sl) != NULL)
        return user_error(L, r, 400, "bad_request", "%s",
                          "script: must be a string of 1 to 100 bytes naming domains/<domain>/agents/<script>.lua");
    /* capabilities, tools */
    static const char *arrays[2] = {"capabilities", "tools"};
    for (int k = 0; k < 2; k++) {
        lua_getfield(L, 3, arrays[k]); /* 7, 8 */
        int idx = lua_gettop(L);
        char **dst = k == 0 ? &r->capabilities : &r->tools;
        if (is_null(L, idx, rt)) {
            *dst = ag_xstrdup("[]");
            continue;
        }
        if (!string_array(L, idx, raw_first(body, blen, arrays[k], &vs, &vl), dst))
            return user_error(L, r, 400, "bad_request", "%s: must be an array of strings", arrays[k]);
    }
    /* config */
    lua_getfield(L, 3, "config"); /* 9 */
    if (is_null(L, 9, rt)) {
        r->config = ag_xstrdup("{}");
    } else {
        char raw = raw_first(body, blen, "config", &vs, &vl);
        if (!lua_istable(L, 9) || lua_rawlen(L, 9) > 0 || raw == '[')
            return user_error(L, r, 400, "bad_request", "%s", "config: must be a JSON object");
        if (raw == '{') {
            r->config = ag_xstrndup(body + vs, vl); /* as sent: keeps number spellings */
        } else { /* spelt with escapes: encode what was decoded */
            lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
            lua_pushvalue(L, 9);
            lua_call(L, 1, 1);
            r->config = ag_xstrdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    /* status */
    lua_getfield(L, 3, "status"); /* 10 */
    if (is_null(L, 10, rt)) {
        r->status = ag_xstrdup("active");
    } else {
        s = lua_type(L, 10) == LUA_TSTRING ? lua_tostring(L, 10) : "";
        if (strcmp(s, "active") != 0 && strcmp(s, "paused") != 0)
            return user_error(L, r, 400, "bad_request", "%s", "status: must be \"active\" or \"paused\"");
        r->status = ag_xstrdup(s);
    }
    r->name = ag_xstrdup(lua_tostring(L, 4));
    r->domain = ag_xstrdup(lua_tostring(L, 5));
    r->script = ag_xstrdup(lua_tostring(L, 6));
    lua_settop(L, 0);

    /* The script must exist now; a record may outlive its script (a later reload), and then its tasks
     * fail as any task of a missing agent does. */
    ag_snapshot_t *snap = rt->scripts ? ag_scripts_acquire(rt->scripts) : NULL;
    ag_buf_t d;
    ag_buf_init(&d);
    if (!domain_known(snap, r->domain)) {
        ag_buf_puts(&d, "[{\"field\":\"domain\",\"message\":");
        char m[300];
        snprintf(m, sizeof(m), "there is no domain '%.100s' (no domains/%.100s/ directory with scripts)", r->domain,
                 r->domain);
        ag_buf_json_strz(&d, m);
        ag_buf_puts(&d, "}]");
        snprintf(r->err.message, sizeof(r->err.message), "unknown domain '%.100s'", r->domain);
    } else if (ag_snapshot_find(snap, r->domain, "agents", r->script) == NULL) {
        ag_buf_puts(&d, "[{\"field\":\"script\",\"message\":");
        char m[300];
        snprintf(m, sizeof(m), "domains/%.100s/agents/%.100s.lua does not exist (or has never loaded)", r->domain,
                 r->script);
        ag_buf_json_strz(&d, m);
        ag_buf_puts(&d, "}]");
        snprintf(r->err.message, sizeof(r->err.message), "the agent script '%.100s' does not exist in domain '%.100s'",
                 r->script, r->domain);
    }
    ag_snapshot_release(snap);
    if (d.len > 0) {
        r->err.status = 422;
        r->err.code = "validation_failed";
        r->err.details = ag_buf_steal(&d);
    }
    ag_buf_free(&d);
    return 0;
}

int ag_rt_parse_agent(ag_rt_t *rt, const char *body, size_t len, ag_agent_req_t *out)
{
    memset(out, 0, sizeof(*out));
    return ag_rt_run_parser(rt, l_parse, out, &out->err, body, len);
}

ag_agent_new_t ag_agent_req_new(const ag_agent_req_t *r)
{
    return (ag_agent_new_t){.name = r->name, .domain = r->domain, .script = r->script,
                            .capabilities = r->capabilities, .tools = r->tools, .config = r->config,
                            .status = r->status};
}

void ag_agent_req_clear(ag_agent_req_t *r)
{
    free(r->name);
    free(r->domain);
    free(r->script);
    free(r->capabilities);
    free(r->tools);
    free(r->config);
    free(r->status);
    ag_body_error_clear(&r->err);
    memset(r, 0, sizeof(*r));
}
