/*
 * api_log.c: the `log` global. log.info(...) joins its arguments with spaces (tostring) and writes one
 * log line tagged with the script's file:line. The level is checked before anything is joined.
 */
#include "../log.h"
#include "runtime_int.h"

static int emit(lua_State *L, int level)
{
    if (level < ag_log_level)
        return 0;
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_Debug ar;
    const char *src = "?";
    int line = 0;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)) {
        src = ar.short_src;
        line = ar.currentline;
    }
    ag_run_t *run = ag_lua_run(L);
    if (run != NULL)
        ag__log(level, "script", "%s task=%lld at=%s:%d", lua_tostring(L, -1), (long long)run->task_id, src, line);
    else
        ag__log(level, "script", "%s at=%s:%d", lua_tostring(L, -1), src, line);
    return 0;
}

static int l_log_debug(lua_State *L) { return emit(L, AG_LOG_DEBUG); }
static int l_log_info(lua_State *L) { return emit(L, AG_LOG_INFO); }
static int l_log_warn(lua_State *L) { return emit(L, AG_LOG_WARN); }
static int l_log_error(lua_State *L) { return emit(L, AG_LOG_ERROR); }

static const luaL_Reg log_funcs[] = {{"debug", l_log_debug}, {"info", l_log_info}, {"warn", l_log_warn},
                                     {"error", l_log_error}, {NULL, NULL}};

int ag_lua_open_log(lua_State *L)
{
    luaL_newlib(L, log_funcs);
    return 1;
}
