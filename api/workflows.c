/*
 * workflows.c: /api/v1/workflows (create, list, get with its tasks and handoffs, cancel), GET /api/v1/handoffs,
 * and POST /api/v1/tasks/{id}/approve.
 */
#include <string.h>

#include "../engine/log.h"
#include "../engine/lua/request_workflows.h"
#include "http.h"

#define AG_LOG_MODULE "api"
#define WORKFLOW_TASKS_MAX 1000

static void workflow_json(ag_buf_t *b, const ag_workflow_t *w)
{
    ag_buf_printf(b, "{\"id\":%lld,\"status\":", (long long)w->id);
    ag_buf_json_strz(b, w->status);
    ag_buf_puts(b, ",\"start_type\":");
    ag_buf_json_strz(b, w->start_type);
    ag_buf_puts(b, ",\"start_domain\":");
    ag_buf_json_strz(b, w->start_domain);
    ag_buf_puts(b, ",\"input\":");
    ag_buf_puts(b, w->input ? w->input : "{}");
    ag_buf_puts(b, ",\"created_at\":");
    ag_buf_json_time(b, w->created_at);
    ag_buf_puts(b, ",\"updated_at\":");
    ag_buf_json_time(b, w->updated_at);
    ag_buf_puts(b, ",\"finished_at\":");
    ag_buf_json_time(b, w->finished_at);
    ag_buf_putc(b, '}');
}

static void handoff_json(ag_buf_t *b, const ag_handoff_t *h)
{
    ag_buf_printf(b, "{\"id\":%lld,\"name\":", (long long)h->id);
    ag_buf_json_strz(b, h->name);
    ag_buf_puts(b, ",\"from_domain\":");
    ag_buf_json_strz(b, h->from_domain);
    ag_buf_puts(b, ",\"to_domain\":");
    ag_buf_json_strz(b, h->to_domain);
    ag_buf_puts(b, ",\"to_type\":");
    ag_buf_json_strz(b, h->to_type);
    ag_buf_printf(b, ",\"source_task_id\":%lld,\"target_task_id\":", (long long)h->source_task_id);
    if (h->target_task_id > 0)
        ag_buf_printf(b, "%lld", (long long)h->target_task_id);
    else
        ag_buf_puts(b, "null");
    ag_buf_puts(b, ",\"workflow_id\":");
    ag_buf_json_strz(b, h->workflow_id);
    ag_buf_puts(b, ",\"status\":");
    ag_buf_json_strz(b, h->status);
    ag_buf_puts(b, ",\"reasons\":");
    ag_buf_puts(b, h->reasons ? h->reasons : "[]");
    ag_buf_puts(b, ",\"package\":");
    ag_buf_puts(b, h->package ? h->package : "null");
    ag_buf_puts(b, ",\"created_at\":");
    ag_buf_json_time(b, h->created_at);
    ag_buf_putc(b, '}');
}

void ag_api_workflows_create(ag_http_ctx_t *c)
{
    ag_worker_t *w = c->w;
    h2o_iovec_t body = c->req->entity;
    ag_create_req_t r;
    if (ag_rt_parse_workflow(w->rt, body.base, body.len, &r) != 0) {
        ag_http_send_body_error(c, &r.err);
        ag_create_req_clear(&r);
        return;
    }
    ag_workflow_t wf;
    int64_t task_id = 0;
    ag_err_t err;
    int rc = w->store->ops->workflow_create(w->store, r.type, r.domain, r.agent, r.max_attempts, r.input, &wf,
                                            &task_id, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        ag_create_req_clear(&r);
        return;
    }
    AG_LOG(AG_LOG_INFO, "workflow started workflow=%lld type=%s task=%lld request_id=%s", (long long)wf.id, r.type,
           (long long)task_id, c->request_id);
    ag_engine_notify_queued(w->eng);
    ag_buf_t b;
    ag_buf_init(&b);
    workflow_json(&b, &wf);
    b.len--; /* reopen the object */
    ag_buf_printf(&b, ",\"first_task_id\":%lld}", (long long)task_id);
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/v1/workflows/%lld", (long long)wf.id);
    ag_http_add_header(c, "Location", loc);
    ag_http_send_json(c, 201, b.data, b.len);
    ag_buf_free(&b);
    ag_workflow_clear(&wf);
    ag_create_req_clear(&r);
}

void ag_api_workflows_list(ag_http_ctx_t *c)
{
    char status[32], domain[256];
    const char *fs = NULL, *fd = NULL;
    int limit;
    int64_t before;
    if (ag_http_filter_str(c, "status", status, sizeof(status), &fs) < 0 ||
        ag_http_filter_str(c, "domain", domain, sizeof(domain), &fd) < 0 ||
        ag_http_page_params(c, "w", &limit, &before) != 0)
        return;
    if (fs && strcmp(fs, "running") != 0 && strcmp(fs, "completed") != 0 && strcmp(fs, "failed") != 0 &&
        strcmp(fs, "cancelled") != 0) {
        ag_http_send_error(c, 400, "bad_request", "status: must be one of running, completed, failed, cancelled",
                           NULL);
        return;
    }
    ag_workflow_t *items = NULL;
    size_t n = 0;
    ag_err_t err;
    int rc = c->w->store->ops->workflow_list(c->w->store, fs, fd, before, limit + 1, &items, &n, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_puts(&b, "{\"items\":[");
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    for (size_t i = 0; i < shown; i++) {
        if (i)
            ag_buf_putc(&b, ',');
        workflow_json(&b, &items[i]);
    }
    ag_http_page_end(&b, "w", n > (size_t)limit ? items[shown - 1].id : 0);
    for (size_t i = 0; i < n; i++)
        ag_workflow_clear(&items[i]);
    free(items);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
}

/* The workflow with its tasks (oldest first, with durations) and handoffs. */
void ag_api_workflows_get(ag_http_ctx_t *c)
{
    ag_store_t *st = c->w->store;
    ag_workflow_t wf;
    ag_err_t err;
    int rc = st->ops->workflow_get(st, c->id, &wf, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    char wid[24];
    snprintf(wid, sizeof(wid), "%lld", (long long)wf.id);
    /* tasks: the store lists newest first by pages; collect, then write oldest first */
    ag_task_t *all = NULL;
    size_t nall = 0;
    ag_task_filter_t f = {.state = -1, .workflow_id = wid};
    int64_t before = 0;
    do {
        ag_task_t *page = NULL;
        size_t n = 0;
        int64_t next = 0;
        if ((rc = st->ops->task_list(st, &f, before, AG_TASK_LIST_MAX, &page, &n, &next, &err)) != 0)
            break;
        all = ag_xrealloc(all, (nall + n + 1) * sizeof(*all));
        memcpy(all + nall, page, n * sizeof(*page));
        nall += n;
        free(page);
        before = next;
    } while (before > 0 && nall < WORKFLOW_TASKS_MAX);
    ag_handoff_t *hs = NULL;
    size_t nh = 0;
    ag_handoff_filter_t hf = {.workflow_id = wid};
    if (rc == 0)
        rc = st->ops->handoff_list(st, &hf, 0, WORKFLOW_TASKS_MAX, &hs, &nh, &err);
    if (rc != 0) {
        for (size_t i = 0; i < nall; i++)
            ag_task_clear(&all[i]);
        free(all);
        ag_workflow_clear(&wf);
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    workflow_json(&b, &wf);
    b.len--;
    int64_t end = wf.finished_at ? wf.finished_at : ag_now_ms();
    ag_buf_printf(&b, ",\"duration_ms\":%lld,\"tasks\":[", (long long)(end - wf.created_at));
    for (size_t k = nall; k-- > 0;) {
        ag_task_t *t = &all[k];
        if (k + 1 != nall)
            ag_buf_putc(&b, ',');
        ag_api_task_json(&b, t);
        b.len--;
        ag_buf_puts(&b, ",\"duration_ms\":");
        if (t->started_at && t->finished_at)
            ag_buf_printf(&b, "%lld}", (long long)(t->finished_at - t->started_at));
        else
            ag_buf_puts(&b, "null}");
        ag_task_clear(t);
    }
    free(all);
    ag_buf_puts(&b, "],\"handoffs\":[");
    for (size_t i = 0; i < nh; i++) {
        if (i)
            ag_buf_putc(&b, ',');
        handoff_json(&b, &hs[i]);
    }
    ag_handoffs_free(hs, nh);
    ag_buf_puts(&b, "]}");
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_workflow_clear(&wf);
}

void ag_api_workflows_cancel(ag_http_ctx_t *c)
{
    ag_worker_t *w = c->w;
    ag_workflow_t wf;
    size_t running = 0;
    ag_err_t err;
    int rc = w->store->ops->workflow_cancel(w->store, c->id, &wf, &running, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        if (rc == AG_ESTATE)
            ag_workflow_clear(&wf);
        return;
    }
    AG_LOG(AG_LOG_INFO, "workflow cancelled workflow=%lld running_tasks=%zu request_id=%s", (long long)wf.id, running,
           c->request_id);
    if (running > 0)
        ag_engine_notify_cancel(w->eng);
    ag_buf_t b;
    ag_buf_init(&b);
    workflow_json(&b, &wf);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_workflow_clear(&wf);
}

void ag_api_handoffs_list(ag_http_ctx_t *c)
{
    char from[256], to[256], status[32], wf[256];
    ag_handoff_filter_t f = {0};
    int limit;
    int64_t after;
    if (ag_http_filter_str(c, "from", from, sizeof(from), &f.from_domain) < 0 ||
        ag_http_filter_str(c, "to", to, sizeof(to), &f.to_domain) < 0 ||
        ag_http_filter_str(c, "status", status, sizeof(status), &f.status) < 0 ||
        ag_http_filter_str(c, "workflow_id", wf, sizeof(wf), &f.workflow_id) < 0 ||
        ag_http_page_params(c, "h", &limit, &after) != 0)
        return;
    if (f.status && strcmp(f.status, "accepted") != 0 && strcmp(f.status, "rejected") != 0) {
        ag_http_send_error(c, 400, "bad_request", "status: must be accepted or rejected", NULL);
        return;
    }
    ag_handoff_t *items = NULL;
    size_t n = 0;
    ag_err_t err;
    int rc = c->w->store->ops->handoff_list(c->w->store, &f, after, limit + 1, &items, &n, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_puts(&b, "{\"items\":[");
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    for (size_t i = 0; i < shown; i++) {
        if (i)
            ag_buf_putc(&b, ',');
        handoff_json(&b, &items[i]);
    }
    ag_http_page_end(&b, "h", n > (size_t)limit ? items[shown - 1].id : 0);
    ag_handoffs_free(items, n);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
}

void ag_api_tasks_approve(ag_http_ctx_t *c)
{
    ag_worker_t *w = c->w;
    h2o_iovec_t body = c->req->entity;
    ag_approve_req_t r;
    if (ag_rt_parse_approve(w->rt, body.base, body.len, &r) != 0) {
        ag_http_send_body_error(c, &r.err);
        ag_approve_req_clear(&r);
        return;
    }
    ag_task_t t = {0};
    ag_err_t err;
    int rc = w->store->ops->task_approve(w->store, c->id, r.approve, r.comment, c->subject, &t, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        ag_task_clear(&t);
        ag_approve_req_clear(&r);
        return;
    }
    AG_LOG(AG_LOG_INFO, "task %s task=%lld by=%s request_id=%s", r.approve ? "approved" : "rejected", (long long)t.id,
           c->subject ? c->subject : "", c->request_id);
    ag_engine_notify_queued(w->eng);
    ag_buf_t b;
    ag_buf_init(&b);
    ag_api_task_json(&b, &t);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_task_clear(&t);
    ag_approve_req_clear(&r);
}

/* GET /api/v1/tasks/{id}/approval: what the task asked a human (its newest task.approve{}), and the decision */
void ag_api_tasks_approval(ag_http_ctx_t *c)
{
    ag_store_t *st = c->w->store;
    ag_task_t t = {0};
    ag_err_t err;
    int rc = st->ops->task_get(st, c->id, &t, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_task_clear(&t);
    ag_approval_t a;
    if ((rc = st->ops->approval_get(st, c->id, 0, &a, &err)) != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_printf(&b, "{\"task_id\":%lld,\"seq\":%d,\"status\":", (long long)a.task_id, a.seq);
    ag_buf_json_strz(&b, a.status);
    ag_buf_puts(&b, ",\"reason\":");
    ag_buf_json_strz(&b, a.reason);
    ag_buf_puts(&b, ",\"data\":");
    ag_buf_puts(&b, a.data ? a.data : "null");
    ag_buf_puts(&b, ",\"comment\":");
    ag_buf_json_strz(&b, a.comment);
    ag_buf_puts(&b, ",\"decided_by\":");
    ag_buf_json_strz(&b, a.decided_by);
    ag_buf_puts(&b, ",\"requested_at\":");
    ag_buf_json_time(&b, a.requested_at);
    ag_buf_puts(&b, ",\"decided_at\":");
    ag_buf_json_time(&b, a.decided_at);
    ag_buf_putc(&b, '}');
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_approval_clear(&a);
}
