/*
 * request_workflows.h: the bodies of POST /api/v1/workflows and POST /api/v1/tasks/{id}/approve, checked in
 * the thread's Lua state (request.h's parser conventions).
 */
#ifndef AG_REQUEST_WORKFLOWS_H
#define AG_REQUEST_WORKFLOWS_H

#include "request.h"

/* {"start": "<domain>" | "<domain>.<task>", "input": {...}}: a domain starts with the task its config.lua
 * names as `entry`. Fills r (type, domain, agent, max_attempts, input). 0, or an HTTP status with r->err. */
int ag_rt_parse_workflow(ag_rt_t *rt, const char *body, size_t len, ag_create_req_t *r);

typedef struct ag_approve_req_s {
    int approve;
    char *comment; /* NULL when absent */
    ag_body_error_t err;
} ag_approve_req_t;

/* {"decision": "approve" | "reject", "comment": "..."}. 0, or an HTTP status with r->err. */
int ag_rt_parse_approve(ag_rt_t *rt, const char *body, size_t len, ag_approve_req_t *r);
void ag_approve_req_clear(ag_approve_req_t *r);

#endif
