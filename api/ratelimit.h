/*
 * ratelimit.h: token buckets per subject (or client address), shared by every loop thread.
 *
 * Each key refills at `rate` tokens per second up to `burst`; a request takes one token. Thread-safe
 * (one mutex; a request holds it for a hash lookup). Idle keys are dropped when the table fills.
 */
#ifndef AG_API_RATELIMIT_H
#define AG_API_RATELIMIT_H

#include <stdint.h>

typedef struct ag_rate_result_s {
    int allowed;
    int limit, remaining;
    int reset_s;       /* seconds until the bucket is full again */
    int retry_after_s; /* when refused: seconds until one token is back */
} ag_rate_result_t;

/* Takes a token for key at now_ms (monotonic). rate <= 0 always allows. */
void ag_rate_take(const char *key, double rate, int burst, int64_t now_ms, ag_rate_result_t *out);

#endif
