/*
 * request.h: turns a task-creation body into a checked request, in the thread's Lua state (lua-cjson
 * decodes the body; the task type's schema validates the input). The HTTP layer maps the result to
 * 201/200 or an error response.
 */
#ifndef AG_REQUEST_H
#define AG_REQUEST_H

#include <stdint.h>

#include "runtime.h"

#include <lua.h>

/* Why a body was refused; shared by every body parser. */
typedef struct ag_body_error_s {
    int status;       /* HTTP status: 400 or 422 (500 when the Lua state itself failed); 0 = accepted */
    const char *code; /* bad_json, bad_request, unknown_task_type, validation_failed, internal */
    char message[512];
    char *details; /* JSON array text [{field, message}], or NULL */
} ag_body_error_t;

/*
 * Runs parser(L) under lua_pcall in rt's state with (lightuserdata out, body string) on its stack; a
 * raise that escapes it becomes 500 internal in *e. Returns e->status (0 when accepted).
 */
int ag_rt_run_parser(ag_rt_t *rt, lua_CFunction parser, void *out, ag_body_error_t *e, const char *body, size_t len);
/* Inside a parser: decodes the body (stack index 2) as a JSON object onto index 3, refusing empty,
 * non-UTF-8, NUL-bearing, malformed and non-object bodies with 400 bad_json. 0, or -1 with e filled. */
int ag_lua_body_object(lua_State *L, ag_body_error_t *e);
/* Inside a parser: fills e (fmt takes one string) and empties the stack; returns 0 for `return`. */
int ag_body_fail(lua_State *L, ag_body_error_t *e, int status, const char *code, const char *fmt, const char *arg);
void ag_body_error_clear(ag_body_error_t *e);

typedef struct ag_create_req_s {
    char *type, *domain, *agent, *input, *idempotency_key;
    int priority, max_attempts, execute;
    int64_t run_at;
    ag_body_error_t err;
} ag_create_req_t;

/* Inside a parser: resolves task type `type`, checks the input table at stack index `input` against its schema
 * (member names the body member for messages) and fills r->type/domain/agent/input (and max_attempts when 0).
 * The input JSON is taken verbatim from body's member when it is spelt plainly there. 0, or 422/400 with
 * r->err; returns for `return` (the stack is emptied). */
int ag_lua_task_input(lua_State *L, const char *type, int input, const char *member, const char *body, size_t blen,
                      ag_create_req_t *r);

/* 0 and out filled, or an HTTP status with out->err. */
int ag_rt_parse_create(ag_rt_t *rt, const char *body, size_t len, ag_create_req_t *out);
void ag_create_req_clear(ag_create_req_t *r);

#endif
