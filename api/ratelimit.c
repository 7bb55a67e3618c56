/* ratelimit.c: see ratelimit.h. */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/common.h"

#define NBUCKETS 4096
#define MAX_KEYS 100000

typedef struct bucket_s {
    struct bucket_s *next;
    double tokens;
    int64_t last_ms;
    char key[];
} bucket_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bucket_t *table[NBUCKETS];
static size_t nkeys;

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static double refill(bucket_t *b, double rate, int burst, int64_t now_ms)
{
    double t = b->tokens + (double)(now_ms - b->last_ms) / 1000.0 * rate;
    return t > burst ? burst : t;
}

/* Drops keys whose bucket is full again: they carry no state worth keeping. */
static void evict_idle(double rate, int burst, int64_t now_ms)
{
    for (int i = 0; i < NBUCKETS; i++) {
        for (bucket_t **p = &table[i]; *p;) {
            if (refill(*p, rate, burst, now_ms) >= burst) {
                bucket_t *dead = *p;
                *p = dead->next;
                free(dead);
                nkeys--;
            } else {
                p = &(*p)->next;
            }
        }
    }
}

void ag_rate_take(const char *key, double rate, int burst, int64_t now_ms, ag_rate_result_t *out)
{
    out->limit = burst;
    if (rate <= 0) {
        *out = (ag_rate_result_t){1, burst, burst, 0, 0};
        return;
    }
    uint32_t h = hash(key) % NBUCKETS;
    pthread_mutex_lock(&mu);
    bucket_t *b = table[h];
    while (b && strcmp(b->key, key) != 0)
        b = b->next;
    if (b == NULL) {
        if (nkeys >= MAX_KEYS)
            evict_idle(rate, burst, now_ms);
        size_t kl = strlen(key);
        b = ag_xmalloc(sizeof(*b) + kl + 1);
        memcpy(b->key, key, kl + 1);
        b->tokens = burst;
        b->last_ms = now_ms;
        b->next = table[h];
        table[h] = b;
        nkeys++;
    }
    b->tokens = refill(b, rate, burst, now_ms);
    b->last_ms = now_ms;
    out->allowed = b->tokens >= 1.0;
    if (out->allowed)
        b->tokens -= 1.0;
    double tokens = b->tokens;
    pthread_mutex_unlock(&mu);
    out->remaining = (int)floor(tokens);
    out->reset_s = (int)ceil((burst - tokens) / rate);
    out->retry_after_s = out->allowed ? 0 : (int)ceil((1.0 - tokens) / rate);
    if (!out->allowed && out->retry_after_s < 1)
        out->retry_after_s = 1;
}
