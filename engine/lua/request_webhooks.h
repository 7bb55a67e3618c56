/*
 * request_webhooks.h: the body check of the webhook routes (api/webhooks.c). lua-cjson decodes the body
 * in the thread's Lua state to prove it is one well-formed JSON object; the handlers then read its
 * members in place with json_scan.h (which wants validated JSON).
 */
#ifndef AG_REQUEST_WEBHOOKS_H
#define AG_REQUEST_WEBHOOKS_H

#include "request.h"

/* 0 when body is a JSON object, else the HTTP status (400 bad_json; 500 when the Lua state failed) with e
 * filled (release with ag_body_error_clear). e is cleared first. */
int ag_rt_check_object(ag_rt_t *rt, const char *body, size_t len, ag_body_error_t *e);

#endif
