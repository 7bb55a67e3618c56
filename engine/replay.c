/*
 * replay.c: `agency replay TASK_ID [--attempt N]` re-runs a finished task offline, with the scripts as
 * they are now, answering every llm.chat from the task's journal (one attempt's calls: the newest attempt
 * that made any, unless --attempt says which). It reports, call by call, whether the request the script
 * makes now is the one journaled (same hash), and compares the result with the recorded one.
 *
 * Nothing is written to the engine's store: the run gets a private in-memory store, so memory.* starts
 * empty (a script that reads memory may diverge for that reason alone). Exit status: 0 when every call
 * and the result match, 1 when the run diverges or fails, 2 on bad usage or an unknown task.
 */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "engine.h"
#include "llm/llm.h"
#include "llm/provider.h"
#include "lua/runtime.h"

typedef struct replay_s {
    FILE *out;
    int diverged, calls, done, ok;
    char *result, *error;
} replay_t;

static void on_call(int seq, const ag_llm_call_t *row, const char *hash, void *data)
{
    replay_t *r = data;
    r->calls++;
    if (row == NULL) {
        fprintf(r->out, "call %d: DIVERGES: the journal has no call %d (the scripts now make more calls)\n", seq, seq);
        r->diverged = 1;
    } else if (row->response == NULL) {
        fprintf(r->out, "call %d: DIVERGES: the journaled call failed (%s), nothing to replay\n", seq,
                row->error_code ? row->error_code : "error");
        r->diverged = 1;
    } else if (strcmp(row->request_hash, hash) != 0) {
        fprintf(r->out, "call %d: DIVERGES: the request differs from the journal (journal %s, now %s); answered "
                        "with the journaled response\n", seq, row->request_hash, hash);
        r->diverged = 1;
    } else {
        fprintf(r->out, "call %d: same request, answered from the journal (%s %s, %lld+%lld tokens)\n", seq,
                row->provider, row->model, (long long)row->prompt_tokens, (long long)row->completion_tokens);
    }
}

static void on_end(ag_run_t *run, ag_run_end_t *end, void *data)
{
    (void)run;
    replay_t *r = data;
    r->done = 1;
    r->ok = end->status == AG_RUN_OK;
    r->result = end->result;
    r->error = end->error;
    end->result = end->error = NULL;
}

/* Protected: (a, b) JSON texts -> whether they hold the same value (object key order aside). */
static int l_same_json(lua_State *L)
{
    char h[2][17];
    for (int i = 0; i < 2; i++) {
        size_t n;
        const char *s = luaL_checklstring(L, i + 1, &n);
        ag_llm_json_decode(L, s, n);
        ag_llm_hash(L, -1, h[i]);
        lua_pop(L, 1);
    }
    lua_pushboolean(L, strcmp(h[0], h[1]) == 0);
    return 1;
}

static int same_json(ag_rt_t *rt, const char *a, const char *b)
{
    lua_State *L = ag_rt_lua(rt);
    lua_pushcfunction(L, l_same_json);
    lua_pushstring(L, a);
    lua_pushstring(L, b);
    int same = lua_pcall(L, 2, 1, 0) == LUA_OK && lua_toboolean(L, -1);
    lua_pop(L, 1);
    return same;
}

static int parse_id(const char *s, int64_t *out)
{
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end != '\0' || v <= 0)
        return -1;
    *out = v;
    return 0;
}

int ag_cmd_replay(const ag_config_t *cfg, int argc, char **argv)
{
    int64_t id = 0, want_attempt = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--attempt") == 0 && i + 1 < argc) {
            if (parse_id(argv[++i], &want_attempt) != 0)
                id = -1;
        } else if (id == 0 && parse_id(argv[i], &id) == 0) {
        } else {
            id = -1;
        }
    }
    if (id <= 0) {
        fprintf(stderr, "usage: agency replay TASK_ID [--attempt N]\n");
        return 2;
    }
    ag_err_t err;
    ag_store_t *db = NULL, *scratch = NULL;
    ag_scripts_t *scripts = NULL;
    ag_llm_shared_t *shared = NULL;
    ag_llm_loop_t *ll = NULL;
    ag_rt_t *rt = NULL;
    ag_llm_call_t *calls = NULL;
    size_t ncalls = 0;
    ag_task_t task;
    memset(&task, 0, sizeof(task));
    replay_t r = {.out = stdout};
    int status = 2;
    uv_loop_t loop;
    uv_loop_init(&loop);
    if (ag_store_open(&db, cfg->database_url, &err) != 0 || db->ops->task_get(db, id, &task, &err) != 0) {
        fprintf(stderr, "agency replay: %s\n", err.msg);
        goto done;
    }
    if (task.type == NULL || task.state == AG_TASK_QUEUED || task.state == AG_TASK_RUNNING ||
        task.state == AG_TASK_PENDING) {
        fprintf(stderr, "agency replay: task %lld has not finished (state %s)\n", (long long)id,
                ag_task_state_name(task.state));
        goto done;
    }
    /* every journal row of the task, then keep one attempt's */
    for (int64_t after = 0;;) {
        ag_llm_call_t *page = NULL;
        size_t n = 0;
        if (db->ops->llm_calls_list(db, id, after, 200, &page, &n, &err) != 0) {
            fprintf(stderr, "agency replay: %s\n", err.msg);
            goto done;
        }
        if (n == 0)
            break;
        calls = ag_xrealloc(calls, (ncalls + n) * sizeof(*calls));
        memcpy(calls + ncalls, page, n * sizeof(*page));
        ncalls += n;
        after = page[n - 1].id;
        free(page); /* the strings moved into calls */
    }
    int attempt = (int)want_attempt;
    for (size_t i = 0; want_attempt == 0 && i < ncalls; i++)
        if (calls[i].attempt > attempt)
            attempt = calls[i].attempt; /* the newest attempt that made calls */
    size_t keep = 0;
    for (size_t i = 0; i < ncalls; i++) {
        if (calls[i].attempt == attempt) {
            ag_llm_call_t tmp = calls[keep];
            calls[keep++] = calls[i];
            calls[i] = tmp;
        }
    }
    printf("replaying task %lld (%s, %s, attempt %d of its journal: %zu call%s) with the current scripts, offline\n",
           (long long)id, task.type, ag_task_state_name(task.state), attempt, keep, keep == 1 ? "" : "s");
    status = 1;
    if (ag_scripts_new(&scripts, cfg->domains, &err) != 0 || ag_store_open(&scratch, "sqlite::memory:", &err) != 0 ||
        scratch->ops->migrate(scratch, NULL, &err) != 0) {
        fprintf(stderr, "agency replay: %s\n", err.msg);
        goto done;
    }
    shared = ag_llm_shared_new(&cfg->llm);
    if (ag_llm_loop_new(&ll, &loop, shared, scratch, &err) != 0) {
        fprintf(stderr, "agency replay: %s\n", err.msg);
        goto done;
    }
    ag_llm_loop_replay(ll, calls, keep, on_call, &r);
    ag_rt_opts_t o = {.loop = &loop, .store = scratch, .scripts = scripts, .llm = ll, .cpu_budget = cfg->cpu_budget,
                      .memory_limit = cfg->memory_limit};
    if (ag_rt_new(&rt, &o, &err) != 0) {
        fprintf(stderr, "agency replay: %s\n", err.msg);
        goto done;
    }
    ag_run_spec_t spec = {.task_id = id, .type = task.type, .domain = task.domain, .agent = task.agent,
                          .input = task.input, .attempt = attempt > 0 ? attempt : 1};
    ag_run_t *run;
    ag_rt_start(rt, &spec, on_end, &r, &run);
    while (!r.done && uv_run(&loop, UV_RUN_ONCE)) {
    }
    if (r.calls < (int)keep) {
        printf("calls: DIVERGES: the scripts now make %d call%s, the journal has %zu\n", r.calls,
               r.calls == 1 ? "" : "s", keep);
        r.diverged = 1;
    }
    if (!r.ok) {
        printf("result: the run failed: %s\n", r.error ? r.error : "?");
        printf("recorded: %s %s\n", ag_task_state_name(task.state), task.result ? task.result : task.error ? task.error : "");
        r.diverged = 1;
    } else if (task.result != NULL && same_json(rt, task.result, r.result)) {
        printf("result: same as recorded\n");
    } else {
        printf("result: DIVERGES\n  recorded: %s\n  now:      %s\n", task.result ? task.result : "(none)", r.result);
        r.diverged = 1;
    }
    status = r.diverged ? 1 : 0;
    printf("%s\n", status == 0 ? "replay matches the recorded run" : "replay diverges from the recorded run");
done:
    ag_rt_free(rt);
    ag_llm_loop_close(ll);
    uv_run(&loop, UV_RUN_DEFAULT);
    ag_llm_shared_free(shared);
    ag_llm_calls_free(calls, ncalls);
    free(r.result);
    free(r.error);
    ag_task_clear(&task);
    ag_store_close(scratch);
    ag_store_close(db);
    ag_scripts_free(scripts);
    return status;
}
