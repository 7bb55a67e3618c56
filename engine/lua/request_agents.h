/*
 * request_agents.h: turns an agent body (POST /api/v1/agents, PUT /api/v1/agents/{id}) into a checked
 * record, in the thread's Lua state (lua-cjson decodes the body). The script it names must exist in
 * the newest scripts snapshot. The HTTP layer maps the result to a response.
 */
#ifndef AG_REQUEST_AGENTS_H
#define AG_REQUEST_AGENTS_H

#include "../store.h"
#include "request.h"
#include "runtime.h"

typedef struct ag_agent_req_s {
    /* on success: new strings; capabilities/tools/config are canonical JSON texts */
    char *name, *domain, *script, *capabilities, *tools, *config, *status;
    ag_body_error_t err;
} ag_agent_req_t;

/* 0 and out filled, or an HTTP status with out->err. out is cleared first. */
int ag_rt_parse_agent(ag_rt_t *rt, const char *body, size_t len, ag_agent_req_t *out);
/* The fields as the store takes them (borrowed from r). */
ag_agent_new_t ag_agent_req_new(const ag_agent_req_t *r);
void ag_agent_req_clear(ag_agent_req_t *r);

#endif
