/*
 * tasks.c: the /api/v1/tasks resource: create, get, execute (with wait), cancel, events.
 * The wait of execute is a waiter (engine.h) plus a timer; the request's dispose hook cancels both if
 * the client leaves first.
 */
#include <string.h>

#include "../engine/lua/request.h"
#include "../engine/log.h"
#include "../engine/b64url.h"
#include "http.h"

#define AG_LOG_MODULE "api"

static void task_json(ag_buf_t *b, const ag_task_t *t)
{
    ag_buf_printf(b, "{\"id\":%lld,\"type\":", (long long)t->id);
    ag_buf_json_strz(b, t->type);
    ag_buf_puts(b, ",\"domain\":");
    ag_buf_json_strz(b, t->domain);
    ag_buf_puts(b, ",\"agent\":");
    ag_buf_json_strz(b, t->agent);
    ag_buf_puts(b, ",\"status\":");
    ag_buf_json_strz(b, ag_task_state_name(t->state));
    ag_buf_printf(b, ",\"priority\":%d,\"input\":", t->priority);
    ag_buf_puts(b, t->input ? t->input : "{}");
    ag_buf_puts(b, ",\"result\":");
    ag_buf_puts(b, t->result ? t->result : "null");
    ag_buf_puts(b, ",\"error\":");
    ag_buf_json_strz(b, t->error);
    ag_buf_printf(b, ",\"attempts\":%d,\"max_attempts\":%d,\"idempotency_key\":", t->attempts, t->max_attempts);
    ag_buf_json_strz(b, t->idempotency_key);
    ag_buf_puts(b, ",\"script_version\":");
    ag_buf_json_strz(b, t->script_version);
    ag_buf_puts(b, ",\"run_at\":");
    ag_buf_json_time(b, t->run_at);
    ag_buf_puts(b, ",\"created_at\":");
    ag_buf_json_time(b, t->created_at);
    ag_buf_puts(b, ",\"updated_at\":");
    ag_buf_json_time(b, t->updated_at);
    ag_buf_puts(b, ",\"started_at\":");
    ag_buf_json_time(b, t->started_at);
    ag_buf_puts(b, ",\"finished_at\":");
    ag_buf_json_time(b, t->finished_at);
    ag_buf_puts(b, ",\"workflow_id\":");
    ag_buf_json_strz(b, t->workflow_id);
    ag_buf_putc(b, '}');
}

static void send_task(ag_http_ctx_t *c, int status, const ag_task_t *t)
{
    ag_buf_t b;
    ag_buf_init(&b);
    task_json(&b, t);
    ag_http_send_json(c, status, b.data, b.len);
    ag_buf_free(&b);
}

/*
 * Creation is group-committed: requests parsed during one loop turn wait in the worker's batch, and a
 * uv_check handle (it runs right after the poll phase that read them) inserts them all in one
 * transaction and answers each. A request whose client left meanwhile is still created (an
 * idempotency key makes a retry safe) but not answered.
 */
typedef struct pending_create_s {
    ag_http_ctx_t *c; /* NULL once the request was disposed */
    ag_create_req_t r;
} pending_create_t;

typedef struct create_batch_s {
    uv_check_t check;
    pending_create_t *items;
    size_t n, cap;
    uint64_t gen; /* bumped by every flush, so a late dispose cannot touch the next batch */
} create_batch_t;

typedef struct create_slot_s {
    create_batch_t *batch;
    uint64_t gen;
    size_t index;
} create_slot_t;

static void on_create_dispose(void *p)
{
    create_slot_t *slot = p;
    if (slot->batch->gen == slot->gen && slot->index < slot->batch->n)
        slot->batch->items[slot->index].c = NULL;
}

static void flush_creates(uv_check_t *h)
{
    create_batch_t *b = h->data;
    if (b->n == 0)
        return;
    ag_worker_t *w = ag_container_of(h->loop, ag_worker_t, loop);
    size_t n = b->n;
    pending_create_t *items = b->items;
    b->items = NULL;
    b->n = b->cap = 0;
    b->gen++;
    ag_task_new_t *news = ag_xcalloc(n, sizeof(*news));
    ag_task_t *outs = ag_xcalloc(n, sizeof(*outs));
    int *existed = ag_xcalloc(n, sizeof(int)), *rcs = ag_xcalloc(n, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        ag_create_req_t *r = &items[i].r;
        news[i] = (ag_task_new_t){.type = r->type, .domain = r->domain, .agent = r->agent, .input = r->input,
                                  .idempotency_key = r->idempotency_key, .priority = r->priority,
                                  .max_attempts = r->max_attempts, .run_at = r->run_at, .queued = r->execute};
    }
    ag_err_t err;
    int rc = w->store->ops->task_create_batch(w->store, news, n, outs, existed, rcs, &err);
    int queued = 0;
    for (size_t i = 0; i < n; i++) {
        ag_http_ctx_t *c = items[i].c;
        if (rc == 0 && rcs[i] == 0 && !existed[i] && outs[i].state == AG_TASK_QUEUED)
            queued = 1;
        if (c != NULL) {
            if (rc != 0 || rcs[i] != 0)
                ag_http_send_store_error(c, rc != 0 ? rc : rcs[i], &err);
            else
                send_task(c, existed[i] ? 200 : 201, &outs[i]);
        }
        if (rc == 0 && rcs[i] == 0)
            ag_task_clear(&outs[i]);
        ag_create_req_clear(&items[i].r);
    }
    if (queued)
        ag_engine_notify_queued(w->eng);
    free(items);
    free(news);
    free(outs);
    free(existed);
    free(rcs);
}

void ag_api_tasks_create(ag_http_ctx_t *c)
{
    ag_worker_t *w = c->w;
    ag_create_req_t r;
    if (ag_rt_parse_create(w->rt, c->req->entity.base, c->req->entity.len, &r) != 0) {
        ag_http_send_body_error(c, &r.err);
        ag_create_req_clear(&r);
        return;
    }
    create_batch_t *b = w->api_tasks;
    if (b == NULL) {
        b = w->api_tasks = ag_xcalloc(1, sizeof(*b));
        uv_check_init(&w->loop, &b->check);
        b->check.data = b;
        uv_check_start(&b->check, flush_creates);
        uv_unref((uv_handle_t *)&b->check);
    }
    if (b->n == b->cap)
        b->items = ag_xrealloc(b->items, (b->cap = b->cap ? b->cap * 2 : 64) * sizeof(*b->items));
    create_slot_t *slot = h2o_mem_alloc_shared(&c->req->pool, sizeof(*slot), on_create_dispose);
    *slot = (create_slot_t){b, b->gen, b->n};
    b->items[b->n++] = (pending_create_t){c, r};
}

void ag_api_tasks_get(ag_http_ctx_t *c)
{
    ag_task_t t = {0};
    ag_err_t err;
    int rc = c->w->store->ops->task_get(c->w->store, c->id, &t, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    send_task(c, 200, &t);
    ag_task_clear(&t);
}

/* ---- execute and wait --------------------------------------------------------------------------------------- */

typedef struct wait_s {
    ag_http_ctx_t *c; /* NULL once the request is gone */
    ag_waiter_t *waiter;
    uv_timer_t timer;
    int answered;
} wait_t;

static void answer(wait_t *wt)
{
    if (wt->answered || wt->c == NULL)
        return;
    wt->answered = 1;
    uv_timer_stop(&wt->timer);
    if (wt->waiter) {
        ag_engine_unwait(wt->c->w->eng, wt->waiter);
        wt->waiter = NULL;
    }
    ag_http_ctx_t *c = wt->c;
    ag_task_t t = {0};
    ag_err_t err;
    int rc = c->w->store->ops->task_get(c->w->store, c->id, &t, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    send_task(c, ag_task_state_terminal(t.state) ? 200 : 202, &t);
    ag_task_clear(&t);
}

static void on_task_finished(void *data)
{
    wait_t *wt = data;
    wt->waiter = NULL; /* consumed by the engine */
    answer(wt);
}

static void on_wait_timeout(uv_timer_t *t)
{
    answer(t->data);
}

static void on_wait_closed(uv_handle_t *h)
{
    free(ag_container_of(h, wait_t, timer));
}

static void on_wait_dispose(void *p)
{
    wait_t *wt = *(wait_t **)p;
    if (wt->waiter) {
        ag_engine_unwait(wt->c->w->eng, wt->waiter);
        wt->waiter = NULL;
    }
    wt->c = NULL;
    uv_close((uv_handle_t *)&wt->timer, on_wait_closed);
}

void ag_api_tasks_execute(ag_http_ctx_t *c)
{
    ag_worker_t *w = c->w;
    double wait_s = 0;
    if (ag_http_query_num(c->req, "wait", 0, 300, &wait_s) < 0) {
        ag_http_send_error(c, 400, "bad_request", "wait: must be a number of seconds from 0 to 300", NULL);
        return;
    }
    ag_task_t t = {0};
    ag_err_t err;
    int rc = w->store->ops->task_execute(w->store, c->id, &t, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        ag_task_clear(&t);
        return;
    }
    ag_engine_notify_queued(w->eng);
    if (wait_s <= 0) {
        send_task(c, 202, &t);
        ag_task_clear(&t);
        return;
    }
    ag_task_clear(&t);
    /* The timer must outlive the request pool until its close callback: it lives in malloc'd memory. */
    wait_t *wt = ag_xcalloc(1, sizeof(*wt));
    wt->c = c;
    uv_timer_init(&w->loop, &wt->timer);
    wt->timer.data = wt;
    wait_t **slot = h2o_mem_alloc_shared(&c->req->pool, sizeof(*slot), on_wait_dispose);
    *slot = wt;
    wt->waiter = ag_engine_wait(w->eng, w, c->id, on_task_finished, wt);
    uv_timer_start(&wt->timer, on_wait_timeout, (uint64_t)(wait_s * 1000), 0);
    /* It may have finished before the waiter was registered. */
    if (w->store->ops->task_get(w->store, c->id, &t, &err) == 0 && ag_task_state_terminal(t.state))
        answer(wt);
    ag_task_clear(&t);
}

void ag_api_tasks_cancel(ag_http_ctx_t *c)
{
    ag_worker_t *w = c->w;
    ag_task_t t = {0};
    ag_err_t err;
    int requested = 0;
    int rc = w->store->ops->task_cancel(w->store, c->id, &t, &requested, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        ag_task_clear(&t);
        return;
    }
    if (requested)
        ag_engine_notify_cancel(w->eng);
    else
        ag_engine_tasks_finished(w->eng, &t.id, 1);
    send_task(c, requested ? 202 : 200, &t);
    ag_task_clear(&t);
}

void ag_api_tasks_events(ag_http_ctx_t *c)
{
    ag_task_event_t *ev;
    size_t n;
    ag_err_t err;
    int rc = c->w->store->ops->task_events(c->w->store, c->id, &ev, &n, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_printf(&b, "{\"task_id\":%lld,\"events\":[", (long long)c->id);
    for (size_t i = 0; i < n; i++) {
        ag_buf_puts(&b, i ? ",{\"from\":" : "{\"from\":");
        ag_buf_json_strz(&b, ev[i].from);
        ag_buf_puts(&b, ",\"to\":");
        ag_buf_json_strz(&b, ev[i].to);
        ag_buf_puts(&b, ",\"at\":");
        ag_buf_json_time(&b, ev[i].at);
        ag_buf_puts(&b, ",\"detail\":");
        ag_buf_json_strz(&b, ev[i].detail);
        ag_buf_putc(&b, '}');
    }
    ag_buf_puts(&b, "]}");
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_task_events_free(ev, n);
}

/* ---- list and retry ------------------------------------------------------------------------------------------ */

/*
 * GET /api/v1/tasks pages newest first by id (keyset): the cursor is the last id of the page, base64url
 * encoded (unpadded) so clients treat it as opaque. Every query value is checked before the store is
 * asked: a malformed one is 400 bad_request, naming the parameter.
 */


/* The id in a cursor, or 0 when it is not one this server made. */

/* A timestamp filter: 1 set, 0 absent, -1 answered with 400. */
static int list_time(ag_http_ctx_t *c, const char *name, int64_t *out)
{
    char buf[64];
    const char *v = NULL;
    int rc = ag_http_filter_str(c, name, buf, sizeof(buf), &v);
    if (rc <= 0)
        return rc;
    if (ag_parse_iso8601(v, strlen(v), out) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s: must be an RFC 3339 timestamp such as 2026-11-26T10:00:00Z", name);
        ag_http_send_error(c, 400, "bad_request", msg, NULL);
        return -1;
    }
    /* The store reads 0 as "no bound": an instant at or before the epoch is the nearest bound it can take
     * (every task was created after it). */
    if (*out <= 0)
        *out = strcmp(name, "created_before") == 0 ? 1 : 0;
    return 1;
}

void ag_api_tasks_list(ag_http_ctx_t *c)
{
    ag_task_filter_t f = {.state = -1};
    char status[32], domain[256], agent[256], type[256], workflow[256];
    const char *v = NULL;
    int rc;
    if ((rc = ag_http_filter_str(c, "status", status, sizeof(status), &v)) < 0)
        return;
    if (rc > 0 && (f.state = ag_task_state_parse(v)) < 0) {
        ag_http_send_error(c, 400, "bad_request",
                           "status: must be one of pending, queued, running, succeeded, failed, dead, cancelled, "
                           "waiting",
                           NULL);
        return;
    }
    if (ag_http_filter_str(c, "domain", domain, sizeof(domain), &f.domain) < 0 ||
        ag_http_filter_str(c, "agent", agent, sizeof(agent), &f.agent) < 0 ||
        ag_http_filter_str(c, "type", type, sizeof(type), &f.type) < 0 ||
        ag_http_filter_str(c, "workflow_id", workflow, sizeof(workflow), &f.workflow_id) < 0 ||
        list_time(c, "created_after", &f.created_after) < 0 || list_time(c, "created_before", &f.created_before) < 0)
        return;
    int limit;
    int64_t before;
    if (ag_http_page_params(c, "", &limit, &before) != 0)
        return;
    ag_task_t *items = NULL;
    size_t n = 0;
    int64_t next = 0;
    ag_err_t err;
    if ((rc = c->w->store->ops->task_list(c->w->store, &f, before, limit, &items, &n, &next, &err)) != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ag_buf_putc(&b, ',');
        task_json(&b, &items[i]);
        ag_task_clear(&items[i]);
    }
    free(items);
    ag_http_page_end(&b, "", next);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
}

void ag_api_tasks_retry(ag_http_ctx_t *c)
{
    ag_worker_t *w = c->w;
    ag_task_t t = {0};
    ag_err_t err;
    int rc = w->store->ops->task_retry(w->store, c->id, &t, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        ag_task_clear(&t);
        return;
    }
    AG_LOG(AG_LOG_INFO, "task retried task=%lld request_id=%s", (long long)t.id, c->request_id);
    ag_engine_notify_queued(w->eng);
    send_task(c, 200, &t);
    ag_task_clear(&t);
}

void ag_api_task_json(ag_buf_t *b, const ag_task_t *t)
{
    task_json(b, t);
}
