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
#include "http.h"

#define AG_LOG_MODULE "http"

typedef struct route_s {
    const char *method;
    const char *prefix; /* path up to {id}, or the whole path */
    const char *suffix; /* after {id}; NULL for routes without an id */
    void (*fn)(ag_http_ctx_t *c);
    int has_body;
} route_t;

static const route_t routes[] = {
    {"GET", "/api/v1/health", NULL, ag_api_health, 0},
    {"POST", "/api/v1/tasks", NULL, ag_api_tasks_create, 1},
    {"GET", "/api/v1/tasks/", "", ag_api_tasks_get, 0},
    {"POST", "/api/v1/tasks/", "/execute", ag_api_tasks_execute, 0},
    {"POST", "/api/v1/tasks/", "/cancel", ag_api_tasks_cancel, 0},
    {"GET", "/api/v1/tasks/", "/events", ag_api_tasks_events, 0},
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

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    ag_worker_t *w = ag_container_of(req->conn->ctx, ag_worker_t, h2o_ctx);
    char *rid = h2o_mem_alloc_pool(&req->pool, 65);
    make_request_id(req, rid);
    ag_http_ctx_t *c = h2o_mem_alloc_pool(&req->pool, sizeof(*c));
    *c = (ag_http_ctx_t){.w = w, .req = req, .request_id = rid};

    const char *path = req->path_normalized.base;
    size_t len = req->path_normalized.len;
    while (len > 1 && path[len - 1] == '/')
        len--;
    int path_known = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route_t *r = &routes[i];
        int bad_id = 0;
        if (!match(r, path, len, &c->id, &bad_id))
            continue;
        path_known = 1;
        if (!h2o_memis(req->method.base, req->method.len, r->method, strlen(r->method)))
            continue;
        if (bad_id) {
            ag_http_send_error(c, 404, "not_found", "no such task: ids are positive integers", NULL);
            return 0;
        }
        if ((int64_t)req->entity.len > w->eng->cfg.max_body) {
            ag_http_send_error(c, 413, "payload_too_large", "the body is larger than the limit (AGENCY_MAX_BODY)",
                               NULL);
            return 0;
        }
        if (r->has_body && req->entity.base != NULL && req->entity.len > 0 && header_is_json(req) == 0) {
            ag_http_send_error(c, 415, "unsupported_media_type", "send the body as Content-Type: application/json",
                               NULL);
            return 0;
        }
        r->fn(c);
        return 0;
    }
    if (path_known)
        ag_http_send_error(c, 405, "method_not_allowed", "this route does not accept that method", NULL);
    else
        ag_http_send_error(c, 404, "not_found", "no such route", NULL);
    return 0;
}

void ag_http_global_init(ag_engine_t *eng)
{
    h2o_config_init(&eng->h2o_globalconf);
    /* Bodies between our limit and 4x it get our JSON 413; h2o refuses anything larger itself. */
    eng->h2o_globalconf.max_request_entity_size = (size_t)eng->cfg.max_body * 4;
    h2o_hostconf_t *host = h2o_config_register_host(&eng->h2o_globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(pc, sizeof(*h));
    h->on_req = on_req;
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
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listener, NULL);
        w->listening = 0;
    }
}
