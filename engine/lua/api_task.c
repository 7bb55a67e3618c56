/*
 * api_task.c: the `task` global. task.approve{reason=, data=} asks a human to decide.
 *
 * Durable by re-running, like the LLM journal: the first time a run reaches its n-th task.approve{}, no
 * decision is recorded, so the run ends there (AG_RUN_WAITING) and the queue stores the request and puts
 * the task in `waiting`; nothing of the coroutine needs to survive a restart. POST /tasks/{id}/approve
 * records the decision and queues the task again; the new run makes the same llm.chat calls (answered
 * from the journal) and reaches the same task.approve{}, which now returns the decision at once.
 * Outside a task (agency run, task id 0) nobody can answer: it returns approved = true, auto = true (under
 * agency test, the decision the test gives, when it gives one).
 */
#include <string.h>

#include "runtime_int.h"

static void park_cancel(ag_run_t *run)
{
    (void)run; /* nothing is pending: the run ends at the yield */
}

static int approve_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)L;
    (void)status;
    (void)ctx;
    return 0; /* not reached: a parked run is finished, never resumed */
}

static void push_decision(lua_State *L, const ag_approval_t *a)
{
    lua_createtable(L, 0, 5);
    lua_pushboolean(L, strcmp(a->status, "approved") == 0);
    lua_setfield(L, -2, "approved");
    lua_pushstring(L, a->status);
    lua_setfield(L, -2, "decision");
    if (a->comment) {
        lua_pushstring(L, a->comment);
        lua_setfield(L, -2, "comment");
    }
    if (a->decided_by) {
        lua_pushstring(L, a->decided_by);
        lua_setfield(L, -2, "decided_by");
    }
    if (a->data) { /* what the human saw: a re-run can compare it with what it would ask now */
        lua_rawgeti(L, LUA_REGISTRYINDEX, ag_rt_of(L)->decode_ref);
        lua_pushstring(L, a->data);
        lua_call(L, 1, 1);
        lua_setfield(L, -2, "data");
    }
    char iso[32];
    ag_iso8601(a->decided_at, iso);
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "decided_at");
}

/* task.approve{reason = "...", data = {...}} -> {approved=, decision=, comment=, decided_by=, decided_at=,
 * data= (the data of the request the decision was made on)} */
static int l_task_approve(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "reason");
    size_t rlen = 0;
    const char *reason = lua_tolstring(L, -1, &rlen);
    if (lua_type(L, -1) != LUA_TSTRING || rlen == 0 || rlen > 2000)
        return luaL_error(L, "task.approve: reason must be a string of 1 to 2000 bytes");
    ag_run_t *run = ag_lua_run(L);
    ag_rt_t *rt = ag_rt_of(L);
    if (run == NULL || L != run->co)
        return luaL_error(L, "task.approve: only callable from a task's own code (not at load time, not inside a "
                             "coroutine of the script's own)");
    char *data = NULL;
    if (lua_getfield(L, 1, "data") != LUA_TNIL) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
        lua_pushvalue(L, -2);
        lua_call(L, 1, 1); /* raises on a value JSON cannot hold: before anything is allocated */
        data = ag_xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    int seq = ++run->approve_seq;
    if (run->task_id <= 0 || rt->store == NULL || rt->loop == NULL) {
        free(data);
        if (rt->test_approve_ref > 0) { /* agency test: the decision the test gives (run_agent opts.approve) */
            lua_rawgeti(L, LUA_REGISTRYINDEX, rt->test_approve_ref);
            lua_pushvalue(L, 1);
            lua_call(L, 1, 1);
            return 1;
        }
        lua_createtable(L, 0, 4);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "approved");
        lua_pushliteral(L, "approved");
        lua_setfield(L, -2, "decision");
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "auto");
        lua_pushliteral(L, "auto-approved: not running as a task (agency run)");
        lua_setfield(L, -2, "comment");
        return 1;
    }
    ag_approval_t a;
    ag_err_t err;
    int rc = rt->store->ops->approval_get(rt->store, run->task_id, seq, &a, &err);
    if (rc == 0 && strcmp(a.status, "pending") != 0) {
        free(data);
        push_decision(L, &a);
        ag_approval_clear(&a);
        return 1;
    }
    if (rc == 0)
        ag_approval_clear(&a);
    else if (rc != AG_ENOTFOUND) {
        free(data);
        return ag_lua_raise(L, "store_error", err.msg, 1);
    }
    /* no decision yet: end the run here; the queue records the request (end.approval_*) */
    run->end.approval_seq = seq;
    free(run->end.approval_reason);
    run->end.approval_reason = ag_xstrdup(reason);
    free(run->end.approval_data);
    run->end.approval_data = data;
    run->parked = 1;
    run->pending_cancel = park_cancel;
    return lua_yieldk(L, 0, 0, approve_k);
}

static const luaL_Reg task_funcs[] = {{"approve", l_task_approve}, {NULL, NULL}};

int ag_lua_open_task(lua_State *L)
{
    luaL_newlib(L, task_funcs);
    return 1;
}
