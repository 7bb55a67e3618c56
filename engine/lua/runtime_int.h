/*
 * runtime_int.h: the runtime's internals shared by the Lua modules in engine/lua/ (api_*.c).
 */
#ifndef AG_RUNTIME_INT_H
#define AG_RUNTIME_INT_H

#include <lauxlib.h>
#include <lua.h>

#include "runtime.h"
#include "scripts.h"

typedef void (*ag_pending_cancel_cb)(ag_run_t *run);

struct ag_run_s {
    ag_rt_t *rt;
    lua_State *co;
    int co_ref;   /* anchors co in the registry while the run lives */
    int64_t task_id;
    char *domain;
    ag_run_end_t end;
    ag_run_cb cb;
    void *cb_data;
    int64_t instructions, cpu_budget;
    int64_t mem, memory_limit;
    int killed;         /* KILL_* once a limit is hit: every later hook raises again */
    int timeout_ms;
    /* The operation the run waits on, and how to cancel it (STYLE §7). */
    ag_pending_cancel_cb pending_cancel;
    uv_timer_t sleep_timer, deadline;
    int handles_open; /* timers initialised and not yet closed */
    int timed_out, finished;
    int is_waiting; /* counted in rt->waiting */
    int attempt;
    int llm_seq;    /* llm.chat round trips so far in this run (api_llm.c) */
    int approve_seq; /* task.approve{} calls so far (api_task.c) */
    int parked;      /* task.approve{} found no decision: the yield ends the run (AG_RUN_WAITING) */
    void *llm_op;   /* the round trip the run waits on, or NULL */
};

enum { KILL_NONE = 0, KILL_CPU, KILL_MEM };

struct ag_rt_s {
    lua_State *L;
    uv_loop_t *loop;
    ag_store_t *store;
    ag_scripts_t *scripts;
    ag_snapshot_t *snap; /* the snapshot the type cache was built from */
    int64_t cpu_budget, memory_limit;
    int64_t mem_total, mem_cap;
    ag_run_t *cur;           /* the run being resumed, or NULL */
    int64_t load_instructions; /* counted while loading a module */
    int loading;
    int waiting;
    struct ag_llm_loop_s *llm; /* NULL: llm.chat raises (loaders) */
    int bind_tool_ref;         /* llm_chat.lua's bind_tool(ctx) -> ctx.tool */
    int sandbox_ref, envmt_ref, schema_ref, modcache_ref, types_ref, encode_ref, decode_ref, null_ref;
    int test_approve_ref; /* agency test (testrun.c): function(request) -> decision that answers task.approve{}
                             outside a task instead of the auto-approval; 0 when none */
};

static inline ag_rt_t *ag_rt_of(lua_State *L)
{
    return *(ag_rt_t **)lua_getextraspace(L);
}

/* The run a Lua call belongs to, or NULL outside a task. */
static inline ag_run_t *ag_lua_run(lua_State *L)
{
    return ag_rt_of(L)->cur;
}

/* Module openers: each pushes its global's table. */
int ag_lua_open_json(lua_State *L);
/* Replaces encode in the json table at the top of the stack with ours (json_encode.c). */
void ag_lua_register_json_encode(lua_State *L);
int ag_lua_open_log(lua_State *L);
int ag_lua_open_time(lua_State *L);
int ag_lua_open_memory(lua_State *L);
/* The `template` global (api_template.c), and its render function alone (for ctx.template). */
int ag_lua_open_template(lua_State *L);
void ag_lua_push_template_render(lua_State *L);
/* The `task` global (api_task.c): task.approve{}. */
int ag_lua_open_task(lua_State *L);
/* Does any handoff of domain trigger on task type `type`? (handoffs.c; no caching) */
int ag__handoffs_any(ag_rt_t *rt, const char *domain, const char *type);
/* The same, cached with the task type until the scripts change (runtime.c). */
int ag__rt_type_has_handoffs(ag_rt_t *rt, const char *type);
/* Calls the function below its nargs arguments on the main state, protected, under the module-load
 * instruction budget (handoff functions). */
int ag__rt_pcall_bounded(ag_rt_t *rt, int nargs, int nres);
/* The `llm` global (api_llm.c; llm.chat itself is llm_chat.lua). Loads modules: call protected. */
int ag_lua_open_llm(lua_State *L);
/* Pushes the newest module domains/<domain>/<kind>/<name>.lua (kind "config": config.lua); AG_ENOTFOUND or
 * AG_ESCRIPT push nothing. */
int ag__rt_push_script(ag_rt_t *rt, const char *domain, const char *kind, const char *name, ag_err_t *err);
/* sleep(seconds) is a plain function: registers it in the table at the top of the stack. */
void ag_lua_register_sleep(lua_State *L);
/* string.find/match/gmatch/gsub with a matcher charged to the CPU budget (api_pattern.c): sets them in the
 * table at the top of the stack. */
void ag_lua_register_patterns(lua_State *L);

/* Resumes run's coroutine with nargs values already pushed on it (loop callbacks push integers only). */
/* Returns 1 when the run waits again, 0 when it ended (and is freed). */
int ag__rt_resume(ag_run_t *run, int nargs);

/* Charges work done in C (pattern matching) to the current run's CPU budget, in Lua-instruction
 * equivalents; raises "cpu budget exceeded" past it. Also counts against a module's load budget. */
void ag__rt_charge(lua_State *L, int64_t steps);

/* Raises a structured error {code=, message=, retryable=} (STYLE §4). */
int ag_lua_raise(lua_State *L, const char *code, const char *message, int retryable);

#endif
