/*
 * http_client.h: asynchronous HTTP POSTs on one libuv loop, through libcurl's multi socket API
 * (uv_poll_t per socket, one uv_timer_t for curl's timeout). Used by the webhook delivery thread and
 * by every worker loop for LLM calls: thousands of requests in flight per loop, no thread ever blocks.
 *
 * Everything here belongs to the loop's thread. Connections are kept alive and reused by curl; easy
 * handles are pooled, so a request costs no allocation of curl state once the pool is warm.
 */
#ifndef AG_HTTP_CLIENT_H
#define AG_HTTP_CLIENT_H

#include <stddef.h>
#include <uv.h>

typedef struct ag_hc_s ag_hc_t;
typedef struct ag_hc_req_s ag_hc_req_t;

typedef struct ag_hc_opts_s {
    const char *url;
    const char *const *headers; /* "Name: value"; Content-Type must be among them */
    int nheaders;
    const char *body; /* borrowed: must stay valid until the callback or a cancel */
    size_t len;
    long timeout_ms, connect_timeout_ms; /* 0: none */
    const char *user_agent;
    int keep_body;     /* keep the response body for the callback (else it is discarded) */
    size_t max_body;   /* with keep_body: larger bodies fail the request (0: 16 MiB) */
} ag_hc_opts_t;

typedef struct ag_hc_result_s {
    int failed;          /* transport failure (no HTTP answer): error says why */
    int timed_out;       /* a failure because a timeout passed */
    const char *error;   /* failed: curl's message */
    long status;         /* HTTP status, 0 when failed */
    const char *body;    /* keep_body: the answer (NUL-terminated), else NULL */
    size_t body_len;
    const char *retry_after; /* the Retry-After header's value, or NULL */
    int64_t elapsed_ms;
} ag_hc_result_t;

/* Called once per request from the loop, never inside ag_hc_post; not after ag_hc_cancel. The result
 * and its strings are valid only during the call. */
typedef void (*ag_hc_cb)(ag_hc_req_t *req, const ag_hc_result_t *res, void *data);

int ag_hc_new(ag_hc_t **out, uv_loop_t *loop);
/* Aborts the requests in flight (their callbacks are not called) and closes the handles; the memory is
 * freed from the close callbacks, so run the loop afterwards (uv_run / uv_walk-close as usual). */
void ag_hc_close(ag_hc_t *hc);

/* Starts a POST. Returns NULL (and calls nothing) when curl refuses to start it; *why says why. */
ag_hc_req_t *ag_hc_post(ag_hc_t *hc, const ag_hc_opts_t *o, ag_hc_cb cb, void *data, const char **why);
/* Abandons a request: its transfer is aborted and its callback never called. */
void ag_hc_cancel(ag_hc_req_t *req);
int ag_hc_inflight(const ag_hc_t *hc);

#endif
