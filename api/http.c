/* http.c: see http.h. */
#include "http.h"

#include <stdlib.h>
#include <string.h>

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "OK";
    }
}

void ag_http_send_json(ag_http_ctx_t *c, int status, const char *body, size_t len)
{
    h2o_req_t *req = c->req;
    req->res.status = status;
    req->res.reason = reason(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, c->request_id,
                          strlen(c->request_id));
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
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
