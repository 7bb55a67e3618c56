/*
 * limits.h: per-provider admission for LLM calls, shared by every loop thread (one mutex each):
 * a concurrency limit, requests-per-minute and tokens-per-minute token buckets, and a circuit breaker.
 *
 * Calls over a budget wait their turn (acquire says how long), they do not fail. The breaker opens
 * after `failures` consecutive failed attempts (transport errors, timeouts, 5xx), refuses calls for
 * `cooldown_ms`, then lets exactly one probe through: its success closes the breaker, its failure opens
 * it again for another cool-down.
 */
#ifndef AG_LLM_LIMITS_H
#define AG_LLM_LIMITS_H

#include <stdint.h>

typedef struct ag_llm_limits_s ag_llm_limits_t;

typedef struct ag_llm_limits_conf_s {
    int concurrency; /* requests in flight at once; 0 = unlimited */
    int rpm, tpm;    /* per minute; 0 = unlimited */
    int failures;    /* consecutive failures that open the breaker; 0 = no breaker */
    int cooldown_ms;
} ag_llm_limits_conf_t;

ag_llm_limits_t *ag_llm_limits_new(const ag_llm_limits_conf_t *conf);
void ag_llm_limits_free(ag_llm_limits_t *l);

#define AG_LLM_ADMIT 0
#define AG_LLM_CIRCUIT_OPEN (-1)

/* Asks to start one request expected to use `tokens` tokens at now_ms. Returns AG_LLM_ADMIT (the request
 * is counted in flight until ag_llm_limits_release), AG_LLM_CIRCUIT_OPEN (go to the next provider), or a
 * positive number of milliseconds to wait before asking again. */
int64_t ag_llm_limits_acquire(ag_llm_limits_t *l, int64_t now_ms, int64_t tokens);

enum { AG_LLM_OUTCOME_OK = 0, AG_LLM_OUTCOME_FAILED, AG_LLM_OUTCOME_NEUTRAL };
/* Ends an admitted request. outcome: OK closes/keeps the breaker closed, FAILED counts towards opening
 * it, NEUTRAL (a 429, a 4xx, a cancel) leaves it as it is. used_tokens corrects the token estimate. */
void ag_llm_limits_release(ag_llm_limits_t *l, int64_t now_ms, int outcome, int64_t tokens, int64_t used_tokens);

/* "closed", "open" or "half_open", for health and metrics. */
const char *ag_llm_limits_state(ag_llm_limits_t *l, int64_t now_ms);

#endif
