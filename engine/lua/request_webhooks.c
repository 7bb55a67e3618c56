/* request_webhooks.c: see request_webhooks.h. */
#include "request_webhooks.h"

#include <string.h>

static int l_check(lua_State *L)
{
    ag_body_error_t *e = lua_touserdata(L, 1);
    ag_lua_body_object(L, e); /* fills e on failure */
    lua_settop(L, 0);
    return 0;
}

int ag_rt_check_object(ag_rt_t *rt, const char *body, size_t len, ag_body_error_t *e)
{
    memset(e, 0, sizeof(*e));
    return ag_rt_run_parser(rt, l_check, e, e, body, len);
}
