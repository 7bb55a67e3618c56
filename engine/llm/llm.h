/*
 * llm.h: LLM calls, the engine side (DESIGN §6): configuration, the process-wide provider state
 * (limits and circuit breakers), prices, request hashing, and the per-loop context that owns the HTTP
 * client and the journal rows waiting to be written. The Lua binding (engine/lua/api_llm.c) drives a
 * call through these pieces; providers translate (provider.h).
 */
#ifndef AG_LLM_H
#define AG_LLM_H

#include <stdio.h>
#include <uv.h>

#include "../buf.h"
#include "../common.h"
#include "../store.h"
#include "limits.h"
#include "llm_config.h"

/* The default model of a provider ("gpt-4o-mini", "claude-3-5-haiku-latest", "mock"). */
const char *ag_llm_default_model(const char *provider);
/* Cost in USD of a call to model with these token counts, from AGENCY_LLM_PRICES then built-in prices
 * (0 for unknown models and for mock). */
double ag_llm_cost(const ag_llm_config_t *c, const char *model, int64_t prompt_tokens, int64_t completion_tokens);
/* Parses a Retry-After value (delta seconds or an HTTP date) into milliseconds from now; -1 if unusable. */
int64_t ag_llm_retry_after_ms(const char *v, int64_t now_ms);

/* ---- process-wide state ---- */
typedef struct ag_llm_shared_s ag_llm_shared_t;
ag_llm_shared_t *ag_llm_shared_new(const ag_llm_config_t *c);
void ag_llm_shared_free(ag_llm_shared_t *s);
const ag_llm_config_t *ag_llm_shared_config(const ag_llm_shared_t *s);
/* The limits of provider name (created on first use). */
ag_llm_limits_t *ag_llm_shared_limits(ag_llm_shared_t *s, const char *provider);
/* Base URL and key of a provider, NULL when it has none. */
void ag_llm_shared_target(const ag_llm_shared_t *s, const char *provider, const char **base_url, const char **key);

/* Appends "llm":{status, provider, model, providers:[{name, configured, base_url, circuit}]} to b. */
void ag_llm_health_json(ag_llm_shared_t *s, ag_buf_t *b);

/* ---- one per loop thread ---- */
typedef struct ag_llm_loop_s ag_llm_loop_t;
typedef struct ag_hc_s ag_hc_t;
int ag_llm_loop_new(ag_llm_loop_t **out, uv_loop_t *loop, ag_llm_shared_t *shared, ag_store_t *store, ag_err_t *err);
/* Writes pending journal rows, aborts transfers, closes handles (run the loop afterwards). */
void ag_llm_loop_close(ag_llm_loop_t *l);
ag_llm_shared_t *ag_llm_loop_shared(ag_llm_loop_t *l);
ag_hc_t *ag_llm_loop_http(ag_llm_loop_t *l);
ag_store_t *ag_llm_loop_store(ag_llm_loop_t *l);
/* Queues a journal row (copies it); rows are written in one transaction by ag_llm_loop_flush, which
 * the loop calls on its next turn. */
void ag_llm_loop_journal(ag_llm_loop_t *l, const ag_llm_call_t *c);
void ag_llm_loop_flush(ag_llm_loop_t *l);

/* Replay mode (agency replay): calls are answered only from rows (borrowed; one attempt's journal), by
 * sequence number, and each call is reported to cb with the journal row for its seq (NULL: none) and the
 * hash of the request made now. */
typedef void (*ag_llm_replay_cb)(int seq, const ag_llm_call_t *row, const char *hash, void *data);
void ag_llm_loop_replay(ag_llm_loop_t *l, const ag_llm_call_t *rows, size_t n, ag_llm_replay_cb cb, void *data);
int ag_llm_loop_replaying(const ag_llm_loop_t *l);
/* The row for seq in replay mode (reported to the callback), or NULL. */
const ag_llm_call_t *ag_llm_loop_replay_find(ag_llm_loop_t *l, int seq, const char *hash);

/* A 64-bit FNV-1a hash of the Lua value at idx that does not depend on table iteration order, as 16 hex digits. */
typedef struct lua_State lua_State;
void ag_llm_hash(lua_State *L, int idx, char out[17]);

/* Metrics: one finished call. outcome: "ok", "replayed" or an error code. */
void ag_llm_metrics_call(const char *provider, const char *model, const char *outcome, int64_t prompt_tokens,
                         int64_t completion_tokens, double cost, int64_t latency_ms);

#endif
