/*
 * events.c: GET /api/v1/events, the event log (store.h events_*) as Server-Sent Events.
 *
 * Each client is an h2o generator in its request's pool. It has a cursor: the id of the newest event it
 * has been offered (sent, or skipped by its filters). A client starts either at the newest event (only
 * new events) or after Last-Event-ID / ?after=, and then:
 *
 *  - catching up: it reads the log itself, one page of PAGE events at a time, only while its unsent
 *    output is below BACKLOG_LOW, so a long backlog is paced by the client's own reading and never sits
 *    in memory; when a page comes back short it has reached the end of the log and goes live;
 *  - live: one timer per loop thread (TICK_MS, running only while the loop has clients) reads the events
 *    after the smallest live cursor once and offers each to every live client. Latency is therefore up
 *    to TICK_MS plus a store read, whichever thread or process wrote the event.
 *
 * h2o's streaming contract: after h2o_send(IN_PROGRESS) nothing more is sent until h2o calls proceed
 * (the write finished). Events arriving meanwhile collect in `out`; if a live client stops reading and
 * `out` passes MAX_UNSENT, the connection is shut down (it can resume with Last-Event-ID); the socket's
 * send buffer is fixed at SNDBUF, so a stalled client holds at most about MAX_UNSENT + 2 * SNDBUF. h2o calls
 * stop when the client goes away; from then on the request is not touched, and the pool's dispose hook
 * frees the buffers. h2o_send may end the request before it returns, so it is always the last thing a
 * function does with a client.
 *
 * Shutdown: the engine stops each loop with uv_stop, which does not wait for open connections. Just before,
 * ag_http_close ends every stream with the final chunk (libuv writes it at once when the socket has room),
 * and the timer does the same if it sees eng->stopping first, so clients see a clean end.
 */
#include <string.h>
#include <sys/socket.h>

#include "../engine/events.h"
#include "../engine/log.h"
#include "../engine/metrics.h"
#include "http.h"

#define AG_LOG_MODULE "events"

#define PAGE 500               /* events per store read */
#define PAGES_PER_TICK 20      /* bound on one tick's (or one catch-up step's) store reads */
#define TICK_MS 100            /* live delivery: how often a loop with clients reads the log */
#define BACKLOG_LOW (64 << 10) /* a catching-up client reads its next page below this much unsent output */
#define MAX_UNSENT (1 << 20)   /* a client with more unsent output than this is closed */
#define SNDBUF (128 << 10)     /* the kernel's send buffer for a stream (fixed: no autotuning to megabytes) */

typedef struct sse_loop_s sse_loop_t;

typedef struct sse_client_s {
    h2o_generator_t super;
    h2o_req_t *req;                   /* NULL once the stream ended or h2o stopped it */
    sse_loop_t *loop;
    struct sse_client_s *prev, *next; /* in loop->clients while linked */
    int linked;
    const char *types, *domain;       /* filters, in the request's pool; NULL: any */
    int64_t cursor;
    int catching_up;
    int writing; /* between h2o_send and proceed */
    int ending;  /* the final chunk is due when the write in flight completes */
    ag_buf_t out, inflight;
    int64_t last_send_ms;
    char request_id[65]; /* for the log after the request is gone */
} sse_client_t;

struct sse_loop_s {
    ag_worker_t *w;
    uv_timer_t timer;
    sse_client_t *clients;
};

static ag_series_t *clients_gauge;

static void link_client(sse_client_t *c)
{
    sse_loop_t *L = c->loop;
    c->prev = NULL;
    c->next = L->clients;
    if (L->clients != NULL)
        L->clients->prev = c;
    L->clients = c;
    c->linked = 1;
    ag_series_add(clients_gauge, 1);
}

static void unlink_client(sse_client_t *c)
{
    if (!c->linked)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->loop->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->linked = 0;
    ag_series_add(clients_gauge, -1);
}

static int matches(const sse_client_t *c, const ag_event_t *e)
{
    if (c->domain != NULL && (e->domain == NULL || strcmp(c->domain, e->domain) != 0))
        return 0;
    return ag_event_type_matches(c->types, e->type);
}

/* Replaces line breaks from at on: one would end the field early. */
static void one_line(ag_buf_t *b, size_t at)
{
    for (size_t i = at; i < b->len; i++)
        if (b->data[i] == '\n' || b->data[i] == '\r')
            b->data[i] = ' ';
}

/* One event as an SSE frame. The JSON is compact; any line break a stored payload carries (JSON
 * whitespace) becomes a space. */
static void frame(ag_buf_t *b, const ag_event_t *e)
{
    ag_buf_printf(b, "id: %lld\nevent: ", (long long)e->id);
    size_t at = b->len;
    ag_buf_puts(b, e->type);
    one_line(b, at);
    ag_buf_puts(b, "\ndata: ");
    at = b->len;
    ag_event_json(b, e);
    one_line(b, at);
    ag_buf_puts(b, "\n\n");
}

/* Sends what is pending, unless a write is in flight. May end the request: the caller's last call. */
static void flush(sse_client_t *c)
{
    if (c->req == NULL || c->writing || c->out.len == 0)
        return;
    ag_buf_t t = c->inflight;
    c->inflight = c->out;
    c->out = t;
    c->out.len = 0;
    c->writing = 1;
    c->last_send_ms = ag_mono_ms();
    h2o_iovec_t b = h2o_iovec_init(c->inflight.data, c->inflight.len);
    h2o_send(c->req, &b, 1, H2O_SEND_STATE_IN_PROGRESS);
}

/* Ends the stream with the final chunk (now, or when the write in flight completes). */
static void end_stream(sse_client_t *c, const char *reason)
{
    if (c->req == NULL)
        return;
    if (c->linked)
        AG_LOG(AG_LOG_INFO, "event stream ended request_id=%s reason=%s cursor=%lld", c->request_id, reason,
               (long long)c->cursor);
    unlink_client(c);
    if (c->writing) {
        c->ending = 1;
        return;
    }
    h2o_req_t *req = c->req;
    c->req = NULL;
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

static int socket_fd(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    return sock != NULL ? h2o_socket_get_fd(sock) : -1;
}

/* A client that stopped reading: shut its socket down, so the write in flight fails and h2o closes the
 * connection (then stop and the dispose hook run). */
static void drop_slow(sse_client_t *c)
{
    AG_LOG(AG_LOG_WARN, "event stream closed request_id=%s reason=slow_reader unsent=%zu cursor=%lld",
           c->request_id, c->out.len, (long long)c->cursor);
    unlink_client(c);
    ag_buf_free(&c->out);
    ag_buf_init(&c->out);
    int fd = socket_fd(c->req);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    c->ending = 1; /* if the write in flight ever completes, the final chunk follows */
}

/* Reads the backlog while the client keeps up; goes live at the end of the log. 0, or -1 after a store
 * error (the stream is ended). */
static int catch_up(sse_client_t *c)
{
    ag_store_t *s = c->loop->w->store;
    for (int page = 0; page < PAGES_PER_TICK && c->catching_up && c->out.len < BACKLOG_LOW; page++) {
        ag_event_t *ev = NULL;
        size_t n = 0;
        ag_err_t err;
        if (s->ops->events_after(s, c->cursor, PAGE, &ev, &n, &err) != 0) {
            AG_LOG(AG_LOG_ERROR, "event log read failed request_id=%s error=%s", c->request_id, err.msg);
            end_stream(c, "store_error");
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (matches(c, &ev[i]))
                frame(&c->out, &ev[i]);
            c->cursor = ev[i].id;
        }
        ag_events_free(ev, n);
        if (n < PAGE)
            c->catching_up = 0;
    }
    return 0;
}

/* Offers the events after the smallest live cursor to every live client. */
static void deliver_live(sse_loop_t *L)
{
    int64_t from = INT64_MAX;
    for (sse_client_t *c = L->clients; c != NULL; c = c->next)
        if (!c->catching_up && c->cursor < from)
            from = c->cursor;
    if (from == INT64_MAX)
        return;
    ag_store_t *s = L->w->store;
    ag_buf_t f;
    ag_buf_init(&f);
    for (int page = 0; page < PAGES_PER_TICK; page++) {
        ag_event_t *ev = NULL;
        size_t n = 0;
        ag_err_t err;
        if (s->ops->events_after(s, from, PAGE, &ev, &n, &err) != 0) {
            AG_LOG(AG_LOG_ERROR, "event log read failed worker=%d error=%s", L->w->index, err.msg);
            break; /* the next tick tries again */
        }
        for (size_t i = 0; i < n; i++) {
            f.len = 0;
            for (sse_client_t *c = L->clients; c != NULL; c = c->next) {
                if (c->catching_up || c->cursor >= ev[i].id || !matches(c, &ev[i]))
                    continue;
                if (f.len == 0)
                    frame(&f, &ev[i]);
                ag_buf_put(&c->out, f.data, f.len);
            }
        }
        if (n > 0) {
            from = ev[n - 1].id;
            for (sse_client_t *c = L->clients; c != NULL; c = c->next)
                if (!c->catching_up && c->cursor < from)
                    c->cursor = from;
        }
        ag_events_free(ev, n);
        if (n < PAGE)
            break;
    }
    ag_buf_free(&f);
}

static void on_tick(uv_timer_t *t)
{
    sse_loop_t *L = ag_container_of(t, sse_loop_t, timer);
    sse_client_t *c, *next;
    if (atomic_load(&L->w->eng->stopping)) {
        ag_api_events_close(L->w);
        return;
    }
    for (c = L->clients; c != NULL; c = next) {
        next = c->next; /* catch_up may end c */
        if (c->catching_up && !c->writing)
            catch_up(c);
    }
    deliver_live(L);
    int64_t now = ag_mono_ms(), keepalive = L->w->eng->cfg.sse_keepalive_ms;
    for (c = L->clients; c != NULL; c = next) {
        next = c->next;
        if (c->out.len > MAX_UNSENT) {
            drop_slow(c);
            continue;
        }
        if (!c->writing && c->out.len == 0 && now - c->last_send_ms >= keepalive)
            ag_buf_puts(&c->out, ": keep-alive\n\n");
        flush(c);
    }
    if (L->clients == NULL)
        uv_timer_stop(&L->timer);
}

void ag_api_events_close(ag_worker_t *w)
{
    sse_loop_t *L = w->api_events;
    if (L == NULL)
        return;
    sse_client_t *next;
    for (sse_client_t *c = L->clients; c != NULL; c = next) {
        next = c->next;
        end_stream(c, "shutdown");
    }
    uv_timer_stop(&L->timer);
}

/* ---- h2o callbacks ------------------------------------------------------------------------------------------ */

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    sse_client_t *c = (sse_client_t *)g;
    (void)req;
    c->writing = 0;
    c->inflight.len = 0;
    if (c->inflight.cap > BACKLOG_LOW) { /* after a burst: an idle stream keeps no large buffer */
        ag_buf_free(&c->inflight);
        ag_buf_init(&c->inflight);
    }
    if (c->ending) {
        c->ending = 0;
        h2o_req_t *r = c->req;
        c->req = NULL;
        unlink_client(c);
        h2o_send(r, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    if (c->catching_up && catch_up(c) != 0)
        return;
    flush(c);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    sse_client_t *c = (sse_client_t *)g;
    (void)req;
    if (c->linked)
        AG_LOG(AG_LOG_INFO, "event stream ended request_id=%s reason=client_gone cursor=%lld", c->request_id,
               (long long)c->cursor);
    c->req = NULL;
    unlink_client(c);
}

static void on_dispose(void *p)
{
    sse_client_t *c = p;
    unlink_client(c);
    ag_buf_free(&c->out);
    ag_buf_free(&c->inflight);
}

/* ---- the handler -------------------------------------------------------------------------------------------- */

/* An event id: 0 to 18 digits' worth of a non-negative integer. */
static int parse_id(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int valid_domain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return 0;
    }
    return 1;
}

static sse_loop_t *loop_of(ag_worker_t *w)
{
    if (w->api_events == NULL) {
        ag_metric_define("agency_sse_clients", "Open /api/v1/events streams.", AG_GAUGE);
        clients_gauge = ag_series("agency_sse_clients", "");
        sse_loop_t *L = ag_xcalloc(1, sizeof(*L));
        L->w = w;
        uv_timer_init(&w->loop, &L->timer);
        w->api_events = L; /* lives as long as the loop (handles die with the process) */
    }
    return w->api_events;
}

void ag_api_events(ag_http_ctx_t *c)
{
    h2o_req_t *req = c->req;
    char types[1024], domain[128], after_s[32];
    int has_types = ag_http_query_str(req, "types", types, sizeof(types));
    if (has_types < 0 || (has_types > 0 && ag_event_patterns_check(types) != 0)) {
        ag_http_send_error(c, 400, "bad_request",
                           "types: comma-separated event types, each a name such as task.succeeded or a prefix "
                           "ending in * such as task.*",
                           NULL);
        return;
    }
    int has_domain = ag_http_query_str(req, "domain", domain, sizeof(domain));
    if (has_domain < 0 || (has_domain > 0 && !valid_domain(domain))) {
        ag_http_send_error(c, 400, "bad_request", "domain: must be a domain name (letters, digits, _ and -)", NULL);
        return;
    }
    /* Where to start: Last-Event-ID (what EventSource sends when it reconnects) wins over ?after=. */
    int64_t after = 0;
    int has_after = 0;
    ssize_t hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("last-event-id"), -1);
    if (hi >= 0 && req->headers.entries[hi].value.len > 0) {
        h2o_iovec_t v = req->headers.entries[hi].value;
        if (parse_id(v.base, v.len, &after) != 0) {
            ag_http_send_error(c, 400, "bad_request", "Last-Event-ID: must be an event id (a non-negative integer)",
                               NULL);
            return;
        }
        has_after = 1;
    } else {
        int rc = ag_http_query_str(req, "after", after_s, sizeof(after_s));
        if (rc < 0 || (rc > 0 && parse_id(after_s, strlen(after_s), &after) != 0)) {
            ag_http_send_error(c, 400, "bad_request", "after: must be an event id (a non-negative integer)", NULL);
            return;
        }
        has_after = rc > 0;
    }
    ag_store_t *s = c->w->store;
    ag_err_t err;
    if (!has_after && s->ops->events_last_id(s, &after, &err) != 0) {
        AG_LOG(AG_LOG_ERROR, "event log read failed request_id=%s error=%s", c->request_id, err.msg);
        ag_http_send_error(c, 500, "internal", "internal error; the request id is in the server log", NULL);
        return;
    }

    sse_client_t *cl = h2o_mem_alloc_shared(&req->pool, sizeof(*cl), on_dispose);
    memset(cl, 0, sizeof(*cl));
    cl->super.proceed = on_proceed;
    cl->super.stop = on_stop;
    cl->req = req;
    cl->loop = loop_of(c->w);
    cl->types = has_types > 0 ? h2o_strdup(&req->pool, types, SIZE_MAX).base : NULL;
    cl->domain = has_domain > 0 ? h2o_strdup(&req->pool, domain, SIZE_MAX).base : NULL;
    cl->cursor = after;
    cl->catching_up = has_after;
    ag_buf_init(&cl->out);
    ag_buf_init(&cl->inflight);
    snprintf(cl->request_id, sizeof(cl->request_id), "%s", c->request_id);

    /* A stream is long-lived and mostly idle: a fixed send buffer keeps what a stalled client can pin in
     * the kernel small, so MAX_UNSENT is reached (and the client dropped) after a bounded amount. */
    int fd = socket_fd(req), sndbuf = SNDBUF;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    ag_http_start(c, 200, "text/event-stream");
    ag_http_add_header(c, "cache-control", "no-cache");
    ag_http_add_header(c, "x-accel-buffering", "no"); /* proxies: do not buffer the stream */
    h2o_start_response(req, &cl->super);
    link_client(cl);
    AG_LOG(AG_LOG_INFO, "event stream opened request_id=%s after=%lld types=%s domain=%s", cl->request_id,
           (long long)after, cl->types ? cl->types : "*", cl->domain ? cl->domain : "*");
    if (!uv_is_active((uv_handle_t *)&cl->loop->timer))
        uv_timer_start(&cl->loop->timer, on_tick, TICK_MS, TICK_MS);
    /* The headers go out at once (with a comment), then the backlog as fast as the client reads it. */
    ag_buf_puts(&cl->out, ": ok\n\n");
    if (cl->catching_up && catch_up(cl) != 0)
        return;
    flush(cl);
}
