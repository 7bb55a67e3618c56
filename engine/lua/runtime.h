/*
 * runtime.h: one sandboxed Lua state per loop thread, the scripts it has loaded, and task runs.
 *
 * A run is one attempt of one task: a coroutine calling the agent's run(task, ctx). Waiting calls
 * (sleep, later llm.chat) yield it; the loop resumes it. Each run has a CPU budget (Lua instructions,
 * enforced by a count hook that pcall cannot swallow) and a memory cap (bytes attributed to it by the
 * state's allocator). Script modules are loaded from the shared registry's snapshot (scripts.h) by
 * content hash; a run keeps the module it started with, so a reload never changes a running task.
 *
 * Everything here belongs to the thread that created the runtime.
 */
#ifndef AG_RUNTIME_H
#define AG_RUNTIME_H

#include <stdint.h>
#include <uv.h>

#include "../common.h"
#include "../store.h"

typedef struct lua_State lua_State;
typedef struct ag_rt_s ag_rt_t;
typedef struct ag_run_s ag_run_t;
typedef struct ag_scripts_s ag_scripts_t;

typedef struct ag_rt_opts_s {
    uv_loop_t *loop;       /* NULL: a loader only (validation, check); runs cannot wait */
    ag_store_t *store;     /* NULL: memory.* raises */
    struct ag_llm_loop_s *llm; /* the loop's LLM context (llm/llm.h); NULL: llm.chat raises */
    ag_scripts_t *scripts; /* the registry task types are resolved against; NULL for a loader */
    int64_t cpu_budget;    /* default instructions per run */
    int64_t memory_limit;  /* default bytes per run */
} ag_rt_opts_t;

int ag_rt_new(ag_rt_t **out, const ag_rt_opts_t *opts, ag_err_t *err);
/* Every run must have ended. */
void ag_rt_free(ag_rt_t *rt);
lua_State *ag_rt_lua(ag_rt_t *rt);

/*
 * Compiles src as the sandboxed module path (chunk "@path", text only) and runs its body under a short
 * instruction budget. On success pushes the value it returned and returns 0; on failure pushes nothing,
 * fills err with "path:line: message" and returns AG_ESCRIPT.
 */
int ag_rt_load_module(ag_rt_t *rt, const char *path, const char *src, size_t len, ag_err_t *err);

/* Checks the module at stack index idx for the shape of its kind ("agents", "tasks", "config", ...);
 * errors point at path's line where the offending key appears in src. */
int ag_rt_check_module(ag_rt_t *rt, const char *kind, int idx, const char *path, const char *src, ag_err_t *err);


/* What the engine needs to know about a task type at creation. Strings point into the runtime's cache
 * and stay valid until the next call into the runtime. */
typedef struct ag_tasktype_s {
    const char *name, *domain, *agent;
    int max_attempts;
} ag_tasktype_t;

/* Resolves "domain.name" against the newest scripts; AG_ENOTFOUND when there is no such task type. */
int ag_rt_task_type(ag_rt_t *rt, const char *type, ag_tasktype_t *out, ag_err_t *err);

/* Pushes the task type's module table (the newest version); AG_ENOTFOUND pushes nothing. */
int ag_rt_push_task_type(ag_rt_t *rt, const char *type, ag_err_t *err);

/* Validates the value at stack index idx against the schema at index sidx; pushes the list of
 * {field=, message=} errors (possibly empty). Raises only on a malformed schema. */
void ag_rt_push_validation(ag_rt_t *rt, int sidx, int idx);

/* AG_RUN_WAITING: the script called task.approve{} and no decision is recorded yet; the task waits. */
typedef enum ag_run_status_e { AG_RUN_OK = 0, AG_RUN_ERROR, AG_RUN_CANCELLED, AG_RUN_WAITING } ag_run_status_t;

/* How a run ended. The callback may steal result and error (set them to NULL). */
typedef struct ag_run_end_s {
    ag_run_status_t status;
    char *result; /* JSON text of the agent's return value */
    char *error;  /* "file:line: message", or the engine's reason */
    int retryable;
    char version[17]; /* content hash of the agent script that ran */
    const char *agent_path;
    int retry_base_ms, retry_max_ms; /* the task type's backoff policy */
    int approval_seq;                /* AG_RUN_WAITING: which task.approve{} of the run, its reason and data */
    char *approval_reason, *approval_data;
} ag_run_end_t;

typedef void (*ag_run_cb)(ag_run_t *run, ag_run_end_t *end, void *data);

/* What to run. type may be NULL to run domain/agent directly (agency run). */
typedef struct ag_run_spec_s {
    int64_t task_id;
    const char *type, *domain, *agent, *input; /* input: JSON text */
    const char *workflow_id;                   /* NULL: none */
    int attempt;
} ag_run_spec_t;

/*
 * Starts a run. cb is called exactly once when it ends: inside this call when the agent finishes
 * without waiting (the common case, kept synchronous for throughput), otherwise later from the loop.
 * *out is the run while it waits, or NULL when it already ended. The run is freed after cb returns.
 */
void ag_rt_start(ag_rt_t *rt, const ag_run_spec_t *spec, ag_run_cb cb, void *data, ag_run_t **out);

/* Stops a waiting run at its yield: its pending operation is cancelled and cb reports AG_RUN_CANCELLED
 * (inside this call). */
void ag_rt_cancel(ag_run_t *run);

int64_t ag_run_task_id(const ag_run_t *run);
/* Number of runs waiting on the loop. */
int ag_rt_waiting(const ag_rt_t *rt);

/* What a succeeded task's handoffs see (handoffs.c). Strings are borrowed. */
typedef struct ag_handoff_src_s {
    int64_t task_id;
    const char *type, *domain, *workflow_id, *input, *result; /* input, result: JSON */
} ag_handoff_src_t;

/* Evaluates the handoffs of src's domain that are triggered by its task type (their `on`): when, validate,
 * extract, transform, and the target task type's input schema. Each applicable handoff gives one entry in
 * *out (accepted with the target's input, or rejected with reasons; a handoff that raises is rejected with
 * the error). Strings in *out are owned: free with ag_handoffs_new_free. Returns the count. */
size_t ag_rt_handoffs(ag_rt_t *rt, const ag_handoff_src_t *src, ag_handoff_new_t **out);
void ag_handoffs_new_free(ag_handoff_new_t *h, size_t n);
/* Evaluates ONE handoff, domains/<src->domain>/handoffs/<name>.lua, against src exactly as ag_rt_handoffs does, whatever
 * its `on` (agency test). Returns 1 with *out set (accepted, or rejected with reasons; free with
 * ag_handoffs_new_free(*out, 1)), 0 when its `when` says it does not apply (*out NULL), or AG_ENOTFOUND (no such
 * handoff that loads) / AG_ESCRIPT with err filled. */
int ag_rt_handoff_eval(ag_rt_t *rt, const ag_handoff_src_t *src, const char *name, ag_handoff_new_t **out,
                       ag_err_t *err);

#endif
