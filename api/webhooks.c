/*
 * webhooks.c: webhooks in both directions (docs/api.md "Webhooks").
 *
 * Incoming, /api/v1/webhooks/...: external systems report results. They are public for JWT purposes;
 * the signature (engine/webhooks.h, secret AGENCY_WEBHOOK_SECRET) is their authentication, checked
 * before the body is read. POST /webhooks/task/status ends a waiting task (succeeded/failed: store
 * task_finish_waiting) or decides its approval (approved/rejected: it resumes); POST
 * /webhooks/workflow/completed records a workflow.completed event and starts the feedback domain's entry
 * task on its `data` (the agency loop's Fulfillment -> Feedback step for work tracked outside the engine).
 *
 * Outgoing, /api/v1/webhook-subscriptions (scope admin): CRUD of subscriptions and their delivery log.
 * Sending is engine/webhooks.c's, on its own thread. Bodies are checked to be JSON objects in the
 * worker's Lua state (engine/lua/request_webhooks.c) and read here with json_scan.
 */
#include <string.h>
#include <strings.h>

#include "../engine/events.h"
#include "../engine/json_scan.h"
#include "../engine/log.h"
#include "../engine/lua/request_webhooks.h"
#include "../engine/lua/request_workflows.h"
#include "../engine/webhooks.h"
#include "../engine/b64url.h"
#include "http.h"

#define AG_LOG_MODULE "api"

#define LIST_DEFAULT 50
#define URL_MAX 2048
#define SECRET_MIN 16
#define SECRET_MAX 500

/* ---- shared -------------------------------------------------------------------------------------------------- */

/* Checks the body is a JSON object; answers and returns -1 when not. */
static int body_object(ag_http_ctx_t *c)
{
    ag_body_error_t e;
    if (ag_rt_check_object(c->w->rt, c->req->entity.base, c->req->entity.len, &e) == 0)
        return 0;
    ag_http_send_body_error(c, &e);
    ag_body_error_clear(&e);
    return -1;
}

/* Adds one {field, message} to a details array being built in d. */
static void detail(ag_buf_t *d, const char *field, const char *message)
{
    ag_buf_putc(d, d->len == 0 ? '[' : ',');
    ag_buf_puts(d, "{\"field\":");
    ag_buf_json_strz(d, field);
    ag_buf_puts(d, ",\"message\":");
    ag_buf_json_strz(d, message);
    ag_buf_putc(d, '}');
}

/* Answers 422 with the details in d when there are any; returns -1 then. */
static int send_details(ag_http_ctx_t *c, ag_buf_t *d)
{
    if (d->len == 0)
        return 0;
    ag_buf_putc(d, ']');
    ag_http_send_error(c, 422, "validation_failed", "the body has invalid fields (see details)", d->data);
    ag_buf_free(d);
    return -1;
}

typedef struct member_s {
    const char *v; /* the raw value, or NULL when absent or null */
    size_t len;
} member_t;

static member_t member(ag_http_ctx_t *c, const char *key)
{
    member_t m = {NULL, 0};
    size_t s, l;
    const char *body = c->req->entity.base;
    if (ag_json_member(body, c->req->entity.len, key, &s, &l) && l > 0 && !(l == 4 && memcmp(body + s, "null", 4) == 0)) {
        m.v = body + s;
        m.len = l;
    }
    return m;
}

/* A string member into out (NUL-terminated): 1, 0 absent, -1 not a string or longer than outsz - 1. */
static int member_str(member_t m, char *out, size_t outsz)
{
    if (m.v == NULL)
        return 0;
    if (m.v[0] != '"' || ag_json_string(m.v, m.len, out, outsz) != 0)
        return -1;
    /* a decoded string never grows: a value spelt in fewer bytes than outsz fits */
    if (m.len - 2 >= outsz && strlen(out) >= outsz - 1)
        return -1;
    return 1;
}

/* The opaque page cursor: base64url (unpadded) of "wh:<id>" (engine/b64url.h). */

/* cursor and limit of a list request: 0, or -1 after answering 400. */
static int page_params(ag_http_ctx_t *c, int64_t *after, int *limit)
{
    char cur[64];
    double l = LIST_DEFAULT;
    int has_limit = ag_http_query_num(c->req, "limit", 1, AG_WEBHOOK_LIST_MAX, &l);
    if (has_limit < 0 || l != (double)(int)l) {
        ag_http_send_error(c, 400, "bad_request", "limit: must be an integer from 1 to 200", NULL);
        return -1;
    }
    *limit = (int)l;
    *after = 0;
    int has_cursor = ag_http_query_str(c->req, "cursor", cur, sizeof(cur));
    if (has_cursor < 0 || (has_cursor && (*after = ag_cursor_decode(cur, "wh:")) < 0)) {
        ag_http_send_error(c, 400, "bad_request", "cursor: not a cursor this API returned", NULL);
        return -1;
    }
    return 0;
}

/* ---- incoming ------------------------------------------------------------------------------------------------ */

/* The signature check of an incoming webhook: 0, or -1 after answering 503/401. */
static int verify(ag_http_ctx_t *c)
{
    const char *secret = c->w->eng->cfg.webhook_secret;
    if (secret[0] == '\0') {
        ag_http_send_error(c, 503, "not_configured", "incoming webhooks are off: AGENCY_WEBHOOK_SECRET is not set",
                           NULL);
        return -1;
    }
    h2o_req_t *req = c->req;
    ssize_t ti = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-agency-timestamp"), -1);
    ssize_t si = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-agency-signature"), -1);
    if (ti < 0 || si < 0) {
        ag_http_send_error(c, 401, "bad_signature", "send X-Agency-Timestamp and X-Agency-Signature (docs/api.md)",
                           NULL);
        return -1;
    }
    h2o_iovec_t ts = req->headers.entries[ti].value, sig = req->headers.entries[si].value;
    int rc = ag_webhook_verify(secret, ts.base, ts.len, sig.base, sig.len, req->entity.base,
                               req->entity.base ? req->entity.len : 0, ag_now_ms() / 1000);
    if (rc == AG_WEBHOOK_OK)
        return 0;
    AG_LOG(AG_LOG_INFO, "webhook refused request_id=%s route=%s reason=%s", c->request_id, c->route,
           rc == AG_WEBHOOK_STALE ? "stale_timestamp" : "bad_signature");
    if (rc == AG_WEBHOOK_STALE)
        ag_http_send_error(c, 401, "stale_timestamp",
                           "X-Agency-Timestamp must be Unix seconds within 300 s of the server's clock", NULL);
    else
        ag_http_send_error(c, 401, "bad_signature", "the signature does not match the body and timestamp", NULL);
    return -1;
}

void ag_api_webhook_task_status(ag_http_ctx_t *c)
{
    if (verify(c) != 0 || body_object(c) != 0)
        return;
    ag_buf_t d;
    ag_buf_init(&d);
    double id = 0;
    member_t m = member(c, "task_id");
    if (m.v == NULL || ag_json_number(m.v, m.len, &id) != 0 || !(id >= 1 && id <= 9e15) || id != (double)(int64_t)id)
        detail(&d, "task_id", "required, a task id (a positive integer)");
    char status[16];
    int st = member_str(member(c, "status"), status, sizeof(status));
    int ok = st == 1 && strcmp(status, "succeeded") == 0;
    int decide = st == 1 && (strcmp(status, "approved") == 0 || strcmp(status, "rejected") == 0);
    if (st != 1 || (!ok && !decide && strcmp(status, "failed") != 0))
        detail(&d, "status", "required: \"succeeded\" or \"failed\" (the external work is done), or \"approved\" "
                             "or \"rejected\" (decides a task waiting for an approval: it resumes)");
    char comment[2048];
    int has_comment = member_str(member(c, "comment"), comment, sizeof(comment));
    if (has_comment < 0)
        detail(&d, "comment", "must be a string of at most 2000 bytes");
    member_t result = member(c, "result");
    if (result.v != NULL && result.v[0] != '{')
        detail(&d, "result", "must be a JSON object");
    char error[1024];
    int has_error = member_str(member(c, "error"), error, sizeof(error));
    if (has_error < 0)
        detail(&d, "error", "must be a string of at most 1000 bytes");
    if (send_details(c, &d) != 0)
        return;

    ag_store_t *s = c->w->store;
    ag_task_t t;
    ag_err_t err;
    if (decide) { /* like POST /tasks/{id}/approve, decided by the external system */
        int drc = s->ops->task_approve(s, (int64_t)id, strcmp(status, "approved") == 0,
                                       has_comment == 1 ? comment : NULL, "webhook", &t, &err);
        if (drc != 0) {
            if (drc == AG_ESTATE)
                ag_task_clear(&t);
            ag_http_send_store_error(c, drc, &err);
            return;
        }
        AG_LOG(AG_LOG_INFO, "task %s by webhook task=%lld request_id=%s", status, (long long)t.id, c->request_id);
        ag_engine_notify_queued(c->w->eng);
        ag_buf_t b;
        ag_buf_init(&b);
        ag_api_task_json(&b, &t);
        ag_http_send_json(c, 200, b.data, b.len);
        ag_buf_free(&b);
        ag_task_clear(&t);
        return;
    }
    int rc = s->ops->task_get(s, (int64_t)id, &t, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    int attempts = t.attempts;
    ag_task_clear(&t);
    char *res = result.v ? ag_xstrndup(result.v, result.len) : NULL;
    int64_t retry_at = ag_now_ms() + ag_queue_backoff_ms(attempts, 1000, 300000, (double)(ag_now_ms() % 1000) / 1000);
    rc = s->ops->task_finish_waiting(s, (int64_t)id, ok, res ? res : "{}",
                                     has_error == 1 ? error : "the external work failed (reported by webhook)",
                                     retry_at, &t, &err);
    free(res);
    if (rc != 0) {
        if (rc == AG_ESTATE)
            ag_task_clear(&t);
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    AG_LOG(AG_LOG_INFO, "task finished by webhook task=%lld state=%s request_id=%s", (long long)t.id,
           ag_task_state_name(t.state), c->request_id);
    if (t.state == AG_TASK_FAILED)
        ag_engine_notify_queued(c->w->eng); /* its retry is a normal claim */
    else
        ag_engine_tasks_finished(c->w->eng, &t.id, 1);
    ag_buf_t b;
    ag_buf_init(&b);
    ag_api_task_json(&b, &t);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_task_clear(&t);
}

void ag_api_webhook_workflow_completed(ag_http_ctx_t *c)
{
    if (verify(c) != 0 || body_object(c) != 0)
        return;
    ag_buf_t d;
    ag_buf_init(&d);
    char wf[256], status[128];
    member_t m = member(c, "workflow_id");
    int wst = member_str(m, wf, sizeof(wf));
    double num;
    if (wst == -1 && m.v != NULL && ag_json_number(m.v, m.len, &num) == 0 && num >= 1 && num <= 9e15 &&
        num == (double)(int64_t)num) {
        snprintf(wf, sizeof(wf), "%lld", (long long)num);
        wst = 1;
    }
    if (wst != 1 || wf[0] == '\0')
        detail(&d, "workflow_id", "required, a string of 1 to 255 bytes or a positive integer");
    int has_status = member_str(member(c, "status"), status, sizeof(status));
    if (has_status < 0)
        detail(&d, "status", "must be a string of at most 127 bytes");
    member_t data = member(c, "data");
    if (data.v != NULL && data.v[0] != '{')
        detail(&d, "data", "must be a JSON object");
    if (send_details(c, &d) != 0)
        return;
    /* The loop closes here: a completed project goes to the feedback domain's entry task, with `data` as its
     * input, in a workflow of its own. A domain without an entry task (or no feedback domain) only records. */
    ag_create_req_t fb;
    memset(&fb, 0, sizeof(fb));
    int trigger = 0;
    if (data.v != NULL) {
        ag_buf_t body;
        ag_buf_init(&body);
        ag_buf_puts(&body, "{\"start\":\"feedback\",\"input\":");
        ag_buf_put(&body, data.v, data.len);
        ag_buf_putc(&body, '}');
        int prc = ag_rt_parse_workflow(c->w->rt, body.data, body.len, &fb);
        ag_buf_free(&body);
        if (prc != 0 && fb.err.code != NULL && strcmp(fb.err.code, "unknown_task_type") != 0) {
            ag_http_send_body_error(c, &fb.err); /* data does not fit the feedback entry's input schema */
            ag_create_req_clear(&fb);
            return;
        }
        trigger = prc == 0;
    }
    ag_buf_t ev;
    ag_buf_init(&ev);
    ag_buf_puts(&ev, "{\"workflow_id\":");
    ag_buf_json_strz(&ev, wf);
    ag_buf_puts(&ev, ",\"status\":");
    ag_buf_json_strz(&ev, has_status == 1 ? status : NULL);
    ag_buf_puts(&ev, ",\"data\":");
    if (data.v != NULL)
        ag_buf_put(&ev, data.v, data.len);
    else
        ag_buf_puts(&ev, "null");
    ag_buf_putc(&ev, '}');
    int64_t event_id = 0;
    ag_err_t err;
    ag_store_t *s = c->w->store;
    int rc = s->ops->event_add(s, "workflow.completed", NULL, ev.data, &event_id, &err);
    ag_buf_free(&ev);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    AG_LOG(AG_LOG_INFO, "workflow completed reported workflow=%s event=%lld request_id=%s", wf, (long long)event_id,
           c->request_id);
    int64_t feedback_wf = 0, task_id = 0;
    if (trigger) {
        ag_workflow_t w;
        if (s->ops->workflow_create(s, fb.type, fb.domain, fb.agent, fb.max_attempts, fb.input, &w, &task_id, &err) ==
            0) {
            feedback_wf = w.id;
            ag_workflow_clear(&w);
            ag_engine_notify_queued(c->w->eng);
            AG_LOG(AG_LOG_INFO, "feedback started workflow=%lld type=%s for_workflow=%s", (long long)feedback_wf,
                   fb.type, wf);
        } else {
            AG_LOG(AG_LOG_ERROR, "feedback not started for_workflow=%s error=%s", wf, err.msg);
        }
    }
    ag_create_req_clear(&fb);
    ag_webhooks_wake(c->w->eng);
    char body[160];
    int n = feedback_wf ? snprintf(body, sizeof(body), "{\"recorded\":true,\"event_id\":%lld,\"feedback_workflow_id\":%lld}",
                                   (long long)event_id, (long long)feedback_wf)
                        : snprintf(body, sizeof(body), "{\"recorded\":true,\"event_id\":%lld,\"feedback_workflow_id\":null}",
                                   (long long)event_id);
    ag_http_send_json(c, 202, body, (size_t)n);
}

/* ---- subscriptions ------------------------------------------------------------------------------------------- */

static void sub_json(ag_buf_t *b, const ag_webhook_sub_t *w)
{
    ag_buf_printf(b, "{\"id\":%lld,\"url\":", (long long)w->id);
    ag_buf_json_strz(b, w->url);
    ag_buf_puts(b, ",\"events\":");
    ag_buf_puts(b, w->events ? w->events : "[]"); /* canonical JSON, written by this file */
    ag_buf_printf(b, ",\"active\":%s,\"has_secret\":%s,\"created_at\":", w->active ? "true" : "false",
                  w->secret && w->secret[0] ? "true" : "false");
    ag_buf_json_time(b, w->created_at);
    ag_buf_puts(b, ",\"updated_at\":");
    ag_buf_json_time(b, w->updated_at);
    ag_buf_putc(b, '}');
}

static void send_sub(ag_http_ctx_t *c, int status, const ag_webhook_sub_t *w)
{
    ag_buf_t b;
    ag_buf_init(&b);
    sub_json(&b, w);
    ag_http_send_json(c, status, b.data, b.len);
    ag_buf_free(&b);
}

/* 1 when url is an absolute http(s) URL with a host and no spaces or control characters. */
static int url_ok(const char *url)
{
    size_t skip = strncasecmp(url, "http://", 7) == 0 ? 7 : strncasecmp(url, "https://", 8) == 0 ? 8 : 0;
    if (skip == 0 || url[skip] == '\0' || url[skip] == '/' || url[skip] == ':' || url[skip] == '?' ||
        url[skip] == '#')
        return 0;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

typedef struct sub_body_s {
    char url[URL_MAX + 2];
    char secret[SECRET_MAX + 2];
    int has_secret, active;
    ag_buf_t events; /* canonical JSON array */
} sub_body_t;

/* Reads and checks a subscription body; 0, or -1 after answering. The secret is required when
 * need_secret. b->events must be freed whatever the result. */
static int parse_sub(ag_http_ctx_t *c, sub_body_t *b, int need_secret)
{
    ag_buf_init(&b->events);
    if (body_object(c) != 0)
        return -1;
    ag_buf_t d;
    ag_buf_init(&d);
    int u = member_str(member(c, "url"), b->url, sizeof(b->url));
    if (u != 1 || !url_ok(b->url))
        detail(&d, "url", "required, an absolute http:// or https:// URL of at most 2048 bytes");
    member_t ev = member(c, "events");
    int ev_ok = ev.v != NULL && ev.v[0] == '[';
    size_t pos = 0, es, el, count = 0;
    ag_buf_putc(&b->events, '[');
    while (ev_ok && ag_json_array_next(ev.v, ev.len, &pos, &es, &el)) {
        char pat[128];
        member_t item = {ev.v + es, el};
        if (member_str(item, pat, sizeof(pat)) != 1 || pat[0] == '\0' || strchr(pat, ',') != NULL ||
            ag_event_patterns_check(pat) != 0 || count >= 100) {
            ev_ok = 0;
            break;
        }
        if (count++ > 0)
            ag_buf_putc(&b->events, ',');
        ag_buf_json_strz(&b->events, pat);
    }
    ag_buf_putc(&b->events, ']');
    if (!ev_ok || count == 0)
        detail(&d, "events", "required, 1 to 100 event type patterns such as \"task.*\" or \"agent.created\" "
                             "(letters, digits, '_', '.', and '*' only at the end)");
    b->has_secret = member_str(member(c, "secret"), b->secret, sizeof(b->secret));
    size_t sl = b->has_secret == 1 ? strlen(b->secret) : 0;
    if (b->has_secret < 0 || (b->has_secret == 1 && (sl < SECRET_MIN || sl > SECRET_MAX)) ||
        (need_secret && b->has_secret != 1))
        detail(&d, "secret", need_secret ? "required, a string of 16 to 500 bytes"
                                         : "a string of 16 to 500 bytes (omit it to keep the current one)");
    member_t a = member(c, "active");
    b->active = 1;
    if (a.v != NULL) {
        if (a.len == 4 && memcmp(a.v, "true", 4) == 0)
            b->active = 1;
        else if (a.len == 5 && memcmp(a.v, "false", 5) == 0)
            b->active = 0;
        else
            detail(&d, "active", "must be true or false");
    }
    return send_details(c, &d);
}

void ag_api_webhook_subs_create(ag_http_ctx_t *c)
{
    sub_body_t b;
    if (parse_sub(c, &b, 1) != 0) {
        ag_buf_free(&b.events);
        return;
    }
    ag_webhook_sub_new_t n = {b.url, b.events.data, b.secret, b.active};
    ag_webhook_sub_t w;
    ag_err_t err;
    int rc = c->w->store->ops->webhook_sub_create(c->w->store, &n, &w, &err);
    ag_buf_free(&b.events);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    AG_LOG(AG_LOG_INFO, "webhook subscription created id=%lld url=%s events=%s request_id=%s", (long long)w.id, w.url,
           w.events, c->request_id);
    ag_webhooks_wake(c->w->eng);
    send_sub(c, 201, &w);
    ag_webhook_sub_clear(&w);
}

void ag_api_webhook_subs_list(ag_http_ctx_t *c)
{
    int64_t after;
    int limit;
    if (page_params(c, &after, &limit) != 0)
        return;
    ag_webhook_sub_t *items;
    size_t n;
    int64_t next;
    ag_err_t err;
    int rc = c->w->store->ops->webhook_sub_list(c->w->store, after, limit, &items, &n, &next, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ag_buf_putc(&b, ',');
        sub_json(&b, &items[i]);
    }
    ag_buf_puts(&b, "],\"next_cursor\":");
    if (next > 0)
        ag_buf_putc(&b, '"'), ag_cursor_encode(&b, "wh:", next), ag_buf_putc(&b, '"');
    else
        ag_buf_puts(&b, "null");
    ag_buf_putc(&b, '}');
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_webhook_subs_free(items, n);
}

void ag_api_webhook_subs_get(ag_http_ctx_t *c)
{
    ag_webhook_sub_t w;
    ag_err_t err;
    int rc = c->w->store->ops->webhook_sub_get(c->w->store, c->id, &w, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    send_sub(c, 200, &w);
    ag_webhook_sub_clear(&w);
}

void ag_api_webhook_subs_replace(ag_http_ctx_t *c)
{
    sub_body_t b;
    if (parse_sub(c, &b, 0) != 0) {
        ag_buf_free(&b.events);
        return;
    }
    ag_webhook_sub_new_t n = {b.url, b.events.data, b.has_secret == 1 ? b.secret : NULL, b.active};
    ag_webhook_sub_t w;
    ag_err_t err;
    int rc = c->w->store->ops->webhook_sub_replace(c->w->store, c->id, &n, &w, &err);
    ag_buf_free(&b.events);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    AG_LOG(AG_LOG_INFO, "webhook subscription replaced id=%lld url=%s events=%s active=%d request_id=%s",
           (long long)w.id, w.url, w.events, w.active, c->request_id);
    ag_webhooks_wake(c->w->eng);
    send_sub(c, 200, &w);
    ag_webhook_sub_clear(&w);
}

void ag_api_webhook_subs_delete(ag_http_ctx_t *c)
{
    ag_err_t err;
    int rc = c->w->store->ops->webhook_sub_delete(c->w->store, c->id, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    AG_LOG(AG_LOG_INFO, "webhook subscription deleted id=%lld request_id=%s", (long long)c->id, c->request_id);
    ag_http_send_json(c, 204, "", 0);
}

void ag_api_webhook_deliveries(ag_http_ctx_t *c)
{
    int64_t after;
    int limit;
    if (page_params(c, &after, &limit) != 0)
        return;
    ag_webhook_delivery_t *items;
    size_t n;
    int64_t next;
    ag_err_t err;
    int rc = c->w->store->ops->webhook_deliveries(c->w->store, c->id, after, limit, &items, &n, &next, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        const ag_webhook_delivery_t *dl = &items[i];
        if (i > 0)
            ag_buf_putc(&b, ',');
        ag_buf_printf(&b, "{\"id\":%lld,\"subscription_id\":%lld,\"event_id\":%lld,\"attempt\":%d,\"status\":",
                      (long long)dl->id, (long long)dl->subscription_id, (long long)dl->event_id, dl->attempt);
        ag_buf_json_strz(&b, dl->status);
        if (dl->http_status > 0)
            ag_buf_printf(&b, ",\"http_status\":%d", dl->http_status);
        else
            ag_buf_puts(&b, ",\"http_status\":null");
        ag_buf_puts(&b, ",\"error\":");
        ag_buf_json_strz(&b, dl->error);
        ag_buf_puts(&b, ",\"next_attempt_at\":");
        ag_buf_json_time(&b, strcmp(dl->status, "pending") == 0 ? dl->next_attempt_at : 0);
        ag_buf_puts(&b, ",\"created_at\":");
        ag_buf_json_time(&b, dl->created_at);
        ag_buf_puts(&b, ",\"delivered_at\":");
        ag_buf_json_time(&b, dl->delivered_at);
        ag_buf_putc(&b, '}');
    }
    ag_buf_puts(&b, "],\"next_cursor\":");
    if (next > 0)
        ag_buf_putc(&b, '"'), ag_cursor_encode(&b, "wh:", next), ag_buf_putc(&b, '"');
    else
        ag_buf_puts(&b, "null");
    ag_buf_putc(&b, '}');
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_webhook_deliveries_free(items, n);
}
