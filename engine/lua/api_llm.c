/*
 * api_llm.c: the `llm` global. llm.chat is Lua (llm_chat.lua, embedded); this file gives it its C
 * primitive, call(request, opts), which performs ONE model round trip for the running task:
 *
 *   1. resolves the provider chain (opts.provider or the domain's, AGENCY_LLM_PROVIDER, then
 *      AGENCY_LLM_FALLBACK) and each provider's model;
 *   2. numbers the call within the run (seq) and hashes the request; a journaled successful call of
 *      the same task with the same seq and hash answers at once (replayed = true), without a network;
 *   3. checks the task's and the domain's spend caps (budget_exceeded);
 *   4. mock answers in place; a network provider's request is built (provider.h), admitted by the
 *      provider's limits (waiting on a timer when over a budget, skipping it when its breaker is open),
 *      sent on the loop's HTTP client, and the task's coroutine yields;
 *   5. the answer is parsed, or the attempt retried (429, 5xx, transport errors, timeouts: exponential
 *      backoff with jitter, honouring Retry-After) and then the next provider tried;
 *   6. the outcome is journaled (ag_llm_loop_journal) and counted, and the coroutine resumed with the
 *      normalized response plus provider, model, cost, latency_ms and replayed, or with a structured
 *      error {code=, message=, retryable=, provider=}.
 * Cancelling the task (or its deadline) aborts the transfer (pending_cancel).
 */
#include <math.h>
#include <string.h>

#include "../http_client.h"
#include "../llm/llm.h"
#include "../llm/provider.h"
#include "../log.h"
#include "runtime_int.h"

#define AG_LOG_MODULE "llm"

extern const char ag_embed_llm_chat_lua[];
extern const size_t ag_embed_llm_chat_lua_len;

typedef struct op_s {
    ag_run_t *run;
    ag_rt_t *rt;
    ag_llm_loop_t *ll;
    const ag_llm_config_t *cfg;
    int req_ref;
    char hash[17];
    int seq;
    const char *chain[AG_LLM_MAX_CHAIN];
    char model[AG_LLM_MAX_CHAIN][128];
    int nchain, ci;
    int attempt; /* HTTP attempts made on the current provider */
    int64_t started;
    long timeout_ms;
    ag_llm_limits_t *limits;
    int admitted;
    int64_t est_tokens;
    ag_hc_req_t *http;
    uv_timer_t timer;
    int timer_init, in_call, done;
    char *body;
    size_t body_len;
    ag_llm_wire_t wire;
    char code[32], msg[512];
    int retryable;
    int64_t retry_after_ms;
} op_t;

static void op_step(op_t *op);

/* ---- ending an op --------------------------------------------------------------------------------------------- */

static void on_op_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void op_free(op_t *op)
{
    if (op->req_ref != LUA_NOREF)
        luaL_unref(op->rt->L, LUA_REGISTRYINDEX, op->req_ref);
    free(op->body);
    ag_llm_wire_free(&op->wire);
    if (op->timer_init) {
        uv_timer_stop(&op->timer);
        uv_close((uv_handle_t *)&op->timer, on_op_timer_closed);
    } else {
        free(op);
    }
}

static void release(op_t *op, int outcome, int64_t used)
{
    if (op->admitted) {
        ag_llm_limits_release(op->limits, ag_now_ms(), outcome, op->est_tokens, used);
        op->admitted = 0;
    }
}

/* The run's pending_cancel: the task is cancelled or past its deadline. */
static void op_cancel(ag_run_t *run)
{
    op_t *op = run->llm_op;
    run->llm_op = NULL;
    if (op->http) {
        ag_hc_cancel(op->http);
        op->http = NULL;
    }
    release(op, AG_LLM_OUTCOME_NEUTRAL, 0);
    op_free(op);
}

static void journal(op_t *op, const char *provider, const char *model, const char *response, int64_t pt, int64_t ct,
                    double cost, int64_t latency)
{
    if (op->run->task_id <= 0)
        return; /* agency run: no task to journal against */
    ag_llm_call_t c = {.task_id = op->run->task_id,
                       .attempt = op->run->attempt,
                       .seq = op->seq,
                       .domain = op->run->domain,
                       .provider = (char *)provider,
                       .model = (char *)model,
                       .response = (char *)response,
                       .prompt_tokens = pt,
                       .completion_tokens = ct,
                       .cost = cost,
                       .latency_ms = latency,
                       .error_code = response ? NULL : op->code,
                       .error = response ? NULL : op->msg};
    memcpy(c.request_hash, op->hash, sizeof(c.request_hash));
    ag_llm_loop_journal(op->ll, &c);
}

/* Hands (ok, value) to the coroutine, which sits in llm_k, and frees the op. The value is on top of the
 * main state's stack. */
static void deliver(op_t *op, int ok)
{
    ag_run_t *run = op->run;
    lua_State *L = op->rt->L;
    run->llm_op = NULL;
    lua_pushboolean(run->co, ok);
    lua_xmove(L, run->co, 1);
    op_free(op);
    ag__rt_resume(run, 2);
}

/* The call failed for good (op->code, op->msg): journals and counts it, then pushes the structured error
 * {code, message, retryable, provider} on L. */
static void push_failure(op_t *op, lua_State *L)
{
    int last = op->ci < op->nchain ? op->ci : op->nchain - 1;
    const char *provider = op->chain[last], *model = op->model[last];
    int64_t latency = ag_now_ms() - op->started;
    journal(op, provider, model, NULL, 0, 0, 0, latency);
    ag_llm_metrics_call(provider, model, op->code, 0, 0, 0, latency);
    AG_LOG(AG_LOG_WARN, "llm call failed task=%lld seq=%d provider=%s model=%s code=%s error=\"%s\"",
           (long long)op->run->task_id, op->seq, provider, model, op->code, op->msg);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, op->code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, op->msg);
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, op->retryable);
    lua_setfield(L, -2, "retryable");
    lua_pushstring(L, provider);
    lua_setfield(L, -2, "provider");
}

static void finish_error(op_t *op)
{
    push_failure(op, op->rt->L);
    deliver(op, 0);
}

static void set_error(op_t *op, const char *code, int retryable, const char *fmt, const char *detail)
{
    snprintf(op->code, sizeof(op->code), "%s", code);
    snprintf(op->msg, sizeof(op->msg), fmt, detail);
    op->retryable = retryable;
}

/* ---- the response --------------------------------------------------------------------------------------------- */

typedef struct parse_args_s {
    op_t *op;
    const char *body;
    size_t len;
    int64_t latency;
    int64_t pt, ct; /* out: tokens and cost of the parsed response */
    double cost;
    ag_err_t err;
} parse_args_t;

/* Adds provider, model, cost, latency_ms and replayed to the normalized response on top of L. */
static void complete_response(lua_State *L, const ag_llm_config_t *cfg, const char *provider, const char *model,
                              int64_t latency, int64_t *pt, int64_t *ct, double *cost)
{
    *pt = *ct = 0;
    if (lua_getfield(L, -1, "usage") == LUA_TTABLE) {
        lua_getfield(L, -1, "prompt_tokens");
        *pt = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        lua_getfield(L, -2, "completion_tokens");
        *ct = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, *pt);
    lua_setfield(L, -2, "prompt_tokens");
    lua_pushinteger(L, *ct);
    lua_setfield(L, -2, "completion_tokens");
    lua_setfield(L, -2, "usage");
    if (lua_getfield(L, -1, "model") != LUA_TSTRING) {
        lua_pushstring(L, model);
        lua_setfield(L, -3, "model");
    }
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "text") != LUA_TSTRING) {
        lua_pushliteral(L, "");
        lua_setfield(L, -3, "text");
    }
    lua_pop(L, 1);
    lua_pushstring(L, provider);
    lua_setfield(L, -2, "provider");
    *cost = ag_llm_cost(cfg, model, *pt, *ct);
    lua_pushnumber(L, *cost);
    lua_setfield(L, -2, "cost");
    lua_pushinteger(L, latency);
    lua_setfield(L, -2, "latency_ms");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "replayed");
}

/* Protected: decodes and parses a 2xx body; pushes (response, response JSON) or (nil, message). */
static int l_parse(lua_State *L)
{
    parse_args_t *a = lua_touserdata(L, 1);
    op_t *op = a->op;
    const ag_llm_provider_t *p = ag_llm_provider(op->chain[op->ci]);
    ag_llm_json_decode(L, a->body, a->len);
    if (!lua_istable(L, -1)) {
        lua_pushnil(L);
        lua_pushliteral(L, "the response body is not a JSON object");
        return 2;
    }
    if (p->parse(L, lua_gettop(L), &a->err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, a->err.msg);
        return 2;
    }
    complete_response(L, op->cfg, op->chain[op->ci], op->model[op->ci], a->latency, &a->pt, &a->ct, &a->cost);
    ag_llm_json_encode(L, -1);
    return 2;
}

static int64_t backoff_ms(op_t *op)
{
    const ag_llm_config_t *c = op->cfg;
    double d = c->retry_base_ms * pow(2.0, op->attempt - 1);
    d *= 0.8 + 0.4 * ((double)(rand() % 1000) / 1000.0);
    if (op->retry_after_ms > d)
        d = (double)op->retry_after_ms;
    if (d > c->retry_max_ms)
        d = c->retry_max_ms;
    return (int64_t)d;
}

static void on_retry_timer(uv_timer_t *t)
{
    op_step(t->data);
}

static void wait_then_step(op_t *op, int64_t ms)
{
    if (!op->timer_init) {
        uv_timer_init(op->rt->loop, &op->timer);
        op->timer.data = op;
        op->timer_init = 1;
    }
    uv_timer_start(&op->timer, on_retry_timer, (uint64_t)ms, 0);
}

/* The attempt failed with op->code/msg set: retry it, or move to the next provider, or give up. */
static void attempt_failed(op_t *op, int retry_here)
{
    if (retry_here && op->attempt <= op->cfg->retries) {
        int64_t ms = backoff_ms(op);
        AG_LOG(AG_LOG_INFO, "llm retry task=%lld seq=%d provider=%s attempt=%d in_ms=%lld reason=\"%s\"",
               (long long)op->run->task_id, op->seq, op->chain[op->ci], op->attempt, (long long)ms, op->msg);
        wait_then_step(op, ms);
        return;
    }
    if (op->ci + 1 < op->nchain) {
        AG_LOG(AG_LOG_WARN, "llm fallback task=%lld seq=%d from=%s to=%s reason=\"%s\"", (long long)op->run->task_id,
               op->seq, op->chain[op->ci], op->chain[op->ci + 1], op->msg);
        op->ci++;
        op->attempt = 0;
        free(op->body);
        op->body = NULL;
        ag_llm_wire_free(&op->wire);
        op_step(op);
        return;
    }
    if (op->in_call)
        op->done = 1; /* l_llm_call raises it */
    else
        finish_error(op);
}

static void on_http_done(ag_hc_req_t *req, const ag_hc_result_t *res, void *data)
{
    (void)req;
    op_t *op = data;
    op->http = NULL;
    op->retry_after_ms = ag_llm_retry_after_ms(res->retry_after, ag_now_ms());
    if (res->failed) {
        release(op, AG_LLM_OUTCOME_FAILED, 0);
        if (res->timed_out)
            set_error(op, "timeout", 1, "no answer within the timeout: %s", res->error);
        else
            set_error(op, "provider_error", 1, "%s", res->error);
        attempt_failed(op, 1);
        return;
    }
    char detail[300];
    if (res->status == 429) {
        release(op, AG_LLM_OUTCOME_NEUTRAL, 0);
        set_error(op, "rate_limited", 1, "%s", "the provider answered 429 (rate limited)");
        attempt_failed(op, 1);
        return;
    }
    if (res->status >= 500 || res->status < 200 || res->status >= 300) {
        int server = res->status >= 500;
        release(op, server ? AG_LLM_OUTCOME_FAILED : AG_LLM_OUTCOME_NEUTRAL, 0);
        snprintf(detail, sizeof(detail), "%ld: %.200s", res->status, res->body ? res->body : "");
        set_error(op, "provider_error", server, "the provider answered HTTP %s", detail);
        attempt_failed(op, server); /* other 4xx: no retry here, but the next provider may do */
        return;
    }
    lua_State *L = op->rt->L;
    int top = lua_gettop(L);
    parse_args_t a = {.op = op, .body = res->body, .len = res->body_len, .latency = ag_now_ms() - op->started};
    lua_pushcfunction(L, l_parse);
    lua_pushlightuserdata(L, &a);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK || lua_isnil(L, -2)) {
        const char *why = lua_tostring(L, -1) ? lua_tostring(L, -1) : "unreadable response";
        set_error(op, "invalid_response", 1, "the provider's answer could not be read: %s", why);
        lua_settop(L, top);
        release(op, AG_LLM_OUTCOME_NEUTRAL, 0);
        attempt_failed(op, 1);
        return;
    }
    /* top: response, json */
    release(op, AG_LLM_OUTCOME_OK, a.pt + a.ct);
    journal(op, op->chain[op->ci], op->model[op->ci], lua_tostring(L, -1), a.pt, a.ct, a.cost, a.latency);
    ag_llm_metrics_call(op->chain[op->ci], op->model[op->ci], "ok", a.pt, a.ct, a.cost, a.latency);
    lua_pop(L, 1); /* json */
    deliver(op, 1);
}

/* Protected: builds the current provider's wire request; pushes the body text. */
static int l_build(lua_State *L)
{
    op_t *op = lua_touserdata(L, 1);
    const ag_llm_provider_t *p = ag_llm_provider(op->chain[op->ci]);
    const char *base, *key;
    ag_llm_shared_target(ag_llm_loop_shared(op->ll), op->chain[op->ci], &base, &key);
    ag_llm_target_t t = {.name = p->name, .base_url = base, .api_key = key};
    lua_rawgeti(L, LUA_REGISTRYINDEX, op->req_ref);
    lua_pushstring(L, op->model[op->ci]);
    lua_setfield(L, -2, "model");
    p->build(L, lua_gettop(L), &t, &op->wire);
    ag_llm_json_encode(L, -1);
    return 1;
}

/* Answers with the mock provider in place: pushes the response on L (the task's coroutine). */
static void mock_answer(op_t *op, lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, op->req_ref);
    lua_pushstring(L, op->model[op->ci]);
    lua_setfield(L, -2, "model");
    ag_llm_mock.answer(L, lua_gettop(L));
    lua_remove(L, -2);
    int64_t pt, ct;
    double cost;
    complete_response(L, op->cfg, "mock", op->model[op->ci], 0, &pt, &ct, &cost);
    ag_llm_json_encode(L, -1);
    journal(op, "mock", op->model[op->ci], lua_tostring(L, -1), pt, ct, cost, 0);
    ag_llm_metrics_call("mock", op->model[op->ci], "ok", pt, ct, cost, 0);
    lua_pop(L, 1);
}

/* Protected mock_answer on the main state (a fallback reached from a loop callback). */
static int l_mock(lua_State *L)
{
    mock_answer(lua_touserdata(L, 1), L);
    return 1;
}

/* Moves the op forward: admission, build, send. Called from l_llm_call and from timers. */
static void op_step(op_t *op)
{
    const char *provider = op->chain[op->ci];
    const ag_llm_provider_t *p = ag_llm_provider(provider);
    if (p->answer != NULL) {
        /* mock in a fallback chain: answered here, delivered like a network answer */
        if (op->in_call) {
            op->done = 2;
            return;
        }
        lua_State *L = op->rt->L;
        lua_pushcfunction(L, l_mock);
        lua_pushlightuserdata(L, op);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            set_error(op, "provider_error", 0, "the mock provider failed: %s",
                      lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            lua_pop(L, 1);
            finish_error(op);
            return;
        }
        deliver(op, 1);
        return;
    }
    if (op->body == NULL) {
        lua_State *L = op->rt->L;
        lua_pushcfunction(L, l_build);
        lua_pushlightuserdata(L, op);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            set_error(op, "provider_error", 0, "cannot build the request: %s",
                      lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            lua_pop(L, 1);
            ag_llm_wire_free(&op->wire);
            attempt_failed(op, 0);
            return;
        }
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        op->body = ag_xmalloc(n + 1);
        memcpy(op->body, s, n + 1);
        op->body_len = n;
        lua_pop(L, 1);
        op->est_tokens = (int64_t)n / 4 + 256;
        op->limits = ag_llm_shared_limits(ag_llm_loop_shared(op->ll), provider);
    }
    int64_t adm = ag_llm_limits_acquire(op->limits, ag_now_ms(), op->est_tokens);
    if (adm == AG_LLM_CIRCUIT_OPEN) {
        set_error(op, "provider_error", 1, "%s", "the provider's circuit breaker is open after repeated failures");
        op->attempt = op->cfg->retries + 1; /* no retry on this provider */
        attempt_failed(op, 0);
        return;
    }
    if (adm > 0) {
        wait_then_step(op, adm); /* over a budget: wait our turn */
        return;
    }
    op->admitted = 1;
    op->attempt++;
    const char *hdrs[AG_LLM_MAX_HEADERS + 1];
    hdrs[0] = "Content-Type: application/json";
    for (int i = 0; i < op->wire.nheaders; i++)
        hdrs[i + 1] = op->wire.headers[i];
    ag_hc_opts_t o = {.url = op->wire.url, .headers = hdrs, .nheaders = op->wire.nheaders + 1, .body = op->body,
                      .len = op->body_len, .timeout_ms = op->timeout_ms,
                      .connect_timeout_ms = op->cfg->connect_timeout_ms, .user_agent = "agency-llm/1", .keep_body = 1};
    const char *why = NULL;
    op->http = ag_hc_post(ag_llm_loop_http(op->ll), &o, on_http_done, op, &why);
    if (op->http == NULL) {
        release(op, AG_LLM_OUTCOME_NEUTRAL, 0);
        set_error(op, "provider_error", 1, "cannot start the request: %s", why);
        attempt_failed(op, 0);
    }
}

/* ---- the primitive ------------------------------------------------------------------------------------------- */

static int llm_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    if (!lua_toboolean(L, -2))
        return lua_error(L); /* the structured error on top */
    return 1;
}

static const char *opt_str(lua_State *L, int idx, const char *k, char *buf, size_t n)
{
    lua_getfield(L, idx, k);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s)
        snprintf(buf, n, "%s", s);
    lua_pop(L, 1);
    return s ? buf : NULL;
}

static double opt_num(lua_State *L, int idx, const char *k, double dflt)
{
    lua_getfield(L, idx, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

static void add_provider(op_t *op, const char *name, const char *model)
{
    for (int i = 0; i < op->nchain; i++)
        if (strcmp(op->chain[i], name) == 0)
            return;
    if (op->nchain == AG_LLM_MAX_CHAIN)
        return;
    const ag_llm_provider_t *p = ag_llm_provider(name);
    op->chain[op->nchain] = p->name;
    snprintf(op->model[op->nchain], sizeof(op->model[0]), "%s", model ? model : ag_llm_default_model(p->name));
    op->nchain++;
}

/* Raises budget_exceeded when the task's or the domain's spend has reached its cap. */
static void check_budgets(lua_State *L, ag_run_t *run, ag_store_t *st, double task_cap, double daily_cap)
{
    ag_err_t err;
    double spent = 0;
    char msg[300];
    if (task_cap > 0 && run->task_id > 0 && st->ops->llm_spend(st, run->task_id, NULL, 0, &spent, &err) == 0 &&
        spent >= task_cap) {
        snprintf(msg, sizeof(msg), "the task has spent $%.4f on LLM calls, its cap is $%.4f", spent, task_cap);
        ag_lua_raise(L, "budget_exceeded", msg, 0);
    }
    int64_t day = ag_now_ms() / 86400000 * 86400000;
    if (daily_cap > 0 && st->ops->llm_spend(st, 0, run->domain, day, &spent, &err) == 0 && spent >= daily_cap) {
        snprintf(msg, sizeof(msg), "domain %s has spent $%.4f on LLM calls today (UTC), its daily cap is $%.4f",
                 run->domain, spent, daily_cap);
        ag_lua_raise(L, "budget_exceeded", msg, 0);
    }
}

/* Pushes a journaled response (JSON text), marked replayed. */
static void push_journaled(lua_State *L, ag_rt_t *rt, const char *json)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->decode_ref);
    lua_pushstring(L, json);
    lua_call(L, 1, 1);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "replayed");
}

/* Answers from the journal when this call was made before (same task, seq and request hash): pushes the
 * recorded response marked replayed and returns 1; else 0. */
static int replay(lua_State *L, op_t *op, ag_store_t *st)
{
    char *resp = NULL;
    ag_err_t err;
    /* Only a re-run can have journaled calls: attempt 1 is a task's first run (a manual retry resets attempts
     * and starts afresh). This keeps the lookup off the path of every first call. */
    if (op->run->task_id <= 0 || op->run->attempt <= 1 ||
        st->ops->llm_call_find(st, op->run->task_id, op->seq, op->hash, &resp, &err) != 0)
        return 0;
    push_journaled(L, op->rt, resp); /* a raise here is out of memory: the engine is going down anyway */
    free(resp);
    lua_pushnumber(L, 0); /* nothing was paid this time */
    lua_setfield(L, -2, "cost");
    lua_getfield(L, -1, "provider");
    lua_getfield(L, -2, "model");
    const char *p = lua_tostring(L, -2), *m = lua_tostring(L, -1);
    ag_llm_metrics_call(p ? p : "?", m ? m : "?", "replayed", 0, 0, 0, 0);
    lua_pop(L, 2);
    return 1;
}

/* call(request, opts) -> response. request is the normalized request (without model); opts: provider,
 * model, timeout, task_budget, daily_budget. */
static int l_llm_call(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    ag_run_t *run = ag_lua_run(L);
    ag_rt_t *rt = ag_rt_of(L);
    if (run == NULL || L != run->co || rt->loop == NULL || rt->llm == NULL)
        return luaL_error(L, "llm.chat: only callable from a task's own code (not at load time, not inside a "
                             "coroutine of the script's own)");
    const ag_llm_config_t *cfg = ag_llm_shared_config(ag_llm_loop_shared(rt->llm));
    ag_store_t *st = ag_llm_loop_store(rt->llm);
    char pbuf[32], mbuf[128];
    const char *provider = opt_str(L, 2, "provider", pbuf, sizeof(pbuf));
    const char *model = opt_str(L, 2, "model", mbuf, sizeof(mbuf));
    if (provider != NULL && ag_llm_provider(provider) == NULL)
        return luaL_error(L, "llm.chat: unknown provider '%s' (openai, anthropic or mock)", provider);
    double timeout = opt_num(L, 2, "timeout", cfg->timeout_ms / 1000.0);
    double task_cap = opt_num(L, 2, "task_budget", cfg->task_budget);
    double daily_cap = opt_num(L, 2, "daily_budget", cfg->domain_daily_budget);
    if (st != NULL && (task_cap > 0 || daily_cap > 0)) {
        ag_llm_loop_flush(rt->llm); /* the spend of calls just made counts too */
        check_budgets(L, run, st, task_cap, daily_cap); /* may raise: nothing is allocated yet */
    }
    int seq = ++run->llm_seq;
    lua_pushvalue(L, 1); /* the request, with its model set below */

    op_t *op = ag_xcalloc(1, sizeof(*op)); /* from here nothing raises until the op is owned by the run */
    op->run = run;
    op->rt = rt;
    op->ll = rt->llm;
    op->cfg = cfg;
    op->seq = seq;
    op->started = ag_now_ms();
    op->timeout_ms = (long)(timeout * 1000);
    if (cfg->offline) /* agency test: the mock answers, whatever the script or its domain asks for */
        provider = model = NULL;
    if (provider == NULL)
        provider = cfg->provider;
    if (model == NULL && strcmp(provider, cfg->provider) == 0 && cfg->model[0])
        model = cfg->model;
    add_provider(op, provider, model);
    char fb[sizeof(cfg->fallback)];
    snprintf(fb, sizeof(fb), "%s", cfg->fallback);
    for (char *save = NULL, *p = strtok_r(fb, ", ", &save); p; p = strtok_r(NULL, ", ", &save))
        add_provider(op, p, NULL);
    ag_llm_hash(L, -1, op->hash); /* the script's request: the model chosen by configuration is not part of it */
    lua_pushstring(L, op->model[0]);
    lua_setfield(L, -2, "model");
    op->req_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    run->llm_op = op;
    run->pending_cancel = op_cancel;

    if (ag_llm_loop_replaying(rt->llm)) { /* agency replay: the journal or nothing */
        const ag_llm_call_t *row = ag_llm_loop_replay_find(rt->llm, seq, op->hash);
        run->llm_op = NULL;
        run->pending_cancel = NULL;
        op_free(op);
        if (row == NULL || row->response == NULL)
            return ag_lua_raise(L, "replay_missing", "this call is not in the task's journal (replay is offline)", 0);
        push_journaled(L, rt, row->response);
        return 1;
    }
    if (st != NULL && replay(L, op, st)) {
        run->llm_op = NULL;
        run->pending_cancel = NULL;
        op_free(op);
        return 1;
    }
    op->in_call = 1;
    op_step(op);
    op->in_call = 0;
    if (op->done) {
        run->llm_op = NULL;
        run->pending_cancel = NULL;
        if (op->done == 2) {
            mock_answer(op, L);
            op_free(op);
            return 1;
        }
        push_failure(op, L);
        op_free(op);
        return lua_error(L);
    }
    return lua_yieldk(L, 0, 0, llm_k);
}

/* validate(schema, value) -> list of {field=, message=} */
static int l_llm_validate(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    ag_rt_t *rt = ag_rt_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->schema_ref);
    lua_getfield(L, -1, "validate");
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_createtable(L, 0, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->null_ref);
    lua_setfield(L, -2, "null");
    lua_call(L, 3, 1);
    return 1;
}

/* tool(name) -> the module of domains/<run's domain>/tools/<name>.lua, or nil */
static int l_llm_tool(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    ag_run_t *run = ag_lua_run(L);
    ag_err_t err;
    ag_rt_t *rt = ag_rt_of(L);
    if (run == NULL || ag__rt_push_script(rt, run->domain, "tools", name, &err) != 0)
        lua_pushnil(L);
    else
        lua_xmove(rt->L, L, 1); /* modules live on the main state's stack */
    return 1;
}

/* domain_llm() -> the `llm` table of the running task's domain config.lua, or nil */
static int l_llm_domain(lua_State *L)
{
    ag_run_t *run = ag_lua_run(L);
    ag_err_t err;
    ag_rt_t *rt = ag_rt_of(L);
    if (run == NULL || ag__rt_push_script(rt, run->domain, "config", "config", &err) != 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_xmove(rt->L, L, 1); /* modules live on the main state's stack */
    if (!lua_istable(L, -1)) {
        lua_pushnil(L);
        return 1;
    }
    lua_getfield(L, -1, "llm");
    if (!lua_istable(L, -1))
        lua_pushnil(L);
    return 1;
}

int ag_lua_open_llm(lua_State *L)
{
    ag_rt_t *rt = ag_rt_of(L);
    ag_err_t err;
    if (ag_rt_load_module(rt, "engine/lua/llm_chat.lua", ag_embed_llm_chat_lua, ag_embed_llm_chat_lua_len, &err) != 0)
        return luaL_error(L, "embedded llm library: %s", err.msg);
    lua_pushcfunction(L, l_llm_call);
    lua_pushcfunction(L, l_llm_validate);
    lua_pushcfunction(L, l_llm_tool);
    lua_pushcfunction(L, l_llm_domain);
    lua_call(L, 4, 2); /* chat, bind_tool */
    rt->bind_tool_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, 0, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, "chat");
    return 1;
}
