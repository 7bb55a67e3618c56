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
    /* Loop threads read the clock before taking the lock: a request may arrive with a time a little
     * older than the bucket's; that is no time passed, not negative tokens. */
    int64_t dt = now_ms > b->last_ms ? now_ms - b->last_ms : 0;
    double t = b->tokens + (double)dt / 1000.0 * rate;
    return t > burst ? burst : t;
}

/* Drops the fullest bucket of chain h, or of the next non-empty chain. */
static void evict_one(uint32_t h, double rate, int burst, int64_t now_ms)
{
    for (uint32_t k = 0; k < NBUCKETS; k++) {
        bucket_t **best = NULL;
        double best_t = -1;
        for (bucket_t **p = &table[(h + k) % NBUCKETS]; *p; p = &(*p)->next) {
            double t = refill(*p, rate, burst, now_ms);
            if (t > best_t)
                best_t = t, best = p;
        }
        if (best != NULL) {
            bucket_t *dead = *best;
            *best = dead->next;
            free(dead);
            nkeys--;
            return;
        }
    }
}

/* Makes room for one key. Keys whose bucket is full again carry no state worth keeping: the whole
 * table is scanned for them at most once a second. When that frees nothing (many keys, all active),
 * one bucket goes (evict_one), so the table stays bounded and a new key costs O(chain). */
static void make_room(uint32_t h, double rate, int burst, int64_t now_ms)
{
    static int64_t next_scan_ms;
    if (now_ms >= next_scan_ms) {
        next_scan_ms = now_ms + 1000;
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
    if (nkeys >= MAX_KEYS)
        evict_one(h, rate, burst, now_ms);
}

/* Whole seconds, rounded up; capped at a day (a tiny rate would overflow an int). */
static int seconds(double s)
{
    return s >= 86400 ? 86400 : (int)ceil(s);
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
            make_room(h, rate, burst, now_ms);
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
    if (now_ms > b->last_ms)
        b->last_ms = now_ms;
    out->allowed = b->tokens >= 1.0;
    if (out->allowed)
        b->tokens -= 1.0;
    double tokens = b->tokens;
    pthread_mutex_unlock(&mu);
    out->remaining = (int)floor(tokens);
    out->reset_s = seconds((burst - tokens) / rate);
    out->retry_after_s = out->allowed ? 0 : seconds((1.0 - tokens) / rate);
    if (!out->allowed && out->retry_after_s < 1)
        out->retry_after_s = 1;
}
