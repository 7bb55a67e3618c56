/*
 * agents.c: the /api/v1/agents resource: list (filters, cursor pages), create, get (with live task
 * figures), replace, delete.
 *
 * Bodies are parsed in the worker's Lua state (engine/lua/request_agents.c); records live in the store
 * (store.h agent_*). Pausing works in the claim itself (store_sqlite.c): a paused record's tasks stay
 * queued. So whatever may release such tasks (a record set back to active, or deleted) wakes the
 * workers.
 */
#include <string.h>

#include "../engine/events.h"
#include "../engine/log.h"
#include "../engine/lua/request_agents.h"
#include "http.h"

#define AG_LOG_MODULE "api"

#define LIST_DEFAULT 50

static void agent_json(ag_buf_t *b, const ag_agent_t *a, const ag_agent_stats_t *st)
{
    ag_buf_printf(b, "{\"id\":%lld,\"name\":", (long long)a->id);
    ag_buf_json_strz(b, a->name);
    ag_buf_puts(b, ",\"domain\":");
    ag_buf_json_strz(b, a->domain);
    ag_buf_puts(b, ",\"script\":");
    ag_buf_json_strz(b, a->script);
    /* stored JSON texts, checked on the way in */
    ag_buf_puts(b, ",\"capabilities\":");
    ag_buf_puts(b, a->capabilities ? a->capabilities : "[]");
    ag_buf_puts(b, ",\"tools\":");
    ag_buf_puts(b, a->tools ? a->tools : "[]");
    ag_buf_puts(b, ",\"config\":");
    ag_buf_puts(b, a->config ? a->config : "{}");
    ag_buf_puts(b, ",\"status\":");
    ag_buf_json_strz(b, a->status);
    ag_buf_puts(b, ",\"created_at\":");
    ag_buf_json_time(b, a->created_at);
    ag_buf_puts(b, ",\"updated_at\":");
    ag_buf_json_time(b, a->updated_at);
    if (st != NULL) {
        ag_buf_printf(b, ",\"stats\":{\"running\":%lld,\"succeeded\":%lld,\"failed\":%lld,\"last_error\":",
                      (long long)st->running, (long long)st->succeeded, (long long)st->failed);
        ag_buf_json_strz(b, st->last_error);
        ag_buf_puts(b, ",\"last_error_at\":");
        ag_buf_json_time(b, st->last_error_at);
        ag_buf_putc(b, '}');
    }
    ag_buf_putc(b, '}');
}

static void send_agent(ag_http_ctx_t *c, int status, const ag_agent_t *a, const ag_agent_stats_t *st)
{
    ag_buf_t b;
    ag_buf_init(&b);
    agent_json(&b, a, st);
    ag_http_send_json(c, status, b.data, b.len);
    ag_buf_free(&b);
}

/* Parses the body; on failure answers and returns -1. */
static int parse_body(ag_http_ctx_t *c, ag_agent_req_t *r)
{
    if (ag_rt_parse_agent(c->w->rt, c->req->entity.base, c->req->entity.len, r) == 0)
        return 0;
    ag_http_send_body_error(c, &r->err);
    ag_agent_req_clear(r);
    return -1;
}

void ag_api_agents_list(ag_http_ctx_t *c)
{
    h2o_req_t *req = c->req;
    char domain[128], status[16], cursor[128];
    int has_domain = ag_http_query_str(req, "domain", domain, sizeof(domain));
    int has_status = ag_http_query_str(req, "status", status, sizeof(status));
    int has_cursor = ag_http_query_str(req, "cursor", cursor, sizeof(cursor));
    double limit = LIST_DEFAULT;
    int has_limit = ag_http_query_num(req, "limit", 1, AG_AGENT_LIST_MAX, &limit);
    if (has_limit < 0 || limit != (double)(int)limit) {
        ag_http_send_error(c, 400, "bad_request", "limit: must be an integer from 1 to 200", NULL);
        return;
    }
    if (has_domain < 0 || (has_domain && domain[0] == '\0')) {
        ag_http_send_error(c, 400, "bad_request", "domain: must be a domain name", NULL);
        return;
    }
    if (has_status < 0 || (has_status && strcmp(status, "active") != 0 && strcmp(status, "paused") != 0)) {
        ag_http_send_error(c, 400, "bad_request", "status: must be active or paused", NULL);
        return;
    }
    if (has_cursor < 0 || (has_cursor && cursor[0] == '\0')) {
        ag_http_send_error(c, 400, "bad_request", "cursor: not a cursor this API returned", NULL);
        return;
    }
    ag_agent_t *items = NULL;
    size_t n = 0;
    char *next = NULL;
    ag_err_t err;
    int rc = c->w->store->ops->agent_list(c->w->store, has_domain ? domain : NULL, has_status ? status : NULL,
                                          has_cursor ? cursor : NULL, (int)limit, &items, &n, &next, &err);
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
        agent_json(&b, &items[i], NULL);
    }
    ag_buf_puts(&b, "],\"next_cursor\":");
    ag_buf_json_strz(&b, next);
    ag_buf_putc(&b, '}');
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_agents_free(items, n);
    free(next);
}

/* agent.created / agent.updated / agent.deleted in the event log (GET /api/v1/events, webhooks). */
static void emit_agent_event(ag_http_ctx_t *c, const char *type, const ag_agent_t *a)
{
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_printf(&b, "{\"id\":%lld,\"name\":", (long long)a->id);
    ag_buf_json_strz(&b, a->name);
    ag_buf_puts(&b, ",\"domain\":");
    ag_buf_json_strz(&b, a->domain);
    ag_buf_puts(&b, ",\"script\":");
    ag_buf_json_strz(&b, a->script);
    ag_buf_puts(&b, ",\"status\":");
    ag_buf_json_strz(&b, a->status);
    ag_buf_putc(&b, '}');
    ag_event_emit(c->w->store, type, a->domain, b.data);
    ag_buf_free(&b);
}

void ag_api_agents_create(ag_http_ctx_t *c)
{
    ag_agent_req_t r;
    if (parse_body(c, &r) != 0)
        return;
    ag_agent_new_t n = ag_agent_req_new(&r);
    ag_agent_t a;
    ag_err_t err;
    int rc = c->w->store->ops->agent_create(c->w->store, &n, &a, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
    } else {
        AG_LOG(AG_LOG_INFO, "agent created id=%lld domain=%s name=%s script=%s status=%s request_id=%s",
               (long long)a.id, a.domain, a.name, a.script, a.status, c->request_id);
        emit_agent_event(c, "agent.created", &a);
        send_agent(c, 201, &a, NULL);
        ag_agent_clear(&a);
    }
    ag_agent_req_clear(&r);
}

void ag_api_agents_get(ag_http_ctx_t *c)
{
    ag_store_t *s = c->w->store;
    ag_agent_t a;
    ag_agent_stats_t st;
    ag_err_t err;
    int rc = s->ops->agent_get(s, c->id, &a, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    if ((rc = s->ops->agent_stats(s, c->id, &st, &err)) != 0) {
        ag_http_send_store_error(c, rc, &err); /* a delete in between: 404 */
        ag_agent_clear(&a);
        return;
    }
    send_agent(c, 200, &a, &st);
    ag_agent_stats_clear(&st);
    ag_agent_clear(&a);
}

void ag_api_agents_replace(ag_http_ctx_t *c)
{
    ag_agent_req_t r;
    if (parse_body(c, &r) != 0)
        return;
    ag_agent_new_t n = ag_agent_req_new(&r);
    ag_agent_t a;
    ag_err_t err;
    int was_paused = 0;
    int rc = c->w->store->ops->agent_replace(c->w->store, c->id, &n, &a, &was_paused, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
    } else {
        AG_LOG(AG_LOG_INFO, "agent replaced id=%lld domain=%s name=%s script=%s status=%s request_id=%s",
               (long long)a.id, a.domain, a.name, a.script, a.status, c->request_id);
        /* The tasks this record held back (its old script, or the same one now active) may run. */
        if (was_paused)
            ag_engine_notify_queued(c->w->eng);
        emit_agent_event(c, "agent.updated", &a);
        send_agent(c, 200, &a, NULL);
        ag_agent_clear(&a);
    }
    ag_agent_req_clear(&r);
}

void ag_api_agents_delete(ag_http_ctx_t *c)
{
    char force[8];
    int has_force = ag_http_query_str(c->req, "force", force, sizeof(force));
    if (has_force < 0 || (has_force && strcmp(force, "true") != 0 && strcmp(force, "false") != 0)) {
        ag_http_send_error(c, 400, "bad_request", "force: must be true or false", NULL);
        return;
    }
    ag_err_t err;
    /* What the agent.deleted event carries; a record that is gone already fails the delete below. */
    ag_agent_t old;
    int have_old = c->w->store->ops->agent_get(c->w->store, c->id, &old, &err) == 0;
    int rc = c->w->store->ops->agent_delete(c->w->store, c->id, has_force && strcmp(force, "true") == 0, &err);
    if (rc != 0) {
        if (have_old)
            ag_agent_clear(&old);
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    AG_LOG(AG_LOG_INFO, "agent deleted id=%lld request_id=%s", (long long)c->id, c->request_id);
    if (have_old) {
        emit_agent_event(c, "agent.deleted", &old);
        ag_agent_clear(&old);
    }
    ag_engine_notify_queued(c->w->eng); /* it may have been paused: its tasks can run now */
    ag_http_send_json(c, 204, "", 0);
}
