/* request.c: see request.h. Everything that can raise runs inside one lua_pcall. */
#include "request.h"

#include <math.h>
#include <string.h>

#include "../buf.h"
#include "../json_scan.h"
#include "runtime_int.h"

int ag_body_fail(lua_State *L, ag_body_error_t *e, int status, const char *code, const char *fmt, const char *arg)
{
    e->status = status;
    e->code = code;
    snprintf(e->message, sizeof(e->message), fmt, arg);
    lua_settop(L, 0);
    return 0;
}

#define user_error(L, r, status, code, fmt, arg) ag_body_fail((L), &(r)->err, (status), (code), (fmt), (arg))

int ag_lua_body_object(lua_State *L, ag_body_error_t *e)
{
    size_t blen;
    const char *body = lua_tolstring(L, 2, &blen);
    ag_rt_t *rt = ag_rt_of(L);
    lua_settop(L, 2);
    size_t i = ag_json_skip_ws(body, 0, blen);
    if (i == blen)
        return ag_body_fail(L, e, 400, "bad_json", "%s", "the body is empty; expected a JSON object"), -1;
    if (!ag_utf8_valid(body, blen))
        return ag_body_fail(L, e, 400, "bad_json", "%s", "the body is not valid UTF-8"), -1;
    if (memchr(body, '\0', blen) != NULL) /* cjson would stop reading at it */
        return ag_body_fail(L, e, 400, "bad_json", "%s", "the body contains a NUL byte"), -1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->decode_ref);
    lua_pushvalue(L, 2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        char m[300];
        snprintf(m, sizeof(m), "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        return ag_body_fail(L, e, 400, "bad_json", "the body is not valid JSON: %s", m), -1;
    }
    if (body[i] != '{' || !lua_istable(L, 3))
        return ag_body_fail(L, e, 400, "bad_json", "%s", "the body must be a JSON object"), -1;
    return 0;
}

int ag_rt_run_parser(ag_rt_t *rt, lua_CFunction parser, void *out, ag_body_error_t *e, const char *body, size_t len)
{
    lua_State *L = ag_rt_lua(rt);
    int top = lua_gettop(L);
    lua_pushcfunction(L, parser);
    lua_pushlightuserdata(L, out);
    lua_pushlstring(L, body ? body : "", len);
    int rc = lua_pcall(L, 2, 0, 0);
    if (rc != LUA_OK) {
        e->status = 500;
        e->code = "internal";
        snprintf(e->message, sizeof(e->message), "%s",
                 rc == LUA_ERRMEM ? "not enough memory" : lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    }
    lua_settop(L, top);
    return e->status;
}

void ag_body_error_clear(ag_body_error_t *e)
{
    free(e->details);
    memset(e, 0, sizeof(*e));
}

static int is_null(lua_State *L, int idx, ag_rt_t *rt)
{
    if (lua_isnil(L, idx))
        return 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->null_ref);
    int eq = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return eq;
}

/* The integer at idx within [lo, hi], or -1 with *ok = 0. */
static lua_Integer get_int(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, int *ok)
{
    *ok = 0;
    if (lua_type(L, idx) != LUA_TNUMBER)
        return -1;
    lua_Number n = lua_tonumber(L, idx);
    if (!(n >= (lua_Number)lo && n <= (lua_Number)hi) || n != floor(n))
        return -1;
    *ok = 1;
    return (lua_Integer)n;
}

static int l_parse(lua_State *L)
{
    ag_create_req_t *r = lua_touserdata(L, 1);
    size_t blen;
    const char *body = lua_tolstring(L, 2, &blen);
    ag_rt_t *rt = ag_rt_of(L);

    if (ag_lua_body_object(L, &r->err) != 0)
        return 0;
    /* type */
    lua_getfield(L, 3, "type"); /* 4 */
    size_t tlen = 0;
    if (lua_type(L, 4) != LUA_TSTRING || (tlen = lua_rawlen(L, 4)) == 0 || tlen > 200)
        return user_error(L, r, 400, "bad_request", "%s", "type: required, a string such as \"sales.qualify_lead\"");
    /* input */
    lua_getfield(L, 3, "input"); /* 5 */
    if (is_null(L, 5, rt)) {
        lua_pop(L, 1);
        lua_newtable(L);
    } else if (!lua_istable(L, 5) || lua_rawlen(L, 5) > 0) { /* a non-empty array decodes to a sequence */
        return user_error(L, r, 400, "bad_request", "%s", "input: must be a JSON object");
    }
    /* idempotency_key */
    lua_getfield(L, 3, "idempotency_key"); /* 6 */
    if (!is_null(L, 6, rt)) {
        size_t kl;
        if (lua_type(L, 6) != LUA_TSTRING || (kl = lua_rawlen(L, 6)) == 0 || kl > 255)
            return user_error(L, r, 400, "bad_request", "%s", "idempotency_key: must be a string of 1 to 255 bytes");
        r->idempotency_key = ag_xstrdup(lua_tostring(L, 6));
    }
    int ok;
    lua_getfield(L, 3, "priority"); /* 7 */
    if (!is_null(L, 7, rt)) {
        r->priority = (int)get_int(L, 7, -1000000, 1000000, &ok);
        if (!ok)
            return user_error(L, r, 400, "bad_request", "%s", "priority: must be an integer from -1000000 to 1000000");
    }
    lua_getfield(L, 3, "run_at"); /* 8 */
    if (!is_null(L, 8, rt)) {
        size_t sl;
        const char *s = lua_type(L, 8) == LUA_TSTRING ? lua_tolstring(L, 8, &sl) : NULL;
        if (s == NULL || ag_parse_iso8601(s, sl, &r->run_at) != 0)
            return user_error(L, r, 400, "bad_request", "%s",
                              "run_at: must be an RFC 3339 timestamp such as \"2026-11-26T10:00:00Z\", or null");
    }
    lua_getfield(L, 3, "execute"); /* 9 */
    if (!is_null(L, 9, rt)) {
        if (!lua_isboolean(L, 9))
            return user_error(L, r, 400, "bad_request", "%s", "execute: must be true or false");
        r->execute = lua_toboolean(L, 9);
    }
    lua_getfield(L, 3, "max_attempts"); /* 10 */
    int max_attempts = 0;
    if (!is_null(L, 10, rt)) {
        max_attempts = (int)get_int(L, 10, 1, 100, &ok);
        if (!ok)
            return user_error(L, r, 400, "bad_request", "%s", "max_attempts: must be an integer from 1 to 100");
    }

    r->max_attempts = max_attempts;
    return ag_lua_task_input(L, lua_tostring(L, 4), 5, "input", body, blen, r);
}

int ag_lua_task_input(lua_State *L, const char *type, int input, const char *member, const char *body, size_t blen,
                      ag_create_req_t *r)
{
    ag_rt_t *rt = ag_rt_of(L);
    input = lua_absindex(L, input);
    ag_tasktype_t tt;
    ag_err_t err;
    if (ag_rt_task_type(rt, type, &tt, &err) != 0)
        return user_error(L, r, 422, "unknown_task_type", "%s", err.msg);
    r->type = ag_xstrdup(type);
    r->domain = ag_xstrdup(tt.domain);
    r->agent = ag_xstrdup(tt.agent);
    if (r->max_attempts == 0)
        r->max_attempts = tt.max_attempts;
    if (ag_rt_push_task_type(rt, type, &err) != 0) /* tt */
        return user_error(L, r, 422, "unknown_task_type", "%s", err.msg);
    lua_getfield(L, -1, "input"); /* schema */
    if (lua_istable(L, -1)) {
        ag_rt_push_validation(rt, -1, input); /* errors */
        if (lua_rawlen(L, -1) > 0) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
            lua_insert(L, -2);
            lua_call(L, 1, 1);
            r->err.details = ag_xstrdup(lua_tostring(L, -1));
            char m[300];
            snprintf(m, sizeof(m), "%s does not match the schema of %s", member, type);
            return user_error(L, r, 422, "validation_failed", "%s", m);
        }
    }
    size_t vs = 0, vl = 0;
    /* Stored exactly as sent: a decode/encode round trip would lose [] vs {} and number spellings. */
    if (ag_json_member(body, blen, member, &vs, &vl) && vl > 0 && body[vs] == '{') {
        r->input = ag_xstrndup(body + vs, vl);
        lua_settop(L, 0);
        return 0;
    }
    /* absent, null, or spelt with escapes: encode what was decoded */
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
    lua_pushvalue(L, input);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        char m[300];
        snprintf(m, sizeof(m), "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        return user_error(L, r, 400, "bad_request", "input: %s", m);
    }
    r->input = ag_xstrdup(lua_tostring(L, -1));
    lua_settop(L, 0);
    return 0;
}

int ag_rt_parse_create(ag_rt_t *rt, const char *body, size_t len, ag_create_req_t *out)
{
    memset(out, 0, sizeof(*out));
    return ag_rt_run_parser(rt, l_parse, out, &out->err, body, len);
}

void ag_create_req_clear(ag_create_req_t *r)
{
    free(r->type);
    free(r->domain);
    free(r->agent);
    free(r->input);
    free(r->idempotency_key);
    ag_body_error_clear(&r->err);
    memset(r, 0, sizeof(*r));
}
