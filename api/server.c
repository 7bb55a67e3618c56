/*
 * server.c: h2o (libuv build) on every loop thread, and the router.
 *
 * Worker 0 opens one listening socket; every loop accepts from it, and a connection lives on the
 * loop that accepted it. One h2o handler takes
 * every request, assigns the request id, checks body size and content type, and routes by path and
 * method to the resource functions in api/ (one file per resource). Unknown routes are 404, known routes with another
 * method 405: always the JSON error shape.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../engine/log.h"
#include "auth.h"
#include "http.h"
#include "ratelimit.h"

#define AG_LOG_MODULE "http"

typedef struct route_s {
    const char *method;
    const char *prefix; /* path up to {id}, or the whole path */
    const char *suffix; /* after {id}; NULL for routes without an id */
    void (*fn)(ag_http_ctx_t *c);
    const char *scope;  /* the scope a token needs; NULL: public (no authentication) */
    int has_body;
    const char *pattern; /* for logs and metrics */
} route_t;

/* The API. Every route here is in api/openapi.yaml (a test checks both ways). */
static const route_t routes[] = {
    {"GET", "/api/v1/health", NULL, ag_api_health, NULL, 0, "/api/v1/health"},
    {"GET", "/metrics", NULL, ag_api_metrics, NULL, 0, "/metrics"},
    {"GET", "/api/v1/openapi.yaml", NULL, ag_api_openapi, NULL, 0, "/api/v1/openapi.yaml"},
    {"POST", "/api/v1/tasks", NULL, ag_api_tasks_create, "tasks:write", 1, "/api/v1/tasks"},
    {"GET", "/api/v1/tasks/", "", ag_api_tasks_get, "tasks:read", 0, "/api/v1/tasks/{id}"},
    {"POST", "/api/v1/tasks/", "/execute", ag_api_tasks_execute, "tasks:write", 0, "/api/v1/tasks/{id}/execute"},
    {"POST", "/api/v1/tasks/", "/cancel", ag_api_tasks_cancel, "tasks:write", 0, "/api/v1/tasks/{id}/cancel"},
    {"GET", "/api/v1/tasks/", "/events", ag_api_tasks_events, "tasks:read", 0, "/api/v1/tasks/{id}/events"},
    {"GET", "/api/v1/tasks/", "/llm-calls", ag_api_tasks_llm_calls, "tasks:read", 0, "/api/v1/tasks/{id}/llm-calls"},
    {"GET", "/api/v1/tasks", NULL, ag_api_tasks_list, "tasks:read", 0, "/api/v1/tasks"},
    {"POST", "/api/v1/tasks/", "/approve", ag_api_tasks_approve, "tasks:write", 1, "/api/v1/tasks/{id}/approve"},
    {"GET", "/api/v1/tasks/", "/approval", ag_api_tasks_approval, "tasks:read", 0, "/api/v1/tasks/{id}/approval"},
    {"POST", "/api/v1/workflows", NULL, ag_api_workflows_create, "tasks:write", 1, "/api/v1/workflows"},
    {"GET", "/api/v1/workflows", NULL, ag_api_workflows_list, "tasks:read", 0, "/api/v1/workflows"},
    {"GET", "/api/v1/workflows/", "", ag_api_workflows_get, "tasks:read", 0, "/api/v1/workflows/{id}"},
    {"POST", "/api/v1/workflows/", "/cancel", ag_api_workflows_cancel, "tasks:write", 0,
     "/api/v1/workflows/{id}/cancel"},
    {"GET", "/api/v1/handoffs", NULL, ag_api_handoffs_list, "tasks:read", 0, "/api/v1/handoffs"},
    {"GET", "/api/v1/memory", NULL, ag_api_memory_list, "tasks:read", 0, "/api/v1/memory"},
    {"GET", "/api/v1/events", NULL, ag_api_events, "tasks:read", 0, "/api/v1/events"},
    {"POST", "/api/v1/tasks/", "/retry", ag_api_tasks_retry, "tasks:write", 0, "/api/v1/tasks/{id}/retry"},
    {"GET", "/api/v1/scripts", NULL, ag_api_scripts_list, "agents:read", 0, "/api/v1/scripts"},
    {"POST", "/api/v1/scripts/reload", NULL, ag_api_scripts_reload, "admin", 0, "/api/v1/scripts/reload"},
    {"GET", "/api/v1/agents", NULL, ag_api_agents_list, "agents:read", 0, "/api/v1/agents"},
    {"POST", "/api/v1/agents", NULL, ag_api_agents_create, "agents:write", 1, "/api/v1/agents"},
    {"GET", "/api/v1/agents/", "", ag_api_agents_get, "agents:read", 0, "/api/v1/agents/{id}"},
    {"PUT", "/api/v1/agents/", "", ag_api_agents_replace, "agents:write", 1, "/api/v1/agents/{id}"},
    {"DELETE", "/api/v1/agents/", "", ag_api_agents_delete, "agents:write", 0, "/api/v1/agents/{id}"},
    {"POST", "/api/v1/webhooks/task/status", NULL, ag_api_webhook_task_status, NULL, 1, "/api/v1/webhooks/task/status"},
    {"POST", "/api/v1/webhooks/workflow/completed", NULL, ag_api_webhook_workflow_completed, NULL, 1,
     "/api/v1/webhooks/workflow/completed"},
    {"GET", "/api/v1/webhook-subscriptions", NULL, ag_api_webhook_subs_list, "admin", 0, "/api/v1/webhook-subscriptions"},
    {"POST", "/api/v1/webhook-subscriptions", NULL, ag_api_webhook_subs_create, "admin", 1,
     "/api/v1/webhook-subscriptions"},
    {"GET", "/api/v1/webhook-subscriptions/", "", ag_api_webhook_subs_get, "admin", 0,
     "/api/v1/webhook-subscriptions/{id}"},
    {"PUT", "/api/v1/webhook-subscriptions/", "", ag_api_webhook_subs_replace, "admin", 1,
     "/api/v1/webhook-subscriptions/{id}"},
    {"DELETE", "/api/v1/webhook-subscriptions/", "", ag_api_webhook_subs_delete, "admin", 0,
     "/api/v1/webhook-subscriptions/{id}"},
    {"GET", "/api/v1/webhook-subscriptions/", "/deliveries", ag_api_webhook_deliveries, "admin", 0,
     "/api/v1/webhook-subscriptions/{id}/deliveries"},
};

/* Matches path against r; fills *id for routes with one. */
static int match(const route_t *r, const char *path, size_t len, int64_t *id, int *bad_id)
{
    size_t pl = strlen(r->prefix);
    if (r->suffix == NULL)
        return len == pl && memcmp(path, r->prefix, pl) == 0;
    if (len <= pl || memcmp(path, r->prefix, pl) != 0)
        return 0;
    const char *seg = path + pl, *end = path + len;
    const char *slash = memchr(seg, '/', (size_t)(end - seg));
    const char *seg_end = slash ? slash : end;
    size_t sl = strlen(r->suffix);
    if ((size_t)(end - seg_end) != sl || memcmp(seg_end, r->suffix, sl) != 0)
        return 0;
    /* the id: 1 to 18 digits */
    int64_t v = 0;
    size_t n = (size_t)(seg_end - seg);
    *bad_id = n == 0 || n > 18;
    for (size_t i = 0; i < n && !*bad_id; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            *bad_id = 1;
        else
            v = v * 10 + (seg[i] - '0');
    }
    *id = v;
    return 1;
}

static int header_is_json(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return -1; /* absent */
    h2o_iovec_t v = req->headers.entries[i].value;
    const char *json = "application/json";
    size_t jl = strlen(json);
    if (v.len < jl || strncasecmp(v.base, json, jl) != 0)
        return 0;
    return v.len == jl || v.base[jl] == ';' || v.base[jl] == ' ';
}

static void make_request_id(h2o_req_t *req, char *out)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        int ok = v.len > 0 && v.len <= 64;
        for (size_t k = 0; ok && k < v.len; k++) {
            char ch = v.base[k];
            ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 ch == '_' || ch == '.' || ch == ':';
        }
        if (ok) {
            memcpy(out, v.base, v.len);
            out[v.len] = '\0';
            return;
        }
    }
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[8];
    static __thread uint64_t counter, seed;
    if (seed == 0)
        seed = (uint64_t)ag_now_ms() * 6364136223846793005ULL ^ (uint64_t)(uintptr_t)&counter;
    uint64_t x = seed + (++counter) * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    memcpy(rnd, &x, 8);
    for (int k = 0; k < 8; k++) {
        out[k * 2] = hex[rnd[k] >> 4];
        out[k * 2 + 1] = hex[rnd[k] & 15];
    }
    out[16] = '\0';
}

static void peer_address(h2o_req_t *req, char *out, size_t outsz)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername ? req->conn->callbacks->get_peername(req->conn, (void *)&ss) : 0;
    snprintf(out, outsz, "-");
    if (sl == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)outsz);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)outsz);
}

/* ---- middleware ----------------------------------------------------------------------------------------------- */

/* 2. CORS: the request's Origin, when configured (AGENCY_CORS_ORIGINS; "*" allows any). */
static const char *allowed_origin(ag_engine_t *eng, h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (i < 0 || eng->cfg.cors_origins[0] == '\0')
        return NULL;
    h2o_iovec_t o = req->headers.entries[i].value;
    for (const char *p = eng->cfg.cors_origins; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        size_t l = (size_t)(t - p);
        if ((l == 1 && *p == '*') || (l == o.len && strncasecmp(p, o.base, l) == 0))
            return h2o_strdup(&req->pool, o.base, o.len).base;
        p = e;
    }
    return NULL;
}

static void preflight(ag_http_ctx_t *c)
{
    h2o_req_t *req = c->req;
    if (c->cors_origin == NULL) {
        ag_http_send_error(c, 403, "cors_forbidden", "this origin is not allowed (AGENCY_CORS_ORIGINS)", NULL);
        return;
    }
    ag_http_add_header(c, "access-control-allow-methods", "GET, POST, PUT, DELETE, OPTIONS");
    ag_http_add_header(c, "access-control-allow-headers", "Authorization, Content-Type, X-Request-Id, Last-Event-ID");
    ag_http_add_header(c, "access-control-max-age", "600");
    (void)req;
    ag_http_send_json(c, 204, "", 0);
}

static int rate_limit(ag_http_ctx_t *c);

/* 3. JWT: fills subject and scopes, or answers 401/403 and returns -1. A request without a valid token
 * has no subject: it takes from its client address's bucket first (429 when over), so failed
 * authentication cannot be repeated without limit. */
static int authenticate(ag_http_ctx_t *c, const route_t *r)
{
    ag_engine_t *eng = c->w->eng;
    if (eng->cfg.jwt_secret[0] == '\0') { /* authentication off: only possible on loopback */
        c->subject = "anonymous";
        c->scopes = "admin";
        return 0;
    }
    h2o_req_t *req = c->req;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    h2o_iovec_t v = i >= 0 ? req->headers.entries[i].value : h2o_iovec_init(NULL, 0);
    if (i < 0 || v.len < 8 || strncasecmp(v.base, "Bearer ", 7) != 0) {
        if (rate_limit(c) != 0)
            return -1;
        ag_http_add_header(c, "www-authenticate", "Bearer");
        ag_http_send_error(c, 401, "unauthorized", "send Authorization: Bearer <token>", NULL);
        return -1;
    }
    ag_principal_t *p = h2o_mem_alloc_pool(&req->pool, sizeof(*p));
    char why[128];
    if (ag_auth_verify(&eng->cfg, v.base + 7, v.len - 7, ag_now_ms() / 1000, p, why, sizeof(why)) != 0) {
        AG_LOG(AG_LOG_INFO, "token refused request_id=%s reason=%s", c->request_id, why);
        if (rate_limit(c) != 0)
            return -1;
        ag_http_add_header(c, "www-authenticate", "Bearer error=\"invalid_token\"");
        ag_http_send_error(c, 401, "unauthorized", "the token is invalid or expired", NULL);
        return -1;
    }
    c->subject = p->sub;
    c->scopes = p->scope;
    if (r->scope != NULL && !ag_auth_has_scope(p->scope, r->scope)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "this route needs the scope %s", r->scope);
        ag_http_add_header(c, "www-authenticate", "Bearer error=\"insufficient_scope\"");
        ag_http_send_error(c, 403, "forbidden", msg, NULL);
        return -1;
    }
    return 0;
}

/* 4. Rate limit per subject (or client address); answers 429 and returns -1 when over. */
static int rate_limit(ag_http_ctx_t *c)
{
    ag_engine_t *eng = c->w->eng;
    if (eng->cfg.rate_limit <= 0)
        return 0;
    char key[200];
    if (c->subject != NULL && strcmp(c->subject, "anonymous") != 0)
        snprintf(key, sizeof(key), "sub:%s", c->subject);
    else
        snprintf(key, sizeof(key), "ip:%s", c->client);
    ag_rate_result_t rr;
    ag_rate_take(key, eng->cfg.rate_limit, eng->cfg.rate_burst, ag_mono_ms(), &rr);
    char num[32];
    snprintf(num, sizeof(num), "%d", rr.limit);
    ag_http_add_header(c, "ratelimit-limit", num);
    snprintf(num, sizeof(num), "%d", rr.remaining);
    ag_http_add_header(c, "ratelimit-remaining", num);
    snprintf(num, sizeof(num), "%d", rr.reset_s);
    ag_http_add_header(c, "ratelimit-reset", num);
    if (rr.allowed)
        return 0;
    snprintf(num, sizeof(num), "%d", rr.retry_after_s);
    ag_http_add_header(c, "retry-after", num);
    ag_http_send_error(c, 429, "rate_limited", "too many requests; retry after the time in Retry-After", NULL);
    return -1;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    ag_worker_t *w = ag_container_of(req->conn->ctx, ag_worker_t, h2o_ctx);
    /* 1. request id, and what the access log needs */
    ag_http_ctx_t *c = h2o_mem_alloc_pool(&req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->req = req;
    c->start_us = ag_http_now_us();
    char *rid = h2o_mem_alloc_pool(&req->pool, 65);
    make_request_id(req, rid);
    c->request_id = rid;
    peer_address(req, c->client, sizeof(c->client));
    /* 2. CORS */
    c->cors_origin = allowed_origin(w->eng, req);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")) &&
        h2o_find_header_by_str(&req->headers, H2O_STRLIT("access-control-request-method"), -1) >= 0) {
        preflight(c);
        return 0;
    }

    const char *path = req->path_normalized.base;
    size_t len = req->path_normalized.len;
    while (len > 1 && path[len - 1] == '/')
        len--;
    int path_known = 0;
    const route_t *r = NULL;
    int bad_id = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        int bad = 0;
        int64_t id = 0;
        if (!match(&routes[i], path, len, &id, &bad))
            continue;
        path_known = 1;
        if (!h2o_memis(req->method.base, req->method.len, routes[i].method, strlen(routes[i].method)))
            continue;
        r = &routes[i];
        c->id = id;
        bad_id = bad;
        break;
    }
    if (r == NULL) {
        if (path_known)
            ag_http_send_error(c, 405, "method_not_allowed", "this route does not accept that method", NULL);
        else
            ag_http_send_error(c, 404, "not_found", "no such route", NULL);
        return 0;
    }
    c->route = r->pattern;
    /* 3. authentication (public routes skip it), 4. rate limit */
    if (r->scope != NULL && authenticate(c, r) != 0)
        return 0;
    if (rate_limit(c) != 0)
        return 0;
    /* 5. request checks; the handlers answer every error in the JSON shape themselves */
    if (bad_id) {
        ag_http_send_error(c, 404, "not_found", "no such resource: ids are positive integers", NULL);
        return 0;
    }
    if ((int64_t)req->entity.len > w->eng->cfg.max_body) {
        ag_http_send_error(c, 413, "payload_too_large", "the body is larger than the limit (AGENCY_MAX_BODY)", NULL);
        return 0;
    }
    if (r->has_body && req->entity.base != NULL && req->entity.len > 0 && header_is_json(req) == 0) {
        ag_http_send_error(c, 415, "unsupported_media_type", "send the body as Content-Type: application/json", NULL);
        return 0;
    }
    r->fn(c);
    return 0;
}

/* h2o answers a few errors itself, before any handler runs; the one a well-formed request reaches is a
 * body over h2o's cap (4x AGENCY_MAX_BODY). Those answers go through the host's fallback path, where
 * this filter swaps h2o's text body for the JSON error shape, with a request id. */
typedef struct json_error_ostream_s {
    h2o_ostream_t super;
    h2o_iovec_t body;
} json_error_ostream_t;

static void on_json_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                               h2o_send_state_t state)
{
    json_error_ostream_t *o = (json_error_ostream_t *)self;
    (void)bufs, (void)bufcnt;
    h2o_iovec_t b = o->body;
    o->body = h2o_iovec_init(NULL, 0);
    h2o_ostream_send_next(&o->super, req, &b, b.len != 0, state);
}

static void on_setup_json_error(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    if (req->res.status >= 400) {
        char rid[65];
        make_request_id(req, rid);
        int st = req->res.status;
        ag_buf_t b;
        ag_buf_init(&b);
        ag_buf_puts(&b, "{\"error\":{\"code\":");
        ag_buf_json_strz(&b, st == 413 ? "payload_too_large" : st == 400 ? "bad_request" : "http_error");
        ag_buf_puts(&b, ",\"message\":");
        ag_buf_json_strz(&b, st == 413 ? "the body is larger than the limit (AGENCY_MAX_BODY)"
                                       : req->res.reason ? req->res.reason : "error");
        ag_buf_puts(&b, ",\"details\":[]},\"request_id\":");
        ag_buf_json_strz(&b, rid);
        ag_buf_putc(&b, '}');
        h2o_iovec_t body = h2o_strdup(&req->pool, b.data, b.len);
        ag_buf_free(&b);
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"), 1);
        h2o_iovec_t r = h2o_strdup(&req->pool, rid, strlen(rid));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r.base, r.len);
        req->res.content_length = body.len;
        json_error_ostream_t *o = (json_error_ostream_t *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = on_json_error_send;
        o->body = body;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void ag_http_global_init(ag_engine_t *eng)
{
    h2o_config_init(&eng->h2o_globalconf);
    /* Bodies between our limit and 4x it get our JSON 413; h2o refuses anything larger itself. */
    eng->h2o_globalconf.max_request_entity_size = (size_t)eng->cfg.max_body * 4;
    /* header and request timeouts: a client must send a whole request within this time */
    eng->h2o_globalconf.http1.req_timeout = (uint64_t)eng->cfg.request_timeout_ms;
    h2o_hostconf_t *host = h2o_config_register_host(&eng->h2o_globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(pc, sizeof(*h));
    h->on_req = on_req;
    h2o_filter_t *f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_setup_json_error;
}

static void on_accept(uv_stream_t *listener, int status)
{
    if (status != 0)
        return;
    ag_worker_t *w = ag_container_of(listener, ag_worker_t, listener);
    uv_tcp_t *conn = ag_xmalloc(sizeof(*conn));
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&w->accept_ctx, sock);
}

/* Opens the listening socket once; SO_REUSEPORT is not used, so a second engine on the same address
 * fails with EADDRINUSE instead of silently sharing the port. */
static int open_listener(ag_engine_t *eng, ag_err_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    char port[16];
    snprintf(port, sizeof(port), "%d", eng->cfg.listen_port);
    int grc = getaddrinfo(eng->cfg.listen_host, port, &hints, &ai);
    if (grc != 0)
        return ag_err_set(err, AG_ECONFIG, "AGENCY_LISTEN: cannot resolve %s: %s", eng->cfg.listen_host,
                          gai_strerror(grc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return ag_err_set(err, -e, "cannot listen on %s:%d (AGENCY_LISTEN): %s", eng->cfg.listen_host,
                          eng->cfg.listen_port, strerror(e));
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    eng->cfg.listen_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                           : ((struct sockaddr_in *)&ss)->sin_port);
    eng->listen_fd = fd;
    return 0;
}

int ag_http_listen(ag_worker_t *w, ag_err_t *err)
{
    ag_engine_t *eng = w->eng;
    h2o_context_init(&w->h2o_ctx, &w->loop, &eng->h2o_globalconf);
    w->accept_ctx.ctx = &w->h2o_ctx;
    w->accept_ctx.hosts = eng->h2o_globalconf.hosts;
    if (w->index == 0) {
        int rc = open_listener(eng, err);
        if (rc != 0)
            return rc;
    }
    /* Every loop accepts from the same socket (its own descriptor of it): whichever loop is free
     * takes the connection; the others see EAGAIN, which libuv ignores. */
    int fd = w->index == 0 ? eng->listen_fd : dup(eng->listen_fd);
    if (fd < 0)
        return ag_err_set(err, -errno, "dup listener: %s", strerror(errno));
    uv_tcp_init(&w->loop, &w->listener);
    uv_tcp_open(&w->listener, fd);
    int rc = uv_listen((uv_stream_t *)&w->listener, 4096, on_accept);
    if (rc != 0)
        return ag_err_set(err, rc, "cannot listen: %s", uv_strerror(rc));
    w->listening = 1;
    return 0;
}

void ag_http_close(ag_worker_t *w)
{
    ag_api_events_close(w);
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listener, NULL);
        w->listening = 0;
    }
}
