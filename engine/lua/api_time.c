/*
 * api_time.c: the `time` global (now, ms, iso) and sleep(seconds), which yields the task's coroutine
 * on a loop timer (the cosocket pattern, STYLE §7): the timer callback only resumes; sleep_k finishes.
 */
#include <math.h>

#include "runtime_int.h"

static int l_time_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)ag_now_ms() / 1000.0);
    return 1;
}

static int l_time_ms(lua_State *L)
{
    lua_pushinteger(L, ag_now_ms());
    return 1;
}

static int l_time_iso(lua_State *L)
{
    char buf[32];
    lua_Number t = luaL_optnumber(L, 1, (lua_Number)ag_now_ms() / 1000.0);
    ag_iso8601((int64_t)(t * 1000.0), buf);
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg time_funcs[] = {{"now", l_time_now}, {"ms", l_time_ms}, {"iso", l_time_iso}, {NULL, NULL}};

int ag_lua_open_time(lua_State *L)
{
    luaL_newlib(L, time_funcs);
    return 1;
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)L;
    (void)status;
    (void)ctx;
    return 0;
}

static void on_sleep_done(uv_timer_t *t)
{
    ag_run_t *run = t->data;
    ag__rt_resume(run, 0);
}

static void sleep_cancel(ag_run_t *run)
{
    uv_timer_stop(&run->sleep_timer);
}

/* sleep(seconds): yields the task for that long (0 yields once, letting other work run). */
static int l_sleep(lua_State *L)
{
    lua_Number secs = luaL_checknumber(L, 1);
    luaL_argcheck(L, secs >= 0 && secs <= 86400 * 30 && !isnan(secs), 1, "expected seconds from 0 to 2592000");
    ag_run_t *run = ag_lua_run(L);
    if (run == NULL || L != run->co || run->rt->loop == NULL)
        return luaL_error(L, "sleep: only callable from a task's own code (not at load time, not inside a "
                             "coroutine of the script's own)");
    if (run->sleep_timer.data != run) {
        uv_timer_init(run->rt->loop, &run->sleep_timer);
        run->sleep_timer.data = run;
        run->handles_open++;
    }
    uv_update_time(run->rt->loop); /* the cached loop time may be a whole batch of runs old */
    uv_timer_start(&run->sleep_timer, on_sleep_done, (uint64_t)llround(secs * 1000.0), 0);
    run->pending_cancel = sleep_cancel;
    return lua_yieldk(L, 0, 0, sleep_k);
}

void ag_lua_register_sleep(lua_State *L)
{
    lua_pushcfunction(L, l_sleep);
    lua_setfield(L, -2, "sleep");
}
