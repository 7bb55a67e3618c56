/*
 * llm_calls.c: GET /api/v1/tasks/{id}/llm-calls, a task's LLM call journal (docs/api.md "LLM calls").
 *
 * Pages in the store's order, (attempt, seq, id): the order the task's runs made their calls. The cursor
 * is opaque: base64url of "llm:<id>" of the last call of the page (engine/b64url.h). limit and cursor are
 * checked as GET /api/v1/tasks checks them, with the same messages.
 */
#include <math.h>
#include <string.h>

#include "../engine/b64url.h"
#include "../engine/json_scan.h"
#include "../engine/log.h"
#include "http.h"

#define AG_LOG_MODULE "api"

#define LIST_DEFAULT 50
#define CURSOR_PREFIX "llm:"
#define BAD_LIMIT "limit: must be an integer from 1 to 200"
#define BAD_CURSOR "cursor: not a cursor returned by this API (use next_cursor as is)"

/* 1 when s is one JSON object, as far as a scan can tell (the engine writes it through cjson; this
 * guards against a truncated or hand-edited row, which is shown as null rather than break the page). */
static int json_object_text(const char *s)
{
    size_t n = strlen(s), i = ag_json_skip_ws(s, 0, n);
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return n - i >= 2 && s[i] == '{' && s[n - 1] == '}' && ag_json_skip_value(s, i, n) == n &&
           ag_utf8_valid(s + i, n - i);
}

/* A JSON number that reads back as v (shortest of %.15g and %.17g); 0 for what JSON cannot hold. */
static void put_double(ag_buf_t *b, double v)
{
    char tmp[40];
    if (!isfinite(v))
        v = 0;
    snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof(tmp), "%.17g", v);
    ag_buf_puts(b, tmp);
}

static void call_json(ag_http_ctx_t *c, ag_buf_t *b, const ag_llm_call_t *k)
{
    ag_buf_printf(b, "{\"id\":%lld,\"task_id\":%lld,\"attempt\":%d,\"seq\":%d,\"provider\":", (long long)k->id,
                  (long long)k->task_id, k->attempt, k->seq);
    ag_buf_json_strz(b, k->provider);
    ag_buf_puts(b, ",\"model\":");
    ag_buf_json_strz(b, k->model);
    ag_buf_puts(b, ",\"request_hash\":");
    ag_buf_json_strz(b, k->request_hash);
    ag_buf_puts(b, ",\"response\":");
    if (k->response != NULL && json_object_text(k->response)) {
        ag_buf_puts(b, k->response);
    } else {
        if (k->response != NULL)
            AG_LOG(AG_LOG_WARN, "llm call id=%lld has a response that is not a JSON object; shown as null "
                                "request_id=%s",
                   (long long)k->id, c->request_id);
        ag_buf_puts(b, "null");
    }
    ag_buf_printf(b, ",\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld},\"cost\":",
                  (long long)k->prompt_tokens, (long long)k->completion_tokens);
    put_double(b, k->cost);
    ag_buf_printf(b, ",\"latency_ms\":%lld,\"error\":", (long long)k->latency_ms);
    if (k->error_code != NULL || k->error != NULL) {
        ag_buf_puts(b, "{\"code\":");
        ag_buf_json_strz(b, k->error_code ? k->error_code : "provider_error");
        ag_buf_puts(b, ",\"message\":");
        ag_buf_json_strz(b, k->error ? k->error : "");
        ag_buf_putc(b, '}');
    } else {
        ag_buf_puts(b, "null");
    }
    ag_buf_puts(b, ",\"created_at\":");
    ag_buf_json_time(b, k->created_at);
    ag_buf_putc(b, '}');
}

void ag_api_tasks_llm_calls(ag_http_ctx_t *c)
{
    char limit_s[16], cursor[64];
    int limit = LIST_DEFAULT, rc;
    if ((rc = ag_http_query_str(c->req, "limit", limit_s, sizeof(limit_s))) != 0) {
        char *end;
        long l = rc > 0 ? strtol(limit_s, &end, 10) : 0;
        if (rc < 0 || limit_s[0] < '0' || limit_s[0] > '9' || *end != '\0' || l < 1 || l > AG_LLM_CALL_LIST_MAX) {
            ag_http_send_error(c, 400, "bad_request", BAD_LIMIT, NULL);
            return;
        }
        limit = (int)l;
    }
    int64_t after = 0;
    if ((rc = ag_http_query_str(c->req, "cursor", cursor, sizeof(cursor))) != 0 &&
        (rc < 0 || (after = ag_cursor_decode(cursor, CURSOR_PREFIX)) <= 0)) {
        ag_http_send_error(c, 400, "bad_request", BAD_CURSOR, NULL);
        return;
    }
    ag_store_t *st = c->w->store;
    ag_err_t err;
    ag_task_t t = {0};
    if ((rc = st->ops->task_get(st, c->id, &t, &err)) != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    ag_task_clear(&t);
    /* One more than the page: whether another page follows. */
    ag_llm_call_t *items = NULL;
    size_t n = 0;
    rc = st->ops->llm_calls_list(st, c->id, after, limit + 1, &items, &n, &err);
    if (rc == AG_EINVAL) { /* the cursor's call is not one of this task */
        ag_http_send_error(c, 400, "bad_request", BAD_CURSOR, NULL);
        return;
    }
    if (rc != 0) {
        ag_http_send_store_error(c, rc, &err);
        return;
    }
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < shown; i++) {
        if (i)
            ag_buf_putc(&b, ',');
        call_json(c, &b, &items[i]);
    }
    ag_buf_puts(&b, "],\"next_cursor\":");
    if (n > shown) {
        ag_buf_putc(&b, '"');
        ag_cursor_encode(&b, CURSOR_PREFIX, items[shown - 1].id);
        ag_buf_putc(&b, '"');
    } else {
        ag_buf_puts(&b, "null");
    }
    ag_buf_putc(&b, '}');
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
    ag_llm_calls_free(items, n);
}
