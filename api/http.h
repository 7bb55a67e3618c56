/*
 * http.h: helpers every resource handler uses: JSON responses, the error shape, request ids, routing
 * context. Responses are copied into the request's pool by h2o_send_inline.
 */
#ifndef AG_API_HTTP_H
#define AG_API_HTTP_H

#include <h2o.h>

#include "../engine/buf.h"
#include "../engine/engine.h"

/* What the router hands a resource handler. */
typedef struct ag_http_ctx_s {
    ag_worker_t *w;
    h2o_req_t *req;
    const char *request_id;
    int64_t id;           /* the {id} path segment, when the route has one */
    const char *route;    /* the matched route's pattern, e.g. "/api/v1/tasks/{id}" (for logs and metrics) */
    const char *subject;  /* the token's sub, or "anonymous" */
    const char *scopes;   /* the token's scopes ("admin" when authentication is off) */
    char client[64];      /* peer address */
    const char *cors_origin; /* the request's Origin when it is allowed, else NULL */
    int64_t start_us;     /* monotonic, for the access log */
    int responded;
} ag_http_ctx_t;

int64_t ag_http_now_us(void);
/* Adds a response header (copied into the request's pool). */
void ag_http_add_header(ag_http_ctx_t *c, const char *name, const char *value);
/* Sends body (JSON) with status, the request id, CORS headers when allowed, and writes the access log. */
void ag_http_send_json(ag_http_ctx_t *c, int status, const char *body, size_t len);
/* The same with another Content-Type (a static string: h2o keeps the pointer). */
void ag_http_send(ag_http_ctx_t *c, int status, const char *content_type, const char *body, size_t len);
/* The start of every response: sets the status, Content-Type (a static string), X-Request-Id and the CORS
 * headers when allowed, and writes the access log and metrics (once per request). ag_http_send calls it;
 * a streaming handler calls it before h2o_start_response. */
void ag_http_start(ag_http_ctx_t *c, int status, const char *content_type);
/* Sends {"error":{"code","message","details"},"request_id"}; details is JSON text or NULL. */
void ag_http_send_error(ag_http_ctx_t *c, int status, const char *code, const char *message, const char *details);
/* Maps a store failure to a response: AG_ENOTFOUND 404, AG_EEXIST 409 conflict, AG_ESTATE 409
 * invalid_state, AG_EINVAL 400; anything else is a 500, logged with its cause and the request id. */
void ag_http_send_store_error(ag_http_ctx_t *c, int rc, const ag_err_t *err);
/* Answers a refused request body (engine/lua/request.h); a 500 is logged with its cause, never shown. */
struct ag_body_error_s;
void ag_http_send_body_error(ag_http_ctx_t *c, const struct ag_body_error_s *e);
/* Parses query parameter name as a number in [lo, hi]: 1 found, 0 absent, -1 malformed or out of range. */
int ag_http_query_num(h2o_req_t *req, const char *name, double lo, double hi, double *out);
/* Copies query parameter name, URL-decoded (%XX and '+'), NUL-terminated into buf: 1 found (the first
 * occurrence; the value may be empty), 0 absent, -1 malformed (a bad %-escape, a control character, or a
 * value that does not fit bufsz). */
int ag_http_query_str(h2o_req_t *req, const char *name, char *buf, size_t bufsz);

/* Resources (api/tasks.c, api/health.c). */
/* List endpoints. A string filter: 1 set (*out = buf), 0 absent, -1 answered with 400. */
int ag_http_filter_str(ag_http_ctx_t *c, const char *name, char *buf, size_t bufsz, const char **out);
/* `limit` (1..200, default 50): 0, or -1 answered with 400. */
int ag_http_limit_param(ag_http_ctx_t *c, int *limit);
/* `limit` (1..200, default 50) and `cursor` (made by ag_http_page_end with the same prefix; *cursor 0 when
 * absent): 0, or -1 answered with 400. */
int ag_http_page_params(ag_http_ctx_t *c, const char *prefix, int *limit, int64_t *cursor);
/* Closes an {"items":[ ... list with ],"next_cursor":"<prefix><next>"|null} (next 0: none). */
void ag_http_page_end(ag_buf_t *b, const char *prefix, int64_t next);

void ag_api_tasks_create(ag_http_ctx_t *c);
void ag_api_tasks_get(ag_http_ctx_t *c);
void ag_api_tasks_execute(ag_http_ctx_t *c);
void ag_api_tasks_cancel(ag_http_ctx_t *c);
void ag_api_tasks_events(ag_http_ctx_t *c);
void ag_api_health(ag_http_ctx_t *c);
/* The {<path_key>, line, message, serving} objects of snap's scripts with errors, comma-separated
 * (api/scripts.c; health calls the path "file", /scripts "path"). */
void ag_script_errors_json(ag_buf_t *b, const ag_snapshot_t *snap, const char *path_key);
void ag_api_metrics(ag_http_ctx_t *c);
void ag_api_tasks_list(ag_http_ctx_t *c);  /* GET /api/v1/tasks */
void ag_api_tasks_retry(ag_http_ctx_t *c); /* POST /api/v1/tasks/{id}/retry */
void ag_api_scripts_list(ag_http_ctx_t *c);   /* GET /api/v1/scripts (api/scripts.c) */
void ag_api_scripts_reload(ag_http_ctx_t *c); /* POST /api/v1/scripts/reload */
void ag_api_openapi(ag_http_ctx_t *c); /* api/openapi.c */
void ag_api_events(ag_http_ctx_t *c);  /* GET /api/v1/events: Server-Sent Events (api/events.c) */
/* Ends w's event streams (the final chunk), on w's thread when the engine stops. */
void ag_api_events_close(ag_worker_t *w);
/* /api/v1/agents (api/agents.c) */
void ag_api_agents_list(ag_http_ctx_t *c);
void ag_api_agents_create(ag_http_ctx_t *c);
void ag_api_agents_get(ag_http_ctx_t *c);
void ag_api_agents_replace(ag_http_ctx_t *c);
void ag_api_agents_delete(ag_http_ctx_t *c);
/* The task object of docs/api.md (api/tasks.c), for other resources that answer with a task. */
void ag_api_task_json(ag_buf_t *b, const ag_task_t *t);
/* Webhooks (api/webhooks.c): incoming (signed, public for JWT) and /api/v1/webhook-subscriptions. */
void ag_api_webhook_task_status(ag_http_ctx_t *c);
void ag_api_webhook_workflow_completed(ag_http_ctx_t *c);
void ag_api_webhook_subs_list(ag_http_ctx_t *c);
void ag_api_webhook_subs_create(ag_http_ctx_t *c);
void ag_api_webhook_subs_get(ag_http_ctx_t *c);
void ag_api_webhook_subs_replace(ag_http_ctx_t *c);
void ag_api_webhook_subs_delete(ag_http_ctx_t *c);
void ag_api_webhook_deliveries(ag_http_ctx_t *c);
/* GET /api/v1/tasks/{id}/llm-calls: the task's LLM call journal (api/llm_calls.c). */
void ag_api_tasks_llm_calls(ag_http_ctx_t *c);
/* api/workflows.c */
void ag_api_workflows_create(ag_http_ctx_t *c);
void ag_api_workflows_list(ag_http_ctx_t *c);
void ag_api_workflows_get(ag_http_ctx_t *c);
void ag_api_workflows_cancel(ag_http_ctx_t *c);
void ag_api_handoffs_list(ag_http_ctx_t *c);
void ag_api_tasks_approve(ag_http_ctx_t *c);
void ag_api_tasks_approval(ag_http_ctx_t *c);
void ag_api_memory_list(ag_http_ctx_t *c); /* api/memory.c */

#endif
