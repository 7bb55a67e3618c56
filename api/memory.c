/*
 * memory.c: GET /api/v1/memory?domain=&prefix=&limit=&cursor= lists a domain's shared memory (the `memory`
 * global of its scripts): for example the offer domain's versions of an offer, prefix offer:<slug>:v.
 */
#include <string.h>

#include "../engine/b64url.h"
#include "http.h"

void ag_api_memory_list(ag_http_ctx_t *c)
{
    char domain[256], prefix[600], cur[1400];
    const char *d = NULL, *p = NULL;
    if (ag_http_filter_str(c, "domain", domain, sizeof(domain), &d) < 0)
        return;
    if (ag_http_query_str(c->req, "prefix", prefix, sizeof(prefix)) < 0) {
        ag_http_send_error(c, 400, "bad_request", "prefix: must be a URL-encoded value of at most 512 bytes", NULL);
        return;
    }
    if (d == NULL) {
        ag_http_send_error(c, 400, "bad_request", "domain: required (memory is kept per domain)", NULL);
        return;
    }
    if (ag_http_query_str(c->req, "prefix", prefix, sizeof(prefix)) == 1)
        p = prefix;
    int limit, rc;
    if (ag_http_limit_param(c, &limit) != 0)
        return;
    /* the cursor is "k" + base64url(last key) */
    unsigned char after[1024];
    size_t alen = 0;
    int has_after = 0;
    if ((rc = ag_http_query_str(c->req, "cursor", cur, sizeof(cur))) != 0) {
        if (rc < 0 || cur[0] != 'k' || ag_b64url_decode(cur + 1, strlen(cur + 1), after, &alen) != 0 ||
            alen == 0 || alen >= sizeof(after) || memchr(after, '\0', alen) != NULL) {
            ag_http_send_error(c, 400, "bad_request", "cursor: not a cursor returned by this API (use next_cursor as is)",
                               NULL);
            return;
        }
        after[alen] = '\0';
        has_after = 1;
    }
    char **keys = NULL, **values = NULL;
    int64_t *updated = NULL;
    size_t n = 0;
    ag_err_t err;
    rc = c->w->store->ops->kv_list(c->w->store, d, p, has_after ? (const char *)after : NULL, limit + 1, &keys, &values,
                                   &updated, &n, &err);
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_puts(&b, "{\"items\":[");
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    for (size_t i = 0; i < shown; i++) {
        ag_buf_puts(&b, i ? ",{\"key\":" : "{\"key\":");
        ag_buf_json_strz(&b, keys[i]);
        ag_buf_puts(&b, ",\"value\":");
        ag_buf_puts(&b, values[i] ? values[i] : "null");
        ag_buf_puts(&b, ",\"updated_at\":");
        ag_buf_json_time(&b, updated[i]);
        ag_buf_putc(&b, '}');
    }
    ag_buf_puts(&b, "],\"next_cursor\":");
    if (n > (size_t)limit) {
        ag_buf_puts(&b, "\"k");
        ag_b64url_encode(&b, (const unsigned char *)keys[shown - 1], strlen(keys[shown - 1]));
        ag_buf_putc(&b, '"');
    } else {
        ag_buf_puts(&b, "null");
    }
    ag_buf_putc(&b, '}');
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(values[i]);
    }
    free(keys);
    free(values);
    free(updated);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
}
