/*
 * request.h: turns a task-creation body into a checked request, in the thread's Lua state (lua-cjson
 * decodes the body; the task type's schema validates the input). The HTTP layer maps the result to
 * 201/200 or an error response.
 */
#ifndef AG_REQUEST_H
#define AG_REQUEST_H

#include <stdint.h>

#include "runtime.h"

typedef struct ag_create_req_s {
    char *type, *domain, *agent, *input, *idempotency_key;
    int priority, max_attempts, execute;
    int64_t run_at;
    /* on failure */
    int status;       /* HTTP status: 400 or 422 (500 when the state itself failed) */
    const char *code; /* bad_json, bad_request, unknown_task_type, validation_failed */
    char message[512];
    char *details; /* JSON array text, or NULL */
} ag_create_req_t;

/* 0 and out filled, or an HTTP status with out->code/message/details. */
int ag_rt_parse_create(ag_rt_t *rt, const char *body, size_t len, ag_create_req_t *out);
void ag_create_req_clear(ag_create_req_t *r);

#endif
