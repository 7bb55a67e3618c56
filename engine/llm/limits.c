/* limits.c: see limits.h. */
#include "limits.h"

#include <pthread.h>

#include "../common.h"

enum { CLOSED = 0, OPEN, HALF_OPEN };

struct ag_llm_limits_s {
    pthread_mutex_t mu;
    ag_llm_limits_conf_t c;
    int inflight;
    double req_tokens, tok_tokens; /* bucket levels */
    int64_t refilled_ms;
    int state, consecutive, probing;
    int64_t open_until;
};

ag_llm_limits_t *ag_llm_limits_new(const ag_llm_limits_conf_t *conf)
{
    ag_llm_limits_t *l = ag_xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    l->c = *conf;
    l->req_tokens = conf->rpm;
    l->tok_tokens = conf->tpm; /* full; refilled_ms = 0: the clock starts at the first acquire */
    return l;
}

void ag_llm_limits_free(ag_llm_limits_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void refill(ag_llm_limits_t *l, int64_t now)
{
    if (l->refilled_ms == 0)
        l->refilled_ms = now;
    int64_t dt = now - l->refilled_ms;
    if (dt <= 0)
        return;
    l->refilled_ms = now;
    if (l->c.rpm > 0) {
        l->req_tokens += (double)dt * l->c.rpm / 60000.0;
        if (l->req_tokens > l->c.rpm)
            l->req_tokens = l->c.rpm;
    }
    if (l->c.tpm > 0) {
        l->tok_tokens += (double)dt * l->c.tpm / 60000.0;
        if (l->tok_tokens > l->c.tpm)
            l->tok_tokens = l->c.tpm;
    }
}

/* Milliseconds until a bucket refilling at per_min per minute holds need (>= 1). */
static int64_t wait_for(double have, double need, int per_min)
{
    double ms = (need - have) * 60000.0 / per_min;
    return ms < 1 ? 1 : (int64_t)ms + 1;
}

int64_t ag_llm_limits_acquire(ag_llm_limits_t *l, int64_t now, int64_t tokens)
{
    int64_t rc = AG_LLM_ADMIT;
    pthread_mutex_lock(&l->mu);
    if (l->state == OPEN) {
        if (now < l->open_until) {
            rc = AG_LLM_CIRCUIT_OPEN;
            goto done;
        }
        l->state = HALF_OPEN;
        l->probing = 0;
    }
    if (l->state == HALF_OPEN && l->probing) {
        rc = AG_LLM_CIRCUIT_OPEN;
        goto done;
    }
    if (l->c.concurrency > 0 && l->inflight >= l->c.concurrency) {
        rc = 10; /* a slot frees when some request ends: look again soon */
        goto done;
    }
    refill(l, now);
    if (l->c.rpm > 0 && l->req_tokens < 1) {
        rc = wait_for(l->req_tokens, 1, l->c.rpm);
        goto done;
    }
    double need = tokens > l->c.tpm ? l->c.tpm : (double)tokens; /* a call larger than a minute's budget still runs */
    if (l->c.tpm > 0 && l->tok_tokens < need) {
        rc = wait_for(l->tok_tokens, need, l->c.tpm);
        goto done;
    }
    if (l->c.rpm > 0)
        l->req_tokens -= 1;
    if (l->c.tpm > 0)
        l->tok_tokens -= need;
    if (l->state == HALF_OPEN)
        l->probing = 1;
    l->inflight++;
done:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void ag_llm_limits_release(ag_llm_limits_t *l, int64_t now, int outcome, int64_t tokens, int64_t used)
{
    pthread_mutex_lock(&l->mu);
    l->inflight--;
    if (l->c.tpm > 0 && used > 0)
        l->tok_tokens -= (double)(used - tokens); /* may go below zero: later calls wait longer */
    if (outcome == AG_LLM_OUTCOME_OK) {
        l->consecutive = 0;
        l->state = CLOSED;
        l->probing = 0;
    } else if (outcome == AG_LLM_OUTCOME_FAILED && l->c.failures > 0) {
        l->consecutive++;
        if (l->state == HALF_OPEN || l->consecutive >= l->c.failures) {
            l->state = OPEN;
            l->open_until = now + l->c.cooldown_ms;
            l->probing = 0;
        }
    } else if (l->state == HALF_OPEN) {
        l->probing = 0; /* the probe proved nothing: let the next one through */
    }
    pthread_mutex_unlock(&l->mu);
}

const char *ag_llm_limits_state(ag_llm_limits_t *l, int64_t now)
{
    pthread_mutex_lock(&l->mu);
    int s = l->state;
    if (s == OPEN && now >= l->open_until)
        s = HALF_OPEN;
    pthread_mutex_unlock(&l->mu);
    return s == CLOSED ? "closed" : s == OPEN ? "open" : "half_open";
}
