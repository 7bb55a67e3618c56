/*
 * webhooks.c: see webhooks.h. The delivery thread runs one libuv loop with an HTTP client on it
 * (http_client.h), a tick timer and a uv_async_t for wake-ups and stopping. All state below belongs to that thread, except
 * `stopping` and the async handle.
 *
 * A claimed delivery's due time is pushed LEASE_MS ahead in the store before it is sent; recording the
 * attempt's result settles it. If the process dies in between, the delivery falls due again when the
 * lease runs out and is sent again: at least once. On a clean stop the requests in flight are dropped
 * and their deliveries made due at once (release).
 */
#include "webhooks.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "http_client.h"
#include "events.h"
#include "log.h"

#define AG_LOG_MODULE "webhooks"

#define TICK_MS 200
#define MAX_INFLIGHT 64
#define LEASE_MS 60000          /* longer than a request can take (AG_WEBHOOK_TIMEOUT_MS) */
#define ENQUEUE_LIMIT 5000      /* events scanned per subscription per tick */

/* ---- signatures ------------------------------------------------------------------------------------------- */

static void mac_hex(const char *secret, const char *ts, size_t tslen, const char *body, size_t len, char hex[65])
{
    unsigned char mac[32];
    unsigned int ml = sizeof(mac);
    ag_buf_t b; /* the signed text: ts "." body */
    ag_buf_init(&b);
    ag_buf_put(&b, ts, tslen);
    ag_buf_putc(&b, '.');
    ag_buf_put(&b, body, len);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)b.data, b.len, mac, &ml);
    ag_buf_free(&b);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[i * 2] = digits[mac[i] >> 4];
        hex[i * 2 + 1] = digits[mac[i] & 15];
    }
    hex[64] = '\0';
}

void ag_webhook_sign(const char *secret, int64_t ts, const char *body, size_t len, char out[AG_WEBHOOK_SIG_LEN])
{
    char tsbuf[24];
    int tl = snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
    memcpy(out, "v1=", 3);
    mac_hex(secret, tsbuf, (size_t)tl, body ? body : "", body ? len : 0, out + 3);
}

int ag_webhook_verify(const char *secret, const char *ts, size_t tslen, const char *sig, size_t siglen,
                      const char *body, size_t len, int64_t now_s)
{
    if (ts == NULL || tslen == 0 || tslen > 15)
        return AG_WEBHOOK_STALE;
    int64_t t = 0;
    for (size_t i = 0; i < tslen; i++) {
        if (ts[i] < '0' || ts[i] > '9')
            return AG_WEBHOOK_STALE;
        t = t * 10 + (ts[i] - '0');
    }
    if (t < now_s - AG_WEBHOOK_WINDOW_S || t > now_s + AG_WEBHOOK_WINDOW_S)
        return AG_WEBHOOK_STALE;
    if (sig == NULL || siglen != AG_WEBHOOK_SIG_LEN - 1 || memcmp(sig, "v1=", 3) != 0)
        return AG_WEBHOOK_BAD_SIGNATURE;
    char want[65], got[64];
    mac_hex(secret, ts, tslen, body ? body : "", body ? len : 0, want);
    for (int i = 0; i < 64; i++) { /* hex is case-insensitive */
        char c = sig[3 + i];
        got[i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
    }
    return CRYPTO_memcmp(want, got, 64) == 0 ? AG_WEBHOOK_OK : AG_WEBHOOK_BAD_SIGNATURE;
}

/* ---- the delivery thread ------------------------------------------------------------------------------------ */

typedef struct ag_webhooks_s wh_t;

typedef struct job_s {
    ag_webhook_job_t j;
    wh_t *wh;
    ag_hc_req_t *req;
    char *body;
    struct job_s *prev, *next;
} job_t;

struct ag_webhooks_s {
    ag_engine_t *eng;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t tick;
    ag_hc_t *hc;
    ag_store_t *store;
    atomic_int stopping;
    int closing;
    int inflight;
    job_t *jobs;
    uint64_t rnd;
};

static double unit_random(wh_t *wh)
{
    uint64_t x = wh->rnd;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    wh->rnd = x;
    return (double)(x >> 11) / 9007199254740992.0;
}

static void record(wh_t *wh, const ag_webhook_result_t *r)
{
    ag_err_t err;
    if (wh->store->ops->webhook_record(wh->store, r, &err) != 0)
        AG_LOG(AG_LOG_ERROR, "webhook delivery not recorded delivery=%lld error=%s", (long long)r->delivery_id,
               err.msg);
}

static void job_unlink(job_t *jb)
{
    wh_t *wh = jb->wh;
    if (jb->prev)
        jb->prev->next = jb->next;
    else
        wh->jobs = jb->next;
    if (jb->next)
        jb->next->prev = jb->prev;
    wh->inflight--;
}

static void job_free(job_t *jb)
{
    free(jb->body);
    ag_webhook_job_clear(&jb->j);
    free(jb);
}

/* The attempt's end: the result goes to the store, a failure schedules the next attempt or ends it. */
static void job_done(job_t *jb, const char *failure, long code)
{
    wh_t *wh = jb->wh;
    ag_webhook_result_t r = {.delivery_id = jb->j.delivery_id, .http_status = (int)code};
    char msg[512];
    r.ok = failure == NULL && code >= 200 && code < 300;
    if (!r.ok) {
        if (failure != NULL)
            snprintf(msg, sizeof(msg), "%s", failure);
        else
            snprintf(msg, sizeof(msg), "the receiver answered HTTP %ld", code);
        r.error = msg;
        if (jb->j.attempt < AG_WEBHOOK_MAX_ATTEMPTS)
            r.retry_at = ag_now_ms() + ag_queue_backoff_ms(jb->j.attempt, wh->eng->cfg.webhook_retry_base_ms,
                                                           AG_WEBHOOK_RETRY_MAX_MS, unit_random(wh));
    }
    record(wh, &r);
    if (r.ok)
        AG_LOG(AG_LOG_INFO, "webhook delivered delivery=%lld subscription=%lld event=%lld attempt=%d http_status=%ld",
               (long long)jb->j.delivery_id, (long long)jb->j.subscription_id, (long long)jb->j.event.id,
               jb->j.attempt, code);
    else if (r.retry_at > 0)
        AG_LOG(AG_LOG_WARN, "webhook failed delivery=%lld subscription=%lld event=%lld attempt=%d http_status=%ld "
               "retry_in_ms=%lld error=\"%s\"", (long long)jb->j.delivery_id, (long long)jb->j.subscription_id,
               (long long)jb->j.event.id, jb->j.attempt, code, (long long)(r.retry_at - ag_now_ms()), msg);
    else
        AG_LOG(AG_LOG_ERROR, "webhook dead delivery=%lld subscription=%lld event=%lld attempt=%d http_status=%ld "
               "error=\"%s\"", (long long)jb->j.delivery_id, (long long)jb->j.subscription_id,
               (long long)jb->j.event.id, jb->j.attempt, code, msg);
}

static void on_sent(ag_hc_req_t *req, const ag_hc_result_t *res, void *data)
{
    (void)req;
    job_t *jb = data;
    job_unlink(jb);
    job_done(jb, res->failed ? res->error : NULL, res->status);
    job_free(jb);
}

static void start_job(wh_t *wh, ag_webhook_job_t *j)
{
    job_t *jb = ag_xcalloc(1, sizeof(*jb));
    jb->j = *j; /* takes the strings */
    memset(j, 0, sizeof(*j));
    jb->wh = wh;
    ag_buf_t b;
    ag_buf_init(&b);
    ag_event_json(&b, &jb->j.event);
    size_t blen = b.len;
    jb->body = ag_buf_steal(&b);
    int64_t ts = ag_now_ms() / 1000;
    char sig[AG_WEBHOOK_SIG_LEN], h[5][160];
    ag_webhook_sign(jb->j.secret ? jb->j.secret : "", ts, jb->body, blen, sig);
    snprintf(h[0], sizeof(h[0]), "X-Agency-Timestamp: %lld", (long long)ts);
    snprintf(h[1], sizeof(h[1]), "X-Agency-Signature: %s", sig);
    snprintf(h[2], sizeof(h[2]), "X-Agency-Event: %.100s", jb->j.event.type ? jb->j.event.type : "");
    snprintf(h[3], sizeof(h[3]), "X-Agency-Delivery: %lld", (long long)jb->j.delivery_id);
    snprintf(h[4], sizeof(h[4]), "X-Agency-Attempt: %d", jb->j.attempt);
    const char *headers[] = {"Content-Type: application/json", h[0], h[1], h[2], h[3], h[4]};
    ag_hc_opts_t o = {.url = jb->j.url, .headers = headers, .nheaders = 6, .body = jb->body, .len = blen,
                      .timeout_ms = AG_WEBHOOK_TIMEOUT_MS, .connect_timeout_ms = AG_WEBHOOK_TIMEOUT_MS,
                      .user_agent = "agency-webhooks/1"};
    jb->next = wh->jobs;
    if (wh->jobs)
        wh->jobs->prev = jb;
    wh->jobs = jb;
    wh->inflight++;
    const char *why = NULL;
    jb->req = ag_hc_post(wh->hc, &o, on_sent, jb, &why);
    if (jb->req == NULL) {
        job_unlink(jb);
        job_done(jb, why, 0);
        job_free(jb);
    }
}

static void do_work(wh_t *wh)
{
    ag_err_t err;
    size_t added = 0;
    if (wh->store->ops->webhook_enqueue(wh->store, ENQUEUE_LIMIT, &added, &err) != 0)
        AG_LOG(AG_LOG_ERROR, "webhook enqueue failed error=%s", err.msg);
    int slots = MAX_INFLIGHT - wh->inflight;
    if (slots <= 0)
        return;
    ag_webhook_job_t *jobs = NULL;
    size_t n = 0;
    if (wh->store->ops->webhook_claim(wh->store, slots, LEASE_MS, &jobs, &n, &err) != 0) {
        AG_LOG(AG_LOG_ERROR, "webhook claim failed error=%s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        start_job(wh, &jobs[i]);
    free(jobs);
}

static void on_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h))
        return;
    uv_close(h, NULL);
}

/* Drops the requests in flight (their deliveries are due again at once) and closes every handle. */
static void shutdown_loop(wh_t *wh)
{
    if (wh->closing)
        return;
    wh->closing = 1;
    while (wh->jobs) {
        job_t *jb = wh->jobs;
        ag_hc_cancel(jb->req);
        job_unlink(jb);
        ag_webhook_result_t r = {.delivery_id = jb->j.delivery_id, .release = 1};
        record(wh, &r);
        job_free(jb);
    }
    ag_hc_close(wh->hc);
    wh->hc = NULL;
    uv_walk(&wh->loop, on_close_walk, NULL);
}

static void on_tick(uv_timer_t *t)
{
    wh_t *wh = ag_container_of(t, wh_t, tick);
    if (atomic_load(&wh->stopping))
        shutdown_loop(wh);
    else
        do_work(wh);
}

static void on_wake(uv_async_t *a)
{
    wh_t *wh = ag_container_of(a, wh_t, wake);
    if (atomic_load(&wh->stopping))
        shutdown_loop(wh);
    else
        do_work(wh);
}

static void *wh_main(void *arg)
{
    wh_t *wh = arg;
    uv_run(&wh->loop, UV_RUN_DEFAULT);
    return NULL;
}

int ag_webhooks_start(ag_engine_t *eng, ag_err_t *err)
{
    wh_t *wh = ag_xcalloc(1, sizeof(*wh));
    wh->eng = eng;
    wh->rnd = (uint64_t)ag_now_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() ^ 1;
    int rc = ag_store_open(&wh->store, eng->cfg.database_url, err);
    if (rc != 0) {
        free(wh);
        return rc;
    }
    uv_loop_init(&wh->loop);
    if (ag_hc_new(&wh->hc, &wh->loop) != 0) {
        uv_loop_close(&wh->loop);
        ag_store_close(wh->store);
        free(wh);
        return ag_err_set(err, AG_EINVAL, "webhooks: curl_multi_init failed");
    }
    uv_async_init(&wh->loop, &wh->wake, on_wake);
    uv_timer_init(&wh->loop, &wh->tick);
    uv_timer_start(&wh->tick, on_tick, TICK_MS, TICK_MS);
    if ((rc = pthread_create(&wh->thread, NULL, wh_main, wh)) != 0) {
        ag_store_close(wh->store);
        free(wh); /* the loop's handles die with the process: startup has failed */
        return ag_err_set(err, -rc, "webhooks: cannot start the delivery thread");
    }
    eng->webhooks = wh;
    return 0;
}

void ag_webhooks_wake(ag_engine_t *eng)
{
    wh_t *wh = eng->webhooks;
    if (wh != NULL)
        uv_async_send(&wh->wake);
}

void ag_webhooks_stop(ag_engine_t *eng)
{
    wh_t *wh = eng->webhooks;
    if (wh == NULL)
        return;
    atomic_store(&wh->stopping, 1);
    uv_async_send(&wh->wake);
    pthread_join(wh->thread, NULL);
    eng->webhooks = NULL;
    uv_loop_close(&wh->loop);
    ag_store_close(wh->store);
    free(wh);
}
