/* http.c: see http.h. */
#include "http.h"

#include "../engine/b64url.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../engine/log.h"
#include "../engine/lua/request.h"
#include "../engine/metrics.h"

#define AG_LOG_MODULE "access"

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 204: return "No Content";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "OK";
    }
}

int64_t ag_http_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One JSON line per request: method, path, status, duration, client, subject, request id. */
static void access_log(ag_http_ctx_t *c, int status)
{
    if (AG_LOG_INFO < ag_log_level)
        return;
    h2o_req_t *req = c->req;
    double ms = (double)(ag_http_now_us() - c->start_us) / 1000.0;
    ag__log(AG_LOG_INFO, AG_LOG_MODULE, "request method=%.*s path=%.*s status=%d duration_ms=%.3f client=%s subject=%s "
                                        "request_id=%s",
            (int)req->method.len, req->method.base, (int)(req->path.len > 512 ? 512 : req->path.len), req->path.base,
            status, ms, c->client, c->subject ? c->subject : "-", c->request_id);
}

/* HTTP requests and latency per route, method and status (the matched pattern, not the raw path). */
static void record_metrics(ag_http_ctx_t *c, int status)
{
    h2o_req_t *req = c->req;
    static const char *known[] = {"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", NULL};
    const char *method = "other"; /* clients choose methods: keep the label set bounded */
    for (const char **k = known; *k; k++)
        if (h2o_memis(req->method.base, req->method.len, *k, strlen(*k)))
            method = *k;
    ag_buf_t l;
    ag_buf_init(&l);
    ag_metrics_label(&l, "route", c->route ? c->route : "unmatched");
    ag_metrics_label(&l, "method", method);
    ag_series_observe(ag_series("agency_http_request_duration_seconds", l.data),
                      (double)(ag_http_now_us() - c->start_us) / 1e6);
    char st[8];
    snprintf(st, sizeof(st), "%d", status);
    ag_metrics_label(&l, "status", st);
    ag_series_add(ag_series("agency_http_requests_total", l.data), 1);
    ag_buf_free(&l);
}

void ag_http_add_header(ag_http_ctx_t *c, const char *name, const char *value)
{
    /* h2o keeps the value pointer: copy it into the request's pool */
    h2o_iovec_t v = h2o_strdup(&c->req->pool, value, strlen(value));
    h2o_add_header_by_str(&c->req->pool, &c->req->res.headers, name, strlen(name), 0, NULL, v.base, v.len);
}

void ag_http_send_json(ag_http_ctx_t *c, int status, const char *body, size_t len)
{
    ag_http_send(c, status, "application/json", body, len);
}

void ag_http_start(ag_http_ctx_t *c, int status, const char *content_type)
{
    h2o_req_t *req = c->req;
    c->responded = 1;
    req->res.status = status;
    req->res.reason = reason(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, c->request_id,
                          strlen(c->request_id));
    if (c->cors_origin != NULL) {
        ag_http_add_header(c, "access-control-allow-origin", c->cors_origin);
        ag_http_add_header(c, "vary", "Origin");
        ag_http_add_header(c, "access-control-expose-headers",
                           "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset");
    }
    access_log(c, status);
    record_metrics(c, status);
}

void ag_http_send(ag_http_ctx_t *c, int status, const char *content_type, const char *body, size_t len)
{
    ag_http_start(c, status, content_type);
    c->req->res.content_length = len;
    h2o_send_inline(c->req, body, len);
}

void ag_http_send_error(ag_http_ctx_t *c, int status, const char *code, const char *message, const char *details)
{
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_puts(&b, "{\"error\":{\"code\":");
    ag_buf_json_strz(&b, code);
    ag_buf_puts(&b, ",\"message\":");
    ag_buf_json_strz(&b, message);
    ag_buf_puts(&b, ",\"details\":");
    ag_buf_puts(&b, details ? details : "[]");
    ag_buf_puts(&b, "},\"request_id\":");
    ag_buf_json_strz(&b, c->request_id);
    ag_buf_puts(&b, "}");
    ag_http_send_json(c, status, b.data, b.len);
    ag_buf_free(&b);
}

void ag_http_send_store_error(ag_http_ctx_t *c, int rc, const ag_err_t *err)
{
    switch (rc) {
    case AG_ENOTFOUND:
        ag_http_send_error(c, 404, "not_found", err->msg, NULL);
        return;
    case AG_EEXIST:
        ag_http_send_error(c, 409, "conflict", err->msg, NULL);
        return;
    case AG_ESTATE:
        ag_http_send_error(c, 409, "invalid_state", err->msg, NULL);
        return;
    case AG_EINVAL:
        ag_http_send_error(c, 400, "bad_request", err->msg, NULL);
        return;
    default:
        AG_LOG(AG_LOG_ERROR, "store error request_id=%s error=%s", c->request_id, err->msg);
        ag_http_send_error(c, 500, "internal", "internal error; the request id is in the server log", NULL);
    }
}

void ag_http_send_body_error(ag_http_ctx_t *c, const ag_body_error_t *e)
{
    if (e->status >= 500) {
        AG_LOG(AG_LOG_ERROR, "request body failed request_id=%s error=%s", c->request_id, e->message);
        ag_http_send_error(c, 500, "internal", "internal error; the request id is in the server log", NULL);
        return;
    }
    ag_http_send_error(c, e->status, e->code, e->message, e->details);
}

int ag_http_query_num(h2o_req_t *req, const char *name, double lo, double hi, double *out)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
            char val[64];
            size_t vl = (size_t)(stop - q) - nl - 1;
            if (vl == 0 || vl >= sizeof(val))
                return -1;
            memcpy(val, q + nl + 1, vl);
            val[vl] = '\0';
            char *e;
            double d = strtod(val, &e);
            if (*e != '\0' || !(d >= lo && d <= hi))
                return -1;
            *out = d;
            return 1;
        }
        q = stop + 1;
    }
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int ag_http_query_str(h2o_req_t *req, const char *name, char *buf, size_t bufsz)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
            size_t o = 0;
            for (const char *p = q + nl + 1; p < stop; p++) {
                int ch = (unsigned char)*p;
                if (ch == '+') {
                    ch = ' ';
                } else if (ch == '%') {
                    int hi = p + 2 < stop ? hexval(p[1]) : -1, lo = hi >= 0 ? hexval(p[2]) : -1;
                    if (lo < 0)
                        return -1; /* a truncated or non-hex escape */
                    ch = hi << 4 | lo;
                    p += 2;
                }
                if (ch < 0x20 || ch == 0x7f || o + 1 >= bufsz)
                    return -1; /* control characters (%00 included) or too long */
                buf[o++] = (char)ch;
            }
            buf[o] = '\0';
            return 1;
        }
        q = stop + 1;
    }
    return 0;
}

/* ---- list endpoints ---------------------------------------------------------------------------------------------- */

int ag_http_filter_str(ag_http_ctx_t *c, const char *name, char *buf, size_t bufsz, const char **out)
{
    int rc = ag_http_query_str(c->req, name, buf, bufsz);
    if (rc == 0)
        return 0;
    if (rc < 0 || buf[0] == '\0') {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s: must be a non-empty URL-encoded value of at most %zu bytes", name,
                 bufsz - 1);
        ag_http_send_error(c, 400, "bad_request", msg, NULL);
        return -1;
    }
    *out = buf;
    return 1;
}

int ag_http_limit_param(ag_http_ctx_t *c, int *limit)
{
    char limit_s[16];
    *limit = 50;
    int rc = ag_http_query_str(c->req, "limit", limit_s, sizeof(limit_s));
    if (rc == 0)
        return 0;
    char *end;
    long l = rc > 0 ? strtol(limit_s, &end, 10) : 0;
    if (rc < 0 || limit_s[0] < '0' || limit_s[0] > '9' || *end != '\0' || l < 1 || l > AG_TASK_LIST_MAX) {
        ag_http_send_error(c, 400, "bad_request", "limit: must be an integer from 1 to 200", NULL);
        return -1;
    }
    *limit = (int)l;
    return 0;
}

int ag_http_page_params(ag_http_ctx_t *c, const char *prefix, int *limit, int64_t *cursor)
{
    char cur[64];
    int rc;
    *cursor = 0;
    if (ag_http_limit_param(c, limit) != 0)
        return -1;
    if ((rc = ag_http_query_str(c->req, "cursor", cur, sizeof(cur))) != 0 &&
        (rc < 0 || (*cursor = ag_cursor_decode(cur, prefix)) <= 0)) {
        ag_http_send_error(c, 400, "bad_request", "cursor: not a cursor returned by this API (use next_cursor as is)",
                           NULL);
        return -1;
    }
    return 0;
}

void ag_http_page_end(ag_buf_t *b, const char *prefix, int64_t next)
{
    ag_buf_puts(b, "],\"next_cursor\":");
    if (next > 0) {
        ag_buf_putc(b, '"');
        ag_cursor_encode(b, prefix, next);
        ag_buf_putc(b, '"');
    } else {
        ag_buf_puts(b, "null");
    }
    ag_buf_putc(b, '}');
}
