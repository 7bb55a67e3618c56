/* request_workflows.c: see request_workflows.h. */
#include "request_workflows.h"

#include <string.h>

#include "runtime_int.h"

static int is_null(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_isnil(L, idx))
        return 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ag_rt_of(L)->null_ref);
    int eq = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return eq;
}

static int l_parse_workflow(lua_State *L)
{
    ag_create_req_t *r = lua_touserdata(L, 1);
    size_t blen;
    const char *body = lua_tolstring(L, 2, &blen);
    ag_rt_t *rt = ag_rt_of(L);
    if (ag_lua_body_object(L, &r->err) != 0)
        return 0;
    lua_getfield(L, 3, "start"); /* 4 */
    size_t sl = 0;
    const char *start = lua_type(L, 4) == LUA_TSTRING ? lua_tolstring(L, 4, &sl) : NULL;
    if (start == NULL || sl == 0 || sl > 200 || strlen(start) != sl)
        return ag_body_fail(L, &r->err, 400, "bad_request", "%s",
                            "start: required, a domain such as \"offer\" or a task type such as \"offer.package_service\"");
    lua_getfield(L, 3, "input"); /* 5 */
    if (is_null(L, 5)) {
        lua_pop(L, 1);
        lua_newtable(L);
    } else if (!lua_istable(L, 5) || lua_rawlen(L, 5) > 0) {
        return ag_body_fail(L, &r->err, 400, "bad_request", "%s", "input: must be a JSON object");
    }
    char type[300];
    if (strchr(start, '.') != NULL) {
        snprintf(type, sizeof(type), "%s", start);
    } else {
        /* a domain: its config.lua's entry */
        ag_err_t err;
        const char *entry = NULL;
        if (ag__rt_push_script(rt, start, "config", "config", &err) == 0) {
            lua_xmove(rt->L, L, 1); /* 6 */
            if (lua_istable(L, 6) && lua_getfield(L, 6, "entry") == LUA_TSTRING)
                entry = lua_tostring(L, -1);
        }
        if (entry == NULL)
            return ag_body_fail(L, &r->err, 422, "unknown_task_type",
                                "start: domain '%s' has no entry task (config.lua: entry = \"<task>\")", start);
        snprintf(type, sizeof(type), "%s.%s", start, entry);
    }
    return ag_lua_task_input(L, type, 5, "input", body, blen, r);
}

int ag_rt_parse_workflow(ag_rt_t *rt, const char *body, size_t len, ag_create_req_t *r)
{
    memset(r, 0, sizeof(*r));
    return ag_rt_run_parser(rt, l_parse_workflow, r, &r->err, body, len);
}

static int l_parse_approve(lua_State *L)
{
    ag_approve_req_t *r = lua_touserdata(L, 1);
    if (ag_lua_body_object(L, &r->err) != 0)
        return 0;
    lua_getfield(L, 3, "decision");
    const char *d = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (d == NULL || (strcmp(d, "approve") != 0 && strcmp(d, "reject") != 0))
        return ag_body_fail(L, &r->err, 400, "bad_request", "%s", "decision: required, \"approve\" or \"reject\"");
    r->approve = strcmp(d, "approve") == 0;
    lua_getfield(L, 3, "comment");
    if (!is_null(L, -1)) {
        size_t cl = 0;
        const char *cm = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &cl) : NULL;
        if (cm == NULL || cl > 2000 || strlen(cm) != cl)
            return ag_body_fail(L, &r->err, 400, "bad_request", "%s", "comment: must be a string of at most 2000 bytes");
        r->comment = ag_xstrdup(cm);
    }
    lua_settop(L, 0);
    return 0;
}

int ag_rt_parse_approve(ag_rt_t *rt, const char *body, size_t len, ag_approve_req_t *r)
{
    memset(r, 0, sizeof(*r));
    return ag_rt_run_parser(rt, l_parse_approve, r, &r->err, body, len);
}

void ag_approve_req_clear(ag_approve_req_t *r)
{
    free(r->comment);
    ag_body_error_clear(&r->err);
    memset(r, 0, sizeof(*r));
}
