/*
 * webhooks.h: webhook signatures (both directions) and the outgoing delivery thread.
 *
 * Signature scheme (docs/api.md "Webhooks"): a request carries
 *     X-Agency-Timestamp: <unix seconds>
 *     X-Agency-Signature: v1=<lowercase hex HMAC-SHA256(secret, timestamp + "." + body)>
 * and is accepted within AG_WEBHOOK_WINDOW_S of the receiver's clock, compared in constant time.
 *
 * Deliveries: one thread of its own (its own uv loop, store connection and curl multi handle), never a
 * worker's loop, so a slow receiver never holds up tasks. Every ~200 ms, or when woken, it turns new
 * events into deliveries (store webhook_enqueue), claims the due ones and sends them concurrently
 * (POST, the event's JSON, 10 s timeout). A 2xx answer is delivered; anything else is retried with
 * exponential backoff and jitter (AGENCY_WEBHOOK_RETRY_BASE_MS, at most 10 min), and the 10th failed
 * attempt is dead. A crash between sending and recording sends again (at least once).
 */
#ifndef AG_WEBHOOKS_H
#define AG_WEBHOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define AG_WEBHOOK_WINDOW_S 300
#define AG_WEBHOOK_MAX_ATTEMPTS 10
#define AG_WEBHOOK_RETRY_MAX_MS 600000
#define AG_WEBHOOK_TIMEOUT_MS 10000
/* "v1=" + 64 hex digits + NUL */
#define AG_WEBHOOK_SIG_LEN 68

/* Writes "v1=<hex>" for (secret, ts, body) into out. */
void ag_webhook_sign(const char *secret, int64_t ts, const char *body, size_t len, char out[AG_WEBHOOK_SIG_LEN]);

enum { AG_WEBHOOK_OK = 0, AG_WEBHOOK_BAD_SIGNATURE = -1, AG_WEBHOOK_STALE = -2 };

/* Checks a request's timestamp header value ts (decimal seconds, not NUL-terminated) and signature
 * header value sig against body, at now_s: AG_WEBHOOK_OK, AG_WEBHOOK_STALE (a timestamp outside the
 * window, or not a number) or AG_WEBHOOK_BAD_SIGNATURE (missing, malformed or wrong). */
int ag_webhook_verify(const char *secret, const char *ts, size_t tslen, const char *sig, size_t siglen,
                      const char *body, size_t len, int64_t now_s);

typedef struct ag_engine_s ag_engine_t;

/* Starts the delivery thread (engine.c, after the workers are set up). */
int ag_webhooks_start(ag_engine_t *eng, ag_err_t *err);
/* Asks it to look for work now (a new subscription, ...). Any thread; a no-op before start. */
void ag_webhooks_wake(ag_engine_t *eng);
/* Stops it: requests in flight are abandoned and their deliveries made due again. Joins the thread. */
void ag_webhooks_stop(ag_engine_t *eng);

#endif
